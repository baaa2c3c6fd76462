"""Monitoring: is the backup history still trustworthy? Alerts from what the store holds, plus renderers.

:func:`observe` reads the store (manifests, failed attempts, drill records); :func:`evaluate` is pure —
(observations, thresholds, now) → :class:`Health` with its alerts; :func:`render_json` (shaped like
seed 003's ``GET /health/backup``), :func:`render_prometheus` (text exposition, ``pgdrill_`` metrics,
for a node-exporter textfile or a Pushgateway), :func:`render_markdown` and :func:`render_text` turn a
Health into output. Any alert makes ``pgdrill monitor`` exit 1.

The alerts (names follow seed 004's alarms where one exists):

==================  ========  ====================================================================
NoBackup            critical  the store holds no complete backup
BackupTooOld        critical  newest backup older than ``max_age``
BackupFailed        critical  a backup attempt failed after the newest complete backup
BackupSizeAnomaly   warning   newest size off the median of the previous ``size_window`` by more than
                              ``size_deviation``
RowCountDrop        critical  a table lost more than ``row_drop`` of its rows between the last two backups
ScheduleGap         warning   scheduled backups missing within ``gap_window`` (interval from ``schedule``
                              or inferred from the history)
BackupUnreadable    warning   manifests in the store that cannot be read
NoDrill             warning   no drill record at all (``max_drill_age`` set)
DrillTooOld         warning   last drill older than ``max_drill_age``
DrillFailed         critical  last drill failed
==================  ========  ====================================================================

pgdrill.yml section: ``monitor`` (:class:`Thresholds`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pgdrill import catalog as catalog_mod
from pgdrill.catalog import Attempt
from pgdrill.config import Seconds
from pgdrill.errors import ConfigError, PgdrillError
from pgdrill.manifest import Manifest
from pgdrill.report.outcome import Outcome
from pgdrill.store.base import Store
from pgdrill.streams import human_size

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
}


# -- thresholds (the `monitor:` section) ------------------------------------------------------
def _fraction(value: Any) -> Any:
    """'50%', 0.5 and 50 all mean one half: people write both."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text.rstrip("%"))
        except ValueError:
            raise ValueError("must be a percentage like 50% or a fraction like 0.5") from None
        if text.endswith("%"):
            return number / 100
        value = number
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
        value = value / 100
    return value


Fraction = Annotated[float, BeforeValidator(_fraction), Field(gt=0, le=1)]


def parse_fraction(text: str, what: str) -> float:
    try:
        value = float(_fraction(text))
    except (ValueError, TypeError):
        raise ConfigError(f"{what} '{text}' is not a percentage", "use e.g. 50% or 0.5") from None
    if not 0 < value <= 1:
        raise ConfigError(f"{what} '{text}' must be between 0% and 100%")
    return value


class Thresholds(BaseModel):
    """When monitor alerts. Durations take 90s/15m/26h/7d/2w; fractions take 50% or 0.5."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_age: Seconds = 26 * 3600.0
    size_deviation: Fraction = 0.5
    size_window: int = Field(default=7, ge=2, le=100)
    row_drop: Fraction = 0.2
    row_drop_min_rows: int = Field(default=100, ge=0, description="smaller tables are not judged")
    row_drop_ignore: list[str] = Field(default_factory=list, description="schema.table patterns (fnmatch)")
    max_drill_age: Seconds | None = 35 * 86400.0
    schedule: Seconds | None = Field(default=None, description="expected interval; None: inferred")
    gap_tolerance: Fraction = 0.5
    gap_window: Seconds = 7 * 86400.0
    unscheduled_tags: list[str] = Field(default_factory=lambda: ["pre-deploy"])

    def summary(self) -> dict[str, Any]:
        return {
            "max_age": fmt_span(self.max_age),
            "size_deviation_percent": round(self.size_deviation * 100, 1),
            "size_window": self.size_window,
            "row_drop_percent": round(self.row_drop * 100, 1),
            "row_drop_min_rows": self.row_drop_min_rows,
            "max_drill_age": fmt_span(self.max_drill_age) if self.max_drill_age else None,
            "schedule": fmt_span(self.schedule) if self.schedule else None,
            "gap_window": fmt_span(self.gap_window),
        }


def fmt_span(seconds: float) -> str:
    """26h, 35d, 90m — or, when not a round number, hours or days with one decimal."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    hours = seconds / 3600
    if hours >= 48:
        return f"{hours / 24:.1f}d"
    if hours >= 1:
        return f"{hours:.1f}h"
    return f"{seconds / 60:.1f}m"


# -- what the store holds ---------------------------------------------------------------------
@dataclass(frozen=True)
class DrillSummary:
    """The part of a drill record monitor needs; read defensively (older or newer record versions)."""

    id: str
    backup_id: str | None
    started_at: datetime
    finished_at: datetime
    passed: bool
    failures: tuple[str, ...] = ()
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    environment: str | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> DrillSummary:
        """Raises ValueError/KeyError/TypeError for a record without the essentials."""
        started = _aware(doc["started_at"])
        finished = _aware(doc.get("finished_at") or doc["started_at"])
        passed = doc.get("passed")
        if not isinstance(passed, bool):
            status = str(doc.get("status", "")).lower()
            if status not in ("pass", "passed", "ok", "fail", "failed"):
                raise ValueError("no 'passed' verdict")
            passed = status in ("pass", "passed", "ok")
        failures = doc.get("failures") or ()
        return cls(
            id=str(doc["id"]),
            backup_id=str(doc["backup_id"]) if doc.get("backup_id") is not None else None,
            started_at=started,
            finished_at=finished,
            passed=passed,
            failures=tuple(str(f) for f in failures) if isinstance(failures, list | tuple) else (str(failures),),
            rto_seconds=_measured(doc.get("rto")) if "rto" in doc else _number(doc.get("rto_seconds")),
            rpo_seconds=_measured(doc.get("rpo")) if "rpo" in doc else _number(doc.get("rpo_seconds")),
            environment=str(doc["environment"]) if doc.get("environment") else None,
        )


def _aware(value: Any) -> datetime:
    t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t).astimezone(timezone.utc)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _measured(value: Any) -> float | None:
    if isinstance(value, Mapping):
        return _number(value.get("measured"))
    return _number(value)


@dataclass
class Observed:
    store: str
    backups: list[Manifest] = field(default_factory=list)  # oldest first
    attempts: list[Attempt] = field(default_factory=list)  # failed attempts, oldest first
    drills: list[DrillSummary] = field(default_factory=list)  # oldest first
    problems: list[str] = field(default_factory=list)  # unreadable manifests and drill records


def observe(store: Store) -> Observed:
    cat = catalog_mod.load(store)
    obs = Observed(store.url, list(cat.backups), catalog_mod.failed_attempts(store))
    obs.problems += [f"backup {p.backup_id}: {p.reason}" for p in cat.problems]
    for key in catalog_mod.drill_keys(store):
        try:
            doc = json.loads(store.get_bytes(key))
            if not isinstance(doc, dict):
                raise TypeError("not a JSON object")
            obs.drills.append(DrillSummary.from_doc(doc))
        except PgdrillError as exc:
            obs.problems.append(f"drill record {key}: unreadable: {exc.message}")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            obs.problems.append(f"drill record {key}: {type(exc).__name__}: {exc}")
    obs.drills.sort(key=lambda d: (d.finished_at, d.id))
    return obs


# -- evaluation -------------------------------------------------------------------------------
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

    @property
    def healthy(self) -> bool:
        return not self.alerts

    def firing(self, name: str) -> bool:
        return any(a.name == name for a in self.alerts)

    def add(self, name: str, message: str) -> None:
        self.alerts.append(Alert(name, ALERTS[name], message))


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _age(seconds: float) -> str:
    """An elapsed time to one decimal: 45m, 5.7h, 41.3d."""
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _short(seconds: float) -> str:
    """A measured duration such as an RTO: 42s, 31.2m, 2.5h."""
    if seconds < 90:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.1f}m" if seconds < 3 * 3600 else f"{seconds / 3600:.1f}h"


def _when(t: datetime) -> str:
    return _utc(t).strftime("%Y-%m-%d %H:%M UTC")


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
                             f"ending within {fmt_span(th.gap_window)}): longest gap {_age(worst.seconds)} from "
                             f"{_when(worst.start)}" + (" until now" if worst.open else f" to {_when(worst.end)}"))


def _drill_check(h: Health, drills: Sequence[DrillSummary], th: Thresholds, now: datetime) -> None:
    if not drills:
        if th.max_drill_age:
            h.add("NoDrill", f"no drill recorded in the store: nothing proves these backups restore "
                             f"(max drill age {fmt_span(th.max_drill_age)})")
        return
    last = drills[-1]
    h.last_drill = last
    h.drill_age_seconds = max(0.0, (now - last.finished_at).total_seconds())
    if not last.passed:
        why = "; ".join(last.failures[:3]) or "no reason recorded"
        h.add("DrillFailed", f"last drill {last.id} ({_when(last.finished_at)}, backup {last.backup_id}) failed: {why}")
    if th.max_drill_age and h.drill_age_seconds > th.max_drill_age:
        h.add("DrillTooOld", f"last drill {last.id} was {_age(h.drill_age_seconds)} ago "
                             f"(max {fmt_span(th.max_drill_age)})")


def evaluate(obs: Observed, th: Thresholds, now: datetime) -> Health:
    """Pure: the same observations, thresholds and ``now`` give the same Health."""
    now = _utc(now)
    backups = sorted(obs.backups, key=lambda m: (m.created_at, m.id))
    drills = sorted(obs.drills, key=lambda d: (d.finished_at, d.id))
    h = Health(obs.store, now, th, backup_count=len(backups), problems=list(obs.problems))
    last = backups[-1] if backups else None
    h.last_backup = last

    failures = sorted((a for a in obs.attempts if a.status != "ok"), key=lambda a: (_utc(a.started_at), a.id))
    if failures and (last is None or _utc(failures[-1].started_at) > last.created_at):
        h.failed_attempt = failures[-1]

    if last is None:
        h.add("NoBackup", "the store holds no complete backup")
    else:
        h.backup_age_seconds = max(0.0, (now - last.created_at).total_seconds())
        if h.backup_age_seconds > th.max_age:
            h.add("BackupTooOld", f"newest backup {last.id} is {_age(h.backup_age_seconds)} old "
                                  f"(max {fmt_span(th.max_age)})")
    if h.failed_attempt is not None:
        a = h.failed_attempt
        h.add("BackupFailed",
              f"backup attempt {a.id} at {_when(a.started_at)} failed: {a.error or 'no error recorded'}")
    _size_check(h, backups, th)
    _row_check(h, backups, th)
    _schedule_check(h, backups, th, now)
    if obs.problems and any(p.startswith("backup ") for p in obs.problems):
        bad = [p for p in obs.problems if p.startswith("backup ")]
        h.add("BackupUnreadable", f"{len(bad)} backup(s) in the store cannot be used: {bad[0]}"
                                  + (f" and {len(bad) - 1} more" if len(bad) > 1 else ""))
    _drill_check(h, drills, th, now)
    return h


def run_monitor(store: Store, thresholds: Thresholds, now: datetime | None = None) -> Health:
    return evaluate(observe(store), thresholds, now or datetime.now(timezone.utc))


# -- renderers (pure) -------------------------------------------------------------------------
def _iso(t: datetime | None) -> str | None:
    return _utc(t).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


def _hours(seconds: float | None) -> float | None:
    return round(seconds / 3600, 2) if seconds is not None else None


def render_json(h: Health) -> dict[str, Any]:
    m = h.last_backup
    d = h.last_drill
    return {
        "status": "healthy" if h.healthy else "unhealthy",
        "checked_at": _iso(h.checked_at),
        "store": h.store,
        "last_backup": _iso(m.created_at) if m else None,
        "last_backup_id": m.id if m else None,
        "backup_age_hours": _hours(h.backup_age_seconds),
        "backup_count": h.backup_count,
        "last_backup_size_bytes": m.size if m else None,
        "size_median_bytes": h.size_median,
        "size_deviation_percent": round(h.size_deviation * 100, 1) if h.size_deviation is not None else None,
        "last_backup_rows": m.total_rows if m else None,
        "last_backup_tags": list(m.tags) if m else [],
        "last_attempt_failed": h.failed_attempt is not None,
        "last_failed_attempt": {"id": h.failed_attempt.id, "started_at": _iso(h.failed_attempt.started_at),
                                "error": h.failed_attempt.error} if h.failed_attempt else None,
        "last_drill": {"id": d.id, "backup_id": d.backup_id, "finished_at": _iso(d.finished_at),
                       "passed": d.passed, "rto_seconds": d.rto_seconds, "rpo_seconds": d.rpo_seconds,
                       "failures": list(d.failures)} if d else None,
        "last_drill_age_hours": _hours(h.drill_age_seconds),
        "schedule": {
            "interval_hours": _hours(h.schedule_seconds),
            "inferred": h.schedule_inferred,
            "gaps": [{"from": _iso(g.start), "to": None if g.open else _iso(g.end), "hours": _hours(g.seconds),
                      "missed_runs": g.missed} for g in h.gaps],
        },
        "row_drops": [{"table": r.table, "before": r.before, "after": r.after,
                       "drop_percent": round(r.fraction * 100, 1)} for r in h.row_drops],
        "alerts": [{"name": a.name, "severity": a.severity, "message": a.message} for a in h.alerts],
        "problems": list(h.problems),
        "thresholds": h.thresholds.summary(),
    }


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def render_prometheus(h: Health) -> str:
    """Text exposition format 0.0.4; every sample carries the store as a label."""
    store = f'store="{_label(h.store)}"'
    m, d = h.last_backup, h.last_drill
    families: list[tuple[str, str, list[tuple[str, float]]]] = []

    def gauge(name: str, help_text: str, value: float | None, labels: str = "") -> None:
        if value is None:
            return
        families.append((name, help_text, [(labels, float(value))]))

    gauge("pgdrill_up", "1: the store was read and evaluated", 1)
    gauge("pgdrill_monitor_timestamp_seconds", "When this evaluation ran (Unix time)", h.checked_at.timestamp())
    gauge("pgdrill_healthy", "1 when no alert fires", 1 if h.healthy else 0)
    gauge("pgdrill_backup_count", "Complete backups in the store", h.backup_count)
    gauge("pgdrill_backup_age_seconds", "Age of the newest complete backup", h.backup_age_seconds)
    gauge("pgdrill_max_age_seconds", "Alert threshold for the backup age", h.thresholds.max_age)
    if m is not None:
        gauge("pgdrill_last_backup_timestamp_seconds", "Start of the newest complete backup (Unix time)",
              m.created_at.timestamp())
        gauge("pgdrill_last_backup_size_bytes", "Stored size of the newest backup", m.size)
        gauge("pgdrill_last_backup_duration_seconds", "How long the newest backup took", m.duration_seconds)
        gauge("pgdrill_last_backup_rows", "Rows in the newest backup (exact, from its snapshot)", m.total_rows)
        gauge("pgdrill_last_backup_tables", "Tables in the newest backup", len(m.tables))
    gauge("pgdrill_backup_size_median_bytes", "Median size of the previous backups", h.size_median)
    gauge("pgdrill_last_attempt_failed", "1 when a backup attempt failed after the newest complete backup",
          1 if h.failed_attempt is not None else 0)
    gauge("pgdrill_schedule_interval_seconds", "Expected interval between scheduled backups", h.schedule_seconds)
    gauge("pgdrill_schedule_missed_runs", "Scheduled backups missing within the gap window",
          sum(g.missed for g in h.gaps))
    gauge("pgdrill_last_drill_success", "1 when the last drill passed, 0 when it failed or none was recorded",
          1 if d is not None and d.passed else 0)
    if d is not None:
        gauge("pgdrill_last_drill_timestamp_seconds", "End of the last drill (Unix time)", d.finished_at.timestamp())
        gauge("pgdrill_last_drill_age_seconds", "Time since the last drill ended", h.drill_age_seconds)
        gauge("pgdrill_last_drill_rto_seconds", "Measured RTO of the last drill", d.rto_seconds)
        gauge("pgdrill_last_drill_rpo_seconds", "Measured RPO of the last drill", d.rpo_seconds)
    samples = [(f'alert="{name}",severity="{sev}"', 1.0 if h.firing(name) else 0.0) for name, sev in ALERTS.items()]
    families.append(("pgdrill_alert", "1 when the alert fires", samples))
    if h.row_drops:
        families.append(("pgdrill_table_row_drop_ratio", "Fraction of rows a table lost between the last two backups",
                         [(f'table="{_label(r.table)}"', r.fraction) for r in h.row_drops]))

    out: list[str] = []
    for name, help_text, rows in families:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} gauge")
        for labels, value in rows:
            all_labels = ",".join(x for x in (store, labels) if x)
            out.append(f"{name}{{{all_labels}}} {_num(value)}")
    return "\n".join(out) + "\n"


def _md(text: object) -> str:
    s = str(text)
    for ch in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


def _facts(h: Health) -> list[tuple[str, str]]:
    m, d, th = h.last_backup, h.last_drill, h.thresholds
    rows: list[tuple[str, str]] = []
    if m is not None and h.backup_age_seconds is not None:
        rows.append(("Newest backup", f"{m.id} ({_when(m.created_at)}, {_age(h.backup_age_seconds)} ago; "
                                      f"max {fmt_span(th.max_age)})"))
        size = human_size(m.size)
        if h.size_median is not None and h.size_deviation is not None:
            size += f" ({h.size_deviation:+.1%} vs median {human_size(h.size_median)})"
        rows.append(("Size", size))
        rows.append(("Tables / rows", f"{len(m.tables)} / {m.total_rows}"))
    else:
        rows.append(("Newest backup", "none"))
    rows.append(("Backups", str(h.backup_count)))
    rows.append(("Last attempt", f"FAILED: {h.failed_attempt.id}" if h.failed_attempt else "ok"))
    if h.schedule_seconds:
        how = "inferred" if h.schedule_inferred else "configured"
        rows.append(("Schedule", f"every {fmt_span(h.schedule_seconds)} ({how}), "
                                 f"{sum(g.missed for g in h.gaps)} missed"))
    if d is not None and h.drill_age_seconds is not None:
        verdict = "passed" if d.passed else "FAILED"
        rto = f", RTO {_short(d.rto_seconds)}" if d.rto_seconds else ""
        rows.append(("Last drill", f"{verdict} {_age(h.drill_age_seconds)} ago ({d.id}{rto})"))
    else:
        rows.append(("Last drill", "none recorded"))
    return rows


def render_text(h: Health) -> str:
    head = "healthy" if h.healthy else f"UNHEALTHY: {len(h.alerts)} alert(s)"
    lines = [f"monitor {h.store} at {_iso(h.checked_at)}: {head}"]
    lines += [f"  {k.lower():<14} {v}" for k, v in _facts(h)]
    for a in h.alerts:
        lines.append(f"{a.severity.upper():<8} {a.name}: {a.message}")
    for p in h.problems:
        lines.append(f"problem  {p}")
    return "\n".join(lines)


def render_markdown(h: Health) -> str:
    icon, title = ("✅", "backups healthy") if h.healthy else ("🚨", f"{len(h.alerts)} backup alert(s)")
    out = [f"### {icon} pgdrill monitor: {title}", "", f"Store `{_md(h.store)}`, checked {_when(h.checked_at)}.", ""]
    if h.alerts:
        out += ["| Severity | Alert | Detail |", "|---|---|---|"]
        out += [f"| {a.severity} | **{a.name}** | {_md(a.message)} |" for a in h.alerts]
        out.append("")
    out += ["| | |", "|---|---|"]
    out += [f"| {k} | {_md(v)} |" for k, v in _facts(h)]
    if h.problems:
        out += ["", "Problems:", *[f"- {_md(p)}" for p in h.problems]]
    return "\n".join(out) + "\n"


def thresholds_from_options(base: Thresholds, **overrides: Any) -> Thresholds:
    """Command-line values (None: not given) over the config section."""
    data = base.model_dump()
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Thresholds.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"monitor thresholds: {_first_error(exc)}") from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        with contextlib.suppress(Exception):
            first = errors()[0]
            return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg')}"
    return str(exc).splitlines()[0]


def to_outcome(h: Health, environment: str | None = None) -> Outcome:
    """Critical alerts are failures, warnings are warnings; any alert fails the job (exit 1)."""
    m = h.last_backup
    title = ("monitor: backups healthy" if h.healthy
             else f"monitor: {len(h.alerts)} alert(s): {', '.join(a.name for a in h.alerts)}")
    return Outcome(
        job="monitor", passed=h.healthy, environment=environment, title=title, markdown=render_markdown(h),
        outputs={"passed": str(h.healthy).lower(), "healthy": str(h.healthy).lower(),
                 "alerts": ",".join(a.name for a in h.alerts),
                 "last-backup-id": m.id if m else "",
                 "backup-age-hours": "" if h.backup_age_seconds is None else f"{h.backup_age_seconds / 3600:.2f}"},
        failures=[f"{a.name}: {a.message}" for a in h.alerts if a.severity == "critical"]
                 or [f"{a.name}: {a.message}" for a in h.alerts],
        warnings=[f"{a.name}: {a.message}" for a in h.alerts if a.severity == "warning"],
        backup_id=m.id if m else None, details=dict(_facts(h)),
    )
