"""RTO/RPO measurement and evaluation, verdicts, records and history: pure, no Postgres."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pgdrill.checks import CheckResult
from pgdrill.drill import (
    DrillRecord,
    DrillSettings,
    TargetRecord,
    evaluate,
    failure_reasons,
    load_history,
    measure_rpo,
    parse_record,
    record_key,
    trend,
)
from pgdrill.errors import ConfigError, IntegrityError, Refused
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.report.format import fmt_seconds, fmt_target
from pgdrill.sources.backup import StoredBackupSource
from pgdrill.sources.scratch import scratch_name
from pgdrill.store.memory import MemoryStore

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)
H = 3600.0


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_rpo_is_backup_age_plus_worst_gap_in_window() -> None:
    # nightly backups, one night missed (a 48 h gap), drill 5 h after the last one
    times = [at(24 * d) for d in range(10) if d != 4]
    m = measure_rpo(times[-1], times, times[-1] + timedelta(hours=5))
    assert m.age == 5 * H
    assert m.worst_gap == 48 * H
    assert m.total == 53 * H


def test_rpo_gaps_outside_the_window_and_future_backups_are_ignored() -> None:
    old_gap = [at(0), at(24 * 10)]  # 10-day gap, ended 40 days before the drill
    recent = [at(24 * 10 + 6 * i) for i in range(1, 160)]  # every 6 h since
    drill_at = recent[-1] + timedelta(hours=1)
    future = [drill_at + timedelta(hours=2)]
    m = measure_rpo(recent[-1], old_gap + recent + future, drill_at, window=30 * 86400)
    assert m.worst_gap == 6 * H
    assert m.age == 1 * H


def test_rpo_of_an_older_backup_counts_its_age() -> None:
    times = [at(0), at(24), at(48)]
    m = measure_rpo(at(0), times, at(50))
    assert m.age == 50 * H and m.worst_gap == 24 * H


def test_rpo_with_a_single_backup_has_no_gap() -> None:
    m = measure_rpo(at(0), [at(0)], at(2))
    assert (m.age, m.worst_gap, m.total) == (2 * H, 0.0, 2 * H)


def test_evaluate_targets() -> None:
    assert evaluate(899.9, 900).status == "pass"
    assert evaluate(900.0, 900).status == "pass"
    assert evaluate(900.1, 900).status == "fail"
    none = evaluate(12.3456, None)
    assert none.status == "none" and none.target is None and none.measured == 12.346


def test_failure_reasons_name_failed_checks_and_missed_targets() -> None:
    checks = [CheckResult("restore", "pass", "ok"), CheckResult("row counts", "fail", "x"),
              CheckResult("extensions", "warn", "v"), CheckResult("migration head", "skip", "none")]
    reasons = failure_reasons(checks, evaluate(1200, 900), evaluate(10, 3600))
    assert reasons == ["check 'row counts' failed", "RTO 20m 00s over target 15m"]
    ok = [c for c in checks if c.status != "fail"]
    assert failure_reasons(ok, evaluate(1, 900), evaluate(1, None)) == []


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0.00s"), (0.844, "0.84s"), (42.4, "42s"), (59.4, "59s"), (59.6, "1m 00s"), (185, "3m 05s"),
    (5 * H + 125, "5h 02m"), (26 * H, "26h 00m"), (100 * H, "4d 04h"),
])
def test_fmt_seconds(seconds: float, text: str) -> None:
    assert fmt_seconds(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (900, "15m"), (26 * H, "26h"), (6 * H, "6h"), (7 * 86400, "7d"), (90, "90s"), (None, "none"), (0.5, "0.50s"),
])
def test_fmt_target(seconds: float | None, text: str) -> None:
    assert fmt_target(seconds) == text


def test_scratch_names_are_unique_valid_identifiers() -> None:
    names = {scratch_name("pgdrill_drill", T0) for _ in range(50)}
    assert len(names) == 50
    for n in names:
        assert n.startswith("pgdrill_drill_20260301_030000_") and len(n) <= 63 and n == n.lower()


def test_drill_settings_validation() -> None:
    s = DrillSettings.model_validate({"owners": "@acme/dba", "rpo_window": "7d", "trend": 5})
    assert s.owners == ["@acme/dba"] and s.rpo_window == 7 * 86400 and s.trend == 5
    for bad in ({"scratch_prefix": "Drop Table"}, {"trend": 0}, {"rpo_window": "soon"}, {"ownerz": []}):
        with pytest.raises(ValueError):
            DrillSettings.model_validate(bad)


def _record(i: int, passed: bool = True, rto: float = 60.0) -> DrillRecord:
    return DrillRecord(
        id=f"2026030{i}T030000000Z-00000000000{i}", passed=passed, started_at=at(24 * i), finished_at=at(24 * i + 0.1),
        backup_id=f"2026030{i}T020000000Z-aaaaaaaaaaa{i}", backup_created_at=at(24 * i - 1),
        rto=evaluate(rto, 900), rpo=evaluate(3600, 26 * H),
        checks=[CheckResult("restore", "pass", "pg_restore finished with 0 errors", 1.5)],
    )


def test_record_round_trips_through_json_and_history_sorts_and_skips_bad_records() -> None:
    store = MemoryStore()
    recs = [_record(3), _record(1, passed=False), _record(2)]
    for r in recs:
        store.put_bytes(record_key(r.id), r.to_json().encode())
    store.put_bytes("drills/broken.json", b"{not json")
    store.put_bytes("drills/other.json", b'{"id": "x"}')
    h = load_history(store)
    assert [r.id for r in h.records] == sorted(r.id for r in recs)
    assert h.records[0] == recs[1]  # the round trip keeps every field, checks included
    assert h.latest == recs[0]
    assert sorted(k for k, _ in h.problems) == ["drills/broken.json", "drills/other.json"]


def test_parse_record_rejects_naive_timestamps() -> None:
    doc = _record(1).to_json().replace("+00:00", "").replace("Z\"", "\"")
    with pytest.raises(IntegrityError, match="timezone"):
        parse_record(doc.encode(), "drills/x.json")


def test_trend_keeps_the_last_n_ending_with_the_current_drill() -> None:
    hist = [_record(i) for i in range(1, 6)]
    cur = _record(7)
    rows = trend(hist, cur, 3)
    assert [r.id for r in rows] == [hist[3].id, hist[4].id, cur.id]
    both = trend([*hist, cur], cur, 10)
    assert both[-1] == cur and len(both) == 6  # the current drill already in the history counts once


def test_target_record_defaults() -> None:
    assert TargetRecord(measured=1.0).status == "none"


def test_request_needs_exactly_one_destination_and_refuses_production_names() -> None:
    store = MemoryStore()
    url = DatabaseUrl.parse("postgresql://u@db.example.com:5432/shop")
    with pytest.raises(ConfigError, match="exactly one"):
        StoredBackupSource(store=store).check_placement()
    with pytest.raises(ConfigError, match="exactly one"):
        StoredBackupSource(store=store, scratch_url=url, target_url=url).check_placement()
    with pytest.raises(Refused, match="production_databases"):
        StoredBackupSource(store=store, target_url=url, production_databases=("shop", "billing")).check_placement()
    StoredBackupSource(store=store, target_url=url.with_dbname("shop_drill"),
                       production_databases=("shop",)).check_placement()
    StoredBackupSource(store=store, scratch_url=url, production_databases=("shop",)).check_placement()
