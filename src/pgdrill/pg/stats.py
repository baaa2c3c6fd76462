"""What a database holds, read inside a given transaction: exact row counts, schemas, extensions."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

Conn = psycopg.Connection[tuple[object, ...]]

# Tables whose data pg_dump writes: ordinary tables and partitions (not partitioned parents, whose
# rows live in the partitions), outside system schemas and not owned by an extension.
USER_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""

USER_SCHEMAS = """
SELECT n.nspname FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
ORDER BY 1
"""


def table_key(schema: str, table: str) -> str:
    return f"{schema}.{table}"


def user_tables(conn: Conn) -> list[tuple[str, str]]:
    return [(str(s), str(t)) for s, t in conn.execute(USER_TABLES).fetchall()]


def count_rows(conn: Conn, tables: list[tuple[str, str]] | None = None,
               should_stop: Callable[[], bool] | None = None) -> dict[str, int]:
    """Exact count(*) of every table (ONLY: inheritance children are counted on their own)."""
    counts: dict[str, int] = {}
    for schema, table in tables if tables is not None else user_tables(conn):
        if should_stop and should_stop():
            break
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        ).fetchone()
        counts[table_key(schema, table)] = int(row[0]) if row else 0  # type: ignore[call-overload]
    return counts


def schemas(conn: Conn) -> list[str]:
    return [str(r[0]) for r in conn.execute(USER_SCHEMAS).fetchall()]


def extensions(conn: Conn) -> dict[str, str]:
    return {str(n): str(v) for n, v in conn.execute("SELECT extname, extversion FROM pg_extension ORDER BY 1")}


def table_sizes(conn: Conn) -> dict[str, int]:
    """schema.table → its size on disk (heap and TOAST: what pg_dump reads), for the backup's progress."""
    rows = conn.execute(
        f"SELECT t.nspname, t.relname, pg_table_size(format('%I.%I', t.nspname, t.relname)::regclass) "
        f"FROM ({USER_TABLES}) t").fetchall()
    return {table_key(str(r[0]), str(r[1])): int(r[2] or 0) for r in rows}  # type: ignore[call-overload]


def database_size(conn: Conn) -> int:
    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def user_table_count(conn: Conn) -> int:
    row = conn.execute(f"SELECT count(*) FROM ({USER_TABLES}) t").fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]
