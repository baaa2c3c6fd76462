"""Evidence for a period (a month, ``2026-11``, or a quarter, ``2026-Q4``): every drill in it with its
checks, targets, owners, run and the backup it restored; the backups the retention policy keeps; the
schedule gaps and failed backups of the period. Pure: (view, period) → :class:`Evidence`; the
Markdown, HTML and JSON are drawn by :mod:`pgdrill.report.evidence`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pgdrill.catalog import Attempt
from pgdrill.errors import ConfigError
from pgdrill.manifest import Manifest
from pgdrill.monitor import Gap, Observed, evaluate
from pgdrill.overview import StoredDrill, StoreView
from pgdrill.retention import Decision, utc

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")


@dataclass(frozen=True)
class Period:
    label: str  # 2026-11, 2026-Q4
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC

    def holds(self, t: datetime) -> bool:
        return self.start <= utc(t) < self.end


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=timezone.utc)


def parse_period(text: str, where: str = "--period") -> Period:
    """``YYYY-MM`` (a month) or ``YYYY-Qn`` (a quarter), in UTC."""
    value = str(text).strip()
    if m := _MONTH.match(value):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12 and year >= 1970:
            return Period(f"{year:04d}-{month:02d}", _month_start(year, month), _month_start(year, month + 1))
    if m := _QUARTER.match(value):
        year, quarter = int(m.group(1)), int(m.group(2))
        if year >= 1970:
            first = 3 * (quarter - 1) + 1
            return Period(f"{year:04d}-Q{quarter}", _month_start(year, first), _month_start(year, first + 3))
    raise ConfigError(f"{where} '{text}' is not a month or a quarter", "use e.g. 2026-11 or 2026-Q4")


@dataclass
class Evidence:
    """What happened to one database's backups and drills in a period."""

    name: str
    store: str
    period: Period
    generated_at: datetime
    policy_text: str
    drills: list[StoredDrill] = field(default_factory=list)  # started in the period, oldest first
    backups: list[Manifest] = field(default_factory=list)  # made in the period, oldest first
    retained: list[Decision[Manifest]] = field(default_factory=list)  # kept by the policy now, newest first
    gaps: list[Gap] = field(default_factory=list)  # schedule gaps that overlap the period
    schedule_seconds: float | None = None
    schedule_inferred: bool = False
    failed_attempts: list[Attempt] = field(default_factory=list)  # failed backups in the period
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """The period is over: nothing more can happen in it."""
        return self.generated_at >= self.period.end

    @property
    def passed(self) -> list[StoredDrill]:
        return [d for d in self.drills if d.record.passed]

    @property
    def targets_missed(self) -> list[tuple[StoredDrill, str]]:
        return [(d, name) for d in self.drills for name, t in (("RTO", d.record.rto), ("RPO", d.record.rpo))
                if t.status == "fail"]


#: longer than any period, so monitor reports an open gap up to the period's end as a gap rather
#: than as BackupTooOld (which is "now"'s alert, not the period's)
_NO_AGE_LIMIT = 100 * 366 * 86400.0


def collect(name: str, view: StoreView, period: Period) -> Evidence:
    """The period's evidence from a store view. Gaps come from monitor's own schedule evaluation,
    run over the backups made up to the period's end, at its end (or now, for the current period)."""
    if period.start > view.read_at:
        raise ConfigError(f"--period {period.label} has not started yet", "give a month or quarter up to now")
    until = min(view.read_at, period.end)
    backups = [b for b in view.backups if b.created_at < period.end]
    th = view.thresholds.model_copy(update={
        "gap_window": max(1.0, (until - period.start).total_seconds()), "max_age": _NO_AGE_LIMIT})
    health = evaluate(Observed(view.store, backups, list(view.attempts)), th, until)
    return Evidence(
        name=name, store=view.store, period=period, generated_at=view.read_at, policy_text=view.policy.describe(),
        drills=[d for d in view.drills if period.holds(d.record.started_at)],
        backups=[b for b in view.backups if period.holds(b.created_at)],
        retained=[d for d in reversed(view.retention) if d.keep],
        gaps=[g for g in health.gaps if g.end > period.start],
        schedule_seconds=health.schedule_seconds, schedule_inferred=health.schedule_inferred,
        failed_attempts=[a for a in view.attempts if period.holds(a.started_at)],
        problems=list(view.problems),
    )
