"""The status table of one database or a fleet: Markdown (the summary job's job summary), JSON and
Prometheus text with a ``database`` label. Pure renderers over :class:`~pgdrill.fleet.status.DatabaseStatus`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pgdrill.drill.measures import TargetRecord
from pgdrill.fleet.status import DatabaseStatus, counts
from pgdrill.report import monitor as monitor_report
from pgdrill.report.format import ICON, fmt_age, fmt_seconds, fmt_target, human_size, iso, md_escape, when_minute

#: how each verdict is shown
_MARK = {"ok": ICON["pass"], "warning": ICON["warn"], "failed": ICON["fail"], "unreadable": ICON["fail"]}


def _vs(t: TargetRecord) -> str:
    if t.target is None:
        return fmt_seconds(t.measured)
    return f"{fmt_seconds(t.measured)} ({'met' if t.status == 'pass' else 'missed'} {fmt_target(t.target)})"


def _row(st: DatabaseStatus, at: datetime) -> list[str]:
    if st.view is None:
        return [_MARK[st.verdict], md_escape(st.name), md_escape(st.environment or "default"),
                f"store unreadable: {md_escape(st.error or '')}", "—", "—", "—", "—", "—"]
    last, drill = st.last_backup, st.last_drill
    backup = f"{fmt_age(st.backup_age_seconds)} ago" if st.backup_age_seconds is not None else "none"
    attempt = st.failed_attempt
    if attempt is not None:
        backup += f"; **last attempt failed** {fmt_age((at - attempt[1]).total_seconds())} ago"
    if drill is None:
        drill_cell, rto, rpo = "none", "—", "—"
    else:
        age = fmt_age(max(0.0, (at - drill.started_at).total_seconds()))
        drill_cell = f"{'passed' if drill.passed else '**failed**'} {age} ago"
        rto, rpo = _vs(drill.rto), _vs(drill.rpo)
    alerts = ", ".join(f"{a.name}" + ("" if a.severity == "critical" else f" ({a.severity})") for a in st.alerts)
    return [_MARK[st.verdict], md_escape(st.name), md_escape(st.environment or "default"), backup,
            human_size(last.size) if last else "—", drill_cell, rto, rpo, md_escape(alerts) or "none"]


def render_markdown(statuses: Sequence[DatabaseStatus], at: datetime) -> str:
    n = counts(list(statuses))
    bad = n["failed"] + n["unreadable"]
    parts = [f"{n['ok']} ok", *([f"{n['warning']} with warnings"] if n["warning"] else []),
             *([f"{bad} failing"] if bad else [])]
    plural = "s" if len(statuses) != 1 else ""
    head = f"## {ICON['fail' if bad else 'pass']} pgdrill: {len(statuses)} database{plural} — {', '.join(parts)}"
    cols = ["", "Database", "Environment", "Last backup", "Size", "Last drill", "RTO", "RPO", "Alerts"]
    lines = [head, "", f"Read {when_minute(at)}.", "", "| " + " | ".join(cols) + " |",
             "|" + "|".join(["---"] * len(cols)) + "|"]
    lines += ["| " + " | ".join(_row(st, at)) + " |" for st in statuses]
    details = [f"- **{md_escape(st.name)}** {md_escape(a.name)}: {md_escape(a.message)}"
               for st in statuses for a in st.alerts]
    if details:
        lines += ["", "### Alerts", "", *details]
    return "\n".join(lines) + "\n"


def _target(t: TargetRecord) -> dict[str, Any]:
    return {"measured_seconds": t.measured, "target_seconds": t.target, "status": t.status}


def render_json(statuses: Sequence[DatabaseStatus], at: datetime) -> dict[str, Any]:
    rows = []
    for st in statuses:
        last, drill, attempt = st.last_backup, st.last_drill, st.failed_attempt
        rows.append({
            "database": st.name, "environment": st.environment, "store": st.store, "verdict": st.verdict,
            "error": st.error,
            "last_backup": None if last is None else {
                "id": last.id, "created_at": iso(last.created_at), "age_seconds": st.backup_age_seconds,
                "size_bytes": last.size},
            "failed_attempt": None if attempt is None else {
                "id": attempt[0], "started_at": iso(attempt[1]), "error": attempt[2]},
            "last_drill": None if drill is None else {
                "id": drill.id, "passed": drill.passed, "started_at": iso(drill.started_at),
                "backup_id": drill.backup_id, "rto": _target(drill.rto), "rpo": _target(drill.rpo)},
            "alerts": [{"name": a.name, "severity": a.severity, "message": a.message} for a in st.alerts],
        })
    return {"read_at": iso(at), "counts": counts(list(statuses)), "databases": rows}


def render_prometheus(statuses: Sequence[DatabaseStatus]) -> str:
    """monitor's metrics for every database, each sample labelled with its database and store; an
    unreadable store is ``pgdrill_up 0`` (so an alert rule on ``up`` sees it)."""
    groups: list[tuple[str, list[monitor_report.Family]]] = []
    for st in statuses:
        shared = f'database="{monitor_report.label(st.name)}",store="{monitor_report.label(st.store)}"'
        if st.view is None:
            groups.append((shared, [("pgdrill_up", "1: the store was read and evaluated", [("", 0.0)])]))
        else:
            groups.append((shared, monitor_report.families(st.view.health)))
    return monitor_report.exposition(groups)
