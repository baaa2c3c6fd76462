"""The migration head as the tools themselves see it, against the real alembic, Django and Knex
(installed by the `test` extra and scripts/setup/60-migration-tools.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from pgdrill.pg.conn import DatabaseUrl
from pgdrill.process import command_env

from support.postgres import PgServer
from support.runner import pgdrill

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KNEX = REPO / ".cache" / "npm-tools" / "node_modules" / ".bin" / "knex"


def _missing(what: str) -> None:
    message = f"{what} is missing: run scripts/setup/60-migration-tools.sh and pip install -e '.[test]'"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _run(argv: list[str], url: DatabaseUrl, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = command_env(url, None, extra)
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def _config(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def _drill(capsys: pytest.CaptureFixture[str], cfg: str, store: str, pg: PgServer) -> dict[str, Any]:
    # expected_command runs where pgdrill.yml is: _config writes it into the project
    r = pgdrill(capsys, "--config", cfg, "drill", "--store", store, "--scratch-url", pg.admin_url.conninfo(),
                "--json")
    assert r.code in (0, 1), r.err
    return {c["name"]: c for c in r.json()["checks"]}


@pytest.fixture
def source(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    yield url
    pg.drop_database(url.dbname)


# -- alembic -------------------------------------------------------------------------------------
ALEMBIC_ENV = """
import os
from alembic import context
from sqlalchemy import create_engine

url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
with create_engine(url).connect() as connection:
    connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS app")
    connection.commit()
    context.configure(connection=connection, version_table_schema="app")
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION = """
from alembic import op
revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None

def upgrade():
    op.execute({sql!r})
"""


def _alembic_project(root: Path) -> Path:
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n\n[loggers]\nkeys = root\n\n"
                                      "[handlers]\nkeys = console\n\n[formatters]\nkeys = generic\n\n"
                                      "[logger_root]\nlevel = INFO\nhandlers = console\n\n"
                                      "[handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\n"
                                      "formatter = generic\n\n[formatter_generic]\nformat = %(levelname)-5.5s "
                                      "[%(name)s] %(message)s\n")
    (root / "migrations" / "env.py").write_text(ALEMBIC_ENV)
    (root / "migrations" / "script.py.mako").write_text("")
    for rev, down, stmt in (("a1b2c3d4e5f6", None, "CREATE TABLE app.accounts (id serial PRIMARY KEY, "
                                                    "balance int NOT NULL)"),
                            ("b2c3d4e5f6a7", "a1b2c3d4e5f6", "INSERT INTO app.accounts (balance) VALUES (-5)")):
        (root / "migrations" / "versions" / f"{rev}.py").write_text(REVISION.format(rev=rev, down=down, sql=stmt))
    return root


def test_alembic_several_migration_tables_are_reported_and_table_names_one(
        capsys: pytest.CaptureFixture[str], pg: PgServer, source: DatabaseUrl, tmp_path: Path) -> None:
    if not (BIN / "alembic").exists():
        _missing("alembic")
    project = _alembic_project(tmp_path / "app")
    _run([str(BIN / "alembic"), "upgrade", "head"], source, project)
    with psycopg.connect(source.conninfo(), autocommit=True) as conn:  # a stale table from an older layout
        conn.execute("CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);"
                     "INSERT INTO public.alembic_version VALUES ('0ld0ld0ld0ld')")
    store = str(tmp_path / "store")
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store, "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["migration_heads"] == {"app.alembic_version": "b2c3d4e5f6a7", "public.alembic_version": "0ld0ld0ld0ld"}
    assert "migration_head" not in doc  # never one picked silently

    checks = {"migration": {"expected_command": f"{BIN / 'alembic'} current"}, "sequences": "off"}
    found = _drill(capsys, _config(project, {"checks": checks}), store, pg)["migration head"]
    assert found["status"] == "fail", found
    assert "2 migration tables" in found["detail"] and "checks.migration.table" in found["detail"]
    assert "b2c3d4e5f6a7 in app.alembic_version" in found["detail"] and "public.alembic_version" in found["detail"]

    checks["migration"]["table"] = "app.alembic_version"
    found = _drill(capsys, _config(project, {"checks": checks}), store, pg)["migration head"]
    # `alembic current` prints "b2c3d4e5f6a7 (head)" on stdout and its INFO log lines on stderr
    assert found["status"] == "pass", found
    assert found["detail"] == ("alembic head b2c3d4e5f6a7 in app.alembic_version, as expected (from "
                               "expected_command)")


def test_failed_rehearsal_names_the_error_line(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                               source: DatabaseUrl, tmp_path: Path) -> None:
    if not (BIN / "alembic").exists():
        _missing("alembic")
    project = _alembic_project(tmp_path / "app")
    _run([str(BIN / "alembic"), "upgrade", "head"], source, project)
    (project / "migrations" / "versions" / "c3d4e5f6a7b8.py").write_text(REVISION.format(
        rev="c3d4e5f6a7b8", down="b2c3d4e5f6a7",
        sql="ALTER TABLE app.accounts ADD CONSTRAINT no_debt CHECK (balance >= 0)"))
    old = os.getcwd()
    os.chdir(project)
    try:
        r = pgdrill(capsys, "predeploy", "--database-url", source.conninfo(), "--store", str(tmp_path / "store"),
                    "--rehearse", "--scratch-url", pg.admin_url.conninfo(),
                    "--migrate-command", f"{BIN / 'alembic'} upgrade head", "--json")
    finally:
        os.chdir(old)
    assert r.code == 1, r.err
    migration = {c["name"]: c for c in r.json()["checks"]}["rehearsal migration"]
    assert migration["status"] == "fail"
    assert "CheckViolation" in migration["detail"] and "no_debt" in migration["detail"], migration["detail"]
    assert "Background on this error" not in migration["detail"]
    assert "Background on this error" in migration["output"]  # it was the last line printed


# -- Django --------------------------------------------------------------------------------------
SETTINGS = """
import os
from urllib.parse import urlsplit, unquote, parse_qs
u = urlsplit(os.environ["DATABASE_URL"])
q = parse_qs(u.query)
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": unquote(u.path[1:]),
                         "USER": unquote(u.username or ""), "PASSWORD": unquote(u.password or ""),
                         "HOST": u.hostname or q.get("host", [""])[0], "PORT": u.port or ""}}
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions", "shop"]
SECRET_KEY = "test-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

SHOP_0001 = """
from django.db import migrations, models
class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.CreateModel("Product", [("id", models.AutoField(primary_key=True)),
                                                     ("name", models.TextField())])]
"""

SHOP_0002 = """
from django.db import migrations, models
class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.AddField("Product", "price", models.IntegerField(default=0))]
"""

LEAVES = ("import django; django.setup(); from django.db import connection; "
          "from django.db.migrations.loader import MigrationLoader; "
          "print('\\n'.join(sorted(f'{a}.{n}' for a, n in MigrationLoader(connection).graph.leaf_nodes())))")


def test_django_head_is_the_leaf_migration_of_every_app(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                         source: DatabaseUrl, tmp_path: Path) -> None:
    if not (BIN / "django-admin").exists():
        _missing("Django")
    project = tmp_path / "site"
    (project / "shop" / "migrations").mkdir(parents=True)
    (project / "settings.py").write_text(SETTINGS)
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "models.py").write_text("")
    (project / "shop" / "migrations" / "__init__.py").write_text("")
    (project / "shop" / "migrations" / "0001_initial.py").write_text(SHOP_0001)
    (project / "shop" / "migrations" / "0002_price.py").write_text(SHOP_0002)
    admin = [str(BIN / "django-admin")]
    env = {"DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(project)}
    _run([*admin, "migrate"], source, project, **env)
    # re-applying one app makes its migration the last row: the head must not follow it
    _run([*admin, "migrate", "sessions", "zero"], source, project, **env)
    _run([*admin, "migrate", "sessions"], source, project, **env)
    with psycopg.connect(source.conninfo()) as conn:
        last = conn.execute("SELECT app || '.' || name FROM django_migrations ORDER BY id DESC LIMIT 1").fetchone()
    assert last == ("sessions.0001_initial",)
    leaves = _run([sys.executable, "-c", LEAVES], source, project, **env).stdout.split()

    store = str(tmp_path / "store")
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store, "--json")
    assert r.code == 0, r.err
    head = r.json()["migration_head"]
    assert head.split(",") == leaves
    assert "shop.0002_price" in leaves and "sessions.0001_initial" in leaves and len(leaves) == 4

    checks = {"migration": {"expected_command": [sys.executable, "-c", LEAVES]}, "sequences": "off"}
    os.environ.update(env)
    try:
        found = _drill(capsys, _config(project, {"checks": checks}), store, pg)["migration head"]
    finally:
        for k in env:
            os.environ.pop(k, None)
    assert found["status"] == "pass", found
    assert "as expected (from expected_command)" in found["detail"]


# -- Knex ----------------------------------------------------------------------------------------
KNEXFILE = """
module.exports = { client: 'pg', connection: process.env.DATABASE_URL, migrations: { directory: './migrations' } };
"""


def test_knex_current_version_output_is_understood(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                    source: DatabaseUrl, tmp_path: Path) -> None:
    if not KNEX.exists() or not shutil.which("node"):
        _missing("knex (npm)")
    project = tmp_path / "api"
    (project / "migrations").mkdir(parents=True)
    (project / "node_modules").symlink_to(KNEX.parents[1])
    (project / "knexfile.js").write_text(KNEXFILE)
    for name, body in (("20261201193401_create_users.js", "t.createTable('users', c => { c.increments(); })"),
                       ("20261201193402_add_email.js", "t.alterTable('users', c => { c.text('email'); })")):
        (project / "migrations" / name).write_text(
            f"exports.up = k => {{ const t = k.schema; return {body}; }};\nexports.down = k => k;\n")
    _run([str(KNEX), "migrate:latest"], source, project)
    printed = _run([str(KNEX), "migrate:currentVersion"], source, project).stdout
    assert "Current Version: 20261201193402" in printed

    store = str(tmp_path / "store")
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store, "--json")
    assert r.code == 0, r.err
    assert r.json()["migration_head"] == "20261201193402"  # knex's own notion: the newest timestamp

    checks = {"migration": {"expected_command": f"{KNEX} migrate:currentVersion"},
              "sequences": "off"}
    found = _drill(capsys, _config(project, {"checks": checks}), store, pg)["migration head"]
    assert found["status"] == "pass", found
    assert found["detail"] == "knex head 20261201193402 in public.knex_migrations, as expected (from expected_command)"
