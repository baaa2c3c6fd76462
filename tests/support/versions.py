"""PostgreSQL clusters of a chosen major (14-18), for the version matrix and cross-major restores.

Builds come from pgdrill's cache, where scripts/setup/10-postgres-majors.sh put them; a major that
is missing is installed here through pgdrill's own on-demand installer rather than skipped, so the
matrix never passes by running nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgdrill.errors import ToolMissing
from pgdrill.pg import binaries, install
from pgdrill.pg.cluster import find_server_bin
from pgdrill.pg.conn import DatabaseUrl

from support.fingerprint import _schema_dump, fingerprint
from support.postgres import PgServer, start_local

MAJORS = (14, 15, 16, 17, 18)
SOURCE_MAJORS = MAJORS
NEWEST = max(MAJORS)

ClusterOf = Callable[[int], PgServer]
_NAMED_NOT_NULL = re.compile(r'CONSTRAINT (?:"[^"]+"|\w+) NOT NULL')

#: one line per cross-version case that passed, printed at the end of the run
MATRIX: list[str] = []
#: the dump comparisons of the fidelity tests (tests/integration/test_fidelity_regression.py)
FIDELITY: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for title, lines in (("PostgreSQL version matrix", MATRIX), ("Fidelity (pg_dump text compared)", FIDELITY)):
        if lines:
            terminalreporter.section(title)
            for line in lines:
                terminalreporter.write_line(line)


def ensure_major(major: int) -> None:
    """Server binaries of ``major`` in the cache (downloads only when the setup did not run)."""
    try:
        find_server_bin(major)
    except ToolMissing:
        install.install(major)
        binaries.clear_cache()
        find_server_bin(major)


@pytest.fixture(scope="session")
def cluster_of() -> Iterator[ClusterOf]:
    """``cluster_of(17)``: a running PostgreSQL 17 server for this session (started once)."""
    servers: dict[int, PgServer] = {}

    def get(major: int) -> PgServer:
        if major not in servers:
            ensure_major(major)
            server = start_local(major)
            assert server.major == major, f"asked for PostgreSQL {major}, got {server.major}"
            servers[major] = server
        return servers[major]

    yield get
    for server in servers.values():
        if server.cluster is not None:
            server.cluster.destroy()


def cross_fingerprint(url: DatabaseUrl, schema_major: int = NEWEST) -> dict[str, Any]:
    """A fingerprint comparable across server majors: data as usual, schema as one pg_dump major
    prints it (each major's pg_dump words the same schema a little differently)."""
    fp = fingerprint(url, with_schema=False)
    # PG18 names NOT NULL constraints (catalogued in pg_constraint); older servers cannot keep a name.
    schema = [_NAMED_NOT_NULL.sub("NOT NULL", ln) for ln in _schema_dump(url, schema_major)]
    fp["schema"] = _without_view_bodies(schema)
    fp["views"] = _view_rows(url)
    return fp


def _without_view_bodies(lines: list[str]) -> list[str]:
    """The server deparses view queries itself, and PG16+ words them differently (no table
    qualification), so across majors views are compared by their rows, not their text."""
    out: list[str] = []
    in_view = False
    for line in lines:
        if line.startswith(("CREATE VIEW ", "CREATE MATERIALIZED VIEW ")):
            out.append(line)
            in_view = not line.rstrip().endswith(";")
            continue
        if in_view:
            in_view = not line.rstrip().endswith(";")
            if line.strip().startswith("WITH NO DATA"):
                out.append(line.strip())
            continue
        out.append(line)
    return out


def _view_rows(url: DatabaseUrl) -> dict[str, Any]:
    views: dict[str, Any] = {}
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT schemaname, viewname FROM pg_views WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1, 2").fetchall()
        for schema, name in rows:
            ident = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            views[f"{schema}.{name}"] = conn.execute(
                sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} t")
                .format(ident)).fetchone()
    return views


def assert_same(restored: dict[str, Any], source: dict[str, Any]) -> None:
    """Equal fingerprints, or a failure that shows what differs (a schema diff, not a dict repr)."""
    import difflib

    diff = list(difflib.unified_diff(source.get("schema", []), restored.get("schema", []), "source", "restored",
                                     lineterm="", n=1))
    others = {k for k in set(source) | set(restored) if k != "schema" and source.get(k) != restored.get(k)}
    assert not diff and not others, "\n".join(diff[:60]) + (f"\ndiffering: {sorted(others)}" if others else "")
