"""The backup engine under real conditions: concurrent writes, a dying S3 server, restores' safety rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from pgdrill import catalog
from pgdrill.pg import stats
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import open_store

from support.fingerprint import fingerprint
from support.postgres import PgServer
from support.runner import pgdrill
from support.tcpproxy import TcpProxy


def _seed(url: DatabaseUrl, rows: int = 20000) -> None:
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), pad text)")
        conn.execute("CREATE TABLE other (id int)")
        conn.execute("INSERT INTO ticks (pad) SELECT repeat('x', 200) FROM generate_series(1, %s)", (rows,))
        conn.execute("INSERT INTO other SELECT generate_series(1, 1000)")


def test_counts_come_from_the_dumps_snapshot(capsys, db: DatabaseUrl, target_db: DatabaseUrl, tmp_path: Path) -> None:
    _seed(db, 200_000)
    stop = threading.Event()
    inserted = 0

    def writer() -> None:
        nonlocal inserted
        with psycopg.connect(db.conninfo(), autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO ticks (pad) SELECT 'w' FROM generate_series(1, 50)")
                conn.execute("DELETE FROM other WHERE id = (SELECT min(id) FROM other)")
                inserted += 50

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.3)
        r = pgdrill(capsys, "backup", "--database-url", db.conninfo(), "--store", str(tmp_path), "--json")
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    assert r.code == 0, r.err
    manifest = r.json()
    assert inserted > 0
    with psycopg.connect(db.conninfo()) as conn:
        live = stats.count_rows(conn)
    # the source moved on while the dump ran...
    assert live["public.ticks"] > manifest["tables"]["public.ticks"]
    r = pgdrill(capsys, "restore", manifest["id"], "--store", str(tmp_path), "--target-url", target_db.conninfo())
    assert r.code == 0, r.err
    with psycopg.connect(target_db.conninfo()) as conn:
        restored = stats.count_rows(conn)
    # ...but the manifest and the archive agree exactly.
    assert restored == manifest["tables"]


def test_s3_endpoint_lost_mid_upload_leaves_no_backup(capsys, s3_env, db: DatabaseUrl) -> None:
    """The S3 endpoint disappears mid-multipart-upload (connections cut, nothing answers): the backup fails
    with exit 3 and one error line, writes no manifest, and the previous backup is still the latest."""
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        # incompressible rows so the archive spans several multipart parts
        conn.execute(
            "CREATE TABLE blobs AS SELECT g AS id, decode(string_agg(md5(g::text || k::text), ''), 'hex') AS b "
            "FROM generate_series(1, 6000) g, generate_series(1, 400) k GROUP BY g"
        )
    bucket = s3_env.create_bucket()
    store_url = f"s3://{bucket}/p"
    first = pgdrill(capsys, "backup", "--database-url", db.conninfo(), "--store", store_url, "--json")
    assert first.code == 0, first.err
    proxy = TcpProxy(s3_env.port)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}", "PGDRILL_COMPRESS": "0",
           "AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "standard"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgdrill", "backup", "--database-url", db.conninfo(), "--store", store_url],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not s3_env.client().list_multipart_uploads(Bucket=bucket).get("Uploads"):
        time.sleep(0.02)
    proxy.cut()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    lines = [ln for ln in err.splitlines() if ln.startswith("pgdrill: error:")]
    assert len(lines) == 1 and "S3" in lines[0], err
    assert "Traceback" not in err and out == ""
    cat = catalog.load(open_store(store_url))
    assert [b.id for b in cat.backups] == [first.json()["id"]]
    keys = [o.key for o in open_store(store_url).list("backups/")]
    assert keys == [f"backups/{first.json()['id']}/{name}" for name in ("archive.pgdump", "manifest.json", "roles.sql")]


def test_restore_refuses_a_non_empty_target(capsys, pg: PgServer, db: DatabaseUrl, target_db: DatabaseUrl,
                                            tmp_path: Path) -> None:
    _seed(db, 100)
    store = str(tmp_path)
    assert pgdrill(capsys, "backup", "--database-url", db.conninfo(), "--store", store).code == 0
    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", db.conninfo())
    assert r.code == 2
    assert f"--clean --confirm {db.dbname}" in r.err and r.err.count("\n") == 1
    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", db.conninfo(), "--clean",
                "--confirm", "production")
    assert r.code == 2 and "--confirm names 'production'" in r.err
    before = fingerprint(db, with_schema=False)
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute("DELETE FROM ticks WHERE id > 10")
        conn.execute("CREATE TABLE extra (x int)")
    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", db.conninfo(), "--clean",
                "--confirm", db.dbname)
    assert r.code == 0, r.err
    after = fingerprint(db, with_schema=False)
    after["tables"].pop("public.extra")  # --clean drops what the backup has, keeps unrelated tables
    assert after == before


def test_table_data_only_restore_brings_back_deleted_rows(capsys, db: DatabaseUrl, tmp_path: Path) -> None:
    _seed(db, 500)
    store = str(tmp_path)
    assert pgdrill(capsys, "backup", "--database-url", db.conninfo(), "--store", store).code == 0
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute("DELETE FROM ticks")  # the accidental DELETE
        conn.execute("INSERT INTO other VALUES (5000)")  # life goes on elsewhere
    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", db.conninfo(),
                "--table", "public.ticks", "--data-only", "--json")
    assert r.code == 0, r.err
    with psycopg.connect(db.conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] == 500  # type: ignore[index]
        assert conn.execute("SELECT count(*) FROM other").fetchone()[0] == 1001  # type: ignore[index]
    # rows present: refused without --clean --confirm
    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", db.conninfo(),
                "--table", "public.ticks", "--data-only")
    assert r.code == 2 and "still hold rows" in r.err


def test_unknown_table_is_a_usage_error(capsys, db: DatabaseUrl, target_db: DatabaseUrl, tmp_path: Path) -> None:
    _seed(db, 10)
    assert pgdrill(capsys, "backup", "--database-url", db.conninfo(), "--store", str(tmp_path)).code == 0
    r = pgdrill(capsys, "restore", "latest", "--store", str(tmp_path), "--target-url", target_db.conninfo(),
                "--table", "public.nope")
    assert r.code == 2 and "no table public.nope" in r.err


def test_settings_from_env_and_config_file(capsys, db: DatabaseUrl, tmp_path: Path, monkeypatch) -> None:
    _seed(db, 10)
    monkeypatch.setenv("PGDRILL_DATABASE_URL", db.conninfo())
    cfg = tmp_path / "pgdrill.yml"
    cfg.write_text(f"store: {tmp_path / 'from-config'}\ntags: [from-config]\n")
    r = pgdrill(capsys, "backup", "--config", str(cfg), "--json")
    assert r.code == 0, r.err
    assert r.json()["tags"] == ["from-config"]
    assert catalog.load(open_store(str(tmp_path / "from-config"))).latest is not None
    monkeypatch.setenv("PGDRILL_STORE", str(tmp_path / "from-env"))
    r = pgdrill(capsys, "backup", "--config", str(cfg), "--tag", "flag", "--json")
    assert r.code == 0 and r.json()["tags"] == ["flag"]
    assert catalog.load(open_store(str(tmp_path / "from-env"))).latest is not None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgresql://u:p@db.example-pooler.us-east-2.aws.neon.tech/app", "pooler"),
        ("postgresql://u:p@aws-0-eu.pooler.supabase.com:6543/postgres", "pooler"),
    ],
)
def test_poolers_are_refused(capsys, url: str, fragment: str, tmp_path: Path) -> None:
    r = pgdrill(capsys, "backup", "--database-url", url, "--store", str(tmp_path))
    assert r.code == 2 and fragment in r.err and "direct" in r.err


def test_unreachable_database_is_infrastructure(capsys, tmp_path: Path) -> None:
    from pgdrill.pg.cluster import free_port

    r = pgdrill(capsys, "backup", "--database-url", f"postgresql://u:secretpw@127.0.0.1:{free_port()}/x",
                "--store", str(tmp_path))
    assert r.code == 3 and "cannot connect" in r.err and "secretpw" not in r.err
    assert not list(open_store(str(tmp_path)).list("backups/"))


def test_sigterm_during_backup_cleans_up(db: DatabaseUrl, tmp_path: Path) -> None:
    _seed(db, 300_000)
    proc = subprocess.Popen([sys.executable, "-m", "pgdrill", "backup", "--database-url", db.conninfo(),
                             "--store", str(tmp_path), "--compress", "9"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(Path(tmp_path).rglob("*.partial-*")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "interrupted" in err
    store = open_store(str(tmp_path))
    assert catalog.load(store).backups == []
    assert list(store.incomplete()) == []
    assert [o.key.split("/")[0] for o in store.list("")] == ["attempts"]
