"""The reusable fleet workflow (.github/workflows/fleet.yml) under a real workflow runner: the plan
job's matrix expands into one job per database of pgdrill.yml, each backs up (or drills) its own
database into its own store, a database whose backup fails fails its own job only, and the summary
job reads all three stores into one table, one JSON document and the outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from act_runner import Act, ActResult, url_text

from pgdrill import catalog
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store.local import LocalStore

from support.github_server import FakeGitHub
from support.postgres import PgServer

REPO = "acme/fleet"
ROWS = {"billing": 30, "users": 50, "search": 70}


@pytest.fixture
def fleet(pg: PgServer, tmp_path: Path) -> Iterator[tuple[dict[str, DatabaseUrl], Path, Path]]:
    """Three databases with different row counts, and a pgdrill.yml naming each one's secret."""
    urls: dict[str, DatabaseUrl] = {}
    for name, rows in ROWS.items():
        url = pg.create_database()
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE items (id int PRIMARY KEY)")
            conn.execute("INSERT INTO items SELECT generate_series(1, %s)", (rows,))
        urls[name] = url
    stores = tmp_path / "stores"
    config = tmp_path / "pgdrill.yml"
    config.write_text(yaml.safe_dump({
        "store_prefix": str(stores),
        "rto_target": "10m",
        "checks": {"sql": [{"name": "items restored", "sql": "SELECT count(*) > 0 FROM items", "expect": True}]},
        "databases": {
            "billing": {"database_url_env": "BILLING_DATABASE_URL"},
            "users": {"database_url_env": "USERS_DATABASE_URL", "rpo_target": "1h"},
            # search is backed up but not drilled
            "search": {"database_url_env": "SEARCH_DATABASE_URL", "jobs": ["backup", "monitor"]},
        },
    }, sort_keys=False))
    yield urls, stores, config
    for url in urls.values():
        pg.drop_database(url.dbname)


def _run(act: Act, job: str, config: Path, secrets: dict[str, str], github: FakeGitHub) -> ActResult:
    return act.run("t-fleet.yml", inputs={"job": job, "config": str(config), "artifact": f"fleet-{job}"},
                   secrets={**secrets, "GITHUB_TOKEN": github.token},
                   env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": REPO}, timeout=900)


def _matrix_jobs(r: ActResult) -> dict[str, str]:
    """database → result of its matrix job (act names them 'run' with the matrix in each event)."""
    out: dict[str, str] = {}
    for e in r.events:
        matrix: Any = e.get("matrix")
        if e.get("jobID") == "run" and "jobResult" in e and isinstance(matrix, dict):
            out[str(matrix.get("database"))] = str(e["jobResult"])
    return out


def test_fleet_backup_then_drill(act: Act, pg: PgServer, fleet: tuple[dict[str, DatabaseUrl], Path, Path],
                                 github_server: FakeGitHub) -> None:
    urls, stores, config = fleet
    # search's secret names a database that is gone: its backup fails
    secrets = {"BILLING_DATABASE_URL": url_text(urls["billing"]), "USERS_DATABASE_URL": url_text(urls["users"]),
               "SEARCH_DATABASE_URL": url_text(urls["search"].with_dbname("search_was_dropped")),
               "PGDRILL_SCRATCH_URL": url_text(pg.admin_url)}

    r = _run(act, "backup", config, secrets, github_server)
    # the matrix expanded into one job per database; search's failure failed only its own job
    assert _matrix_jobs(r) == {"billing": "success", "users": "success", "search": "failure"}, r.explain()
    assert r.code != 0 and r.job_result("summary") == "success", r.explain()
    # each job backed up its own database into its own store
    for name in ("billing", "users"):
        backups = catalog.load(LocalStore(stores / name)).backups
        assert len(backups) == 1, name
        assert backups[0].database == urls[name].dbname and backups[0].total_rows == ROWS[name]
    search = catalog.failed_attempts(LocalStore(stores / "search"))
    assert len(search) == 1 and "search_was_dropped" in search[0].error
    assert catalog.load(LocalStore(stores / "search")).backups == []

    # the summary shows all three, the failing one as failing
    # (act stops the calling workflow when a called one fails, so its outputs are read from the
    # summary job here, and from the calling workflow after the drills, which pass)
    outputs = r.outputs("status", job="summary")
    assert outputs["databases"] == "3" and outputs["failing"] == "search", r.explain()
    status = json.loads(outputs["status-json"])
    verdicts = {d["database"]: d["verdict"] for d in status["databases"]}
    assert verdicts == {"billing": "ok", "users": "ok", "search": "failed"}
    assert {d["database"]: d["last_backup"]["size_bytes"] > 0 for d in status["databases"] if d["last_backup"]} == \
        {"billing": True, "users": True}
    table = r.summary("status", job="summary")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "Database" not in line]
    assert [row.split(" | ")[1] for row in rows] == ["billing", "users", "search"], table
    assert "last attempt failed" in rows[2] or "NoBackup" in rows[2]
    # the artifact holds the same JSON and the Prometheus text, a database label on every sample
    artifact = act.artifacts / "fleet-backup"
    assert json.loads((artifact / "status.json").read_text())["databases"] == status["databases"]
    prom = (artifact / "status.prom").read_text()
    assert 'pgdrill_last_attempt_failed{database="search",' in prom
    assert 'pgdrill_backup_count{database="billing",' in prom
    # one post-mortem issue, for search alone
    issues = github_server.issues(REPO)
    assert [i["title"] for i in issues] == ["pgdrill backup failing on search (default)"]
    assert "<!-- pgdrill:backup:default:search -->" in issues[0]["body"]

    r = _run(act, "drill", config, secrets, github_server)
    # search runs no drills: the matrix holds billing and users only
    assert _matrix_jobs(r) == {"billing": "success", "users": "success"}, r.explain()
    for name in ("billing", "users"):
        drills = catalog.drill_keys(LocalStore(stores / name))
        assert len(drills) == 1, name
    assert not (stores / "search" / "drills").exists()
    shown = r.log("show", job="report")
    status = json.loads(shown.split("status=", 1)[1].splitlines()[0])
    drills = {d["database"]: d["last_drill"] for d in status["databases"]}
    assert drills["billing"]["passed"] is True and drills["users"]["passed"] is True and drills["search"] is None
    assert drills["users"]["rpo"]["target_seconds"] == 3600 and drills["billing"]["rto"]["target_seconds"] == 600
    assert "failing=search" in shown  # its failed backup is still the newest news of its store
