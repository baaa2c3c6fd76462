"""Pure evaluation: (observations, thresholds, now) → :class:`Health` with its alerts."""

from __future__ import annotations

import fnmatch
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from pgdrill.catalog import Attempt
from pgdrill.manifest import Manifest
from pgdrill.monitor.observe import DrillSummary, Observed, observe
from pgdrill.monitor.pitr import ReplicaLag, observe_replicas
from pgdrill.monitor.thresholds import Thresholds
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.report.format import fmt_age, fmt_span, human_size, utc, when_minute
from pgdrill.sources.base import PitrWindow, Source
from pgdrill.store.base import Store

Severity = Literal["critical", "warning"]

ALERTS: dict[str, Severity] = {
    "NoBackup": "critical",
    "BackupTooOld": "critical",
    "BackupFailed": "critical",
    "BackupSizeAnomaly": "warning",
    "RowCountDrop": "critical",
    "ScheduleGap": "warning",
    "BackupUnreadable": "warning",
    "NoDrill": "warning",
    "DrillTooOld": "warning",
    "DrillFailed": "critical",
    "WalArchiveStale": "critical",
    "PitrWindowShort": "warning",
    "ReplicaLagging": "warning",
}


@dataclass(frozen=True)
class Alert:
    name: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime  # ``now`` for the gap still open
    missed: int
    open: bool = False

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class RowDrop:
    table: str
    before: int
    after: int | None  # None: the table is gone

    @property
    def fraction(self) -> float:
        return 1.0 - (self.after or 0) / self.before if self.before else 0.0


@dataclass
class Health:
    store: str
    checked_at: datetime
    thresholds: Thresholds
    backup_count: int = 0
    last_backup: Manifest | None = None
    backup_age_seconds: float | None = None
    size_median: float | None = None
    size_deviation: float | None = None  # signed fraction vs the median
    failed_attempt: Attempt | None = None  # a failure after the newest complete backup
    last_drill: DrillSummary | None = None
    drill_age_seconds: float | None = None
    schedule_seconds: float | None = None
    schedule_inferred: bool = False
    gaps: list[Gap] = field(default_factory=list)
    row_drops: list[RowDrop] = field(default_factory=list)
    compared: tuple[str, str] | None = None  # ids of the two backups whose row counts were compared
    problems: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    contents_known: bool = True  # the backups' tables, rows and duration are known (manifests)
    store_watched: bool = True  # False: monitor watches a point-in-time source or replicas only
    pitr: PitrWindow | None = None
    pitr_seconds: float | None = None  # the window's length
    wal_age_seconds: float | None = None  # age of the newest archived WAL
    replicas: list[ReplicaLag] | None = None  # None: not watched

    @property
    def pitr_days(self) -> float | None:
        return round(self.pitr_seconds / 86400, 4) if self.pitr_seconds is not None else None

    @property
    def healthy(self) -> bool:
        """No alert at all."""
        return not self.alerts

    @property
    def failing(self) -> list[Alert]:
        """The alerts that fail the run: critical ones, and warnings too with ``fail_on: warning``."""
        return [a for a in self.alerts if a.severity == "critical" or self.thresholds.fail_on == "warning"]

    @property
    def passed(self) -> bool:
        """The verdict (exit 0): warnings are shown but pass unless ``fail_on`` is ``warning``."""
        return not self.failing

    def firing(self, name: str) -> bool:
        return any(a.name == name for a in self.alerts)

    def add(self, name: str, message: str) -> None:
        self.alerts.append(Alert(name, ALERTS[name], message))


def _size_check(h: Health, backups: Sequence[Manifest], th: Thresholds) -> None:
    previous = [m.size for m in backups[:-1]][-th.size_window:]
    if len(previous) < 3 or h.last_backup is None:
        return  # too little history for a median that means anything
    median = float(statistics.median(previous))
    h.size_median = median
    if median <= 0:
        return
    h.size_deviation = (h.last_backup.size - median) / median
    if abs(h.size_deviation) > th.size_deviation:
        h.add("BackupSizeAnomaly",
              f"newest backup {h.last_backup.id} is {human_size(h.last_backup.size)}, {h.size_deviation:+.0%} from "
              f"the median {human_size(median)} of the previous {len(previous)} (threshold ±{th.size_deviation:.0%})")


def _row_check(h: Health, backups: Sequence[Manifest], th: Thresholds) -> None:
    if len(backups) < 2:
        return
    before, after = backups[-2], backups[-1]
    h.compared = (before.id, after.id)
    for table, rows in sorted(before.tables.items()):
        if rows < max(th.row_drop_min_rows, 1) or any(fnmatch.fnmatchcase(table, p) for p in th.row_drop_ignore):
            continue
        now_rows = after.tables.get(table)
        drop = RowDrop(table, rows, now_rows)
        if drop.fraction > th.row_drop:
            h.row_drops.append(drop)
    if h.row_drops:
        h.row_drops.sort(key=lambda d: (-d.fraction, d.table))
        shown = ", ".join(
            f"{d.table} {d.before} → {'gone' if d.after is None else d.after} ({-d.fraction:+.0%})"
            for d in h.row_drops[:5])
        more = f" and {len(h.row_drops) - 5} more" if len(h.row_drops) > 5 else ""
        h.add("RowCountDrop", f"rows dropped by more than {th.row_drop:.0%} between backups {before.id} and "
                              f"{after.id}: {shown}{more}")


def _schedule_check(h: Health, backups: Sequence[Manifest], th: Thresholds, now: datetime) -> None:
    scheduled = [m.created_at for m in backups if not set(m.tags) & set(th.unscheduled_tags)]
    intervals = [(b - a).total_seconds() for a, b in itertools.pairwise(scheduled)]
    if th.schedule:
        h.schedule_seconds = th.schedule
    elif len(intervals) >= 3:
        h.schedule_seconds = float(statistics.median(intervals[-15:]))
        h.schedule_inferred = True
    expected = h.schedule_seconds
    if not expected or not scheduled:
        return
    limit = expected * (1 + th.gap_tolerance)
    since = now - timedelta(seconds=th.gap_window)
    for a, b in itertools.pairwise(scheduled):
        span = (b - a).total_seconds()
        if span > limit and b >= since:
            h.gaps.append(Gap(a, b, max(1, round(span / expected) - 1)))
    open_span = (now - scheduled[-1]).total_seconds()
    # An open gap already past max_age is BackupTooOld's to report; one alert per cause.
    if open_span > limit and not h.firing("BackupTooOld"):
        h.gaps.append(Gap(scheduled[-1], now, max(1, int(open_span // expected)), open=True))
    if h.gaps:
        worst = max(h.gaps, key=lambda g: g.seconds)
        missed = sum(g.missed for g in h.gaps)
        how = "inferred" if h.schedule_inferred else "configured"
        h.add("ScheduleGap", f"~{missed} scheduled backup(s) missed (every {fmt_span(expected)}, {how}; gaps "
                             f"ending within {fmt_span(th.gap_window)}): longest gap {fmt_age(worst.seconds)} from "
                             f"{when_minute(worst.start)}"
                             + (" until now" if worst.open else f" to {when_minute(worst.end)}"))


def _drill_check(h: Health, drills: Sequence[DrillSummary], backups: Sequence[Manifest], th: Thresholds,
                 now: datetime) -> None:
    if not drills:
        # A new store has not had time to drill: only once its oldest backup is older than the max
        # drill age has a drill been due.
        oldest = backups[0].created_at if backups else None
        if th.max_drill_age and oldest is not None and (now - oldest).total_seconds() > th.max_drill_age:
            age = fmt_age((now - oldest).total_seconds())
            h.add("NoDrill", f"no drill recorded in the store, and the oldest backup is {age} old: nothing "
                             f"proves these backups restore (max drill age {fmt_span(th.max_drill_age)})")
        return
    last = drills[-1]
    h.last_drill = last
    h.drill_age_seconds = max(0.0, (now - last.finished_at).total_seconds())
    if not last.passed:
        why = "; ".join(last.failures[:3]) or "no reason recorded"
        h.add("DrillFailed", f"last drill {last.id} ({when_minute(last.finished_at)}, backup {last.backup_id}) "
                             f"failed: {why}")
    if th.max_drill_age and h.drill_age_seconds > th.max_drill_age:
        h.add("DrillTooOld", f"last drill {last.id} was {fmt_age(h.drill_age_seconds)} ago "
                             f"(max {fmt_span(th.max_drill_age)})")


def _pitr_check(h: Health, window: PitrWindow, th: Thresholds, now: datetime) -> None:
    h.pitr = window
    h.pitr_seconds = window.seconds(now)
    h.wal_age_seconds = window.wal_age(now)
    if not window.continuous and window.newest_wal is None:
        h.add("WalArchiveStale", f"{window.what} holds no archived WAL: nothing can be recovered past its base backups")
    elif h.wal_age_seconds is not None and h.wal_age_seconds > th.max_wal_age:
        assert window.newest_wal is not None
        h.add("WalArchiveStale", f"newest archived WAL of {window.what} is {fmt_age(h.wal_age_seconds)} old "
                                 f"({when_minute(window.newest_wal)}; max {fmt_span(th.max_wal_age)}): WAL archiving "
                                 "has stopped, or the database is idle without archive_timeout")
    if window.earliest is None:
        h.add("PitrWindowShort", f"{window.what} holds no base backup: there is no point-in-time window")
    elif h.pitr_seconds is not None and h.pitr_seconds < th.min_pitr_window:
        h.add("PitrWindowShort", f"the point-in-time window of {window.what} is {fmt_span(h.pitr_seconds)} "
                                 f"(from {when_minute(window.earliest)}), under {fmt_span(th.min_pitr_window)}")


def _replica_check(h: Health, replicas: list[ReplicaLag], th: Thresholds) -> None:
    h.replicas = replicas
    if th.max_replica_lag is None:
        return
    if not replicas:
        h.add("ReplicaLagging", "no replica is streaming from the primary (pg_stat_replication is empty)")
        return
    late = [r for r in replicas if r.lag_seconds is not None and r.lag_seconds > th.max_replica_lag]
    if late:
        shown = ", ".join(f"{r.name} {fmt_age(r.lag_seconds or 0)} behind ({r.state})" for r in late)
        h.add("ReplicaLagging", f"{len(late)} replica(s) replay more than {fmt_span(th.max_replica_lag)} behind the "
                                f"primary: {shown}")


def evaluate(obs: Observed, th: Thresholds, now: datetime) -> Health:
    """Pure: the same observations, thresholds and ``now`` give the same Health."""
    now = utc(now)
    if not obs.store_watched:
        h = Health(obs.store, now, th, store_watched=False, problems=list(obs.problems))
        if obs.pitr is not None:
            _pitr_check(h, obs.pitr, th, now)
        if obs.replicas is not None:
            _replica_check(h, obs.replicas, th)
        return h
    backups = sorted(obs.backups, key=lambda m: (m.created_at, m.id))
    drills = sorted(obs.drills, key=lambda d: (d.finished_at, d.id))
    h = Health(obs.store, now, th, backup_count=len(backups), problems=list(obs.problems),
               contents_known=obs.contents_known)
    last = backups[-1] if backups else None
    h.last_backup = last

    failures = sorted((a for a in obs.attempts if a.status != "ok"), key=lambda a: (utc(a.started_at), a.id))
    if failures and (last is None or utc(failures[-1].started_at) > last.created_at):
        h.failed_attempt = failures[-1]

    if last is None:
        h.add("NoBackup", "the store holds no complete backup")
    else:
        h.backup_age_seconds = max(0.0, (now - last.created_at).total_seconds())
        if h.backup_age_seconds > th.max_age:
            h.add("BackupTooOld", f"newest backup {last.id} is {fmt_age(h.backup_age_seconds)} old "
                                  f"(max {fmt_span(th.max_age)})")
    if h.failed_attempt is not None:
        a = h.failed_attempt
        h.add("BackupFailed",
              f"backup attempt {a.id} at {when_minute(a.started_at)} failed: {a.error or 'no error recorded'}")
    _size_check(h, backups, th)
    _row_check(h, backups, th)
    _schedule_check(h, backups, th, now)
    if obs.problems and any(p.startswith("backup ") for p in obs.problems):
        bad = [p for p in obs.problems if p.startswith("backup ")]
        h.add("BackupUnreadable", f"{len(bad)} backup(s) in the store cannot be used: {bad[0]}"
                                  + (f" and {len(bad) - 1} more" if len(bad) > 1 else ""))
    _drill_check(h, drills, backups, th, now)
    if obs.pitr is not None:
        _pitr_check(h, obs.pitr, th, now)
    if obs.replicas is not None:
        _replica_check(h, obs.replicas, th)
    return h


def run_monitor(store: Store | None, thresholds: Thresholds, now: datetime | None = None, *,
                source: Source | None = None, primary: DatabaseUrl | None = None) -> Health:
    """Watch the store's backups (when given), a point-in-time source's window, a primary's replicas."""
    now = now or datetime.now(timezone.utc)
    obs = observe(store) if store is not None else Observed(source.describe() if source else "replicas",
                                                            store_watched=False)
    if source is not None:
        obs.pitr = source.pitr_window(now)
    if primary is not None:
        obs.replicas = observe_replicas(primary)
    return evaluate(obs, thresholds, now)


