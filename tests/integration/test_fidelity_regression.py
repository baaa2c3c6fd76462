"""Fidelity on a large schema nobody here wrote: PostgreSQL's own regression database (217 test files
of every object kind the server has; ~540 tables, ~1,200 owned objects), built by the server's
pg_regress from its Debian source package (scripts/setup/70-regression-suite.sh), compared the way
PostgreSQL compares dumps — and the same comparison on hard_content.sql with grants and settings."""

from __future__ import annotations

import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgdrill.pg import binaries
from pgdrill.pg.cluster import LocalCluster
from pgdrill.pg.conn import DatabaseUrl

from support.dumpdiff import bare_restore, compare
from support.fingerprint import load_hard_content
from support.grants import AppRoles, apply_grants, create_roles, drop_roles
from support.postgres import PgServer
from support.runner import pgdrill
from support.versions import FIDELITY

pytestmark = pytest.mark.slow


def _suite() -> Path | None:
    found = sorted(binaries.cache_dir().glob("regress-*/.ready"))
    return found[-1].parent if found else None


def _missing(what: str) -> None:
    message = f"{what} is missing: run scripts/setup/70-regression-suite.sh (the README's test command does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def regression() -> Iterator[PgServer]:
    """A server of the suite's major holding the regression database pg_regress leaves behind."""
    suite = _suite()
    if suite is None:
        _missing("PostgreSQL's regression suite")
    assert suite is not None
    bindir = Path((suite / "bindir").read_text().strip())
    cluster = LocalCluster.create(bin_dir=bindir)
    try:
        out = Path(tempfile.mkdtemp(prefix="pgdrill-regress-"))
        runas: list[str] = []
        if os.geteuid() == 0:  # the suite writes files the server reads back: run it as the server's user
            user = pwd.getpwnam(os.environ.get("PGDRILL_CLUSTER_USER", "postgres"))
            os.chown(out, user.pw_uid, user.pw_gid)
            runas = ["runuser", "-u", user.pw_name, "--"]
        proc = subprocess.run(
            [*runas, str(suite / "pg_regress"), f"--inputdir={suite / 'regress'}", f"--outputdir={out}",
             f"--bindir={bindir}", f"--dlpath={suite / 'lib'}", "--host=127.0.0.1", f"--port={cluster.port}",
             "--user=postgres", f"--schedule={suite / 'regress' / 'parallel_schedule'}", "--max-connections=4"],
            capture_output=True, text=True, timeout=900, env={**os.environ, "PGPASSWORD": cluster.password},
            check=False)
        url = cluster.url("regression")
        with psycopg.connect(url.conninfo()) as conn:
            row = conn.execute("SELECT count(*) FROM pg_class WHERE relkind = 'r' "
                               "AND relnamespace <> 'pg_catalog'::regnamespace").fetchone()
        # Some suite files fail outside a source tree (expected output differs); the database is what counts.
        assert row and int(row[0]) > 300, proc.stdout[-2000:] + proc.stderr[-2000:]
        with psycopg.connect(cluster.url().conninfo()) as conn:
            major = conn.info.server_version // 10000
        yield PgServer(cluster.url(), major, cluster)
    finally:
        cluster.destroy()


def _restore_both(capsys: pytest.CaptureFixture[str], server: PgServer, source: DatabaseUrl,
                  store: str) -> tuple[DatabaseUrl, DatabaseUrl]:
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store, "--json")
    assert r.code == 0, r.err
    via_pgdrill = server.create_database()
    r = pgdrill(capsys, "restore", r.json()["id"], "--store", store, "--target-url", via_pgdrill.conninfo(), "--json")
    assert r.code == 0 and r.json()["error_count"] == 0, r.out + r.err
    via_bare = server.create_database()
    bare_restore(source, via_bare, server.major)
    return via_pgdrill, via_bare


def test_regression_database_shows_no_difference_a_bare_restore_does_not(
        capsys: pytest.CaptureFixture[str], regression: PgServer, tmp_path: Path) -> None:
    source = regression.url("regression")
    via_pgdrill, via_bare = _restore_both(capsys, regression, source, str(tmp_path / "store"))
    c = compare(source, via_pgdrill, via_bare, regression.major)
    FIDELITY.append(c.summary(f"PostgreSQL {regression.major} regression database"))
    assert c.unexplained == []
    assert c.source_lines > 100_000
    # what bare pg_restore loses and pgdrill keeps: the database-level settings pg_regress made
    lost = [ln for ln in c.bare_missing if ln.startswith("ALTER DATABASE DBNAME SET ")]
    assert lost and not [ln for ln in c.pgdrill_missing if ln.startswith("ALTER DATABASE DBNAME SET ")]


def test_drill_of_the_regression_database_passes_without_false_alarms(
        capsys: pytest.CaptureFixture[str], regression: PgServer, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    r = pgdrill(capsys, "backup", "--database-url", regression.url("regression").conninfo(), "--store", store)
    assert r.code == 0, r.err
    r = pgdrill(capsys, "drill", "--store", store, "--scratch-url", regression.admin_url.conninfo(), "--json")
    assert r.code == 0, r.out + r.err
    checks = {c["name"]: c for c in r.json()["checks"]}
    assert checks["privileges"]["status"] == "pass" and checks["row counts"]["status"] == "pass"
    assert "materialized views equal too" in checks["row counts"]["detail"]
    # identity sequences the suite itself left behind their columns: a warning that says so, not a failure
    assert checks["sequences"]["status"] == "warn"
    assert all(i.endswith("as in the source") for i in checks["sequences"]["items"])
    FIDELITY.append(f"drill of the PostgreSQL {regression.major} regression database: passed; "
                    f"{checks['privileges']['detail']}; {checks['sequences']['detail'][:80]}…")


@pytest.fixture
def granted(pg: PgServer) -> Iterator[tuple[DatabaseUrl, AppRoles]]:
    roles = create_roles(pg.admin_url)
    url = pg.create_database()
    load_hard_content(url)
    apply_grants(url, roles)
    yield url, roles
    pg.drop_database(url.dbname)
    drop_roles(pg.admin_url, roles.names)


def test_hard_content_with_grants_shows_no_difference_a_bare_restore_does_not(
        capsys: pytest.CaptureFixture[str], pg: PgServer, granted: tuple[DatabaseUrl, AppRoles],
        tmp_path: Path) -> None:
    source, roles = granted
    via_pgdrill, via_bare = _restore_both(capsys, pg, source, str(tmp_path / "store"))
    try:
        c = compare(source, via_pgdrill, via_bare, pg.major)
        FIDELITY.append(c.summary("hard_content.sql with grants and settings"))
        assert c.unexplained == []
        assert sum(c.pgdrill_missing.values()) == 0 and sum(c.pgdrill_extra.values()) == 0
        assert any(ln.startswith(f"ALTER ROLE {roles.rw} IN DATABASE DBNAME SET") for ln in c.bare_missing)
    finally:
        for url in (via_pgdrill, via_bare):
            pg.drop_database(url.dbname)
