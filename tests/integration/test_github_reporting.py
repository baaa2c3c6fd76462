"""GitHub reporting end to end: separate pgdrill processes against the stand-in API over real HTTP.

Each run is its own ``python`` process, as each CI run is, so nothing carries over between runs
except what GitHub (the stand-in) keeps: that is what makes open → comment → close real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from support.github_server import FakeGitHub

REPO = "acme/shop"
DB_PASSWORD = "Pg-S3cr3t-9f8e7d"
LATE_SECRET = "age-identity-AGE-SECRET-KEY-1XYZ"

# What the CLI does around a command: masks first, the job (which registers more secrets as it
# parses URLs and keys), then publish() with whatever Outcome the job produced.
ENTRY = """
import dataclasses, json, os, sys
from pgdrill.report.github import GitHubSettings, mask_secrets_early, publish
mask_secrets_early(os.environ)
from pgdrill import secrets
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.report.outcome import Outcome
DatabaseUrl.parse(os.environ["PGDRILL_DATABASE_URL"])
secrets.register(os.environ["LATE_SECRET"])
outcome = Outcome.from_dict(json.loads(open(sys.argv[1]).read()))
settings = GitHubSettings.model_validate(json.loads(os.environ.get("SETTINGS") or "{}"))
result = publish(outcome, settings)
print("RESULT " + json.dumps(dataclasses.asdict(result)))
sys.exit(0 if outcome.passed else 1)
"""


def leaky(passed: bool, environment: str = "production", **kw: Any) -> dict[str, Any]:
    """An Outcome that (by a job's mistake) carries secrets everywhere a secret could hide."""
    url = f"postgresql://app:{DB_PASSWORD}@db.internal:5432/app"
    outcome: dict[str, Any] = {
        "job": "drill",
        "passed": passed,
        "environment": environment,
        "title": f"drill {'passed' if passed else 'failed'} against {url}",
        "markdown": f"### pgdrill drill\n\nrestored from {url}\n\nkey {LATE_SECRET}\n",
        "failures": [] if passed else [f"rows: orders 10 != 12 ({url})", f"smoke: exit 1 with {LATE_SECRET}"],
        "warnings": [],
        "outputs": {"rto-seconds": "252", "report": f"multi\nline {DB_PASSWORD}"},
        "backup_id": "20250301T031700000Z-abc",
        "details": {"RTO": "4m 12s (target 30m)", "Source": url},
    }
    outcome.update(kw)
    return outcome


class Runner:
    def __init__(self, fake: FakeGitHub, tmp_path: Path) -> None:
        self.fake = fake
        self.tmp = tmp_path
        self.script = tmp_path / "run_publish.py"
        self.script.write_text(ENTRY)
        self.runs = 0

    def run(self, outcome: dict[str, Any], **env_overrides: str | None) -> tuple[int, list[str], dict[str, Any], Path]:
        self.runs += 1
        run_dir = self.tmp / f"run{self.runs}"
        run_dir.mkdir()
        (run_dir / "outcome.json").write_text(json.dumps(outcome))
        env = {
            "PATH": os.environ.get("PATH", ""),
            **self.fake.env(REPO),
            "GITHUB_RUN_ID": str(1000 + self.runs),
            "GITHUB_STEP_SUMMARY": str(run_dir / "summary.md"),
            "GITHUB_OUTPUT": str(run_dir / "output"),
            "PGDRILL_DATABASE_URL": f"postgresql://app:{DB_PASSWORD}@db.internal:5432/app",
            "LATE_SECRET": LATE_SECRET,
        }
        for key, value in env_overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        proc = subprocess.run(
            [sys.executable, str(self.script), str(run_dir / "outcome.json")],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        # stdout stays pgdrill's data; workflow commands go to the log on stderr, which the
        # runner reads commands from as well
        (result_line,) = proc.stdout.splitlines()
        result = json.loads(result_line.removeprefix("RESULT "))
        return proc.returncode, proc.stderr.splitlines(), result, run_dir


@pytest.fixture
def runner(github_server: FakeGitHub, tmp_path: Path) -> Runner:
    return Runner(github_server, tmp_path)


def assert_no_secret_escaped(fake: FakeGitHub, run_dirs: list[Path], *logs: list[str]) -> None:
    sent = fake.sent_text()
    for secret in (DB_PASSWORD, LATE_SECRET):
        assert secret not in sent
        for run_dir in run_dirs:
            for name in ("summary.md", "output"):
                path = run_dir / name
                if path.exists():
                    assert secret not in path.read_text(), f"{secret} leaked into {path}"
    # the log may only name a secret inside ::add-mask:: (the runner hides those lines), and the
    # masks must come before any other line of the run
    for log in logs:
        first_other = next((i for i, x in enumerate(log) if not x.startswith("::add-mask::")), len(log))
        for i, line in enumerate(log):
            if DB_PASSWORD in line or LATE_SECRET in line:
                assert line.startswith("::add-mask::") and i < first_other, line


def test_lifecycle_open_comment_close_across_runs(runner: Runner, github_server: FakeGitHub) -> None:
    rc1, out1, res1, dir1 = runner.run(leaky(False))
    assert rc1 == 1  # the verdict is the job's: reporting never turns a failure into success
    assert res1["issue"]["action"] == "opened" and res1["warnings"] == []
    (issue,) = github_server.issues(REPO)
    assert issue["state"] == "open"
    assert {lb["name"] for lb in issue["labels"]} == {"pgdrill", "pgdrill:drill"}
    assert issue["body"].startswith("<!-- pgdrill:drill:production -->")
    assert "[run 1001](https://github.com/acme/shop/actions/runs/1001)" in issue["body"]

    rc2, out2, res2, dir2 = runner.run(leaky(False, failures=["migration head a1 != b2"]))
    assert rc2 == 1
    assert (res2["issue"]["action"], res2["issue"]["number"]) == ("commented", issue["number"])
    assert len(github_server.issues(REPO)) == 1

    rc3, out3, res3, dir3 = runner.run(leaky(True))
    assert rc3 == 0
    assert (res3["issue"]["action"], res3["issue"]["number"]) == ("closed", issue["number"])
    (closed,) = github_server.issues(REPO)
    assert (closed["state"], closed["state_reason"]) == ("closed", "completed")
    comments = github_server.comments(REPO, issue["number"])
    assert comments[0]["body"].startswith("### ❌ Failed again: drill failed")
    assert comments[1]["body"].startswith("### ✅ Recovered: drill passed")
    assert "migration head a1 != b2" in comments[0]["body"]
    assert "[run 1003]" in comments[1]["body"]

    rc4, _, res4, _ = runner.run(leaky(True))
    assert rc4 == 0 and res4["issue"]["action"] == "none"

    for request in github_server.calls():
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["authorization"] == f"Bearer {github_server.token}"
    assert_no_secret_escaped(github_server, [dir1, dir2, dir3], out1, out2, out3)


def test_summary_outputs_annotations_and_masks_from_a_real_process(runner: Runner, github_server: FakeGitHub) -> None:
    rc, out, result, run_dir = runner.run(leaky(False))
    assert rc == 1
    masks = [x for x in out if x.startswith("::add-mask::")]
    assert f"::add-mask::{DB_PASSWORD}" in masks and f"::add-mask::{LATE_SECRET}" in masks
    assert f"::add-mask::{github_server.token}" in masks
    errors = [x for x in out if x.startswith("::error ")]
    assert errors == [
        # the whole URL was registered as a secret when pgdrill parsed it
        "::error title=pgdrill drill (production)::rows: orders 10 != 12 (***)",
        "::error title=pgdrill drill (production)::smoke: exit 1 with ***",
    ]
    summary = (run_dir / "summary.md").read_text()
    assert summary.startswith("### pgdrill drill\n\nrestored from ***\n\nkey ***\n")
    assert "Post-mortem issue [#1](https://github.com/acme/shop/issues/1) opened." in summary
    output = (run_dir / "output").read_text()
    assert "rto-seconds=252\n" in output and "passed=false\n" in output and "issue-number=1\n" in output
    assert "report<<ghadelimiter_" in output and "line ***\n" in output
    assert result["outputs"] == ["rto-seconds", "report", "passed", "backup-id", "issue-number", "issue-url"]
    assert_no_secret_escaped(github_server, [run_dir], out)


def test_dedupe_by_marker_among_labelled_issues_and_pull_requests(runner: Runner, github_server: FakeGitHub) -> None:
    labels = ("pgdrill", "pgdrill:drill")
    github_server.max_per_page = 2  # the marked issue is on the third page
    github_server.add_issue(REPO, "PR that quotes the marker", "<!-- pgdrill:drill:production -->", labels,
                            pull_request=True)
    for i in range(4):
        github_server.add_issue(REPO, f"drill notes {i}", "labelled, but not pgdrill's", labels)
    github_server.add_issue(REPO, "staging drill", "<!-- pgdrill:drill:staging -->", labels)
    ours = github_server.add_issue(REPO, "pgdrill drill failing on production",
                                   "<!-- pgdrill:drill:production -->\nfirst failure", labels)
    github_server.add_issue(REPO, "closed old one", "<!-- pgdrill:drill:production -->", labels, state="closed")

    _, _, result, _ = runner.run(leaky(False))
    assert (result["issue"]["action"], result["issue"]["number"]) == ("commented", ours["number"])
    pages = [r.query.get("page", ["1"])[0] for r in github_server.calls("GET", r"/issues$")]
    assert pages == ["1", "2", "3", "4"]
    commented = [n for n, cs in github_server.repo(REPO).comments.items() if cs]
    assert commented == [ours["number"]]


def test_a_labelled_pull_request_is_never_taken_for_the_issue(runner: Runner, github_server: FakeGitHub) -> None:
    pr = github_server.add_issue(REPO, "PR", "<!-- pgdrill:drill:production -->", ("pgdrill", "pgdrill:drill"),
                                 pull_request=True)
    _, _, opened, _ = runner.run(leaky(False))
    assert opened["issue"]["action"] == "opened" and opened["issue"]["number"] != pr["number"]
    _, _, closed, _ = runner.run(leaky(True))
    assert closed["issue"]["number"] == opened["issue"]["number"]
    assert github_server.repo(REPO).issues[pr["number"]]["state"] == "open"
    assert github_server.comments(REPO, pr["number"]) == []


def test_missing_issues_permission_is_a_warning_not_a_crash(runner: Runner, github_server: FakeGitHub) -> None:
    github_server.tokens["ghs_read_only_token_000000000000"] = "read"
    rc, out, result, run_dir = runner.run(leaky(False), GITHUB_TOKEN="ghs_read_only_token_000000000000")
    assert rc == 1  # same verdict as with a working token
    assert result["issue"] is None
    (warning,) = result["warnings"]
    assert "Resource not accessible by integration" in warning and "permissions: issues: write" in warning
    assert "permissions: issues: write" in (run_dir / "summary.md").read_text()
    assert any(x.startswith("::warning ") and "permissions: issues: write" in x for x in out)
    assert "passed=false" in (run_dir / "output").read_text()
    assert github_server.issues(REPO) == []
    assert_no_secret_escaped(github_server, [run_dir], out)


def test_secondary_rate_limit_is_waited_out(runner: Runner, github_server: FakeGitHub) -> None:
    github_server.fail("POST", r"/repos/acme/shop/issues$", 403,
                       "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                       headers={"Retry-After": "1"})
    started = time.monotonic()
    _, _, result, _ = runner.run(leaky(False))
    assert time.monotonic() - started >= 1.0
    assert result["issue"]["action"] == "opened" and result["warnings"] == []
    assert len(github_server.issues(REPO)) == 1
    statuses = [r.status for r in github_server.calls("POST", r"/issues$")]
    assert statuses == [403, 201]


def test_server_errors_are_retried_and_a_lost_create_is_not_duplicated(
    runner: Runner, github_server: FakeGitHub
) -> None:
    github_server.fail("GET", r"/issues$", 502, "Server Error", times=2)
    github_server.fail("POST", r"/repos/acme/shop/issues$", 502, "Server Error", after=True)
    _, _, result, _ = runner.run(leaky(False))
    assert result["issue"]["action"] == "opened" and result["warnings"] == []
    assert len(github_server.issues(REPO)) == 1


def test_unreachable_api_is_a_warning(runner: Runner) -> None:
    settings = json.dumps({"max_retries": 1})
    rc, _, result, run_dir = runner.run(leaky(False), GITHUB_API_URL="http://127.0.0.1:9", SETTINGS=settings)
    assert rc == 1
    assert "GitHub API unreachable" in result["warnings"][0]
    assert "GitHub API unreachable" in (run_dir / "summary.md").read_text()


def test_without_a_token_nothing_is_sent(runner: Runner, github_server: FakeGitHub) -> None:
    rc, _, result, run_dir = runner.run(leaky(False), GITHUB_TOKEN=None)
    assert rc == 1
    assert "no GitHub token" in result["warnings"][0]
    assert github_server.calls() == []
    assert (run_dir / "summary.md").exists()


def test_outside_github_actions_only_the_verdict_remains(runner: Runner, github_server: FakeGitHub) -> None:
    rc, out, result, run_dir = runner.run(leaky(False), GITHUB_ACTIONS=None)
    assert rc == 1 and result["in_actions"] is False
    assert github_server.calls() == []
    assert not (run_dir / "summary.md").exists() and not (run_dir / "output").exists()
    assert not any(x.startswith("::") for x in out)
