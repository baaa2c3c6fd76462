"""Reusable workflows and the permissions their callers grant.

GitHub's rule: a job of a called workflow gets the permissions its own `permissions:` key (or the
called workflow's top-level key) asks for, and GitHub refuses the whole run when that is more than
the calling job grants ("The nested job 'drill' is requesting 'id-token: write', but is only
allowed 'id-token: none'"); a job that asks for nothing gets exactly what the caller grants. The
static tests encode that rule over every reusable workflow and every workflow that calls one; the
runner test calls the drill workflow from a job that grants only `contents: read`: no OIDC step
(a warning instead), no issue (a warning in the summary, not a failure), and the drill's own
verdict decides the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from act_runner import Act, url_text
from gh_permissions import LEVELS, SELF_WORKFLOW, effective, granted, permissions, violations
from test_action_files import WORKFLOW_FILES, _rel

from support.github_server import FakeGitHub
from support.postgres import PgServer
from support.runner import pgdrill_process

ROOT = Path(__file__).resolve().parents[2]
REUSABLE = sorted(p for p in (ROOT / ".github" / "workflows").glob("*.yml")
                  if "workflow_call" in (yaml.safe_load(p.read_text()).get(True) or {}))
def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def test_the_rule_refuses_what_github_refuses() -> None:
    """The drill workflow as it was (its job asked for issues and id-token) against a caller that
    grants contents: read: GitHub's refusal, word for word."""
    old = {"jobs": {"drill": {"permissions": {"contents": "read", "issues": "write", "id-token": "write"}}}}
    caller = granted({}, {"permissions": {"contents": "read"}})
    assert violations(caller, old) == [
        "The nested job 'drill' is requesting 'id-token: write', but is only allowed 'id-token: none'.",
        "The nested job 'drill' is requesting 'issues: write', but is only allowed 'issues: none'.",
    ]
    assert violations(granted({}, {"permissions": "write-all"}), old) == []
    # a top-level key in the called workflow counts for every job that has none
    assert violations(caller, {"permissions": {"issues": "write"}, "jobs": {"x": {}}})
    with pytest.raises(ValueError, match="unknown permission scope"):
        permissions({"isues": "write"})


def test_there_are_reusable_workflows() -> None:
    assert {p.name for p in REUSABLE} == {"drill.yml", "predeploy.yml", "fleet.yml"}


@pytest.mark.parametrize("path", REUSABLE, ids=_rel)
def test_reusable_workflow_runs_for_a_caller_granting_only_contents_read(path: Path) -> None:
    called = _load(path)
    minimal = permissions({"contents": "read"})
    assert minimal is not None
    assert violations(minimal, called) == []


@pytest.mark.parametrize("path", REUSABLE, ids=_rel)
def test_reusable_workflow_uses_all_a_generous_caller_grants(path: Path) -> None:
    """Asking for nothing must not mean getting nothing: a top-level `permissions:` in the called
    workflow would cut issues and id-token off even for a caller that grants them."""
    called = _load(path)
    generous = permissions({"contents": "read", "issues": "write", "id-token": "write"})
    assert generous is not None
    for job in called["jobs"]:
        got = effective(generous, called, job)
        assert got["issues"] == LEVELS["write"] and got["id-token"] == LEVELS["write"], job


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_rel)
def test_every_call_of_a_reusable_workflow_is_allowed(path: Path) -> None:
    workflow = _load(path)
    for name, job in (workflow.get("jobs") or {}).items():
        m = SELF_WORKFLOW.match(str(job.get("uses", "")))
        if not m:
            continue
        called = _load(ROOT / ".github" / "workflows" / m.group("file"))
        assert violations(granted(workflow, job), called) == [], f"{_rel(path)}: job {name}"


# -- the runner --------------------------------------------------------------------------------

READ_TOKEN = "ghs_test_token_read_0123456789ab"


@pytest.fixture
def read_only_github(github_server: FakeGitHub) -> FakeGitHub:
    github_server.tokens[READ_TOKEN] = "read"
    return github_server


@pytest.mark.parametrize("verdict", ["pass", "fail"])
def test_drill_workflow_for_a_caller_granting_only_contents_read(
        act: Act, pg: PgServer, tmp_path: Path, read_only_github: FakeGitHub, verdict: str) -> None:
    url = pg.create_database()
    try:
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY)")
            conn.execute("INSERT INTO orders SELECT generate_series(1, 20)")
        store = str(tmp_path / "store")
        backup = pgdrill_process("backup", "--database-url", url_text(url), "--store", store)
        assert backup.code == 0, backup.text
    finally:
        pg.drop_database(url.dbname)
    expect = 20 if verdict == "pass" else 21
    config = tmp_path / "pgdrill.yml"
    config.write_text(yaml.safe_dump({"checks": {"sql": [
        {"name": "orders", "sql": "SELECT count(*) FROM orders", "expect": expect}]}}))

    r = act.run("t-drill-readonly.yml", inputs={"store": store, "config": str(config)},
                secrets={"SCRATCH_URL": url_text(pg.admin_url), "GITHUB_TOKEN": READ_TOKEN},
                env={"GITHUB_API_URL": read_only_github.url, "GITHUB_REPOSITORY": "acme/shop"})

    # no OIDC token: the credentials step is skipped with a warning, not run and failed
    assert not r.ran("AWS credentials (OIDC)", job="drill") and "configure-aws-credentials stand-in" not in r.text
    assert "has no OIDC token" in r.text and "id-token: write" in r.text, r.explain()
    outputs = r.outputs("drill", job="drill")
    if verdict == "pass":
        assert r.code == 0 and r.job_result("drill") == "success", r.explain()
        assert outputs["passed"] == "true" and outputs["exit-code"] == "0"
        assert read_only_github.calls("POST") == []
        return
    # the drill's verdict decides the job (exit 1), not the issue it could not open (that would be 3)
    assert r.job_result("drill") == "failure"
    assert outputs["passed"] == "false" and outputs["exit-code"] == "1", outputs
    refused = read_only_github.calls("POST", r"^/repos/acme/shop/issues$")
    assert [c.status for c in refused] == [403]
    assert read_only_github.issues("acme/shop") == []
    summary = r.summary("drill", job="drill")
    assert "post-mortem issue not updated" in summary and "(403)" in summary and "issues: write" in summary, summary
    assert not outputs.get("issue-url")
