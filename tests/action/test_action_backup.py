"""The backup action (./backup) run by a real workflow runner, into a local folder and into S3."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from act_runner import Act, project_venv, url_text

from pgdrill.pg.conn import DatabaseUrl

from support.postgres import PgServer
from support.runner import pgdrill_process
from support.s3 import S3Server


@pytest.fixture(scope="module")
def shop(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, total numeric NOT NULL)")
        conn.execute("INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 250) g")
        conn.execute("CREATE TABLE customers (id serial PRIMARY KEY, name text)")
        conn.execute("INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 40) g")
    yield url
    pg.drop_database(url.dbname)


def _listed(store: str, env: dict[str, str] | None = None) -> list[str]:
    r = pgdrill_process("list", "--store", store, "--json", env=env)
    assert r.code == 0, r.text
    doc = json.loads(r.out)
    return [b["id"] for b in doc["backups"]]


@pytest.mark.parametrize(("kind", "install"), [("local", "fresh"), ("s3", "reuse")])
def test_backup_action_stores_a_listed_backup_and_writes_the_summary(
        act: Act, shop: DatabaseUrl, kind: str, install: str, tmp_path, request: pytest.FixtureRequest) -> None:
    """local: the action installs pgdrill from its own folder into a fresh venv (the real path on a
    runner); s3: it reuses the test venv through the venv input, as the other action tests do."""
    env: dict[str, str] = {}
    if kind == "local":
        store = str(tmp_path / "store")
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        store = f"s3://{s3.create_bucket()}/prod"
        env = s3.env()

    venv = str(project_venv()) if install == "reuse" else ""
    r = act.run("t-backup.yml", inputs={"store": store, "venv": venv},
                secrets={"DATABASE_URL": url_text(shop)}, env=env)

    assert r.code == 0, r.explain()
    assert r.result("backup") == "success"
    if install == "fresh":
        # the venv lives in the runner's tool cache (test_action_install.py follows it step by step)
        assert r.outputs("backup", "setup")["pgdrill"].startswith(str(act.tool_cache)), r.outputs("backup", "setup")
    assert r.outputs("backup")["version"]
    outputs = r.outputs("backup")
    backup_id = outputs.get("backup-id", "")
    assert backup_id, f"no backup-id output: {outputs}\n{r.explain()}"
    assert outputs["passed"] == "true"
    assert int(outputs["backup-size"]) > 0
    assert outputs["exit-code"] == "0"
    # the next step saw the same output through the expression context
    assert f"backup-id={backup_id} passed=true" in r.log("after")

    assert backup_id in _listed(store, env)

    summary = r.summary("backup")
    assert "pgdrill backup" in summary
    assert f"| Backup | `{backup_id}` |" in summary
    assert "| Tables / rows | 2 / 290 |" in summary
    assert "| Tags | act-test, nightly |" in summary
