"""Pure: an Outcome and what it means against the previous run → what each notifier sends.

The event is ``failure`` (the job failed), ``recovery`` (it passed after a failed run) or ``success``
(it passed, as before or with no earlier run known). Everything that came from a database, a store or
the user is escaped for Slack's mrkdwn; the generic webhook gets plain JSON values.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pgdrill import __version__
from pgdrill.report.outcome import Outcome

Event = Literal["failure", "recovery", "success"]
ICON = {"failure": "❌", "recovery": "✅", "success": "✅"}
VERB = {"failure": "failed", "recovery": "recovered", "success": "passed"}


def event_of(outcome: Outcome, previous_passed: bool | None) -> Event:
    """``previous_passed``: the verdict of the job's previous run (None: not known)."""
    if not outcome.passed:
        return "failure"
    return "recovery" if previous_passed is False else "success"


def error_line(outcome: Outcome) -> str | None:
    """The one line that says why the job failed (None when it passed)."""
    if outcome.passed:
        return None
    return outcome.failures[0] if outcome.failures else outcome.title


def headline(outcome: Outcome, event: Event) -> str:
    env = f" ({outcome.environment})" if outcome.environment else ""
    if outcome.database:
        env = f" of {outcome.database}{env}"
    return f"{ICON[event]} pgdrill {outcome.job}{env} {VERB[event]}: {error_line(outcome) or outcome.title}"


def _slack(text: str) -> str:
    """Slack's mrkdwn escapes: &, < and > (a < would start a link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _drill_id(outcome: Outcome) -> str | None:
    return outcome.outputs.get("drill-id") or None


def slack_message(outcome: Outcome, event: Event, run_url: str | None = None) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (notifications, and clients without blocks) and blocks."""
    fields = [("Job", outcome.job), ("Verdict", outcome.verdict)]
    if outcome.database:
        fields.append(("Database", outcome.database))
    if outcome.environment:
        fields.append(("Environment", outcome.environment))
    if outcome.store:
        fields.append(("Store", outcome.store))
    if outcome.backup_id:
        fields.append(("Backup", outcome.backup_id))
    if _drill_id(outcome):
        fields.append(("Drill", str(_drill_id(outcome))))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_slack(headline(outcome, event))}*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_slack(v)}"} for k, v in fields[:10]]},
    ]
    more = [f for f in outcome.failures[1:6]]
    if more:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "\n".join(f"• {_slack(f)}" for f in more)[:2900]}})
    if run_url:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{run_url}|CI run>"}]})
    return {"text": headline(outcome, event)[:3000], "blocks": blocks}


def webhook_document(outcome: Outcome, event: Event, run_url: str | None = None,
                     now: datetime | None = None) -> dict[str, Any]:
    """The generic webhook's JSON: what happened, to what, and why."""
    at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "source": "pgdrill",
        "pgdrill_version": __version__,
        "event": event,
        "job": outcome.job,
        "verdict": outcome.verdict,
        "passed": outcome.passed,
        "environment": outcome.environment,
        "database": outcome.database,
        "store": outcome.store,
        "backup_id": outcome.backup_id,
        "drill_id": _drill_id(outcome),
        "error": error_line(outcome),
        "title": outcome.title,
        "failures": list(outcome.failures),
        "warnings": list(outcome.warnings),
        "run_url": run_url,
        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def ping_body(outcome: Outcome) -> str:
    """What a heartbeat monitor shows next to the ping (healthchecks.io keeps the body as the log)."""
    return (error_line(outcome) or outcome.title)[:10_000]
