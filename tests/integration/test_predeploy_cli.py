"""The pre-deploy gate against real PostgreSQL: a passing gate with a rehearsal (and its rollback
command actually restoring production), a failing release check, a release check that hangs, and a
migration that breaks on the production data of the rehearsal copy — production itself untouched and
no scratch database left behind in every case."""

from __future__ import annotations

import json
import shlex
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from pgdrill.catalog import load as load_catalog
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import open_store

from support.postgres import PgServer
from support.runner import pgdrill, pgdrill_process

APP_SQL = """
CREATE SCHEMA app;
CREATE TABLE app.alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO app.alembic_version VALUES ('a1b2c3');
CREATE TABLE app.users (id serial PRIMARY KEY, email text);
INSERT INTO app.users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 200) g;
INSERT INTO app.users (email) VALUES (NULL);  -- the production row a NOT NULL migration trips on
CREATE TABLE app.orders (id serial PRIMARY KEY, user_id int REFERENCES app.users, total numeric(10,2));
INSERT INTO app.orders (user_id, total) SELECT 1 + g % 200, g * 1.5 FROM generate_series(1, 1000) g;
"""

# An app's migration tool, reduced to what matters: it reads DATABASE_URL, runs SQL, bumps the head.
MIGRATE_PY = """
import os, sys, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    conn.execute(sys.argv[1])
    conn.execute("UPDATE app.alembic_version SET version_num = %s", (sys.argv[2],))
print("migrated to", sys.argv[2], "on", os.environ["PGDATABASE"])
"""


def q(*argv: str) -> str:
    return " ".join(shlex.quote(a) for a in argv)


@pytest.fixture
def app_db(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute(APP_SQL)  # type: ignore[arg-type]
    yield url
    pg.drop_database(url.dbname)


@pytest.fixture
def project(tmp_path: Path, pg: PgServer) -> Iterator[Path]:
    """A project folder with pgdrill.yml (own scratch prefix) and the migration script."""
    prefix = f"t_pre_{uuid.uuid4().hex[:8]}"
    (tmp_path / "pgdrill.yml").write_text(yaml.safe_dump({
        "predeploy": {"scratch_prefix": prefix, "release_check_timeout": "20s", "migrate_timeout": "60s"}}))
    (tmp_path / "migrate.py").write_text(MIGRATE_PY)
    yield tmp_path
    left = sorted(d for d in pg.databases() if d.startswith(prefix))
    for name in left:
        pg.drop_database(name)
    assert not left, f"scratch databases left behind: {left}"


def columns(url: DatabaseUrl, table: str) -> list[str]:
    with psycopg.connect(url.conninfo()) as conn:
        rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'app' "
                            "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
    return [str(r[0]) for r in rows]


def head(url: DatabaseUrl) -> str:
    with psycopg.connect(url.conninfo()) as conn:
        row = conn.execute("SELECT version_num FROM app.alembic_version").fetchone()
    assert row is not None
    return str(row[0])


def run_gate(capsys: pytest.CaptureFixture[str], project: Path, url: DatabaseUrl, store: str,
             *extra: str) -> tuple[int, dict[str, object], str]:
    r = pgdrill(capsys, "--config", str(project / "pgdrill.yml"), "predeploy", "--database-url", url.conninfo(),
                "--store", store, "--json", *extra)
    return r.code, r.json(), r.err


def by_name(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    checks = doc["checks"]
    assert isinstance(checks, list)
    return {c["name"]: c for c in checks}


def test_gate_passes_with_rehearsal_and_its_rollback_command_restores(
        capsys: pytest.CaptureFixture[str], pg: PgServer, app_db: DatabaseUrl, project: Path, store_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    migrate = q(sys.executable, "migrate.py", "ALTER TABLE app.users ADD COLUMN nickname text", "d4e5f6")
    code, doc, err = run_gate(
        capsys, project, app_db, store_url,
        "--release-check", 'test -n "$PGDRILL_BACKUP_ID" && echo "release ok for $PGDRILL_BACKUP_ID"',
        "--rehearse", "--scratch-url", pg.admin_url.conninfo(), "--migrate-command", migrate)
    assert code == 0, err
    assert doc["passed"] is True
    checks = by_name(doc)
    assert {n: c["status"] for n, c in checks.items()} == {
        "backup verified": "pass", "database reachable": "pass", "migration head recorded": "pass",
        "release check": "pass", "rehearsal restore": "pass", "rehearsal migration": "pass", "cleanup": "pass"}
    backup_id = str(doc["backup_id"])
    assert f"release ok for {backup_id}" in str(checks["release check"]["output"])
    assert "a1b2c3 → d4e5f6" in str(checks["rehearsal migration"]["detail"])
    rehearsal = doc["rehearsal"]
    assert isinstance(rehearsal, dict) and rehearsal["head_before"] == "a1b2c3" and rehearsal["head_after"] == "d4e5f6"

    # the backup is in the store, tagged, with the CI coordinates
    m = load_catalog(open_store(store_url)).find(backup_id)
    assert m.tags == ["pre-deploy"] and m.migration_head == "a1b2c3"
    assert m.git_sha == "0123456789abcdef0123456789abcdef01234567" and m.git_ref == "main"
    assert m.run_url == "https://github.com/acme/shop/actions/runs/4242"

    # the migration ran on the copy only
    assert columns(app_db, "users") == ["id", "email"] and head(app_db) == "a1b2c3"

    # the printed rollback command, run as printed (password from PGPASSWORD), undoes a bad deploy
    rollback = str(doc["rollback_command"])
    assert pg.admin_url.password and pg.admin_url.password not in rollback
    assert rollback.endswith(f"--clean --confirm {app_db.dbname}")
    with psycopg.connect(app_db.conninfo(), autocommit=True) as conn:
        conn.execute("DELETE FROM app.orders WHERE id > 10")
        conn.execute("UPDATE app.alembic_version SET version_num = 'broken'")
    argv = shlex.split(rollback)
    assert argv[:3] == ["pgdrill", "restore", backup_id]
    r = pgdrill_process(*argv[1:], env={"PGPASSWORD": pg.admin_url.password})
    assert r.code == 0, r.text
    with psycopg.connect(app_db.conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM app.orders").fetchone() == (1000,)
    assert head(app_db) == "a1b2c3"


def test_failing_release_check_blocks_the_deploy_but_keeps_the_backup(
        capsys: pytest.CaptureFixture[str], app_db: DatabaseUrl, project: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, doc, err = run_gate(capsys, project, app_db, store, "--release-check",
                              'echo "checking migrations"; echo "2 pending migrations not reviewed" >&2; exit 3')
    assert code == 1
    assert doc["passed"] is False
    release = by_name(doc)["release check"]
    assert release["status"] == "fail"
    assert release["detail"] == "exit 3: 2 pending migrations not reviewed"
    assert doc["failures"] == ["release check: exit 3: 2 pending migrations not reviewed"]
    assert "predeploy failed, do not deploy" in err and str(doc["backup_id"]) in err
    # the backup taken before the check is there, verified, for the rollback
    assert by_name(doc)["backup verified"]["status"] == "pass"
    assert [b.id for b in load_catalog(open_store(store)).backups] == [doc["backup_id"]]


def test_in_github_actions_the_gate_sets_outputs_and_the_job_summary(
        app_db: DatabaseUrl, project: Path, tmp_path: Path) -> None:
    # Its own process: GitHub mode registers secret masks for the life of the process.
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "output"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "GITHUB_TOKEN": "", "GH_TOKEN": "",
           "PGDRILL_GITHUB_TOKEN": ""}
    r = pgdrill_process("--config", str(project / "pgdrill.yml"), "predeploy", "--database-url", app_db.conninfo(),
                        "--store", str(tmp_path / "store"), "--release-check", "exit 3", "--json", env=env)
    assert r.code == 1, r.text
    doc, _ = json.JSONDecoder().raw_decode(r.out, r.out.index("{"))
    outputs = (tmp_path / "output").read_text()
    assert f"backup-id={doc['backup_id']}\n" in outputs
    assert f"rollback-command={doc['rollback_command']}\n" in outputs and "passed=false\n" in outputs
    assert "❌ pgdrill predeploy: do not deploy" in (tmp_path / "summary.md").read_text()


def test_release_check_that_hangs_is_killed_at_its_timeout(
        capsys: pytest.CaptureFixture[str], app_db: DatabaseUrl, project: Path, tmp_path: Path) -> None:
    cfg = yaml.safe_load((project / "pgdrill.yml").read_text())
    cfg["predeploy"]["release_check_timeout"] = "2s"
    (project / "pgdrill.yml").write_text(yaml.safe_dump(cfg))
    code, doc, _ = run_gate(capsys, project, app_db, str(tmp_path / "store"), "--release-check", "sleep 60")
    assert code == 1
    release = by_name(doc)["release check"]
    assert release["status"] == "fail" and release["detail"] == "timed out after 2s (process group killed)"
    assert float(str(release["duration"])) < 15


def test_migration_that_breaks_on_production_data_fails_the_rehearsal(
        capsys: pytest.CaptureFixture[str], pg: PgServer, app_db: DatabaseUrl, project: Path, store_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    # Fine on an empty dev database; production has a user without an email.
    migrate = q(sys.executable, "migrate.py", "ALTER TABLE app.users ALTER COLUMN email SET NOT NULL", "e7f8a9")
    code, doc, err = run_gate(capsys, project, app_db, store_url, "--rehearse",
                              "--scratch-url", pg.admin_url.conninfo(), "--migrate-command", migrate)
    assert code == 1, err
    checks = by_name(doc)
    assert checks["rehearsal restore"]["status"] == "pass"
    migration = checks["rehearsal migration"]
    assert migration["status"] == "fail"
    assert str(migration["detail"]).startswith("exit 1: ")
    assert 'column "email" of relation "users" contains null values' in str(migration["output"])
    assert checks["cleanup"]["status"] == "pass"
    assert [f for f in doc["failures"] if "rehearsal migration" in f]  # type: ignore[union-attr]
    # production was never touched
    assert head(app_db) == "a1b2c3"
    with psycopg.connect(app_db.conninfo()) as conn:
        row = conn.execute("SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'app' "
                           "AND table_name = 'users' AND column_name = 'email'").fetchone()
    assert row == ("YES",)


def test_markdown_report_and_no_password_anywhere(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                  app_db: DatabaseUrl, project: Path, tmp_path: Path) -> None:
    report = tmp_path / "summary.md"
    r = pgdrill(capsys, "--config", str(project / "pgdrill.yml"), "predeploy", "--database-url", app_db.conninfo(),
                "--store", str(tmp_path / "store"), "--release-check", "true", "--report", str(report))
    assert r.code == 0, r.err
    md = report.read_text()
    assert md.startswith("### ✅ pgdrill predeploy: deploy may proceed")
    assert "pgdrill restore " in md and "--clean --confirm" in md
    assert "rollback:" in r.out
    password = pg.admin_url.password
    # ::add-mask:: lines are how a secret is hidden in GitHub Actions, not a leak (they appear when an
    # earlier test in this process ran in Actions mode)
    shown = "\n".join(ln for ln in (r.out + r.err).splitlines() if not ln.startswith("::add-mask::"))
    assert password and password not in shown + md


def test_rehearse_needs_a_scratch_server_and_a_migration_command(
        capsys: pytest.CaptureFixture[str], app_db: DatabaseUrl, project: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    r = pgdrill(capsys, "--config", str(project / "pgdrill.yml"), "predeploy", "--database-url", app_db.conninfo(),
                "--store", str(store), "--rehearse", "--migrate-command", "true")
    assert r.code == 2 and "--rehearse needs --scratch-url" in r.err
    assert not store.exists() or not list(store.rglob("manifest.json"))  # nothing was backed up
