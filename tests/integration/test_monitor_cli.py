"""pgdrill monitor on real stores: crafted manifest histories (local folder and S3), and the seed 004
case for real — a mass DELETE between two real backups of a real database is caught before any drill."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import open_store

from support.history import write_attempt, write_backup, write_drill
from support.runner import pgdrill

DAY = timedelta(days=1)


def now() -> datetime:
    return datetime.now(timezone.utc)


def healthy_history(store_url: str) -> None:
    store = open_store(store_url)
    last = now() - timedelta(hours=3)
    for ago in reversed(range(9)):
        write_backup(store, last - ago * DAY, size=200_000 + ago, tables={"public.orders": 4000, "public.users": 300})
    write_drill(store, now() - 6 * DAY, passed=True, rto={"measured": 240.0, "target": 900.0, "status": "pass"})


def monitor(capsys: pytest.CaptureFixture[str], store_url: str, *args: str):  # type: ignore[no-untyped-def]
    return pgdrill(capsys, "monitor", "--store", store_url, *args)


def test_healthy_history_exits_0_in_every_format(capsys: pytest.CaptureFixture[str], store_url: str) -> None:
    healthy_history(store_url)
    r = monitor(capsys, store_url, "--format", "json")
    assert r.code == 0, r.out + r.err
    doc = r.json()
    assert doc["status"] == "healthy" and doc["alerts"] == [] and doc["backup_count"] == 9
    assert 2.9 < doc["backup_age_hours"] < 3.5
    assert monitor(capsys, store_url).code == 0
    prom = monitor(capsys, store_url, "--format", "prometheus")
    assert prom.code == 0
    fams = {f.name: f for f in text_string_to_metric_families(prom.out)}
    assert fams["pgdrill_healthy"].samples[0].value == 1
    assert fams["pgdrill_last_drill_success"].samples[0].value == 1
    assert 3 * 3600 <= fams["pgdrill_backup_age_seconds"].samples[0].value < 3.5 * 3600


def test_crafted_troubles_fire_alerts_and_exit_1(capsys: pytest.CaptureFixture[str], store_url: str) -> None:
    store = open_store(store_url)
    last = now() - timedelta(hours=30)
    for ago in reversed(range(8)):
        size = 90_000 if ago == 0 else 200_000
        tables = {"public.orders": 4000 if ago else 1500, "public.users": 300}
        write_backup(store, last - ago * DAY, size=size, tables=tables)
    write_attempt(store, now() - timedelta(hours=6), error="pg_dump failed (exit 1): disk full")
    write_drill(store, now() - 50 * DAY, passed=True)
    r = monitor(capsys, store_url, "--json")
    assert r.code == 1
    doc = r.json()
    assert [a["name"] for a in doc["alerts"]] == ["BackupTooOld", "BackupFailed", "BackupSizeAnomaly",
                                                  "RowCountDrop", "DrillTooOld"]
    assert doc["row_drops"] == [{"table": "public.orders", "before": 4000, "after": 1500, "drop_percent": 62.5}]
    assert "3 alert(s): BackupTooOld, BackupFailed, RowCountDrop" in r.err  # the critical ones fail the run
    # thresholds from flags
    r = monitor(capsys, store_url, "--json", "--max-age", "2d", "--size-deviation", "60%", "--row-drop", "70%",
                "--max-drill-age", "60d")
    assert [a["name"] for a in r.json()["alerts"]] == ["BackupFailed"]


def test_thresholds_from_pgdrill_yml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    healthy_history(store)
    cfg = tmp_path / "pgdrill.yml"
    cfg.write_text(f"store: {store}\nmax_age: 1h\nmonitor:\n  max_drill_age: 2d\n")
    r = pgdrill(capsys, "monitor", "--config", str(cfg), "--json")
    assert r.code == 1
    assert [a["name"] for a in r.json()["alerts"]] == ["BackupTooOld", "DrillTooOld"]
    assert r.json()["thresholds"]["max_age"] == "1h"
    cfg.write_text(f"store: {store}\nmax_age: 1h\nmonitor:\n  max_age: 5h\n  unknown_key: 1\n")
    r = pgdrill(capsys, "monitor", "--config", str(cfg))
    assert r.code == 2 and "monitor.unknown_key" in r.err


def test_textfile_output_is_written_whole(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    healthy_history(store)
    out = tmp_path / "textfile" / "pgdrill.prom"
    out.parent.mkdir()
    r = monitor(capsys, store, "--format", "prometheus", "--output", str(out))
    assert r.code == 0 and r.out == ""
    names = {f.name for f in text_string_to_metric_families(out.read_text())}
    assert {"pgdrill_backup_age_seconds", "pgdrill_last_backup_size_bytes", "pgdrill_last_drill_success"} <= names
    assert [p.name for p in out.parent.iterdir()] == ["pgdrill.prom"]


def test_mass_delete_between_two_real_backups_is_caught(capsys: pytest.CaptureFixture[str], db: DatabaseUrl,
                                                        tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE reservations (id int PRIMARY KEY, guest text)")
        conn.execute("INSERT INTO reservations SELECT g, 'guest ' || g FROM generate_series(1, 3000) g")
        conn.execute("CREATE TABLE guests (id int PRIMARY KEY)")
        conn.execute("INSERT INTO guests SELECT generate_series(1, 500)")
    assert pgdrill(capsys, "backup", "--database-url", db.conninfo(), "--store", store).code == 0
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute("DELETE FROM reservations WHERE id > 120")  # the accidental DELETE of seed 004
    assert pgdrill(capsys, "backup", "--database-url", db.conninfo(), "--store", store).code == 0
    r = monitor(capsys, store, "--format", "json", "--max-drill-age", "off")
    assert r.code == 1
    doc = json.loads(r.out)
    assert [a["name"] for a in doc["alerts"]] == ["RowCountDrop"]
    assert doc["row_drops"] == [{"table": "public.reservations", "before": 3000, "after": 120, "drop_percent": 96.0}]
    md = monitor(capsys, store, "--format", "markdown", "--max-drill-age", "off")
    assert "**RowCountDrop**" in md.out and "public.reservations 3000 → 120" in md.out


def test_a_new_store_with_one_fresh_backup_passes(capsys: pytest.CaptureFixture[str], db: DatabaseUrl,
                                                  tmp_path: Path) -> None:
    """The first day of a new setup: one real backup, no drill yet — not an alert."""
    store = str(tmp_path / "store")
    assert pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", store).code == 0
    r = monitor(capsys, store, "--max-age", "26h")
    assert r.code == 0, r.err
    assert r.out.splitlines()[0].endswith(": healthy")


def test_warnings_exit_0_unless_fail_on_warning(capsys: pytest.CaptureFixture[str], store_url: str) -> None:
    store = open_store(store_url)
    write_backup(store, now() - 40 * DAY, size=200_000, n=1)
    write_backup(store, now() - timedelta(hours=2), size=200_000)
    r = monitor(capsys, store_url)
    assert r.code == 0, r.err
    assert "WARNING  NoDrill: no drill recorded in the store, and the oldest backup is 40.0d old" in r.out
    assert "1 warning(s), none failing" in r.out.splitlines()[0]
    r = monitor(capsys, store_url, "--fail-on", "warning")
    assert r.code == 1 and "1 alert(s): NoDrill" in r.err
    r = monitor(capsys, store_url, "--json")
    assert r.code == 0 and r.json()["passed"] is True and r.json()["status"] == "unhealthy"


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "-5m", "soon"])
def test_bad_durations_are_refused_naming_the_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   value: str) -> None:
    store = str(tmp_path / "store")
    healthy_history(store)
    r = monitor(capsys, store, "--max-age", value)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith(f"pgdrill: error: --max-age '{value}' ") and r.err.count("\n") == 1, r.err


def test_durations_in_pgdrill_yml_name_the_file_and_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    healthy_history(store)
    cfg = tmp_path / "pgdrill.yml"
    cfg.write_text(f"store: {store}\nmonitor:\n  max_age: inf\n")
    r = pgdrill(capsys, "monitor", "--config", str(cfg))
    assert r.code == 2 and f"{cfg}: monitor.max_age: 'inf' is not a duration" in r.err, r.err
    cfg.write_text(f"store: {store}\nmonitor:\n  max_drill_age: .inf\n")  # YAML's own infinity
    r = pgdrill(capsys, "monitor", "--config", str(cfg))
    assert r.code == 2 and f"{cfg}: monitor.max_drill_age: 'inf' is not a finite duration" in r.err, r.err
    cfg.write_text(f"store: {store}\nmax_age: nan\n")
    r = pgdrill(capsys, "monitor", "--config", str(cfg))
    assert r.code == 2 and f"{cfg}: max_age: 'nan' is not a duration" in r.err, r.err
    # compound durations are durations
    cfg.write_text(f"store: {store}\nmonitor:\n  max_age: 1d 2h\n  max_drill_age: 1w1d\n")
    r = pgdrill(capsys, "monitor", "--config", str(cfg), "--json")
    assert r.code == 0, r.err
    assert r.json()["thresholds"]["max_age"] == "26h" and r.json()["thresholds"]["max_drill_age"] == "8d"
