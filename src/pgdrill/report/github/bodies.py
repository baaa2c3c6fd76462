"""The post-mortem issue's title, body and comments: pure functions of an Outcome. Everything that
came from a database, a config file or a command is escaped; bodies stay under GitHub's size limit by
folding the full report and cutting it when it must."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pgdrill import secrets
from pgdrill.report import actions
from pgdrill.report.github.settings import GitHubSettings
from pgdrill.report.outcome import Outcome

#: GitHub rejects issue and comment bodies longer than 65,536 characters.
BODY_LIMIT = 65_536
#: kept below the limit: GitHub's count is not documented as code points, so leave a margin
BODY_BUDGET = 65_000
MAX_LISTED = 50

CHECKLIST = (
    ("Assess", "confirm what failed and what is at risk: age of the last good backup, last good drill, "
               "which environment; decide whether this is an incident and who owns it."),
    ("Contain", "freeze deploys and migrations that touch this database until a good backup exists; "
                "keep the failing artefacts (logs, drill record) for the post-mortem."),
    ("Restore", "if data was lost or damaged, restore the last good backup into an isolated database "
                "first (`pgdrill restore`), never over production, and promote only once verified."),
    ("Verify", "re-run the job: row counts against the manifest, migration head, smoke checks; "
               "measure RTO and RPO against the targets."),
    ("Communicate", "tell stakeholders the status, impact and ETA; post updates on this issue."),
    ("Record", "write the timeline, root cause, RTO/RPO observed vs targets and follow-up actions here, "
               "and fix the runbook if it was wrong."),
)


def marker(job: str, environment: str | None, database: str | None = None) -> str:
    """The hidden line that identifies an issue: one per (job, environment), and per database in a
    fleet, so one database's failure never comments on another's issue."""
    env = re.sub(r"[^A-Za-z0-9._-]", "_", environment or "default")
    db = ":" + re.sub(r"[^A-Za-z0-9._-]", "_", database) if database else ""
    return f"<!-- pgdrill:{job}:{env}{db} -->"


def subject(outcome: Outcome) -> str:
    """What failed, in words: the environment, or the database and its environment."""
    env = outcome.environment or "default"
    return f"{outcome.database} ({env})" if outcome.database else env


def _gh_len(text: str) -> int:
    # UTF-16 code units: never fewer than GitHub's count, whichever way it counts characters.
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, budget: int) -> str:
    if _gh_len(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix within budget
        mid = (lo + hi + 1) // 2
        if _gh_len(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    kept = text[:lo]
    newline = kept.rfind("\n")
    return kept[:newline] if newline > lo // 2 else kept


def _md(text: object, code: bool = False) -> str:
    """One line of untrusted text, safe inside Markdown (no tables broken, no HTML, no mentions).

    ``code=True`` keeps backticks, for pgdrill's own advice that quotes settings as code.
    """
    s = " ".join(str(text).split())[:500]
    parts = s.split("`")
    if not code or len(parts) % 2 == 0:  # unbalanced backticks: escape them all
        parts = [s]
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        for ch in ("\\", "|", "*", "_", "<", ">", "[", "]", "#", "@", "`"):
            parts[i] = parts[i].replace(ch, "\\" + ch)
    return "`".join(parts) + ("…" if len(str(text)) > 500 else "")


def _items(lines: Sequence[str], icon: str) -> str:
    shown = [f"- {icon} {_md(line)}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"- …and {len(lines) - MAX_LISTED} more (see the run's job summary)")
    return "\n".join(shown)


def _facts(outcome: Outcome, run_url: str | None, extra: Sequence[tuple[str, str]] = ()) -> str:
    rows = [("Job", f"`{outcome.job}`"), ("Environment", f"`{_md(outcome.environment or 'default')}`")]
    if outcome.database:
        rows.insert(1, ("Database", f"`{_md(outcome.database)}`"))
    if outcome.backup_id:
        rows.append(("Backup", f"`{_md(outcome.backup_id)}`"))
    rows += [(_md(k), _md(v)) for k, v in outcome.details.items()]
    if run_url:
        rows.append(("Run", f"[run {_md(run_url.rsplit('/runs/', 1)[-1])}]({run_url})"))
    rows += list(extra)
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def _fold_report(head: str, tail: str, report: str, summary: str) -> str:
    """``head`` + the full report folded in <details> + ``tail``, under GitHub's body limit."""
    report = report.strip()
    if not report:
        return head + tail
    open_, close = f"\n<details><summary>{summary}</summary>\n\n", "\n\n</details>\n"
    room = BODY_BUDGET - _gh_len(head + tail + open_ + close) - 200
    if _gh_len(report) > room:
        kept = actions.close_open_blocks(_cut(report, max(room, 0)))
        left_out = len(report) - len(kept)
        report = kept + f"\n\n*Report cut to fit GitHub's issue size limit ({left_out} characters left out).*"
    body = head + open_ + report + close + tail
    return body if _gh_len(body) <= BODY_BUDGET else _cut(head + tail, BODY_BUDGET)


def render_issue(outcome: Outcome, settings: GitHubSettings, run_url: str | None, now: datetime) -> tuple[str, str]:
    """Title and body of a new post-mortem issue."""
    env = subject(outcome)
    title = f"pgdrill {outcome.job} failing on {env}"
    failures = list(outcome.failures) or [outcome.title]
    parts = [
        marker(outcome.job, outcome.environment, outcome.database),
        f"## ❌ pgdrill {outcome.job} failed on `{_md(env)}`",
        f"**Verdict:** failed: {_md(outcome.title)}",
        _facts(outcome, run_url, [("First failure", f"{now:%Y-%m-%d %H:%M} UTC")]),
        "### Failed checks\n\n" + _items(failures, "❌"),
    ]
    if outcome.warnings:
        parts.append("### Warnings\n\n" + _items(outcome.warnings, "⚠️"))
    parts.append(
        "### Incident checklist\n\n" + "\n".join(f"- [ ] **{step}**: {text}" for step, text in CHECKLIST)
    )
    if settings.mention:
        parts.append("cc " + " ".join(f"@{m}" for m in settings.mention))
    head = "\n\n".join(parts) + "\n"
    tail = (
        f"\n<sub>Opened by pgdrill. Further failures of this {outcome.job} are added as comments; "
        f"the next successful run closes this issue.</sub>\n"
    )
    return title, _fold_report(head, tail, secrets.scrub(outcome.markdown), "Full report of the failing run")


def render_failure_comment(outcome: Outcome, run_url: str | None, now: datetime) -> str:
    failures = list(outcome.failures) or [outcome.title]
    head = "\n\n".join(
        [
            f"### ❌ Failed again: {_md(outcome.title)}",
            _facts(outcome, run_url, [("At", f"{now:%Y-%m-%d %H:%M} UTC")]),
            "**Failed checks**\n\n" + _items(failures, "❌"),
        ]
    ) + "\n"
    return _fold_report(head, "", secrets.scrub(outcome.markdown), "Full report of this run")


def render_recovery_comment(outcome: Outcome, run_url: str | None, now: datetime) -> str:
    return "\n\n".join(
        [
            f"### ✅ Recovered: {_md(outcome.title)}",
            _facts(outcome, run_url, [("At", f"{now:%Y-%m-%d %H:%M} UTC")]),
            "pgdrill closes this issue as completed. Finish the checklist above: record the root cause, "
            "the RTO/RPO observed and the follow-up actions.",
        ]
    ) + "\n"
