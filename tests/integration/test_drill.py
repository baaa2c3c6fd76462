"""Restore drills against real PostgreSQL: passing, corrupted archive, failing assertion, rows that
differ from the manifest, refusals, interrupts — and the scratch database is gone after every one."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from pgdrill.backup import BackupRequest, run_backup
from pgdrill.checks import ChecksConfig
from pgdrill.demo import sample_sql
from pgdrill.drill import DrillRequest, DrillSettings, load_history, run_drill
from pgdrill.manifest import Manifest
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.sources.backup import StoredBackupSource
from pgdrill.store import open_store
from pgdrill.store.local import LocalStore

from support.fingerprint import load_hard_content
from support.postgres import PgServer
from support.runner import pgdrill

PY = sys.executable


def scratch_dbs(pg: PgServer, prefix: str) -> list[str]:
    return sorted(d for d in pg.databases() if d.startswith(prefix))


@pytest.fixture
def prefix(pg: PgServer) -> Iterator[str]:
    """A scratch-name prefix of this test's own; after the test no database may carry it."""
    p = f"t_drill_{uuid.uuid4().hex[:8]}"
    yield p
    left = scratch_dbs(pg, p)
    for name in left:
        pg.drop_database(name)
    assert not left, f"scratch databases left behind: {left}"


@pytest.fixture(scope="module")
def shop(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute(sample_sql())  # type: ignore[arg-type]
    yield url
    pg.drop_database(url.dbname)


@pytest.fixture(scope="module")
def hard(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    load_hard_content(url)
    yield url
    pg.drop_database(url.dbname)


@pytest.fixture
def shop_backup(shop: DatabaseUrl, tmp_path: Path) -> tuple[LocalStore, Manifest]:
    store = LocalStore(tmp_path / "store")
    return store, run_backup(BackupRequest(shop, store, tags=("nightly",)))


def write_config(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["checks"]}


# -- a passing drill, through the CLI, on a local folder and on S3 ---------------------------------
def test_passing_drill_on_hard_content(capsys: pytest.CaptureFixture[str], pg: PgServer, hard: DatabaseUrl,
                                       store_url: str, tmp_path: Path, prefix: str) -> None:
    r = pgdrill(capsys, "backup", "--database-url", hard.conninfo(), "--store", store_url, "--json")
    assert r.code == 0, r.err
    backup_id = r.json()["id"]
    insert_through_app = (
        "import os, psycopg\n"
        "with psycopg.connect(os.environ['DATABASE_URL']) as c:\n"
        "    i = c.execute('INSERT INTO \"Billing\".\"Invoice\" (\"Amount\") VALUES (1) RETURNING \"InvoiceID\"')\n"
        "    print('new invoice', i.fetchone()[0], 'in', c.execute('select current_database()').fetchone()[0])\n"
    )
    cfg = write_config(tmp_path, {
        "rto_target": "15m", "rpo_target": "26h", "production_databases": [hard.dbname],
        "drill": {"owners": ["@acme/dba"], "scratch_prefix": prefix},
        "checks": {
            "migration": {"expected_command": "echo '3f2a9c1b7d4e (head)'"},
            "sql": [
                {"name": "every mood counted", "sql": "SELECT count(*) FROM app.moods", "expect": 5},
                {"name": "invoices", "sql": 'SELECT 1 FROM "Billing"."Invoice"', "min_rows": 500},
                {"name": "no negative amounts", "sql": 'SELECT * FROM "Billing"."Invoice" WHERE "Amount" < 0',
                 "no_rows": True},
            ],
            "smoke": [{"name": "app inserts an invoice", "run": [PY, "-c", insert_through_app], "timeout": "1m"},
                      {"name": "psql sees the data", "run": "psql -Atc 'SELECT count(*) FROM app.everything'"}],
        },
    })
    report = tmp_path / "drill.md"
    r = pgdrill(capsys, "--config", cfg, "drill", "--store", store_url, "--scratch-url", pg.admin_url.conninfo(),
                "--report", str(report), "--json")
    assert r.code == 0, r.out + r.err
    doc = r.json()
    checks = by_name(doc)
    assert doc["passed"] is True and doc["failures"] == []
    assert {n: c["status"] for n, c in checks.items()} == {
        "restore": "pass", "schemas": "pass", "extensions": "pass", "row counts": "pass", "sequences": "pass",
        "privileges": "pass", "migration head": "pass", "sql: every mood counted": "pass", "sql: invoices": "pass",
        "sql: no negative amounts": "pass", "smoke: app inserts an invoice": "pass",
        "smoke: psql sees the data": "pass", "cleanup": "pass"}
    assert "3f2a9c1b7d4e" in checks["migration head"]["detail"]
    # the app's insert went through the restored sequence (setval 9000 kept) into the scratch database
    assert f"new invoice 9002 in {prefix}_" in checks["smoke: app inserts an invoice"]["output"]
    assert checks["smoke: psql sees the data"]["output"].strip() == "3004"
    assert doc["backup_id"] == backup_id and doc["scratch_database"].startswith(prefix)
    assert doc["rto"]["status"] == "pass" and doc["rpo"]["status"] == "pass" and doc["rpo"]["target"] == 26 * 3600
    assert doc["rto"]["measured"] == pytest.approx(doc["restore_seconds"] + doc["checks_seconds"], abs=0.01)
    assert doc["owners"] == ["@acme/dba"] and doc["pg_restore_version"] and doc["target_server_version"]
    assert scratch_dbs(pg, prefix) == []
    md = report.read_text()
    assert md.startswith("## ✅ Restore drill passed") and "dropped with everything restored into it" in md
    assert hard.password and hard.password not in md + r.out + r.err

    # the record is in the store and `drills` lists it
    r = pgdrill(capsys, "drills", "--store", store_url, "--json")
    assert r.code == 0, r.err
    [rec] = r.json()["drills"]
    assert rec["id"] == doc["id"] and rec["passed"] is True
    stored = open_store(store_url).get_bytes(f"drills/{doc['id']}.json")
    # what a workflow attests (the record-sha256 step output) is the record exactly as stored
    assert doc["record_sha256"] == hashlib.sha256(stored).hexdigest()


# -- a corrupted archive must fail the drill, never pass it -------------------------------------------
@pytest.mark.parametrize("where", ["middle", "header"])
def test_corrupted_backup_fails_the_drill(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                          shop_backup: tuple[LocalStore, Manifest], tmp_path: Path, prefix: str,
                                          where: str) -> None:
    store, m = shop_backup
    path = store.root / m.object_key
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if where == "middle" else 0
    data[at:at + 64] = bytes(b ^ 0x5A for b in data[at:at + 64])  # same size: only the checksum can tell
    path.write_bytes(bytes(data))
    cfg = write_config(tmp_path, {"drill": {"scratch_prefix": prefix}})
    r = pgdrill(capsys, "--config", cfg, "drill", "--store", str(store.root), "--scratch-url",
                pg.admin_url.conninfo(), "--json")
    assert r.code == 1, r.out + r.err
    doc = r.json()
    checks = by_name(doc)
    assert doc["passed"] is False and "check 'restore' failed" in doc["failures"]
    assert checks["restore"]["status"] == "fail"
    assert "integrity check" in checks["restore"]["detail"] and m.id in checks["restore"]["detail"]
    # nothing read from a corrupt archive is trusted: no data check may pass on it
    for name in ("schemas", "extensions", "row counts", "sequences", "migration head"):
        assert checks[name]["status"] == "skip", name
    assert checks["cleanup"]["status"] == "pass"
    assert scratch_dbs(pg, prefix) == []
    assert "drill " in r.err and "failed" in r.err  # the CLI says why it exits 1
    [rec] = load_history(store).records
    assert rec.passed is False and rec.id == doc["id"]


# -- a failing SQL assertion ---------------------------------------------------------------------
def test_failing_sql_assertion_fails_the_drill(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                               shop_backup: tuple[LocalStore, Manifest], tmp_path: Path,
                                               prefix: str) -> None:
    store, _ = shop_backup
    cfg = write_config(tmp_path, {"drill": {"scratch_prefix": prefix}, "checks": {
        "migration": {"expected": "ffffffffffff", "severity": "warn"},
        "sql": [{"name": "customers", "sql": "SELECT count(*) FROM app.customers", "expect": 2000},
                {"name": "one admin", "sql": "SELECT count(*) FROM app.customers WHERE name = 'Admin'", "expect": 1},
                {"name": "writes refused", "sql": "DELETE FROM app.orders RETURNING id", "no_rows": True}],
    }})
    r = pgdrill(capsys, "--config", cfg, "drill", "--store", str(store.root), "--scratch-url",
                pg.admin_url.conninfo(), "--report", str(tmp_path / "r.md"), "--json")
    assert r.code == 1, r.out + r.err
    doc = r.json()
    checks = by_name(doc)
    assert checks["sql: customers"]["status"] == "pass"
    assert checks["sql: one admin"]["status"] == "fail"
    assert checks["sql: one admin"]["detail"] == "expected 1, got 0"
    # assertions run read-only: the DELETE is refused, not executed
    assert checks["sql: writes refused"]["status"] == "fail"
    assert "read-only transaction" in checks["sql: writes refused"]["detail"]
    assert checks["row counts"]["status"] == "pass"
    assert checks["migration head"]["status"] == "warn"
    assert "expected ffffffffffff" in checks["migration head"]["detail"]
    assert doc["failures"] == ["check 'sql: one admin' failed", "check 'sql: writes refused' failed"]
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("## ❌ Restore drill failed") and "| ❌ | sql: one admin | expected 1, got 0 |" in md
    assert scratch_dbs(pg, prefix) == []


# -- rows that differ from the manifest, sequences behind their columns (test hook) ---------------
def _run(pg: PgServer, store: LocalStore, prefix: str, **kw: Any) -> Any:
    source = StoredBackupSource(scratch_url=pg.admin_url, prefix=prefix, store=store)
    return run_drill(source, DrillRequest(settings=DrillSettings(scratch_prefix=prefix), records=store, **kw))


def test_rows_differing_from_the_manifest_fail_with_both_numbers(pg: PgServer, prefix: str,
                                                                 shop_backup: tuple[LocalStore, Manifest]) -> None:
    store, m = shop_backup

    def lose_rows(url: DatabaseUrl) -> None:
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute("DELETE FROM app.order_items WHERE order_id <= 5")
            conn.execute("INSERT INTO app.products (sku, price) VALUES ('NEW-1', 1)")

    res = _run(pg, store, prefix, tamper=lose_rows)
    checks = {c.name: c for c in res.record.checks}
    rc = checks["row counts"]
    items = m.tables["app.order_items"]
    assert rc.status == "fail"
    assert rc.items == (f"app.order_items: manifest {items}, restored {items - 15}",
                        "app.products: manifest 300, restored 301")
    assert rc.detail.startswith("2 of 5 tables differ: app.order_items: manifest")
    assert res.passed is False and res.record.failures == ["check 'row counts' failed"]
    assert scratch_dbs(pg, prefix) == []


def test_sequence_behind_its_column_fails(pg: PgServer, prefix: str,
                                          shop_backup: tuple[LocalStore, Manifest]) -> None:
    store, _ = shop_backup

    def rewind(url: DatabaseUrl) -> None:
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute("SELECT setval('app.customers_id_seq', 10)")
            conn.execute("ALTER TABLE app.products ALTER COLUMN id RESTART WITH 5")

    res = _run(pg, store, prefix, tamper=rewind)
    seq = {c.name: c for c in res.record.checks}["sequences"]
    assert seq.status == "fail"
    # behind where the source's sequences were (recorded in the backup's snapshot), and behind the column
    assert seq.items == ("app.customers_id_seq: restored last_value 10, the source's was 2000 (manifest); "
                         "max(app.customers.id) = 2000",
                         "app.products_id_seq: restored last_value unset, the source's was 300 (manifest); "
                         "max(app.products.id) = 300")
    assert res.passed is False
    assert scratch_dbs(pg, prefix) == []


def test_missed_rto_target_fails_an_otherwise_clean_drill(pg: PgServer, prefix: str,
                                                          shop_backup: tuple[LocalStore, Manifest]) -> None:
    store, _ = shop_backup
    res = _run(pg, store, prefix, rto_target=0.001, rpo_target=3600.0)
    assert all(c.status in ("pass", "skip") for c in res.record.checks)
    assert res.record.rto.status == "fail" and res.record.rpo.status == "pass"
    assert res.passed is False and res.record.failures[0].startswith("RTO ")
    assert scratch_dbs(pg, prefix) == []


# -- the scratch database is dropped on interrupt, kept with --keep ----------------------------------
def test_interrupt_during_checks_still_drops_the_scratch_database(pg: PgServer, prefix: str,
                                                                  shop_backup: tuple[LocalStore, Manifest]) -> None:
    store, _ = shop_backup
    seen: list[str] = []

    def ctrl_c(url: DatabaseUrl) -> None:
        seen.append(url.dbname)
        assert scratch_dbs(pg, prefix) == [url.dbname]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(pg, store, prefix, tamper=ctrl_c)
    assert seen and scratch_dbs(pg, prefix) == []
    assert load_history(store).records == []  # an interrupted drill is not a drill


def test_sigterm_from_ci_kills_the_smoke_command_and_drops_the_scratch_database(
        pg: PgServer, prefix: str, shop_backup: tuple[LocalStore, Manifest], tmp_path: Path) -> None:
    store, _ = shop_backup
    started = tmp_path / "smoke-started"
    survivor = tmp_path / "smoke-survived"
    cfg = write_config(tmp_path, {"drill": {"scratch_prefix": prefix}, "checks": {"smoke": [
        {"name": "slow", "run": f"touch {started}; sleep 30; touch {survivor}", "timeout": "5m"}]}})
    env = {**os.environ, "PGDRILL_SCRATCH_URL": pg.admin_url.conninfo()}
    proc = subprocess.Popen([PY, "-m", "pgdrill", "--config", cfg, "drill", "--store", str(store.root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert started.exists(), proc.communicate()[1] if proc.poll() is not None else "smoke never started"
        assert len(scratch_dbs(pg, prefix)) == 1
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    assert "interrupted" in err
    assert scratch_dbs(pg, prefix) == []
    time.sleep(0.5)
    assert not survivor.exists()


def test_keep_leaves_the_scratch_database_and_says_how_to_drop_it(pg: PgServer, prefix: str,
                                                                  shop_backup: tuple[LocalStore, Manifest]) -> None:
    store, _ = shop_backup
    res = _run(pg, store, prefix, keep=True)
    name = res.record.scratch_database
    assert res.passed and name and scratch_dbs(pg, prefix) == [name]
    cleanup = {c.name: c for c in res.record.checks}["cleanup"]
    assert cleanup.status == "skip" and f'DROP DATABASE "{name}"' in cleanup.detail
    pg.drop_database(name)


# -- --target-url: refused when not empty or listed as production; otherwise used and left in place ----
def test_target_url_rules(capsys: pytest.CaptureFixture[str], pg: PgServer, shop: DatabaseUrl,
                          shop_backup: tuple[LocalStore, Manifest], target_db: DatabaseUrl, tmp_path: Path) -> None:
    store, _ = shop_backup
    r = pgdrill(capsys, "drill", "--store", str(store.root), "--target-url", shop.conninfo())
    assert r.code == 2 and "is not empty" in r.err
    cfg = write_config(tmp_path, {"production_databases": [target_db.dbname]})
    r = pgdrill(capsys, "--config", cfg, "drill", "--store", str(store.root), "--target-url", target_db.conninfo())
    assert r.code == 2 and "production_databases" in r.err
    r = pgdrill(capsys, "drill", "--store", str(store.root), "--target-url", target_db.conninfo(), "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["target_kind"] == "target" and "left in place" in doc["cleanup"]
    assert "cleanup" not in by_name(doc)
    assert target_db.dbname in pg.databases()
    r = pgdrill(capsys, "drill", "--store", str(store.root), "--target-url", target_db.conninfo(),
                "--scratch-url", pg.admin_url.conninfo())
    assert r.code == 2 and "not both" in r.err


def test_config_errors_name_the_file_and_field(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                               shop_backup: tuple[LocalStore, Manifest], tmp_path: Path) -> None:
    store, _ = shop_backup
    cfg = write_config(tmp_path, {"checks": {"sql": [{"name": "x", "sql": "select 1"}]}})
    r = pgdrill(capsys, "--config", cfg, "drill", "--store", str(store.root), "--scratch-url", pg.admin_url.conninfo())
    assert r.code == 2
    assert cfg in r.err and "checks.sql.0" in r.err and "exactly one of expect, min_rows, no_rows" in r.err
    r = pgdrill(capsys, "drill", "--store", str(store.root), "--scratch-url", pg.admin_url.conninfo(),
                "--rto-target", "fast")
    assert r.code == 2 and "--rto-target 'fast' is not a duration" in r.err


def test_checks_runner_is_reusable_without_a_drill(shop: DatabaseUrl, shop_backup: tuple[LocalStore, Manifest]) -> None:
    """What a point-in-time (branch) drill does: check a live copy by URL against a manifest."""
    from pgdrill.checks import Expected, run_checks

    _, m = shop_backup
    cfg = ChecksConfig.model_validate({"sql": {"name": "orders", "sql": "select count(*) from app.orders",
                                               "expect": 6000}})
    results = run_checks(shop, Expected.from_manifest(m), cfg)
    assert [(r.name, r.status) for r in results] == [
        ("schemas", "pass"), ("extensions", "pass"), ("row counts", "pass"), ("sequences", "pass"),
        ("privileges", "pass"), ("migration head", "pass"), ("sql: orders", "pass")]
    assert [r.status for r in run_checks(shop)][2] == "skip"  # no manifest: nothing to compare rows with


# -- age-encrypted backups -----------------------------------------------------------------------
def test_encrypted_backup_drills_with_its_identity_and_fails_when_tampered(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, pg: PgServer, shop: DatabaseUrl,
        tmp_path: Path, prefix: str) -> None:
    from pgdrill.crypto import generate_identity

    identity, recipient = generate_identity()
    store = tmp_path / "store"
    cfg = write_config(tmp_path, {"drill": {"scratch_prefix": prefix}})
    r = pgdrill(capsys, "backup", "--database-url", shop.conninfo(), "--store", str(store), "--encrypt-to",
                recipient, "--json")
    assert r.code == 0, r.err
    m = r.json()
    drill = ("--config", cfg, "drill", "--store", str(store), "--scratch-url", pg.admin_url.conninfo(), "--json")

    # without the identity: a configuration error (exit 2), and still no scratch database left
    monkeypatch.delenv("PGDRILL_AGE_IDENTITY", raising=False)
    r = pgdrill(capsys, *drill)
    assert r.code == 2 and "identity" in r.err
    assert scratch_dbs(pg, prefix) == []

    monkeypatch.setenv("PGDRILL_AGE_IDENTITY", identity.reveal())
    r = pgdrill(capsys, *drill)
    assert r.code == 0, r.out + r.err
    assert r.json()["backup_encrypted"] is True and r.json()["passed"] is True

    path = store / m["object_key"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit: age's authentication must catch it
    path.write_bytes(bytes(data))
    r = pgdrill(capsys, *drill)
    assert r.code == 1, r.out + r.err
    restore = by_name(r.json())["restore"]
    assert restore["status"] == "fail" and "integrity check" in restore["detail"]
    assert by_name(r.json())["row counts"]["status"] == "skip"
    assert identity.reveal() not in r.out + r.err
    assert scratch_dbs(pg, prefix) == []
