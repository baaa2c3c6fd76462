"""Notifications against a real local HTTP server standing in for Slack, a generic webhook and
healthchecks.io: failure, recovery and optional success of backup, drill and monitor; secrets never
sent or printed; a failed notification never fails or hides the job's own result."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import open_store

from support.history import write_backup, write_drill
from support.runner import Run, pgdrill
from support.webhook_server import HOOK_PATH, PING_PATH, SLACK_PATH, Hooks

DOWN = "postgresql://postgres:notify-test-pw@127.0.0.1:1/app"  # nothing listens on port 1


def urls(hooks: Hooks) -> list[str]:
    return ["--slack-webhook-url", hooks.slack, "--webhook-url", hooks.hook, "--ping-url", hooks.ping]


def no_secret_printed(run: Run, hooks: Hooks) -> None:
    for secret in (SLACK_PATH.strip("/"), HOOK_PATH.strip("/"), PING_PATH.strip("/")):
        assert secret not in run.text, secret


def test_backup_failure_then_recovery(capsys: pytest.CaptureFixture[str], hooks: Hooks, db: DatabaseUrl,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
    store = str(tmp_path / "store")
    assert pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", store).code == 0
    # the job fails: its exit code and error line are the job's own; all three services hear of it
    failed = pgdrill(capsys, "backup", "--database-url", DOWN, "--store", store, *urls(hooks))
    assert failed.code == 3 and failed.err.count("pgdrill: error:") == 1
    assert "cannot connect to source database" in failed.err
    assert "warning" not in failed.err, failed.err
    [slack] = hooks.calls(r"^/services/")
    assert slack.status == 200 and slack.json()["text"].startswith("❌ pgdrill backup failed: cannot connect to source")
    fields = " ".join(f["text"] for b in slack.json()["blocks"] if b["type"] == "section" for f in b.get("fields", []))
    assert f"*Store*\n{store}" in fields
    [hook] = hooks.calls(r"^/hook/")
    doc = hook.json()
    assert (doc["event"], doc["job"], doc["verdict"], doc["passed"], doc["store"]) == (
        "failure", "backup", "failed", False, store)
    assert doc["error"].startswith("cannot connect to source database") and doc["backup_id"] is None
    assert doc["run_url"] == "https://github.com/acme/shop/actions/runs/77"
    assert [(r.method, r.path) for r in hooks.calls(r"^/ping/")] == [("POST", PING_PATH + "/start"),
                                                                     ("POST", PING_PATH + "/fail")]
    assert hooks.calls(PING_PATH + "/fail$")[0].text.startswith("cannot connect to source database")
    assert "notify-test-pw" not in hooks.sent_text()
    no_secret_printed(failed, hooks)

    # the next backup passes after a failed one: a recovery, said once
    hooks.requests.clear()
    ok = pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", store, *urls(hooks))
    assert ok.code == 0, ok.err
    [slack] = hooks.calls(r"^/services/")
    assert slack.json()["text"].startswith("✅ pgdrill backup recovered: backup ")
    [hook] = hooks.calls(r"^/hook/")
    assert hook.json()["event"] == "recovery" and hook.json()["backup_id"]
    assert [r.path for r in hooks.calls(r"^/ping/")] == [PING_PATH + "/start", PING_PATH]

    # and the one after that is an ordinary success: only the ping, unless --notify-success
    hooks.requests.clear()
    assert pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", store,
                   *urls(hooks)).code == 0
    assert [r.path for r in hooks.calls()] == [PING_PATH + "/start", PING_PATH]
    hooks.requests.clear()
    assert pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", store,
                   *urls(hooks), "--notify-success").code == 0
    assert hooks.calls(r"^/hook/")[0].json()["event"] == "success"
    assert hooks.calls(r"^/services/")[0].json()["text"].startswith("✅ pgdrill backup passed")


def test_drill_failure_and_recovery_from_the_drill_records(capsys: pytest.CaptureFixture[str], hooks: Hooks,
                                                          pg, db: DatabaseUrl, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = str(tmp_path / "store")
    assert pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", store).code == 0
    args = ["--quiet", "drill", "--store", store, "--scratch-url", pg.admin_url.conninfo(), "--webhook-url", hooks.hook]
    failed = pgdrill(capsys, *args, "--rto-target", "0.001")  # no restore is that fast: the drill fails
    assert failed.code == 1
    doc = hooks.calls(r"^/hook/")[0].json()
    assert doc["event"] == "failure" and doc["job"] == "drill" and doc["drill_id"] and doc["backup_id"]
    assert "RTO" in doc["error"]
    hooks.requests.clear()
    assert pgdrill(capsys, *args).code == 0
    assert hooks.calls(r"^/hook/")[0].json()["event"] == "recovery"


def test_monitor_settings_from_pgdrill_yml_and_the_environment(capsys: pytest.CaptureFixture[str], hooks: Hooks,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = str(tmp_path / "store")
    s = open_store(store)
    s.check_writable()
    write_backup(s, datetime.now(timezone.utc) - timedelta(days=3))  # too old: critical
    write_drill(s, datetime.now(timezone.utc) - timedelta(days=2), passed=True)
    cfg = tmp_path / "pgdrill.yml"
    cfg.write_text(f"store: {store}\nnotify:\n  slack_webhook_url: {hooks.slack}\n  retries: 0\n")
    monkeypatch.setenv("PGDRILL_PING_URL", hooks.ping)
    r = pgdrill(capsys, "monitor", "--config", str(cfg))
    assert r.code == 1
    assert hooks.calls(r"^/services/")[0].json()["text"].startswith("❌ pgdrill monitor failed: BackupTooOld")
    assert [q.path for q in hooks.calls(r"^/ping/")] == [PING_PATH + "/start", PING_PATH + "/fail"]
    no_secret_printed(r, hooks)
    # the notify: section is checked like every section
    cfg.write_text(f"store: {store}\nnotify:\n  slack_webhok_url: {hooks.slack}\n")
    r = pgdrill(capsys, "monitor", "--config", str(cfg))
    assert r.code == 2 and "notify.slack_webhok_url: unknown key" in r.err
    assert "did you mean 'slack_webhook_url'" in r.err
    assert SLACK_PATH.strip("/") not in r.text


@pytest.mark.parametrize("trouble", ["500 for good", "404 revoked", "nothing listening"])
def test_a_failed_notification_never_fails_or_hides_the_job(capsys: pytest.CaptureFixture[str], hooks: Hooks,
                                                           db: DatabaseUrl, tmp_path: Path, trouble: str) -> None:
    store = str(tmp_path / "store")
    slack = hooks.slack
    if trouble == "500 for good":
        hooks.fail(r"^/(services|ping)/", 500, "rollup_error", times=-1)
    elif trouble == "404 revoked":
        slack = hooks.url + "/services/T0/B0/revoked-hook-token"
    else:
        hooks.stop()
    t0 = time.monotonic()
    r = pgdrill(capsys, "backup", "--database-url", db.conninfo(), "--store", store, "--slack-webhook-url", slack,
                "--ping-url", hooks.ping, "--notify-success")
    took = time.monotonic() - t0
    assert r.code == 0, r.err  # the backup's own result
    assert "backup " in r.out and "complete" in r.err
    warnings = [ln for ln in r.err.splitlines() if ln.startswith("pgdrill: warning:")]
    assert any(w.startswith("pgdrill: warning: Slack message not sent: Slack") for w in warnings), r.err
    if trouble != "404 revoked":
        assert any(w.startswith("pgdrill: warning: start ping not sent: ping URL") for w in warnings), r.err
        assert any(w.startswith("pgdrill: warning: ping not sent: ping URL") for w in warnings), r.err
    assert "pgdrill: error:" not in r.err
    # bounded: the message is not repeated after a server error, the ping at most 1 + 2 retries
    if trouble == "500 for good":
        assert len(hooks.calls(r"^/services/")) == 1
        assert len(hooks.calls(PING_PATH + "$")) == 3
    assert took < 60
    no_secret_printed(r, hooks)
    assert "revoked-hook-token" not in r.text


def test_monitor_recovery_from_the_post_mortem_issue(capsys: pytest.CaptureFixture[str], hooks: Hooks,
                                                     github_server, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """monitor keeps nothing in the store: in Actions, the post-mortem issue it closes says the run
    before failed, so the pass is a recovery."""
    for k, v in github_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PGDRILL_SLACK_WEBHOOK_URL", hooks.slack)
    store = str(tmp_path / "store")
    s = open_store(store)
    s.check_writable()
    write_backup(s, datetime.now(timezone.utc) - timedelta(days=3))
    write_drill(s, datetime.now(timezone.utc) - timedelta(days=1), passed=True)
    r = pgdrill(capsys, "monitor", "--store", store)
    assert r.code == 1
    assert f"::add-mask::{hooks.slack}" in r.err or f"::add-mask::{hooks.slack}" in r.out
    assert len(github_server.issues("acme/shop")) == 1
    assert hooks.calls()[0].json()["text"].startswith("❌ pgdrill monitor failed")
    write_backup(s, datetime.now(timezone.utc) - timedelta(hours=1), n=1)
    hooks.requests.clear()
    r = pgdrill(capsys, "monitor", "--store", store)
    assert r.code == 0, r.err
    assert github_server.issues("acme/shop")[0]["state"] == "closed"
    [slack] = hooks.calls()
    assert slack.json()["text"].startswith("✅ pgdrill monitor recovered")
    assert SLACK_PATH.strip("/") not in github_server.sent_text()
