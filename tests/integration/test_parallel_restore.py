"""--jobs: pg_restore runs in parallel from a temp copy of the archive, checked before it starts."""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path

import psycopg
import pytest

from pgdrill.manifest import archive_key
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import open_store

from support.fingerprint import fingerprint, load_hard_content
from support.postgres import PgServer
from support.runner import pgdrill


@pytest.fixture(scope="module")
def source(pg: PgServer):  # type: ignore[no-untyped-def]
    url = pg.create_database()
    load_hard_content(url)
    yield url
    pg.drop_database(url.dbname)


def _spools() -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), "pgdrill-restore-*"))


def _backup(capsys: pytest.CaptureFixture[str], source: DatabaseUrl, store_url: str, *extra: str) -> str:
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store_url, "--json", *extra)
    assert r.code == 0, r.err
    return str(r.json()["id"])


def test_parallel_restore_is_identical(capsys: pytest.CaptureFixture[str], source: DatabaseUrl,
                                       target_db: DatabaseUrl, store_url: str) -> None:
    before = _spools()
    _backup(capsys, source, store_url)
    r = pgdrill(capsys, "restore", "latest", "--store", store_url, "--target-url", target_db.conninfo(),
                "--jobs", "2", "--json")
    assert r.code == 0, r.err
    assert r.json()["error_count"] == 0
    assert fingerprint(target_db) == fingerprint(source)
    assert _spools() == before, "the temp copy of the archive was left behind"


def test_parallel_drill_passes(capsys: pytest.CaptureFixture[str], pg: PgServer, source: DatabaseUrl,
                               tmp_path: Path) -> None:
    store_url = str(tmp_path / "store")
    _backup(capsys, source, store_url)
    r = pgdrill(capsys, "drill", "--store", store_url, "--scratch-url", pg.admin_url.conninfo(), "--jobs", "2",
                "--json")
    assert r.code == 0, r.err + r.out
    assert "equal to the manifest" in r.out


def test_corrupt_archive_never_reaches_the_target(capsys: pytest.CaptureFixture[str], source: DatabaseUrl,
                                                  target_db: DatabaseUrl, tmp_path: Path) -> None:
    store_url = str(tmp_path / "store")
    bid = _backup(capsys, source, store_url, "--compress", "0")
    store = open_store(store_url)
    key = archive_key(bid, False)
    data = bytearray(store.get_bytes(key))
    at = len(data) // 2
    while data[at:at + 1] not in (b"0", b"1"):  # one digit of row data: still a readable archive
        at += 1
    data[at] = ord("1") if data[at] == ord("0") else ord("0")
    store.put_bytes(key, bytes(data))
    before = _spools()
    r = pgdrill(capsys, "restore", bid, "--store", store_url, "--target-url", target_db.conninfo(),
                "--jobs", "2", "--no-verify")
    assert r.code != 0
    assert "is corrupt" in r.err
    with psycopg.connect(target_db.conninfo()) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                           "'information_schema')").fetchone()
    assert row is not None and row[0] == 0, "pg_restore ran although the checksum did not match"
    assert _spools() == before


def test_jobs_refuse_clean(capsys: pytest.CaptureFixture[str], target_db: DatabaseUrl, tmp_path: Path) -> None:
    r = pgdrill(capsys, "restore", "latest", "--store", str(tmp_path), "--target-url", target_db.conninfo(),
                "--jobs", "2", "--clean", "--confirm", target_db.dbname)
    assert r.code == 2
    assert "--jobs cannot be combined with --clean" in r.err


def test_drill_jobs_auto_by_default(capsys: pytest.CaptureFixture[str], pg: PgServer, db: DatabaseUrl,
                                    tmp_path: Path) -> None:
    """The drill's default is --jobs auto: the runner's cores when the archive's copy fits in the
    temp folder, else 1 and the report says why (a real tmpfs of 1 MiB has no room)."""
    import json
    import os
    import subprocess

    from support.runner import pgdrill_process

    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 1000)")
    store = str(tmp_path / "store")
    assert pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", store).code == 0
    r = pgdrill_process("drill", "--store", store, "--scratch-url", pg.admin_url.conninfo(), "--json",
                        env={"TMPDIR": str(tmp_path)})
    assert r.code == 0, r.err
    cores = len(os.sched_getaffinity(0))
    assert json.loads(r.out)["restore_jobs"] == min(cores, 16)
    if cores > 1:
        assert f"restoring with {cores} parallel jobs" in r.err
    small = tmp_path / "small-tmp"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True,
                             check=False).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (root needed)")
    try:
        r = pgdrill_process("drill", "--store", store, "--scratch-url", pg.admin_url.conninfo(),
                            env={"TMPDIR": str(small)})
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True, check=False)
    assert r.code == 0, r.err
    if cores > 1:
        assert "warning    restored with 1 job: the archive's temporary copy" in r.out
        assert f"free in {small}" in r.out
