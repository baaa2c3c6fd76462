"""Database fingerprints: identical fingerprints mean a restore brought back exactly the source."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgdrill.pg import binaries
from pgdrill.pg.conn import DatabaseUrl

HARD_CONTENT = Path(__file__).with_name("hard_content.sql")

_RELATIONS = """
SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1, 2
"""


def load_hard_content(url: DatabaseUrl) -> None:
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute(HARD_CONTENT.read_text())  # type: ignore[arg-type]


def _schema_dump(url: DatabaseUrl, major: int, owners: bool = False) -> list[str]:
    client = binaries.for_dump(major)
    out = subprocess.run(
        [client.tool("pg_dump"), "--schema-only", *([] if owners else ["--no-owner", "--no-privileges"]),
         f"--dbname={url.conninfo_without_password()}"],
        capture_output=True, text=True, check=True, env={"PGPASSWORD": url.password or ""},
    )
    lines = []
    for line in out.stdout.splitlines():
        # Comments, SET lines and PG17+'s random \restrict key differ between dumps of equal schemas.
        if not line.strip() or line.startswith("--") or line.startswith("SET ") or re.match(r"\\(un)?restrict", line):
            continue
        if line.startswith("SELECT pg_catalog.set_config('search_path'"):
            continue
        lines.append(line)
    return lines


def database_settings(url: DatabaseUrl) -> list[tuple[str, list[str]]]:
    """ALTER DATABASE/ROLE … IN DATABASE … SET of this database, by role ("" for the database itself)."""
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT coalesce(r.rolname, ''), s.setconfig FROM pg_db_role_setting s "
            "LEFT JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1"
        ).fetchall()
    return [(str(role), sorted(config)) for role, config in rows]


def fingerprint(url: DatabaseUrl, with_schema: bool = True, owners: bool = False) -> dict[str, Any]:
    """``owners``: the schema dump keeps owners and privileges, and large-object owners/ACLs and the
    database-level settings are compared too."""
    fp: dict[str, Any] = {"tables": {}, "sequences": {}, "large_objects": {}}
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        major = conn.info.server_version // 10000
        for schema, name, _kind in conn.execute(_RELATIONS).fetchall():
            ident = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            row = conn.execute(
                sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                        "FROM ONLY {} t").format(ident)
            ).fetchone()
            fp["tables"][f"{schema}.{name}"] = row
        for schema, name, last_value in conn.execute(
            "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2"
        ):
            fp["sequences"][f"{schema}.{name}"] = last_value
        for oid, digest in conn.execute(
            "SELECT oid, md5(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY oid"
        ):
            fp["large_objects"][int(oid)] = digest
        fp["extensions"] = sorted(r[0] for r in conn.execute("SELECT extname FROM pg_extension"))
        if owners:
            fp["large_object_acl"] = [tuple(r) for r in conn.execute(
                "SELECT oid::bigint, pg_get_userbyid(lomowner), lomacl::text FROM pg_largeobject_metadata ORDER BY 1")]
    if owners:
        fp["database_settings"] = database_settings(url)
    if with_schema:
        fp["schema"] = _schema_dump(url, major, owners)
    return fp
