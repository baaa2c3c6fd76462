"""One contract, every Source: a stored backup restored into a scratch database, a Neon branch (through
the local Neon API stand-in), a dump made by pg_dump alone in a folder of such dumps (an archive set),
a test-only source whose copy is a private server on a fresh data directory, and the physical
point-in-time sources (a real pgBackRest repository, real barman-cloud backups in the S3 test server)
whose copy is a recovered private server. Each must yield a connectable copy that says what point in
time it holds, destroy it after success, a failing check and an interrupt, keep it with --keep, refuse
a production target before making anything, and sweep the copy a SIGKILLed run left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgdrill.backup import BackupRequest, run_backup
from pgdrill.checks import ChecksConfig
from pgdrill.drill import DrillRequest, run_drill
from pgdrill.errors import PgdrillError
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.sources import CopyOptions, Source
from pgdrill.store.local import LocalStore

from support.neon_server import NeonStandIn
from support.postgres import PgServer, local_server_bin
from support.sources import build

TESTS = Path(__file__).resolve().parents[1]


@dataclass
class Harness:
    kind: str
    spec: dict[str, Any]
    copies: Callable[[], set[str]]  # the copies of this source that exist right now
    production: Callable[[DatabaseUrl], Source]  # the source, asked to restore into a production database
    nothing_asked: Callable[[], bool] = lambda: True  # no copy was even requested (for APIs)
    env: dict[str, str] = field(default_factory=dict)
    remove: Callable[[str], None] = lambda name: None

    def source(self) -> Source:
        return build(self.spec)


def _scratch_dbs(pg: PgServer, prefix: str) -> set[str]:
    with psycopg.connect(pg.admin_url.conninfo()) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)).fetchall()
    return {str(r[0]) for r in rows}


def _backup_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    from pgdrill.sources.backup import StoredBackupSource

    pg: PgServer = request.getfixturevalue("pg")
    db = pg.create_database()
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 42) g")
    store = LocalStore(tmp_path / "store")
    run_backup(BackupRequest(db, store))
    prefix = "pgdrill_contract_" + uuid.uuid4().hex[:6]
    spec = {"kind": "backup", "scratch_url": pg.admin_url.conninfo(), "prefix": prefix, "store": str(store.root)}

    def production(url: DatabaseUrl) -> Source:
        return StoredBackupSource(target_url=url, production_databases=(url.dbname,), prefix=prefix, store=store)

    def remove(name: str) -> None:
        pg.drop_database(name)

    return Harness("backup", spec, lambda: _scratch_dbs(pg, prefix), production, remove=remove)


def _archive_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    from pgdrill.sources.archives import ArchiveSource

    from support.archives import make_source

    pg: PgServer = request.getfixturevalue("pg")
    src = make_source(pg)
    request.addfinalizer(lambda: pg.drop_database(src.url.dbname))
    src.shell('pg_dump --format=custom "$DB" > backups/app-20251025.dump', tmp_path)
    pattern = f"{tmp_path}/backups/app-*.dump"
    prefix = "pgdrill_contract_" + uuid.uuid4().hex[:6]
    spec = {"kind": "archive", "scratch_url": pg.admin_url.conninfo(), "prefix": prefix, "archives": pattern}

    def production(url: DatabaseUrl) -> Source:
        return ArchiveSource(target_url=url, production_databases=(url.dbname,), prefix=prefix, archives=pattern)

    def remove(name: str) -> None:
        pg.drop_database(name)

    return Harness("archive", spec, lambda: _scratch_dbs(pg, prefix), production, remove=remove)


def _neon_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    from pgdrill.sources.branch import BranchSource

    neon: NeonStandIn = request.getfixturevalue("neon")
    spec = {"kind": "neon", "api_key": neon.api_key, "api_host": neon.api_host, "project_id": neon.project_id}

    def production(url: DatabaseUrl) -> Source:
        source = build(spec)
        assert isinstance(source, BranchSource)
        source.target_url, source.production_databases = url, (url.dbname,)
        return source

    def remove(name: str) -> None:
        for b in neon.child_branches():
            if b.name == name:
                neon.delete_branch(b)

    return Harness("neon", spec, lambda: {b.name for b in neon.child_branches()}, production,
                   nothing_asked=lambda: neon.calls("POST") == [], remove=remove)


def _initdb_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    from support.sources import InitdbSource

    # Not under tmp_path: its parents are private to root, and the server runs as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="pgdrill-contract-"))
    os.chmod(root, 0o755)  # noqa: S103
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    spec = {"kind": "initdb", "root": str(root), "server_bin": str(local_server_bin())}

    def copies() -> set[str]:
        return {p.name for p in root.iterdir()} if root.is_dir() else set()

    def production(url: DatabaseUrl) -> Source:
        return InitdbSource(root=root, server_bin=local_server_bin(), target_url=url,
                            production_databases=(url.dbname,))

    def remove(name: str) -> None:
        from pgdrill.sources.private import remove_copy_folder

        remove_copy_folder(root / name)

    return Harness("initdb", spec, copies, production, remove=remove)


def _private_root(request: pytest.FixtureRequest) -> Path:
    # Not under tmp_path: its parents are private to root, and the server runs as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="pgdrill-contract-"))
    os.chmod(root, 0o755)  # noqa: S103
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    return root


def _folders(root: Path) -> Callable[[], set[str]]:
    return lambda: {p.name for p in root.iterdir()} if root.is_dir() else set()


def _remove_folder(root: Path) -> Callable[[str], None]:
    def remove(name: str) -> None:
        from pgdrill.sources.private import remove_copy_folder

        remove_copy_folder(root / name)

    return remove


def _physical_production(spec: dict[str, Any]) -> Callable[[DatabaseUrl], Source]:
    def production(url: DatabaseUrl) -> Source:
        from pgdrill.sources.physical import PhysicalRecoverySource

        source = build(spec)
        assert isinstance(source, PhysicalRecoverySource)
        source.target_url, source.production_databases = url, (url.dbname,)
        return source

    return production


def _pgbackrest_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    from support.pitr import PgBackRestRepo

    repo: PgBackRestRepo = request.getfixturevalue("pgbackrest_repo")
    root = _private_root(request)
    spec = {"kind": "pgbackrest", "root": str(root), "stanza": repo.stanza, "config": str(repo.config)}
    return Harness("pgbackrest", spec, _folders(root), _physical_production(spec), remove=_remove_folder(root))


def _barman_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    from support.pitr import BarmanBucket

    bucket: BarmanBucket = request.getfixturevalue("barman_bucket")
    request.getfixturevalue("s3_env")  # credentials and endpoint, for this process and the killed one
    root = _private_root(request)
    spec = {"kind": "barman", "root": str(root), "url": bucket.url_prefix, "server": bucket.server}
    return Harness("barman", spec, _folders(root), _physical_production(spec), remove=_remove_folder(root))


@pytest.fixture(params=["backup", "neon", "archive", "initdb",
                        pytest.param("pgbackrest", marks=pytest.mark.slow),
                        pytest.param("barman", marks=pytest.mark.slow)])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    make = {"backup": _backup_harness, "neon": _neon_harness, "archive": _archive_harness,
            "initdb": _initdb_harness, "pgbackrest": _pgbackrest_harness, "barman": _barman_harness}[request.param]
    h = make(request, tmp_path)
    yield h
    for name in h.copies():  # whatever a failing test left, so the next test starts clean
        h.remove(name)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _select_one(url: DatabaseUrl) -> int:
    with psycopg.connect(url.conninfo()) as conn:
        row = conn.execute("SELECT count(*) FROM pg_class").fetchone()
        assert row is not None
        return int(row[0])


# -- the contract -----------------------------------------------------------------------------------
def test_yields_a_connectable_copy_at_a_point_in_time_and_cleans_up(harness: Harness) -> None:
    source = harness.source()
    source.prepare(_now())
    with source.restored(CopyOptions()) as copy:
        assert copy.usable and copy.url is not None
        assert _select_one(copy.url) > 0
        assert copy.name in harness.copies()
        assert copy.origin.point_in_time is not None and copy.origin.point_in_time <= _now()
        assert copy.marker.mine() and not copy.marker.keep
    assert copy.cleanup is not None and copy.cleanup.status == "pass", copy.cleanup
    assert harness.copies() == set()


def test_cleans_up_after_a_failing_check(harness: Harness) -> None:
    failing = ChecksConfig.model_validate({"sql": {"name": "impossible", "sql": "select 1", "expect": 2}})
    result = run_drill(harness.source(), DrillRequest(checks=failing))
    assert not result.passed and "check 'sql: impossible' failed" in result.record.failures
    cleanup = next(c for c in result.record.checks if c.name == "cleanup")
    assert cleanup.status == "pass"
    assert result.record.point_in_time is not None and result.record.source_kind == harness.kind
    assert harness.copies() == set()


def test_cleans_up_after_an_interrupt(harness: Harness) -> None:
    source = harness.source()
    source.prepare(_now())
    with pytest.raises(KeyboardInterrupt), source.restored(CopyOptions()) as copy:
        assert copy.name in harness.copies()
        raise KeyboardInterrupt  # what the CLI's SIGTERM handler raises too
    assert copy.cleanup is not None and copy.cleanup.status == "pass"
    assert harness.copies() == set()


def test_keeps_the_copy_with_keep_and_later_runs_leave_it(harness: Harness) -> None:
    source = harness.source()
    source.prepare(_now())
    with source.restored(CopyOptions(keep=True)) as kept:
        pass
    assert kept.cleanup is not None and kept.cleanup.status == "skip" and "kept" in kept.cleanup.detail
    assert harness.copies() == {kept.name}
    # A later run sweeps with no grace at all: the kept copy is listed, not removed.
    later = harness.source()
    later.prepare(_now())
    with later.restored(CopyOptions(grace=0)) as copy:
        assert any(kept.name in n and "kept copy" in n for n in copy.notes), copy.notes
    assert harness.copies() == {kept.name}
    harness.remove(kept.name)


def test_refuses_a_production_target_before_making_anything(harness: Harness, pg: PgServer) -> None:
    source = harness.production(pg.admin_url.with_dbname("production_db"))
    with pytest.raises(PgdrillError) as info:
        source.prepare(_now())
    assert info.value.exit_code == 2 and "production" in info.value.message
    assert harness.copies() == set() and harness.nothing_asked()


def test_a_copy_left_by_a_sigkilled_run_is_swept_by_the_next_run(harness: Harness) -> None:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "support.sources", json.dumps(harness.spec)], env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    left = proc.stdout.split("READY ", 1)[1].strip()
    assert harness.copies() == {left}, "the killed run could not clean up, so its copy is still there"

    source = harness.source()
    source.prepare(_now())
    with source.restored(CopyOptions(grace=0)) as copy:
        swept = [n for n in copy.notes if n.startswith(f"removed copy {left} left by an earlier run")]
        assert swept and "whose run is gone" in swept[0], copy.notes
        assert harness.copies() == {copy.name}
    assert harness.copies() == set()


def test_a_live_runs_copy_is_never_swept(harness: Harness) -> None:
    source = harness.source()
    source.prepare(_now())
    with source.restored(CopyOptions()) as first:
        other = harness.source()
        other.prepare(_now())
        with other.restored(CopyOptions(grace=0)) as second:
            assert harness.copies() == {first.name, second.name}
            assert not any(first.name in n for n in second.notes)
    assert harness.copies() == set()
