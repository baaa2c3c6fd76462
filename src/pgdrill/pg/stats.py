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


# Materialized views pg_dump refreshes on restore (an unpopulated one comes back unpopulated).
POPULATED_MATVIEWS = """
SELECT n.nspname, c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'm' AND c.relispopulated
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""

# Every user sequence and its state; last_value is NULL before the first nextval (is_called false).
SEQUENCES = """
SELECT s.schemaname, s.sequencename, s.last_value
FROM pg_sequences s
JOIN pg_namespace n ON n.nspname = s.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def table_key(schema: str, table: str) -> str:
    return f"{schema}.{table}"


def user_tables(conn: Conn, keep: Callable[[str, str], bool] | None = None) -> list[tuple[str, str]]:
    """Tables whose rows pg_dump writes; ``keep(schema, "schema.table")`` narrows them to a scope."""
    rows = [(str(s), str(t)) for s, t in conn.execute(USER_TABLES).fetchall()]
    return [(s, t) for s, t in rows if keep is None or keep(s, table_key(s, t))]


def materialized_views(conn: Conn, keep: Callable[[str, str], bool] | None = None) -> list[tuple[str, str]]:
    rows = [(str(s), str(t)) for s, t in conn.execute(POPULATED_MATVIEWS).fetchall()]
    return [(s, t) for s, t in rows if keep is None or keep(s, table_key(s, t))]


def sequences(conn: Conn, keep: Callable[[str, str], bool] | None = None) -> dict[str, int | None]:
    """schema.sequence → last_value (None: nextval not called yet). Sequences are not transactional:
    read them before pg_dump starts, so the recorded state is never ahead of the dumped one."""
    out: dict[str, int | None] = {}
    for schema, name, last in conn.execute(SEQUENCES).fetchall():
        key = table_key(str(schema), str(name))
        if keep is None or keep(str(schema), key):
            out[key] = None if last is None else int(last)  # type: ignore[call-overload]
    return out


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
