"""Monitor: each alert from crafted histories, thresholds, drill records read defensively, renderers."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from pgdrill.errors import ConfigError
from pgdrill.manifest import DRILLS, manifest_key
from pgdrill.monitor import (
    ALERTS,
    DrillSummary,
    Health,
    Thresholds,
    evaluate,
    observe,
    parse_fraction,
    run_monitor,
    thresholds_from_options,
)
from pgdrill.report.monitor import render_json, render_markdown, render_prometheus, render_text
from pgdrill.store.memory import MemoryStore

from support.history import write_attempt, write_backup, write_drill

UTC = timezone.utc
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NIGHTLY = datetime(2026, 11, 20, 3, 17, tzinfo=UTC)
GOLDEN = Path(__file__).parents[1] / "golden" / "monitor"


def history(days: int = 10, *, sizes: list[int] | None = None, skip: tuple[int, ...] = (),
            last_tables: dict[str, int] | None = None, end: datetime = NIGHTLY) -> MemoryStore:
    """Nightly backups ending at ``end``; ``skip`` = days ago without a backup; a passing drill 5 days ago."""
    store = MemoryStore("prod")
    for ago in reversed(range(days)):
        if ago in skip:
            continue
        size = sizes[days - 1 - ago] if sizes else 100_000 + ago * 10
        tables = last_tables if (ago == 0 and last_tables is not None) else {"public.orders": 5000, "public.users": 800}
        write_backup(store, end - ago * DAY, size=size, tables=tables, tags=["nightly"])
    write_drill(store, NOW - 5 * DAY, passed=True, rto={"measured": 312.5, "target": 900, "status": "pass"},
                rpo={"measured": 30000.0, "target": None, "status": "none"})
    return store


def names(h: Health) -> list[str]:
    return [a.name for a in h.alerts]


def check(store: MemoryStore, **th: object) -> Health:
    return run_monitor(store, Thresholds.model_validate(th), NOW)


# -- alerts ---------------------------------------------------------------------------------------
def test_healthy_history_has_no_alert() -> None:
    h = check(history())
    assert h.healthy and names(h) == []
    assert h.backup_age_seconds == pytest.approx((NOW - NIGHTLY).total_seconds())
    assert h.schedule_seconds == 86400 and h.schedule_inferred
    assert h.last_drill is not None and h.last_drill.rto_seconds == 312.5


def test_empty_store() -> None:
    h = check(MemoryStore())
    assert names(h) == ["NoBackup", "NoDrill"]
    assert not h.healthy


def test_backup_too_old() -> None:
    h = check(history(end=NIGHTLY - 2 * DAY))
    assert names(h) == ["BackupTooOld"]  # the open schedule gap is the same cause: one alert
    assert "is 2.2d old (max 26h)" in h.alerts[0].message
    # within a longer max age, the missed nightly runs still show as a schedule gap
    h = check(history(end=NIGHTLY - 2 * DAY), max_age="3d")
    assert names(h) == ["ScheduleGap"] and [(g.open, g.missed) for g in h.gaps] == [(True, 2)]


def test_failed_attempt_after_the_newest_backup() -> None:
    store = history()
    write_attempt(store, NOW - timedelta(hours=1), error="cannot connect to source database: timeout")
    h = check(store)
    assert names(h) == ["BackupFailed"]
    assert "timeout" in h.alerts[0].message and h.alerts[0].severity == "critical"


def test_failed_attempt_before_the_newest_backup_is_history() -> None:
    store = history()
    write_attempt(store, NIGHTLY - timedelta(hours=2))
    assert check(store).healthy


def test_size_anomaly_both_ways() -> None:
    base = [100_000] * 9
    shrunk = check(history(sizes=[*base, 40_000]))
    assert names(shrunk) == ["BackupSizeAnomaly"]
    assert shrunk.size_median == 100_000 and shrunk.size_deviation == pytest.approx(-0.6)
    grown = check(history(sizes=[*base, 160_000]))
    assert names(grown) == ["BackupSizeAnomaly"]
    assert check(history(sizes=[*base, 140_000])).healthy  # +40% is within ±50%
    assert check(history(sizes=[*base, 140_000]), size_deviation="30%").firing("BackupSizeAnomaly")


def test_size_median_uses_only_the_previous_window() -> None:
    # Old backups were tiny; the last 7 before the newest are all 100 kB.
    h = check(history(days=12, sizes=[1_000] * 4 + [100_000] * 7 + [100_000]))
    assert h.size_median == 100_000 and h.healthy


def test_size_needs_some_history() -> None:
    h = check(history(days=3, sizes=[100_000, 100_000, 5_000]))
    assert h.size_median is None and not h.firing("BackupSizeAnomaly")


def test_row_count_drop_between_the_last_two_backups() -> None:
    h = check(history(last_tables={"public.orders": 120, "public.users": 790}))
    assert names(h) == ["RowCountDrop"]
    assert [(d.table, d.before, d.after) for d in h.row_drops] == [("public.orders", 5000, 120)]
    assert "public.orders 5000 → 120 (-98%)" in h.alerts[0].message


def test_a_vanished_table_counts_as_a_drop() -> None:
    h = check(history(last_tables={"public.users": 800}))
    assert [(d.table, d.after) for d in h.row_drops] == [("public.orders", None)]
    assert "public.orders 5000 → gone" in h.alerts[0].message


def test_row_drop_ignores_small_tables_and_ignored_patterns() -> None:
    store = history(last_tables={"public.orders": 5000, "public.users": 10})
    assert check(store).firing("RowCountDrop")
    assert check(store, row_drop_ignore=["public.u*"]).healthy
    assert check(store, row_drop_min_rows=1000).healthy


def test_schedule_gap_inside_the_window() -> None:
    h = check(history(skip=(2, 3)))
    assert names(h) == ["ScheduleGap"]
    assert [(g.missed, g.open) for g in h.gaps] == [(2, False)]
    assert "~2 scheduled backup(s) missed (every 1d, inferred" in h.alerts[0].message


def test_schedule_gap_outside_the_window_has_healed() -> None:
    assert check(history(days=20, skip=(12, 13))).healthy


def test_configured_schedule_and_open_gap() -> None:
    store = history()
    # every 2h expected: the 5.7h since the last nightly backup is an open gap, and every night before
    # inside the 7d window is a closed one
    h = check(store, schedule="2h")
    assert names(h) == ["ScheduleGap"] and not h.schedule_inferred
    assert [g.open for g in h.gaps] == [False] * 7 + [True]
    assert check(store, schedule="1d").healthy


def test_pre_deploy_backups_do_not_define_the_schedule() -> None:
    store = history()
    for hour in (10, 12, 14, 16):
        write_backup(store, NIGHTLY - 3 * DAY + timedelta(hours=hour), tags=["pre-deploy"], size=100_000, n=hour)
    h = check(store)
    assert h.schedule_seconds == 86400 and not h.firing("ScheduleGap")


def test_drill_failed_too_old_and_missing() -> None:
    store = history()
    write_drill(store, NOW - DAY, passed=False, failures=["check 'row counts' failed"], n=1)
    h = check(store)
    assert names(h) == ["DrillFailed"] and "row counts" in h.alerts[0].message
    old = MemoryStore()
    write_backup(old, NIGHTLY)
    write_drill(old, NOW - 40 * DAY)
    assert names(check(old)) == ["DrillTooOld"]
    assert check(old, max_drill_age="60d").healthy
    none = MemoryStore()
    write_backup(none, NIGHTLY)
    assert names(check(none)) == ["NoDrill"]
    assert check(none, max_drill_age=None).healthy


def test_unreadable_manifest_is_reported() -> None:
    store = history()
    write_backup(store, NIGHTLY - timedelta(hours=1), n=7)
    bad = [o.key for o in store.list("backups/") if o.key.endswith("manifest.json")][-2]
    store.put_bytes(bad, b"[]")
    h = check(store)
    assert names(h) == ["BackupUnreadable"]


# -- drill records ---------------------------------------------------------------------------
def test_drill_records_are_read_defensively() -> None:
    store = MemoryStore()
    write_backup(store, NIGHTLY)
    store.put_bytes(f"{DRILLS}garbage.json", b"{nope")
    store.put_bytes(f"{DRILLS}list.json", b"[1, 2]")
    store.put_bytes(f"{DRILLS}partial.json", json.dumps({"id": "x", "passed": True}).encode())
    store.put_bytes(f"{DRILLS}status.json", json.dumps(
        {"id": "s", "backup_id": "b", "started_at": "2026-11-19T10:00:00Z", "status": "failed",
         "some_future_field": {"x": 1}}).encode())
    obs = observe(store)
    assert [d.id for d in obs.drills] == ["s"]
    assert obs.drills[0].passed is False and obs.drills[0].finished_at == obs.drills[0].started_at
    assert len([p for p in obs.problems if p.startswith("drill record")]) == 3
    assert names(evaluate(obs, Thresholds(), NOW)) == ["DrillFailed"]


def test_reads_a_record_written_by_the_drill_job() -> None:
    from pgdrill.drill import DrillRecord, TargetRecord, record_key

    rec = DrillRecord(id="d1", passed=True, started_at=NOW - 2 * DAY, finished_at=NOW - 2 * DAY + timedelta(minutes=3),
                      backup_id="b1", backup_created_at=NOW - 3 * DAY,
                      rto=TargetRecord(measured=181.0, target=900.0, status="pass"),
                      rpo=TargetRecord(measured=90000.0, target=None, status="none"))
    store = MemoryStore()
    store.put_bytes(record_key(rec.id), rec.to_json().encode())
    d = observe(store).drills[0]
    assert (d.id, d.backup_id, d.passed, d.rto_seconds, d.rpo_seconds) == ("d1", "b1", True, 181.0, 90000.0)


def test_drill_summary_requires_a_verdict() -> None:
    with pytest.raises(ValueError):
        DrillSummary.from_doc({"id": "x", "started_at": "2026-11-19T10:00:00Z"})


# -- thresholds -------------------------------------------------------------------------------
def test_thresholds_parse_durations_and_percentages() -> None:
    th = Thresholds.model_validate({"max_age": "36h", "size_deviation": "30%", "row_drop": 0.1,
                                    "max_drill_age": "2w", "schedule": "1d"})
    assert (th.max_age, th.size_deviation, th.row_drop, th.max_drill_age, th.schedule) == (
        36 * 3600, 0.3, 0.1, 14 * 86400, 86400)
    assert Thresholds.model_validate({"size_deviation": 25}).size_deviation == 0.25
    for bad in ({"max_age": "soon"}, {"size_deviation": "lots"}, {"row_drop": "150%"}, {"unknown": 1},
                {"max_age": "0h"}):
        with pytest.raises(ValidationError):
            Thresholds.model_validate(bad)
    assert parse_fraction("20%", "--row-drop") == 0.2
    with pytest.raises(ConfigError):
        parse_fraction("-5%", "--row-drop")


def test_options_override_the_section() -> None:
    base = Thresholds.model_validate({"max_age": "48h", "row_drop": "10%"})
    th = thresholds_from_options(base, max_age="2h", row_drop=None)
    assert th.max_age == 7200 and th.row_drop == 0.1
    with pytest.raises(ConfigError, match="max_age"):
        thresholds_from_options(base, max_age="whenever")


# -- renderers --------------------------------------------------------------------------------
def test_prometheus_output_parses_with_the_official_parser() -> None:
    store = history(last_tables={"public.orders": 10, "public.users": 800, 'weird"name\\x': 1})
    write_attempt(store, NOW - timedelta(minutes=20))
    h = check(store)
    families = {f.name: f for f in text_string_to_metric_families(render_prometheus(h))}
    assert all(name.startswith("pgdrill_") for name in families)
    value = {name: f.samples[0].value for name, f in families.items()}
    assert value["pgdrill_backup_age_seconds"] == (NOW - NIGHTLY).total_seconds()
    assert value["pgdrill_last_backup_size_bytes"] == 100_000
    assert value["pgdrill_last_drill_success"] == 1
    assert value["pgdrill_last_attempt_failed"] == 1
    alerts = {s.labels["alert"]: s.value for s in families["pgdrill_alert"].samples}
    assert set(alerts) == set(ALERTS)
    assert alerts["BackupFailed"] == 1 and alerts["RowCountDrop"] == 1 and alerts["DrillFailed"] == 0
    assert all(s.labels["store"] == "memory://prod" for f in families.values() for s in f.samples)
    drops = {s.labels["table"]: s.value for s in families["pgdrill_table_row_drop_ratio"].samples}
    assert drops == {"public.orders": pytest.approx(0.998)}


def test_prometheus_label_escaping() -> None:
    h = evaluate(observe(MemoryStore('we"ird\\name\nx')), Thresholds(), NOW)
    fams = list(text_string_to_metric_families(render_prometheus(h)))
    assert fams[0].samples[0].labels["store"] == 'memory://we"ird\\name\nx'


def test_json_is_shaped_like_the_health_endpoint() -> None:
    doc = render_json(check(history()))
    assert doc["status"] == "healthy"
    assert doc["last_backup"] == "2026-11-20T03:17:00Z"
    assert doc["backup_age_hours"] == 5.72
    assert doc["alerts"] == [] and doc["last_attempt_failed"] is False
    assert json.loads(json.dumps(doc)) == doc


# -- golden outputs -----------------------------------------------------------------------------
def troubled() -> MemoryStore:
    """One history that fires most alerts at once."""
    store = MemoryStore("s3-prod")
    sizes = [100_000, 101_000, 99_500, 100_500, 102_000, 100_200, 99_900, 40_000]
    days_ago = [11, 10, 9, 8, 5, 4, 3, 2]  # nothing 6 and 7 days ago: a gap inside the window
    for ago, size in zip(days_ago, sizes, strict=True):
        tables = {"public.orders": 5000, "public.users": 800, "audit.log": 90_000}
        if ago == 2:
            tables = {"public.orders": 310, "public.users": 800}
        write_backup(store, NIGHTLY - ago * DAY, size=size, tables=tables, tags=["nightly"])
    write_attempt(store, NIGHTLY - DAY, error="pg_dump failed (exit 1): FATAL: password authentication failed")
    write_drill(store, NOW - 41 * DAY, passed=False,
                failures=["check 'row counts' failed", "RTO 31m 10s over target 15m"],
                rto={"measured": 1870.0, "target": 900, "status": "fail"})
    store.put_bytes(manifest_key("20261101T031700000Z-badbadbadbad"), b"{")
    return store


GOLDEN_CASES = {
    "healthy": lambda: history(),
    "troubled": troubled,
    "empty": lambda: MemoryStore("empty"),
}
RENDERERS = {
    "json": lambda h: json.dumps(render_json(h), indent=2, ensure_ascii=False) + "\n",
    "prom": render_prometheus,
    "md": render_markdown,
    "txt": lambda h: render_text(h) + "\n",
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_golden_output(case: str, fmt: str) -> None:
    h = run_monitor(GOLDEN_CASES[case](), Thresholds(), NOW)
    got = RENDERERS[fmt](h)
    path = GOLDEN / f"{case}.{fmt}"
    if os.environ.get("PGDRILL_UPDATE_GOLDEN") == "1":
        path.write_text(got)
        pytest.fail(f"rewrote {path.name}; review the diff, then run again without PGDRILL_UPDATE_GOLDEN")
    assert path.exists(), f"missing {path}; run with PGDRILL_UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text()


def test_troubled_history_fires_the_expected_alerts() -> None:
    h = run_monitor(troubled(), Thresholds(), NOW)
    assert names(h) == ["BackupTooOld", "BackupFailed", "BackupSizeAnomaly", "RowCountDrop", "ScheduleGap",
                        "BackupUnreadable", "DrillFailed", "DrillTooOld"]


def test_outcome_for_the_publisher() -> None:
    from pgdrill.report.monitor import to_outcome

    store = history(sizes=[100_000] * 9 + [20_000])
    write_attempt(store, NOW - timedelta(hours=1), error="disk full")
    o = to_outcome(check(store), "production")
    assert o.job == "monitor" and not o.passed
    assert o.outputs["healthy"] == "false" and o.outputs["alerts"] == "BackupFailed,BackupSizeAnomaly"
    assert o.failures == ("BackupFailed: " + check(store).alerts[0].message,)
    assert [w.split(":")[0] for w in o.warnings] == ["BackupSizeAnomaly"]
    healthy = to_outcome(check(history()))
    assert healthy.passed and healthy.title == "monitor: backups healthy" and healthy.failures == ()
