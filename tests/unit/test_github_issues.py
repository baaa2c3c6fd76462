"""Post-mortem issue bodies and lifecycle, and publish(), against the stand-in API without a socket."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from pgdrill import secrets
from pgdrill.report.github import (
    BODY_LIMIT,
    CHECKLIST,
    GitHubClient,
    GitHubSettings,
    marker,
    publish,
    render_issue,
    sync_issue,
)
from pgdrill.report.outcome import Outcome

from support.github_server import FakeGitHub

NOW = datetime(2025, 3, 1, 3, 17, tzinfo=timezone.utc)
REPO = "acme/shop"


@pytest.fixture(autouse=True)
def clean_secrets() -> Iterator[None]:
    secrets.reset_for_tests()
    yield
    secrets.reset_for_tests()


@pytest.fixture
def fake() -> FakeGitHub:
    return FakeGitHub()  # not started: reached through fake.transport(), never a socket


def failing(env: str | None = "production", **kw: object) -> Outcome:
    base: dict[str, object] = {
        "job": "drill", "passed": False, "title": "drill of b1 failed: 2 of 9 checks",
        "markdown": "### ❌ pgdrill drill\n\n| check | result |\n|---|---|\n| rows | ❌ |\n",
        "environment": env, "failures": ["rows: public.orders 10 != 12 in manifest", "migration head a1 != b2"],
        "backup_id": "20250301T031700000Z-abc", "details": {"RTO": "4m 12s (target 30m)", "RPO": "3h (target 26h)"},
        "outputs": {"rto-seconds": "252"},
    }
    base.update(kw)
    return Outcome(**base)  # type: ignore[arg-type]


def passing(env: str | None = "production", database: str | None = None) -> Outcome:
    return Outcome(job="drill", passed=True, title="drill of b2 passed in 3m", environment=env, backup_id="b2",
                   database=database)


def client(fake: FakeGitHub) -> GitHubClient:
    return GitHubClient(fake.url, fake.token, transport=fake.transport(), sleep=lambda s: None)


# -- bodies -----------------------------------------------------------------------------------


def test_marker_names_job_and_environment_safely() -> None:
    assert marker("drill", "production") == "<!-- pgdrill:drill:production -->"
    assert marker("backup", None) == "<!-- pgdrill:backup:default -->"
    assert marker("drill", "eu west -->x") == "<!-- pgdrill:drill:eu_west_--_x -->"


def test_issue_has_verdict_facts_checks_checklist_and_report() -> None:
    settings = GitHubSettings(mention=["acme/dba", "@dba-alice"])
    title, body = render_issue(failing(), settings, "https://github.com/acme/shop/actions/runs/77", NOW)
    assert title == "pgdrill drill failing on production"
    assert body.startswith("<!-- pgdrill:drill:production -->\n")
    assert "**Verdict:** failed: drill of b1 failed: 2 of 9 checks" in body
    for fact in ("| Backup | `20250301T031700000Z-abc` |", "| RTO | 4m 12s (target 30m) |",
                 "| RPO | 3h (target 26h) |", "| Run | [run 77](https://github.com/acme/shop/actions/runs/77) |",
                 "| First failure | 2025-03-01 03:17 UTC |"):
        assert fact in body
    assert "- ❌ rows: public.orders 10 != 12 in manifest" in body
    for step, _ in CHECKLIST:
        assert f"- [ ] **{step}**:" in body
    assert [s for s, _ in CHECKLIST] == ["Assess", "Contain", "Restore", "Verify", "Communicate", "Record"]
    assert "cc @acme/dba @dba-alice" in body
    assert "<details><summary>Full report of the failing run</summary>" in body
    assert "| rows | ❌ |" in body


def test_untrusted_check_text_cannot_break_the_issue() -> None:
    outcome = failing(failures=["table a|b <script>x</script> @everyone #1 `x`"])
    _, body = render_issue(outcome, GitHubSettings(), None, NOW)
    line = next(x for x in body.splitlines() if x.startswith("- ❌"))
    for ch in "|<>@#`":
        assert not re.search(rf"(?<!\\){re.escape(ch)}", line), ch  # every one escaped
    assert "\\<script\\>" in line and "\\@everyone" in line


def test_issue_body_stays_under_githubs_limit_with_a_huge_report() -> None:
    report = "<details><summary>tables</summary>\n\n" + "| tbl | 1 | 😀 |\n" * 40_000
    outcome = failing(markdown=report, failures=[f"check {i}" for i in range(500)])
    _, body = render_issue(outcome, GitHubSettings(), None, NOW)
    assert len(body.encode("utf-16-le")) // 2 < BODY_LIMIT
    assert body.startswith("<!-- pgdrill:drill:production -->")
    assert "Report cut to fit GitHub's issue size limit" in body
    assert body.count("<details") == body.count("</details>")
    assert "- …and 450 more" in body
    assert "### Incident checklist" in body


# -- lifecycle --------------------------------------------------------------------------------


def test_each_database_of_a_fleet_has_its_own_issue(fake: FakeGitHub) -> None:
    settings = GitHubSettings()
    with client(fake) as c:
        billing = sync_issue(c, REPO, failing(database="billing"), settings, None, NOW)
        users = sync_issue(c, REPO, failing(database="users"), settings, None, NOW)
        again = sync_issue(c, REPO, failing(database="billing"), settings, None, NOW)
        closed = sync_issue(c, REPO, passing(database="users"), settings, None, NOW)
    assert (billing.action, users.action, again.action, closed.action) == ("opened", "opened", "commented", "closed")
    assert billing.number == again.number != users.number == closed.number
    titles = {i["number"]: (i["title"], i["state"]) for i in fake.issues(REPO)}
    assert titles == {billing.number: ("pgdrill drill failing on billing (production)", "open"),
                      users.number: ("pgdrill drill failing on users (production)", "closed")}
    assert marker("drill", "production", "billing") == "<!-- pgdrill:drill:production:billing -->"
    # without a database, the marker of the single-database set-up is unchanged
    assert marker("drill", "production") == "<!-- pgdrill:drill:production -->"



def test_open_then_comment_then_close(fake: FakeGitHub) -> None:
    settings = GitHubSettings(assignees=["dba-alice"])
    with client(fake) as c:
        opened = sync_issue(c, REPO, failing(), settings, "https://x/runs/1", NOW)
        second = failing(title="drill of b3 failed: 1 of 9 checks")
        again = sync_issue(c, REPO, second, settings, "https://x/runs/2", NOW)
        closed = sync_issue(c, REPO, passing(), settings, "https://x/runs/3", NOW)
        nothing = sync_issue(c, REPO, passing(), settings, "https://x/runs/4", NOW)
    assert (opened.action, again.action, closed.action, nothing.action) == ("opened", "commented", "closed", "none")
    assert opened.number == again.number == closed.number
    (issue,) = fake.issues(REPO)
    assert issue["title"] == "pgdrill drill failing on production"
    assert {lb["name"] for lb in issue["labels"]} == {"pgdrill", "pgdrill:drill"}
    assert [a["login"] for a in issue["assignees"]] == ["dba-alice"]
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    first, second = fake.comments(REPO, issue["number"])
    assert first["body"].startswith("### ❌ Failed again: drill of b3 failed: 1 of 9 checks")
    assert second["body"].startswith("### ✅ Recovered: drill of b2 passed in 3m")
    # recovery comments before closing, so watchers get both in one notification thread
    kinds = [(r.method, r.path) for r in fake.calls() if r.method != "GET"]
    assert kinds[-2:] == [("POST", f"/repos/{REPO}/issues/1/comments"), ("PATCH", f"/repos/{REPO}/issues/1")]
    # labels pgdrill creates get a colour and a description
    assert fake.repo(REPO).labels["pgdrill"]["description"].startswith("Opened and closed by pgdrill")


def test_environments_and_job_kinds_have_their_own_issue(fake: FakeGitHub) -> None:
    with client(fake) as c:
        sync_issue(c, REPO, failing("production"), GitHubSettings(), None, NOW)
        sync_issue(c, REPO, failing("staging"), GitHubSettings(), None, NOW)
        backup = Outcome(job="backup", passed=False, title="pg_dump failed", environment="production")
        sync_issue(c, REPO, backup, GitHubSettings(), None, NOW)
        assert sync_issue(c, REPO, passing("staging"), GitHubSettings(), None, NOW).action == "closed"
    states = {i["title"]: i["state"] for i in fake.issues(REPO)}
    assert states == {"pgdrill drill failing on production": "open", "pgdrill drill failing on staging": "closed",
                      "pgdrill backup failing on production": "open"}


def test_labelled_issue_without_the_marker_is_left_alone(fake: FakeGitHub) -> None:
    other = fake.add_issue(REPO, "someone's note about drills", "no marker here", ("pgdrill", "pgdrill:drill"))
    ours = fake.add_issue(REPO, "pgdrill drill failing on production", f"{marker('drill', 'production')}\nold",
                          ("pgdrill", "pgdrill:drill"))
    with client(fake) as c:
        action = sync_issue(c, REPO, failing(), GitHubSettings(), None, NOW)
    assert (action.action, action.number) == ("commented", ours["number"])
    assert fake.comments(REPO, other["number"]) == []
    assert len(fake.issues(REPO)) == 2


def test_a_labelled_pull_request_with_the_marker_is_ignored(fake: FakeGitHub) -> None:
    pr = fake.add_issue(REPO, "PR quoting the marker", marker("drill", "production"), ("pgdrill", "pgdrill:drill"),
                        pull_request=True)
    with client(fake) as c:
        action = sync_issue(c, REPO, failing(), GitHubSettings(), None, NOW)
        closing = sync_issue(c, REPO, passing(), GitHubSettings(), None, NOW)
    assert action.action == "opened" and action.number != pr["number"]
    assert closing.number == action.number
    assert fake.comments(REPO, pr["number"]) == []
    assert fake.repo(REPO).issues[pr["number"]]["state"] == "open"


def test_unknown_assignee_still_opens_the_issue(fake: FakeGitHub) -> None:
    with client(fake) as c:
        action = sync_issue(c, REPO, failing(), GitHubSettings(assignees=["ghost-user"]), None, NOW)
    assert action.action == "opened"
    assert "could not assign ghost-user" in action.warnings[0]
    assert fake.issues(REPO)[0]["assignees"] == []


def test_a_lost_answer_to_create_does_not_open_a_second_issue(fake: FakeGitHub) -> None:
    fake.fail("POST", r"/issues$", 502, "Bad Gateway", after=True)
    with client(fake) as c:
        action = sync_issue(c, REPO, failing(), GitHubSettings(), None, NOW)
    assert action.action == "opened"
    assert len(fake.issues(REPO)) == 1


def test_a_create_that_never_happened_is_tried_again(fake: FakeGitHub) -> None:
    fake.fail("POST", r"/issues$", 502, "Bad Gateway")
    with client(fake) as c:
        action = sync_issue(c, REPO, failing(), GitHubSettings(), None, NOW)
    assert action.action == "opened"
    assert len(fake.issues(REPO)) == 1
    assert len(fake.calls("POST", r"/issues$")) == 2


# -- publish ----------------------------------------------------------------------------------


def actions_env(fake: FakeGitHub, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**fake.env(REPO), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "GITHUB_OUTPUT": str(tmp_path / "output"), **extra}


def test_publish_does_nothing_outside_github_actions(fake: FakeGitHub, tmp_path: Path) -> None:
    env = actions_env(fake, tmp_path, GITHUB_ACTIONS="false")
    out = io.StringIO()
    result = publish(failing(), env=env, stream=out, transport=fake.transport())
    assert not result.in_actions
    assert fake.calls() == [] and out.getvalue() == ""
    assert not (tmp_path / "summary.md").exists() and not (tmp_path / "output").exists()


def test_publish_writes_summary_outputs_annotations_and_opens_the_issue(fake: FakeGitHub, tmp_path: Path) -> None:
    out = io.StringIO()
    result = publish(failing(), env=actions_env(fake, tmp_path), stream=out, transport=fake.transport(), now=NOW)
    assert result.warnings == ()
    assert result.issue is not None and result.issue.action == "opened"
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("### ❌ pgdrill drill")
    assert "Post-mortem issue [#1](https://github.com/acme/shop/issues/1) opened." in summary
    output = (tmp_path / "output").read_text()
    for line in ("rto-seconds=252", "passed=false", "backup-id=20250301T031700000Z-abc", "issue-number=1",
                 "issue-url=https://github.com/acme/shop/issues/1"):
        assert line in output.splitlines()
    assert out.getvalue().splitlines() == [
        "::error title=pgdrill drill (production)::rows: public.orders 10 != 12 in manifest",
        "::error title=pgdrill drill (production)::migration head a1 != b2",
    ]
    # the run URL comes from the Actions environment when the job did not set one
    assert "[run 4242](https://github.com/acme/shop/actions/runs/4242)" in fake.issues(REPO)[0]["body"]


def test_permission_error_is_a_warning_with_the_fix(fake: FakeGitHub, tmp_path: Path) -> None:
    fake.tokens["ghs_read_only_token_0000000000"] = "read"
    env = actions_env(fake, tmp_path, GITHUB_TOKEN="ghs_read_only_token_0000000000")
    out = io.StringIO()
    result = publish(failing(), env=env, stream=out, transport=fake.transport())
    assert result.issue is None
    (warning,) = result.warnings
    assert "Resource not accessible by integration" in warning
    assert "permissions: issues: write" in warning
    assert "permissions: issues: write" in (tmp_path / "summary.md").read_text()
    assert "passed=false" in (tmp_path / "output").read_text()
    assert any(line.startswith("::warning title=pgdrill drill (production)::GitHub reporting:")
               for line in out.getvalue().splitlines())
    assert fake.issues(REPO) == []


def test_missing_token_warns_only_when_something_failed(fake: FakeGitHub, tmp_path: Path) -> None:
    env = actions_env(fake, tmp_path)
    del env["GITHUB_TOKEN"]
    failed = publish(failing(), env=env, stream=io.StringIO(), transport=fake.transport())
    assert "no GitHub token" in failed.warnings[0] and "github-token" in failed.warnings[0]
    ok = publish(passing(), env=env, stream=io.StringIO(), transport=fake.transport())
    assert ok.warnings == ()
    assert fake.calls() == []


def test_jobs_without_post_mortems_and_disabled_issues_make_no_calls(fake: FakeGitHub, tmp_path: Path) -> None:
    env = actions_env(fake, tmp_path)
    restore = Outcome(job="restore", passed=False, title="restore refused")
    assert publish(restore, env=env, stream=io.StringIO(), transport=fake.transport()).issue is None
    off = GitHubSettings(issues=False)
    assert publish(failing(), off, env=env, stream=io.StringIO(), transport=fake.transport()).issue is None
    assert fake.calls() == []
    assert (tmp_path / "summary.md").read_text().count("pgdrill") >= 2


def test_publish_never_raises(tmp_path: Path) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("transport exploded")

    env = {"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "ghs_x_token_1234567", "GITHUB_REPOSITORY": REPO,
           "GITHUB_STEP_SUMMARY": str(tmp_path / "no-such-dir" / "summary.md")}
    result = publish(failing(), env=env, stream=io.StringIO(), transport=httpx.MockTransport(broken))
    assert any("transport exploded" in w for w in result.warnings)
    assert any("job summary not written" in w for w in result.warnings)


def test_settings_reject_bad_input_with_one_clear_line() -> None:
    with pytest.raises(ValueError, match="needs at least one label"):
        GitHubSettings(labels=[])
    with pytest.raises(ValueError, match="must look like owner/name"):
        GitHubSettings(repository="not a repo")
    with pytest.raises(ValueError, match="is not a GitHub login"):
        GitHubSettings(assignees=["bad login!"])
    with pytest.raises(ValueError, match="teams can be mentioned, not assigned"):
        GitHubSettings(assignees=["acme/dba"])
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        GitHubSettings.model_validate({"lables": ["x"]})
    assert GitHubSettings(labels=["ops", "db-{job}"]).labels_for("backup") == ["ops", "db-backup"]
    assert "secret-token" not in repr(GitHubSettings(token="secret-token-123"))


def test_publish_caps_annotations_per_level(fake: FakeGitHub, tmp_path: Path) -> None:
    outcome = failing(failures=[f"check {i} failed" for i in range(25)], warnings=[f"warn {i}" for i in range(12)])
    out = io.StringIO()
    result = publish(outcome, GitHubSettings(issues=False), env=actions_env(fake, tmp_path), stream=out)
    lines = out.getvalue().splitlines()
    errors = [x for x in lines if x.startswith("::error ")]
    warnings = [x for x in lines if x.startswith("::warning ")]
    assert len(errors) == len(warnings) == 10 == result.annotations // 2
    assert errors[-1].endswith("…and 16 more failed checks (25 in total); see the job summary for all of them")
    assert warnings[-1].endswith("…and 3 more warnings (12 in total); see the job summary for all of them")


def test_failure_comments_on_the_oldest_copy_and_recovery_closes_every_copy(fake: FakeGitHub) -> None:
    labels = ("pgdrill", "pgdrill:drill")
    first = fake.add_issue(REPO, "copy 1", marker("drill", "production"), labels)
    second = fake.add_issue(REPO, "copy 2", marker("drill", "production"), labels)
    with client(fake) as c:
        assert sync_issue(c, REPO, failing(), GitHubSettings(), None, NOW).number == first["number"]
        closed = sync_issue(c, REPO, passing(), GitHubSettings(), None, NOW)
    assert closed.number == first["number"]
    assert [i["state"] for i in fake.issues(REPO)] == ["closed", "closed"]
    assert len(fake.comments(REPO, first["number"])) == 2 and len(fake.comments(REPO, second["number"])) == 1
