"""What the notifiers send, as pure functions of the Outcome and the previous verdict."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pgdrill.report.notify import messages
from pgdrill.report.notify.settings import NotifySettings
from pgdrill.report.outcome import Outcome

FAILED = Outcome(job="drill", passed=False, title="drill of b1 failed: check 'row counts' failed",
                 environment="production", failures=("row counts: public.orders <b>&</b> 5 != 6", "RTO missed"),
                 backup_id="b1", outputs={"drill-id": "d1"}, store="s3://acme/prod")
PASSED = Outcome(job="backup", passed=True, title="backup b2 of shop: 1.0 MiB, 3 tables", backup_id="b2",
                 store="/backups")


@pytest.mark.parametrize(("outcome", "previous", "event"), [
    (FAILED, None, "failure"), (FAILED, True, "failure"), (FAILED, False, "failure"),
    (PASSED, False, "recovery"), (PASSED, True, "success"), (PASSED, None, "success"),
])
def test_event(outcome: Outcome, previous: bool | None, event: str) -> None:
    assert messages.event_of(outcome, previous) == event


def test_slack_message_escapes_and_links_the_run() -> None:
    msg = messages.slack_message(FAILED, "failure", "https://github.com/acme/shop/actions/runs/1")
    assert msg["text"] == "❌ pgdrill drill (production) failed: row counts: public.orders <b>&</b> 5 != 6"
    head = msg["blocks"][0]["text"]["text"]
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in head and "<b>" not in head
    fields = [f["text"] for f in msg["blocks"][1]["fields"]]
    assert fields == ["*Job*\ndrill", "*Verdict*\nfailed", "*Environment*\nproduction", "*Store*\ns3://acme/prod",
                      "*Backup*\nb1", "*Drill*\nd1"]
    assert msg["blocks"][2]["text"]["text"] == "• RTO missed"
    assert msg["blocks"][-1] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "<https://github.com/acme/shop/actions/runs/1|CI run>"}]}


def test_webhook_document() -> None:
    at = datetime(2026, 12, 1, 3, 17, tzinfo=timezone.utc)
    doc = messages.webhook_document(FAILED, "failure", None, now=at)
    assert {k: doc[k] for k in ("event", "job", "verdict", "passed", "environment", "store", "backup_id",
                                "drill_id", "error", "run_url", "at")} == {
        "event": "failure", "job": "drill", "verdict": "failed", "passed": False, "environment": "production",
        "store": "s3://acme/prod", "backup_id": "b1", "drill_id": "d1",
        "error": "row counts: public.orders <b>&</b> 5 != 6", "run_url": None, "at": "2026-12-01T03:17:00Z"}
    ok = messages.webhook_document(PASSED, "recovery")
    assert ok["error"] is None and ok["event"] == "recovery" and ok["drill_id"] is None


def test_settings_register_the_urls_as_secrets() -> None:
    from pgdrill import secrets

    s = NotifySettings.model_validate({"slack_webhook_url": "https://hooks.slack.com/services/T1/B2/sekrit-token-9"})
    assert s.any and s.jobs == ["backup", "drill", "monitor"] and not s.on_success
    assert secrets.scrub("posted to https://hooks.slack.com/services/T1/B2/sekrit-token-9") == "posted to ***"
    assert "sekrit" not in secrets.scrub("path services/T1/B2/sekrit-token-9")
    assert "sekrit" not in repr(s)
    with pytest.raises(ValueError, match="http:// or https://"):
        NotifySettings.model_validate({"ping_url": "hc-ping.com/uuid"})
