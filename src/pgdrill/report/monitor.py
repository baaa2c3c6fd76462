"""Pure renderers for monitor's :class:`~pgdrill.monitor.Health`: JSON shaped like a
``GET /health/backup`` endpoint, Prometheus text exposition (``pgdrill_`` metrics, for a node-exporter
textfile or a Pushgateway), Markdown and terminal text, and the Outcome for the publishers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgdrill.monitor import ALERTS, Health
from pgdrill.report.format import fmt_age, fmt_span, human_size, md_escape, utc, when_minute
from pgdrill.report.outcome import Outcome

#: the alerts of what monitor watches besides a store
PITR_ALERTS = ("WalArchiveStale", "PitrWindowShort", "ReplicaLagging")


def _short(seconds: float) -> str:
    """A measured duration such as an RTO: 42s, 31.2m, 2.5h."""
    if seconds < 90:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.1f}m" if seconds < 3 * 3600 else f"{seconds / 3600:.1f}h"


def _iso(t: datetime | None) -> str | None:
    return utc(t).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


def _hours(seconds: float | None) -> float | None:
    return round(seconds / 3600, 2) if seconds is not None else None


def _pitr_json(h: Health) -> dict[str, Any] | None:
    w = h.pitr
    if w is None:
        return None
    return {"source": w.what, "earliest_recoverable": _iso(w.earliest),
            "newest_wal": None if w.continuous else _iso(w.newest_wal),
            "wal_age_hours": _hours(h.wal_age_seconds), "available_days": h.pitr_days,
            "available_seconds": round(h.pitr_seconds, 3) if h.pitr_seconds is not None else None,
            "continuous": w.continuous, "max_wal_age": fmt_span(h.thresholds.max_wal_age),
            "min_pitr_window": fmt_span(h.thresholds.min_pitr_window)}


def _replicas_json(h: Health) -> list[dict[str, Any]] | None:
    if h.replicas is None:
        return None
    return [{"name": r.name, "state": r.state, "lag_seconds": r.lag_seconds, "lag_bytes": r.lag_bytes,
             "max_lag_seconds": h.thresholds.max_replica_lag}
            for r in h.replicas]


def render_json(h: Health) -> dict[str, Any]:
    m = h.last_backup
    d = h.last_drill
    return {
        "status": "healthy" if h.healthy else "unhealthy",
        "passed": h.passed,
        "checked_at": _iso(h.checked_at),
        "store": h.store,
        "last_backup": _iso(m.created_at) if m else None,
        "last_backup_id": m.id if m else None,
        "backup_age_hours": _hours(h.backup_age_seconds),
        "backup_count": h.backup_count,
        "last_backup_size_bytes": m.size if m else None,
        "size_median_bytes": h.size_median,
        "size_deviation_percent": round(h.size_deviation * 100, 1) if h.size_deviation is not None else None,
        "last_backup_rows": m.total_rows if m and h.contents_known else None,
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
        "pitr_available_days": h.pitr_days,
        "pitr": _pitr_json(h),
        "replicas": _replicas_json(h),
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


#: (metric name, help text, [(labels, value)]) — one metric family of the exposition
Family = tuple[str, str, list[tuple[str, float]]]


def render_prometheus(h: Health, database: str | None = None) -> str:
    """Text exposition format 0.0.4; every sample carries the store as a label (and the database's
    name, for an entry of a fleet: the same series the fleet's summary writes)."""
    shared = f'store="{_label(h.store)}"'
    if database:
        shared = f'database="{_label(database)}",{shared}'
    return exposition([(shared, families(h))])


def families(h: Health) -> list[Family]:
    """The metric families of one evaluation, without the labels every sample shares."""
    m, d = h.last_backup, h.last_drill
    families: list[Family] = []

    def gauge(name: str, help_text: str, value: float | None, labels: str = "") -> None:
        if value is None:
            return
        families.append((name, help_text, [(labels, float(value))]))

    gauge("pgdrill_up", "1: the store was read and evaluated", 1)
    gauge("pgdrill_monitor_timestamp_seconds", "When this evaluation ran (Unix time)", h.checked_at.timestamp())
    gauge("pgdrill_healthy", "1 when no alert fires", 1 if h.healthy else 0)
    if h.pitr is not None:
        gauge("pgdrill_pitr_available_days", "Length of the point-in-time window, in days", h.pitr_days)
        if h.pitr.earliest is not None:
            gauge("pgdrill_pitr_earliest_timestamp_seconds", "Earliest recoverable instant (Unix time)",
                  h.pitr.earliest.timestamp())
        gauge("pgdrill_wal_archive_age_seconds", "Age of the newest archived WAL", h.wal_age_seconds)
    if h.replicas:
        families.append(("pgdrill_replica_lag_seconds", "How far a standby replays behind the primary",
                         [(f'replica="{_label(r.name)}"', r.lag_seconds) for r in h.replicas
                          if r.lag_seconds is not None]))
        families.append(("pgdrill_replica_lag_bytes", "WAL a standby has not replayed yet",
                         [(f'replica="{_label(r.name)}"', float(r.lag_bytes)) for r in h.replicas
                          if r.lag_bytes is not None]))
    if not h.store_watched:
        families.append(("pgdrill_alert", "1 when the alert fires",
                         [(f'alert="{name}",severity="{sev}"', 1.0 if h.firing(name) else 0.0)
                          for name, sev in ALERTS.items() if name in PITR_ALERTS]))
        return families
    gauge("pgdrill_backup_count", "Complete backups in the store", h.backup_count)
    gauge("pgdrill_backup_age_seconds", "Age of the newest complete backup", h.backup_age_seconds)
    gauge("pgdrill_max_age_seconds", "Alert threshold for the backup age", h.thresholds.max_age)
    if m is not None:
        gauge("pgdrill_last_backup_timestamp_seconds", "Start of the newest complete backup (Unix time)",
              m.created_at.timestamp())
        gauge("pgdrill_last_backup_size_bytes", "Stored size of the newest backup", m.size)
        if h.contents_known:
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
    return families


def exposition(groups: list[tuple[str, list[Family]]]) -> str:
    """One exposition of several evaluations, each (labels shared by its samples, its families): a
    family's HELP and TYPE come once, with every group's samples under it (Prometheus rejects a
    family declared twice)."""
    order: dict[str, str] = {}
    samples: dict[str, list[str]] = {}
    for shared, fams in groups:
        for name, help_text, rows in fams:
            order.setdefault(name, help_text)
            for labels, value in rows:
                all_labels = ",".join(x for x in (shared, labels) if x)
                samples.setdefault(name, []).append(f"{name}{{{all_labels}}} {_num(value)}")
    out: list[str] = []
    for name, help_text in order.items():
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples.get(name, [])]
    return "\n".join(out) + "\n"


def label(value: str) -> str:
    """A Prometheus label value, escaped."""
    return _label(value)


def _pitr_facts(h: Health) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    w = h.pitr
    if w is not None:
        span = f"{h.pitr_days} days" if h.pitr_days is not None else "none"
        since = f" from {when_minute(w.earliest)}" if w.earliest else ""
        rows.append(("PITR window", f"{span}{since} ({w.what}; min {fmt_span(h.thresholds.min_pitr_window)})"))
        if not w.continuous:
            wal = (f"{when_minute(w.newest_wal)}, {fmt_age(h.wal_age_seconds or 0)} ago "
                   f"(max {fmt_span(h.thresholds.max_wal_age)})") if w.newest_wal else "none"
            rows.append(("Newest WAL", wal))
    if h.replicas is not None:
        shown = ", ".join(f"{r.name} {_short(r.lag_seconds) if r.lag_seconds is not None else '?'} ({r.state})"
                          for r in h.replicas) or "none streaming"
        rows.append(("Replicas", shown))
    return rows


def _facts(h: Health) -> list[tuple[str, str]]:
    if not h.store_watched:
        return _pitr_facts(h)
    m, d, th = h.last_backup, h.last_drill, h.thresholds
    rows: list[tuple[str, str]] = []
    if m is not None and h.backup_age_seconds is not None:
        rows.append(("Newest backup", f"{m.id} ({when_minute(m.created_at)}, {fmt_age(h.backup_age_seconds)} ago; "
                                      f"max {fmt_span(th.max_age)})"))
        size = human_size(m.size)
        if h.size_median is not None and h.size_deviation is not None:
            size += f" ({h.size_deviation:+.1%} vs median {human_size(h.size_median)})"
        rows.append(("Size", size))
        if h.contents_known:
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
        rows.append(("Last drill", f"{verdict} {fmt_age(h.drill_age_seconds)} ago ({d.id}{rto})"))
    else:
        rows.append(("Last drill", "none recorded"))
    return rows + _pitr_facts(h)


def _head(h: Health) -> str:
    if h.healthy:
        return "healthy"
    if h.passed:
        return f"{len(h.alerts)} warning(s), none failing"
    return f"UNHEALTHY: {len(h.alerts)} alert(s)"


def render_text(h: Health) -> str:
    head = _head(h)
    lines = [f"monitor {h.store} at {_iso(h.checked_at)}: {head}"]
    lines += [f"  {k.lower():<14} {v}" for k, v in _facts(h)]
    for a in h.alerts:
        lines.append(f"{a.severity.upper():<8} {a.name}: {a.message}")
    for p in h.problems:
        lines.append(f"problem  {p}")
    return "\n".join(lines)


def render_markdown(h: Health) -> str:
    icon, title = (("✅", "backups healthy") if h.healthy else ("⚠️", f"{len(h.alerts)} warning(s)") if h.passed
                   else ("🚨", f"{len(h.alerts)} backup alert(s)"))
    out = [f"### {icon} pgdrill monitor: {title}", "",
           f"{'Store' if h.store_watched else 'Watching'} `{md_escape(h.store)}`, checked "
           f"{when_minute(h.checked_at)}.", ""]
    if h.alerts:
        out += ["| Severity | Alert | Detail |", "|---|---|---|"]
        out += [f"| {a.severity} | **{a.name}** | {md_escape(a.message)} |" for a in h.alerts]
        out.append("")
    out += ["| | |", "|---|---|"]
    out += [f"| {k} | {md_escape(v)} |" for k, v in _facts(h)]
    if h.problems:
        out += ["", "Problems:", *[f"- {md_escape(p)}" for p in h.problems]]
    return "\n".join(out) + "\n"


def to_outcome(h: Health, environment: str | None = None) -> Outcome:
    """Failing alerts (critical; warnings too with ``fail_on: warning``) are failures and fail the job
    (exit 1); the others are warnings."""
    m = h.last_backup
    failing = h.failing
    title = ("monitor: backups healthy" if h.healthy
             else f"monitor: {len(h.alerts)} warning(s): {', '.join(a.name for a in h.alerts)}" if h.passed
             else f"monitor: {len(h.alerts)} alert(s): {', '.join(a.name for a in h.alerts)}")
    return Outcome(
        job="monitor", passed=h.passed, environment=environment, title=title, markdown=render_markdown(h),
        outputs={"passed": str(h.passed).lower(), "healthy": str(h.healthy).lower(),
                 "alerts": ",".join(a.name for a in h.alerts),
                 "last-backup-id": m.id if m else "",
                 "backup-age-hours": "" if h.backup_age_seconds is None else f"{h.backup_age_seconds / 3600:.2f}",
                 "pitr-available-days": "" if h.pitr_days is None else f"{h.pitr_days:.2f}"},
        failures=[f"{a.name}: {a.message}" for a in failing],
        warnings=[f"{a.name}: {a.message}" for a in h.alerts if a not in failing],
        backup_id=m.id if m else None, details=dict(_facts(h)),
    )
