"""Pure renderers for drill results and drill history: terminal text, JSON, GitHub Markdown.

Everything that came from a database or a config file (table names, errors, command output, check
names, owners) is escaped: Markdown through :func:`md_escape`, HTML attributes/summaries through
``html.escape``, command output inside a fence longer than any backtick run it contains.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from pgdrill.checks import CheckResult
from pgdrill.drill import DrillRecord, DrillResult, History, TargetRecord
from pgdrill.report.format import ICON, WORD, fence, fmt_seconds, fmt_target, human_size, md_escape, when
from pgdrill.report.outcome import Outcome

MAX_ITEMS = 50


def _vs_target(t: TargetRecord) -> str:
    if t.target is None:
        return "no target set"
    return f"target {fmt_target(t.target)}: {'met' if t.status == 'pass' else 'MISSED'}"


def _counts(checks: Sequence[CheckResult]) -> str:
    n = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "fail", "warn", "skip")}
    parts = [f"{n['pass']} passed", f"{n['fail']} failed"]
    if n["warn"]:
        parts.append(f"{n['warn']} warning{'s' if n['warn'] != 1 else ''}")
    if n["skip"]:
        parts.append(f"{n['skip']} skipped")
    return ", ".join(parts)


_COPY_NOUN = {"scratch": "a scratch database", "private": "a private server", "target": "the target database"}


def _restored_into(r: DrillRecord) -> str:
    where = {"scratch": f"scratch database {r.scratch_database}", "private": f"private server {r.scratch_database}",
             "target": f"target {r.target}"}[r.target_kind]
    versions = []
    if r.target_server_version:
        versions.append(f"PostgreSQL {r.target_server_version}")
    if r.pg_restore_version:
        versions.append(f"pg_restore {r.pg_restore_version}"
                        + (f", {r.restore_jobs} parallel jobs" if r.restore_jobs and r.restore_jobs > 1 else ""))
    elif r.restore_tool:
        versions.append(r.restore_tool)
    return where + (f" ({', '.join(versions)})" if versions else "")


def _rto_breakdown(r: DrillRecord) -> str:
    if r.replay_seconds:  # physical recovery: fetching the base backup, replaying WAL, checking
        return (f"fetch {fmt_seconds(r.fetch_seconds)} + replay {fmt_seconds(r.replay_seconds)} + checks "
                f"{fmt_seconds(r.checks_seconds)}")
    fetch = f"fetch {fmt_seconds(r.fetch_seconds)} + " if r.fetch_seconds else ""
    return f"{fetch}restore {fmt_seconds(r.restore_seconds)} + checks {fmt_seconds(r.checks_seconds)}"


def _rpo_breakdown(r: DrillRecord) -> str:
    if r.rpo_detail:
        return r.rpo_detail
    days = round(r.rpo_window_seconds / 86400)
    return (f"backup age {fmt_seconds(r.backup_age_seconds)} + worst gap {fmt_seconds(r.worst_gap_seconds)} "
            f"in {days} days")


# -- text -------------------------------------------------------------------------------------
def drill_text(res: DrillResult) -> str:
    r = res.record
    verdict = "PASSED" if r.passed else "FAILED"
    tags = f", tags: {', '.join(r.backup_tags)}" if r.backup_tags else ""
    lines = [
        f"drill {r.id}: {verdict}" + (f" ({r.environment})" if r.environment else ""),
        f"  backup     {r.backup_id}  {r.source_database} on {r.source_host}:{r.source_port}, "
        f"created {when(r.backup_created_at)}, {human_size(r.backup_size)}{tags}",
        f"  restored   into {_restored_into(r)}",
        f"  checks     {len(r.checks)} run: {_counts(r.checks)}",
    ]
    width = max((len(c.name) for c in r.checks), default=10)
    for c in r.checks:
        lines.append(f"    {WORD[c.status]}  {c.name:<{width}}  {c.detail}  ({fmt_seconds(c.duration)})")
        if c.status in ("fail", "warn"):
            for item in c.items[:10]:
                lines.append(f"          {'':<{width}}  - {item}")
            if len(c.items) > 10:
                lines.append(f"          {'':<{width}}  … and {len(c.items) - 10} more")
            if c.output:
                lines.extend(f"          {'':<{width}}  | {ln}" for ln in c.output.splitlines()[-10:])
    lines += [
        f"  RTO        {fmt_seconds(r.rto.measured)} ({_rto_breakdown(r)}), {_vs_target(r.rto)}",
        f"  RPO        {fmt_seconds(r.rpo.measured)} ({_rpo_breakdown(r)}), {_vs_target(r.rpo)}",
    ]
    if not any(c.name == "cleanup" for c in r.checks):
        lines.append(f"  cleanup    {r.cleanup}")
    if len(res.trend) > 1:
        shown = " · ".join(f"{t.started_at:%m-%d} {'PASS' if t.passed else 'FAIL'} {fmt_seconds(t.rto.measured)}"
                           for t in res.trend)
        lines.append(f"  trend      RTO of the last {len(res.trend)} drills: {shown}")
    for w in res.warnings:
        lines.append(f"  warning    {w}")
    if r.passed:
        lines.append(f"  verdict    PASSED: backup restored and checked in {fmt_seconds(r.rto.measured)}")
    else:
        lines.append(f"  verdict    FAILED: {'; '.join(r.failures)}")
    return "\n".join(lines)


# -- JSON -------------------------------------------------------------------------------------
def _trend_row(t: DrillRecord) -> dict[str, Any]:
    return {"id": t.id, "started_at": t.started_at.isoformat(), "backup_id": t.backup_id, "passed": t.passed,
            "rto_seconds": t.rto.measured, "rpo_seconds": t.rpo.measured, "environment": t.environment}


def drill_json(res: DrillResult) -> dict[str, Any]:
    doc: dict[str, Any] = res.record.model_dump(mode="json")
    doc["trend"] = [_trend_row(t) for t in res.trend]
    doc["warnings"] = list(res.warnings)
    doc["record_key"] = res.saved_key
    doc["record_sha256"] = res.saved_sha256
    return doc


# -- Markdown ---------------------------------------------------------------------------------
def _details(c: CheckResult) -> str:
    parts = []
    if c.items and c.status != "pass":
        shown = [f"- {md_escape(i)}" for i in c.items[:MAX_ITEMS]]
        if len(c.items) > MAX_ITEMS:
            shown.append(f"- … and {len(c.items) - MAX_ITEMS} more")
        noun = "item" if len(c.items) == 1 else "items"
        parts.append(f"<details><summary>{html.escape(c.name)}: {len(c.items)} {noun}</summary>\n\n"
                     + "\n".join(shown) + "\n\n</details>")
    if c.output:
        n = len(c.output.splitlines())
        parts.append(f"<details><summary>{html.escape(c.name)}: output (last {n} lines)</summary>\n\n"
                     f"{fence(c.output)}\n\n</details>")
    return "\n\n".join(parts)


def _verdict_md(r: DrillRecord) -> str:
    env = f" — {md_escape(r.environment)}" if r.environment else ""
    if r.passed:
        head = f"## ✅ Restore drill passed{env}"
        rto = f" (RTO target {fmt_target(r.rto.target)})" if r.rto.target is not None else ""
        rpo = f" (target {fmt_target(r.rpo.target)})" if r.rpo.target is not None else ""
        lead = (f"Backup `{r.backup_id}` of **{md_escape(r.source_database)}** restored into "
                f"{_COPY_NOUN[r.target_kind]} and checked in "
                f"**{fmt_seconds(r.rto.measured)}**{rto}; RPO **{fmt_seconds(r.rpo.measured)}**{rpo}.")
    else:
        head = f"## ❌ Restore drill failed{env}"
        lead = "**Why:** " + "; ".join(md_escape(f) for f in r.failures) + "."
    return f"{head}\n\n{lead}"


def _checks_md(r: DrillRecord) -> str:
    rows = ["| | Check | Result | Time |", "|:-:|---|---|--:|"]
    for c in r.checks:
        rows.append(f"| {ICON[c.status]} | {md_escape(c.name)} | {md_escape(c.detail)} | {fmt_seconds(c.duration)} |")
    details = [d for d in (_details(c) for c in r.checks) if d]
    text = f"### Checks ({_counts(r.checks)})\n\n" + "\n".join(rows)
    return text + ("\n\n" + "\n\n".join(details) if details else "")


def _targets_md(r: DrillRecord) -> str:
    def row(name: str, t: TargetRecord, breakdown: str) -> str:
        result = {"pass": "✅ met", "fail": "❌ missed", "none": "—"}[t.status]
        return f"| {name} | **{fmt_seconds(t.measured)}** ({breakdown}) | {fmt_target(t.target)} | {result} |"

    return "\n".join([
        "### RTO / RPO",
        "",
        "| | Measured | Target | Result |",
        "|---|---|---|---|",
        row("RTO", r.rto, _rto_breakdown(r)),
        row("RPO", r.rpo, _rpo_breakdown(r)),
    ])


def _contents(r: DrillRecord) -> str:
    if r.rows or not r.table_rows:
        return f"{r.tables} tables, {r.rows} rows (exact counts in the manifest)"
    return f"{r.tables} tables, {sum(r.table_rows.values())} rows (counted in the restored copy)"


def _backup_md(r: DrillRecord) -> str:
    tags = f" (tags: {md_escape(', '.join(r.backup_tags))})" if r.backup_tags else ""
    enc = ", age-encrypted" if r.backup_encrypted else ""
    rows: list[tuple[str, str]] = [
        ("Backup", f"`{r.backup_id}`{tags}"),
        ("Source", f"{md_escape(r.source_database)} on {md_escape(r.source_host)}:{r.source_port}, "
                   f"PostgreSQL {md_escape(r.source_server_version)} (pg_dump {md_escape(r.pg_dump_version)})"),
        ("Created", when(r.backup_created_at)),
        ("Stored", f"{human_size(r.backup_size)}{enc}, sha256 `{r.backup_sha256[:16]}…`"),
        ("Contents", _contents(r)),
        ("Restored into", md_escape(_restored_into(r))),
        ("Cleanup", md_escape(r.cleanup)),
        ("Drill", f"`{r.id}`, started {when(r.started_at)}, pgdrill {md_escape(r.pgdrill_version)}"),
    ]
    if r.run_url:
        run = f"[{md_escape(r.run_url.rsplit('/runs/', 1)[-1])}]({r.run_url})" if "/runs/" in r.run_url \
            else md_escape(r.run_url)
        sha = f" at `{md_escape(r.git_sha[:12])}`" if r.git_sha else ""
        rows.append(("Run", f"{run}{sha}"))
    if r.owners:
        rows.append(("Owners", md_escape(", ".join(r.owners))))
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"### Backup\n\n| | |\n|---|---|\n{body}"


def _axis_label(t: DrillRecord) -> str:
    return f"{t.started_at:%m-%d %H:%M}"


def rto_chart(rows: Sequence[DrillRecord], target: float | None) -> str:
    """A Mermaid xychart of RTO per drill (bars) and the target (a line); GitHub renders it."""
    values = [t.rto.measured for t in rows]
    # A target far above every drill would flatten the bars to nothing; the table still shows it.
    if target is not None and target > 3 * max(values, default=0.0):
        target = None
    top = max([*values, target or 0.0])
    unit, div = ("minutes", 60.0) if top >= 600 else ("seconds", 1.0)
    scaled = [round(v / div, 2) for v in values]
    ceiling = max(1.0, round(top / div * 1.2, 1))
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "RTO per drill ({unit})"',
        "    x-axis [" + ", ".join(f'"{_axis_label(t)}"' for t in rows) + "]",
        f'    y-axis "{unit}" 0 --> {ceiling:g}',
        "    bar [" + ", ".join(f"{v:g}" for v in scaled) + "]",
    ]
    if target is not None:
        lines.append("    line [" + ", ".join(f"{round(target / div, 2):g}" for _ in rows) + "]")
    lines.append("```")
    return "\n".join(lines)


def trend_md(rows: Sequence[DrillRecord], target: float | None) -> str:
    table = ["| Drill started | Backup | Verdict | RTO | RPO |", "|---|---|---|--:|--:|"]
    for t in reversed(rows):  # newest first: what people look at
        verdict = "✅ passed" if t.passed else "❌ failed"
        table.append(f"| {when(t.started_at)} | `{t.backup_id}` | {verdict} | {fmt_seconds(t.rto.measured)} | "
                     f"{fmt_seconds(t.rpo.measured)} |")
    text = f"### Trend (last {len(rows)} drill{'s' if len(rows) != 1 else ''})\n\n" + "\n".join(table)
    if len(rows) > 1:
        shown = target is not None and target <= 3 * max(t.rto.measured for t in rows)
        line = " The line is the RTO target." if shown else ""
        text += "\n\n" + rto_chart(rows, target) + f"\n\nBars: RTO of each drill, oldest first.{line}"
    return text


def drill_markdown(res: DrillResult) -> str:
    r = res.record
    parts = [_verdict_md(r), _checks_md(r), _targets_md(r), _backup_md(r)]
    if res.trend:
        parts.append(trend_md(res.trend, r.rto.target))
    if res.warnings:
        parts.append("### Warnings\n\n" + "\n".join(f"- {md_escape(w)}" for w in res.warnings))
    return "\n\n".join(parts) + "\n"


# -- history (`pgdrill drills`) -----------------------------------------------------------------
def drills_json(h: History) -> dict[str, Any]:
    return {
        "drills": [r.model_dump(mode="json") for r in h.records],
        "skipped": [{"key": k, "reason": why} for k, why in h.problems],
    }


def drills_text(h: History) -> str:
    if not h.records:
        return "no drills recorded"
    lines = [f"{'ID':<34} {'STARTED (UTC)':<19} {'BACKUP':<34} {'VERDICT':<7} {'RTO':>9} {'RPO':>9}  CHECKS"]
    for r in h.records:  # oldest first, the latest last: the order of `pgdrill list`
        n_fail = sum(1 for c in r.checks if c.status == "fail")
        checks = f"{len(r.checks)} ({n_fail} failed)" if n_fail else str(len(r.checks))
        lines.append(f"{r.id:<34} {r.started_at:%Y-%m-%d %H:%M:%S} {r.backup_id:<34} "
                     f"{'passed' if r.passed else 'FAILED':<7} {fmt_seconds(r.rto.measured):>9} "
                     f"{fmt_seconds(r.rpo.measured):>9}  {checks}")
    return "\n".join(lines)


def drills_warnings(h: History) -> list[str]:
    return [f"skipped drill record {k}: {why}" for k, why in h.problems]


# -- for the publishers (job summary, outputs, annotations, post-mortem issue) -------------------
def drill_outcome(res: DrillResult, report_path: str | None = None) -> Outcome:
    """The drill as an :class:`Outcome`: the verdict, the rendered Markdown, and outputs
    ``passed``, ``rto-seconds``, ``rpo-seconds``, ``backup-id``, ``drill-id`` (and ``report-path``, and
    ``record-sha256`` — the sha256 of the record as stored, for an artifact attestation — once saved)."""
    r = res.record
    if r.passed:
        title = f"drill of {r.backup_id} passed in {fmt_seconds(r.rto.measured)}"
    else:
        title = f"drill of {r.backup_id} failed: {'; '.join(r.failures)}"
    outputs = {
        "passed": "true" if r.passed else "false",
        "rto-seconds": f"{r.rto.measured:g}",
        "rpo-seconds": f"{r.rpo.measured:g}",
        "backup-id": r.backup_id,
        "drill-id": r.id,
    }
    if report_path:
        outputs["report-path"] = report_path
    if res.saved_sha256:
        outputs["record-sha256"] = res.saved_sha256
    failures = [f"{c.name}: {c.detail}" for c in r.checks if c.status == "fail"]
    failures += [f for f in r.failures if not f.startswith("check '")]  # missed targets
    warnings = [f"{c.name}: {c.detail}" for c in r.checks if c.status == "warn"] + list(res.warnings)
    details = {
        "Backup": f"{r.backup_id} ({r.source_database}, created {when(r.backup_created_at)})",
        "RTO": f"{fmt_seconds(r.rto.measured)} (target {fmt_target(r.rto.target)})",
        "RPO": f"{fmt_seconds(r.rpo.measured)} (target {fmt_target(r.rpo.target)})",
        "Checks": _counts(r.checks),
        "Restored into": _restored_into(r),
        "Cleanup": r.cleanup,
    }
    if r.owners:
        details["Owners"] = ", ".join(r.owners)
    return Outcome(job="drill", passed=r.passed, title=title, markdown=drill_markdown(res),
                   environment=r.environment, outputs=outputs, failures=failures, warnings=warnings,
                   backup_id=r.backup_id, run_url=r.run_url, details=details)
