"""The checks a dump without a manifest gets, and monitor over an archive set — pure, no database:
the counts a check would take are given to the context."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pgdrill.archives.listing import ArchiveSet
from pgdrill.checks import Baseline, CheckContext, Expected
from pgdrill.checks.contents import ExtensionsCheck, RowCountsCheck, row_count_differences
from pgdrill.checks.drop import RowDropCheck
from pgdrill.checks.runner import build_checks
from pgdrill.monitor import Thresholds
from pgdrill.monitor.archives import run_archive_monitor
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.report.monitor import render_json, render_prometheus, render_text

URL = DatabaseUrl.parse("postgresql://u@127.0.0.1:1/none")  # never connected: counts are given


def _ctx(expected: Expected, counted: dict[str, int]) -> CheckContext:
    return CheckContext(URL, expected, counted=counted)


def test_tables_listed_in_the_toc_must_exist_and_are_counted() -> None:
    e = Expected(listed_tables=["app.users", "app.orders"], label="archive")
    ok = RowCountsCheck().run(_ctx(e, {"app.users": 10, "app.orders": 5, "app.extra": 1}))
    assert ok.status == "pass" and "2 tables with data in the dump restored, 15 rows counted" in ok.detail
    bad = RowCountsCheck().run(_ctx(e, {"app.users": 10}))
    assert bad.status == "fail" and bad.items == ("app.orders",)


def test_counts_within_a_tolerance_of_a_replica() -> None:
    e = Expected(tables={"app.users": 1000, "app.orders": 200}, listed_tables=["app.users", "app.orders"],
                 label="comparison database replica/app", tolerance=0.1, same_instant=False)
    assert RowCountsCheck().run(_ctx(e, {"app.users": 950, "app.orders": 200})).status == "pass"
    res = RowCountsCheck().run(_ctx(e, {"app.users": 700, "app.orders": 200}))
    assert res.status == "fail" and res.items == ("app.users: comparison database replica/app 1000, restored 700",)
    # without a tolerance, any difference is one
    assert row_count_differences({"t": 10}, {"t": 11}) == ["t: manifest 10, restored 11"]
    assert row_count_differences({"t": 10}, {"t": 11}, tolerance=0.1) == []


def test_the_row_drop_check_flags_sharp_drops_since_the_previous_copy() -> None:
    base = Baseline({"app.users": 1000, "app.orders": 500, "app.tiny": 10, "app.gone": 300, "app.logs": 900},
                    "the previous archive x.dump", drop=0.2, min_rows=100, ignore=("app.logs",))
    res = RowDropCheck().run(_ctx(Expected(previous=base), {"app.users": 990, "app.orders": 100, "app.tiny": 0,
                                                             "app.logs": 0}))
    assert res.status == "fail"
    assert res.items == ("app.gone: 300 → gone (-100%)", "app.orders: 500 → 100 (-80%)")
    fine = RowDropCheck().run(_ctx(Expected(previous=base), {"app.users": 900, "app.orders": 450, "app.gone": 300}))
    assert fine.status == "pass" and "3 tables of 100+ rows compared" in fine.detail
    assert RowDropCheck().run(_ctx(Expected(), {})).status == "skip"


def test_the_row_drop_check_runs_only_with_a_baseline() -> None:
    assert "row drop" not in [c.name for c in build_checks()]
    assert "row drop" in [c.name for c in build_checks(baseline=True)]


def test_an_extension_version_the_source_does_not_know_is_not_compared() -> None:
    class Ctx(CheckContext):
        def conn(self):  # type: ignore[no-untyped-def]
            class C:
                def execute(self, *_: object) -> list[tuple[str, str]]:
                    return [("pgcrypto", "1.3")]
            return C()

    res = ExtensionsCheck().run(Ctx(URL, Expected(extensions={"pgcrypto": ""})))
    assert res.status == "pass"
    assert ExtensionsCheck().run(Ctx(URL, Expected(extensions={"pgcrypto": "1.2"}))).status == "warn"


# -- monitor over an archive set --------------------------------------------------------------------
NOW = datetime(2025, 10, 31, 12, 0, tzinfo=timezone.utc)


def _daily(folder: Path, days: list[int], sizes: dict[int, int] | None = None) -> None:
    for d in days:
        day = NOW - timedelta(days=d)
        path = folder / f"bloom_backup_{day:%Y%m%d}_030000.sql.gz"
        path.write_bytes(b"x" * (sizes or {}).get(d, 1000))
        os.utime(path, (NOW.timestamp(), NOW.timestamp()))  # synced just now: the names tell the times


def test_monitor_reads_age_size_and_gaps_from_names_alone(tmp_path: Path) -> None:
    _daily(tmp_path, [0, 1, 2, 3, 4, 7, 8, 9])  # 5 and 6 are missing
    h = run_archive_monitor(ArchiveSet.load(f"{tmp_path}/*.sql.gz"), None, Thresholds(max_drill_age=None), NOW)
    assert [a.name for a in h.alerts] == ["ScheduleGap"]
    assert h.backup_count == 8 and h.last_backup is not None
    assert h.last_backup.id == f"bloom_backup_{NOW:%Y%m%d}_030000.sql.gz"
    assert round(h.backup_age_seconds or 0) == 9 * 3600
    assert sum(g.missed for g in h.gaps) == 2


def test_monitor_alerts_an_old_or_odd_newest_archive(tmp_path: Path) -> None:
    _daily(tmp_path, [3, 4, 5, 6, 7], sizes={3: 10})
    h = run_archive_monitor(ArchiveSet.load(f"{tmp_path}/*.sql.gz"), None, Thresholds(max_drill_age=None), NOW)
    assert {a.name for a in h.alerts} == {"BackupTooOld", "BackupSizeAnomaly"}
    text = render_text(h)
    assert "tables / rows" not in text  # unknown without reading the dumps: not shown as 0
    assert render_json(h)["last_backup_rows"] is None
    assert "pgdrill_last_backup_rows" not in render_prometheus(h)
    assert "pgdrill_last_backup_size_bytes" in render_prometheus(h)


def test_monitor_of_an_empty_set_says_there_is_no_backup(tmp_path: Path) -> None:
    h = run_archive_monitor(ArchiveSet.load(f"{tmp_path}/*.dump"), None, Thresholds(max_drill_age=None), NOW)
    assert [a.name for a in h.alerts] == ["NoBackup"]
