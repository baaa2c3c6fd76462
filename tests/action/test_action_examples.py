"""The example workflows (examples/workflows/) and the workflow snippets of README.md and docs/*.md,
run by the real workflow runner as a user's repository would run them.

Each runs as written, with what GitHub would provide around it: the secrets the example's header
names, a GitHub token that can write issues only when the workflow grants `issues: write`, an OIDC
token only when it grants `id-token: write` (the runner's ACTIONS_ID_TOKEN_REQUEST_* variables,
which the credentials stand-in requires, as the real action does), and S3: a local S3-compatible
server at AWS_ENDPOINT_URL with the examples' bucket. The one change (act_runner.for_act): act has
no service containers, so a call of the reusable drill workflow also passes `scratch-url`.

The runs share one store, in the order a user would set them up: nightly backup, pre-deploy gate,
monthly drill (which needs the backups), hourly monitor (which needs the drill).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pyrage
import pytest
import yaml
from act_runner import Act, ActResult, example_workflows, url_text
from gh_permissions import grants
from snippets import EXAMPLES, example_of, is_excerpt, snippets

from pgdrill.pg.conn import DatabaseUrl

from support.github_server import FakeGitHub
from support.postgres import PgServer
from support.s3 import S3Server, start_s3_server

BUCKET = "acme-backups"
PREFIX = "prod"
ROLE = "arn:aws:iam::123456789012:role/pgdrill-backup"
REPO = "acme/shop"
READ_TOKEN = "ghs_test_token_read_examples_0000"


# -- snippets are excerpts of the examples -------------------------------------------------------


def test_excerpt_rule() -> None:
    example = {"steps": [{"uses": "a", "with": {"x": 1, "y": 2}}, {"uses": "b"}]}
    assert is_excerpt({"steps": [{"uses": "b"}]}, example)
    assert is_excerpt({"steps": [{"uses": "a", "with": {"y": 2}}, {"uses": "b"}]}, example)
    assert not is_excerpt({"steps": [{"uses": "b"}, {"uses": "a"}]}, example)  # order kept
    assert not is_excerpt({"steps": [{"uses": "a", "with": {"x": "1"}}]}, example)  # nothing changed
    assert not is_excerpt({"steps": [{"uses": "c"}]}, example)  # nothing added


@pytest.mark.parametrize("snippet", [s for s in snippets() if s.is_workflow], ids=lambda s: s.where)
def test_every_workflow_snippet_is_an_excerpt_of_an_example(snippet: Any) -> None:
    assert example_of(snippet) is not None, (
        f"{snippet.where}: this YAML is not an excerpt of any of examples/workflows/*.yml: copy it from one")


def test_the_other_yaml_snippets_are_pgdrill_yml() -> None:
    others = [s for s in snippets() if not s.is_workflow]
    assert others and all(s.document.name in ("config.md", "fleet.md") for s in others), [s.where for s in others]


def test_the_readme_has_a_whole_workflow_that_runs_here() -> None:
    names = set(example_workflows())
    assert {f"example-{p.name}" for p in EXAMPLES} <= names
    readme = [s for s in snippets() if s.document.name == "README.md" and s.is_whole_workflow]
    assert readme and all(f"snippet-readme-{s.line}.yml" in names for s in readme)


# -- running them ----------------------------------------------------------------------------


@dataclass
class Setting:
    """What GitHub and the user's account provide around the workflows."""

    act: Act
    pg: PgServer
    database: DatabaseUrl
    s3: S3Server
    github: FakeGitHub
    identity: str
    recipient: str
    runs: dict[str, ActResult] = field(default_factory=dict)

    def run(self, name: str) -> ActResult:
        text = example_workflows()[name]
        workflow = yaml.safe_load(text)
        env = {"AWS_ENDPOINT_URL": self.s3.endpoint, "GITHUB_API_URL": self.github.url, "GITHUB_REPOSITORY": REPO}
        if grants(workflow, "id-token"):
            env.update({"ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.github.url}/_oidc",
                        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-request-token-standin"})
        token = self.github.token if grants(workflow, "issues") else READ_TOKEN
        r = self.act.run(name, env=env, secrets={
            "DATABASE_URL": url_text(self.database), "AWS_ROLE_ARN": ROLE, "BACKUP_AGE_RECIPIENT": self.recipient,
            "BACKUP_AGE_IDENTITY": self.identity, "SCRATCH_URL": url_text(self.pg.admin_url), "GITHUB_TOKEN": token,
        })
        self.runs[name] = r
        return r

    def backups(self) -> dict[str, dict[str, Any]]:
        client = self.s3.client()
        found = {}
        for obj in client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/backups/").get("Contents", []):
            if obj["Key"].endswith("/manifest.json"):
                doc = json.loads(client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
                found[doc["id"]] = doc
        return found

    def drills(self) -> list[str]:
        objects = self.s3.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/drills/").get("Contents", [])
        return [o["Key"] for o in objects]


@pytest.fixture(scope="module")
def setting(act: Act, pg: PgServer) -> Iterator[Setting]:
    database = pg.create_database()
    with psycopg.connect(database.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL)")
        conn.execute("INSERT INTO customers (email) SELECT 'c' || g || '@example.com' FROM generate_series(1, 60) g")
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric)")
        conn.execute("INSERT INTO orders (customer_id, total) SELECT 1 + g % 60, g FROM generate_series(1, 300) g")
    s3 = start_s3_server()
    s3.create_bucket(BUCKET)
    github = FakeGitHub().start()
    github.tokens[READ_TOKEN] = "read"
    identity = pyrage.x25519.Identity.generate()
    try:
        yield Setting(act, pg, database, s3, github, str(identity), str(identity.to_public()))
    finally:
        github.stop()
        s3.stop()
        pg.drop_database(database.dbname)


def _succeeded(r: ActResult) -> None:
    assert r.code == 0, r.explain()
    jobs = {e["jobID"] for e in r.events if "jobResult" in e}
    assert jobs and all(r.job_result(j) == "success" for j in jobs), r.explain()


def _assumed_the_role(r: ActResult, role: str | None = None) -> None:
    """``role`` written in the workflow; else it came from the AWS_ROLE_ARN secret, shown as ***."""
    assert f"configure-aws-credentials stand-in: assumed {role or '***'} in eu-west-1" in r.text, r.explain()
    if role is None:
        assert ROLE not in r.without_mask_commands()


def test_nightly_backup_example(setting: Setting) -> None:
    r = setting.run("example-nightly-backup.yml")
    _succeeded(r)
    _assumed_the_role(r)
    backup_id = r.outputs("backup", job="backup")["backup-id"]
    backups = setting.backups()
    assert backup_id in backups
    manifest = backups[backup_id]
    assert manifest["encryption"]["recipients"] == [setting.recipient], manifest.get("encryption")
    assert manifest["tables"] == {"public.customers": 60, "public.orders": 300}
    assert f"Stored backup {backup_id}" in r.log(job="backup")
    # the check step ran first, found the set-up ready, and its permission probe opened nothing
    assert "pgdrill check: ready" in r.summary("check", job="backup")
    assert r.outputs("check", job="backup")["passed"] == "true"
    assert [c.status for c in setting.github.calls("POST")] in ([], [422])
    assert setting.github.issues(REPO) == []


def test_readme_nightly_snippet_runs_as_pasted(setting: Setting) -> None:
    readme = [name for name in example_workflows() if name.startswith("snippet-readme-")]
    assert readme
    for name in readme:
        before = set(setting.backups())
        r = setting.run(name)
        _succeeded(r)
        _assumed_the_role(r)
        new = set(setting.backups()) - before
        assert len(new) == 1, (name, new)


def test_pre_deploy_example(setting: Setting) -> None:
    r = setting.run("example-pre-deploy.yml")
    _succeeded(r)
    _assumed_the_role(r)
    backup_id = r.outputs("gate", job="gate")["backup-id"]
    assert "pre-deploy" in setting.backups()[backup_id]["tags"]
    assert "| ✅ | release check | exit 0" in r.summary("gate", job="gate")  # ./scripts/release-check.sh ran
    assert "deploying the app" in r.log(job="deploy")
    assert not r.ran("Rollback hint", job="deploy")


def test_monthly_drill_example(setting: Setting) -> None:
    if not setting.backups():
        test_nightly_backup_example(setting)
    r = setting.run("example-monthly-drill.yml")
    _succeeded(r)
    # through the reusable workflow, whose caller grants id-token: write
    _assumed_the_role(r, "arn:aws:iam::123456789012:role/pgdrill-drill")
    outputs = r.outputs("drill", job="drill")
    assert outputs["passed"] == "true", outputs
    newest = max(setting.backups())
    assert outputs["backup-id"] == newest
    assert setting.drills(), "no drill record in the store"
    assert "RTO" in r.summary("drill", job="drill")


def test_hourly_monitor_example(setting: Setting) -> None:
    if not setting.drills():
        test_monthly_drill_example(setting)
    r = setting.run("example-hourly-monitor.yml")
    _succeeded(r)
    _assumed_the_role(r)
    outputs = r.outputs("Check backup freshness and anomalies", job="monitor") or r.outputs("2", job="monitor")
    assert outputs.get("passed") == "true", (outputs, r.summary("2", job="monitor"))
