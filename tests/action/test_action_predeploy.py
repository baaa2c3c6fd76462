"""The pre-deploy gate (reusable predeploy workflow → predeploy action) blocks the deploy job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from act_runner import Act, url_text

from pgdrill.pg.conn import DatabaseUrl

from support.postgres import PgServer
from support.runner import pgdrill_process


@pytest.fixture(scope="module")
def app_db(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL)")
        conn.execute("INSERT INTO accounts SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 30) g")
    yield url
    pg.drop_database(url.dbname)


def _tags(store: str, backup_id: str) -> list[str]:
    r = pgdrill_process("list", "--store", store, "--json")
    assert r.code == 0, r.text
    return next(b["tags"] for b in r.json()["backups"] if b["id"] == backup_id)


def test_failing_release_check_blocks_the_deploy(act: Act, app_db: DatabaseUrl, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    check = "echo 'release check: 2 migrations are not reversible' >&2; exit 1"
    r = act.run("t-predeploy.yml", inputs={"store": store, "release-check": check},
                secrets={"DATABASE_URL": url_text(app_db)})

    assert r.code != 0, r.explain()
    assert r.job_result("gate") == "failure"
    assert r.result("gate", job="gate") == "failure"
    # the deploy job never started, so its step never ran
    assert r.job_result("deploy") is None
    assert not r.ran("deploy", job="deploy")
    assert "DEPLOYING" not in r.text

    outputs = r.outputs("gate", job="gate")
    assert outputs["passed"] == "false", outputs
    assert outputs["exit-code"] == "1", outputs
    # the backup was still taken and tagged: it is the rollback point of the next attempt
    backup_id = outputs["backup-id"]
    assert "pre-deploy" in _tags(store, backup_id)
    assert backup_id in outputs["rollback-command"]
    summary = r.summary("gate", job="gate")
    assert "release check" in summary.lower()
    assert "not reversible" in summary


def test_passing_gate_lets_the_deploy_run_with_the_backup_id(act: Act, app_db: DatabaseUrl, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    r = act.run("t-predeploy.yml", inputs={"store": store, "release-check": "echo release ok"},
                secrets={"DATABASE_URL": url_text(app_db)})

    assert r.code == 0, r.explain()
    assert r.job_result("gate") == "success"
    assert r.job_result("deploy") == "success"
    backup_id = r.outputs("gate", job="gate")["backup-id"]
    assert f"DEPLOYING with rollback point {backup_id}" in r.log("deploy", job="deploy")
    assert "pre-deploy" in _tags(store, backup_id)
