"""The reusable drill workflow (.github/workflows/drill.yml → drill action) run by a real runner.

act ignores ``services:``, so the scratch server is the test's own PostgreSQL, passed through the
workflow's ``scratch-url`` secret exactly as a user with an external scratch server would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from act_runner import Act, ActResult, url_text

from pgdrill.pg.conn import DatabaseUrl

from support.github_server import FakeGitHub
from support.postgres import PgServer
from support.runner import pgdrill_process

REPO = "acme/shop"


@pytest.fixture(scope="module")
def drilled_store(pg: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local store with one backup of a small shop database."""
    url: DatabaseUrl = pg.create_database()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL)")
        conn.execute("INSERT INTO orders (total) SELECT g * 2 FROM generate_series(1, 120) g")
    store = str(tmp_path_factory.mktemp("drill-store") / "store")
    r = pgdrill_process("backup", "--database-url", url_text(url), "--store", store, "--tag", "nightly")
    assert r.code == 0, r.text
    yield store
    pg.drop_database(url.dbname)


def _config(path: Path, sql: list[dict[str, object]]) -> str:
    path.write_text(yaml.safe_dump({"checks": {"sql": sql}}))
    return str(path)


def _run(act: Act, pg: PgServer, store: str, config: str, github: FakeGitHub) -> ActResult:
    return act.run(
        "t-drill.yml",
        inputs={"store": store, "config": config},
        secrets={"SCRATCH_URL": url_text(pg.admin_url), "GITHUB_TOKEN": github.token},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": REPO},
    )


def test_drill_workflow_passes_with_rto_and_rpo(act: Act, pg: PgServer, drilled_store: str, tmp_path: Path,
                                                github_server: FakeGitHub) -> None:
    config = _config(tmp_path / "pgdrill.yml", [
        {"name": "all orders restored", "sql": "SELECT count(*) FROM orders", "expect": 120},
    ])
    r = _run(act, pg, drilled_store, config, github_server)

    assert r.code == 0, r.explain()
    assert r.job_result("drill") == "success"
    outputs = r.outputs("drill", job="drill")
    assert outputs["passed"] == "true", outputs
    assert float(outputs["rto-seconds"]) > 0, outputs
    assert float(outputs["rpo-seconds"]) >= 0, outputs
    assert outputs["backup-id"], outputs
    # the workflow's outputs reach the calling job
    shown = r.log("show", job="report")
    assert "passed=true" in shown
    assert f"rto={outputs['rto-seconds']}" in shown
    assert f"backup-id={outputs['backup-id']}" in shown

    summary = r.summary("drill", job="drill")
    assert "all orders restored" in summary
    assert "RTO" in summary and "RPO" in summary
    # the Markdown report was written under RUNNER_TEMP (the runner removes it with the job)
    assert outputs["report-path"].startswith(str(act.home)) and outputs["report-path"].endswith(".md")
    assert "--report " + outputs["report-path"] in r.log("drill", "run", job="drill")
    # a passing drill with no open issue has nothing to tell GitHub
    assert github_server.calls("POST") == []
    # the scratch database is gone
    assert not [d for d in pg.databases() if d.startswith("pgdrill_drill_")]


def test_drill_workflow_fails_explains_why_and_opens_an_issue(act: Act, pg: PgServer, drilled_store: str,
                                                              tmp_path: Path, github_server: FakeGitHub) -> None:
    config = _config(tmp_path / "pgdrill.yml", [
        {"name": "no big orders", "sql": "SELECT * FROM orders WHERE total > 100", "no_rows": True},
    ])
    r = _run(act, pg, drilled_store, config, github_server)

    assert r.code != 0, r.explain()
    assert r.job_result("drill") == "failure"
    assert r.result("drill", job="drill") == "failure"
    outputs = r.outputs("drill", job="drill")
    assert outputs["passed"] == "false", outputs
    assert outputs["exit-code"] == "1", outputs

    summary = r.summary("drill", job="drill")
    assert "no big orders" in summary, summary
    assert "FAIL" in summary.upper()

    created = github_server.calls("POST", f"^/repos/{REPO}/issues$")
    assert len(created) == 1, [c.path for c in github_server.requests]
    issue = github_server.issues(REPO)[0]
    assert "no big orders" in issue["body"]
    assert outputs["issue-url"] == issue["html_url"]
    assert not [d for d in pg.databases() if d.startswith("pgdrill_drill_")]
