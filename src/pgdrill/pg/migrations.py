"""Find the application's migration table and read its head, whichever tool wrote it."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class MigrationHead:
    tool: str
    table: str  # schema.table
    head: str | None


# table name -> (tool, SQL template reading the head; {t} is the qualified table)
_TOOLS: dict[str, tuple[str, str]] = {
    "alembic_version": ("alembic", "SELECT string_agg(version_num::text, ',' ORDER BY version_num) FROM {t}"),
    "_prisma_migrations": (
        "prisma",
        "SELECT migration_name FROM {t} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL "
        "ORDER BY finished_at DESC, migration_name DESC LIMIT 1",
    ),
    "flyway_schema_history": (
        "flyway",
        "SELECT coalesce(version, description) FROM {t} WHERE success ORDER BY installed_rank DESC LIMIT 1",
    ),
    "django_migrations": ("django", "SELECT app || '.' || name FROM {t} ORDER BY applied DESC, id DESC LIMIT 1"),
    "knex_migrations": ("knex", "SELECT name FROM {t} ORDER BY id DESC LIMIT 1"),
    "goose_db_version": ("goose", "SELECT version_id::text FROM {t} WHERE is_applied ORDER BY id DESC LIMIT 1"),
    # Rails and golang-migrate share the name; max(version) is the head for both.
    "schema_migrations": ("schema_migrations", "SELECT max(version)::text FROM {t}"),
}


def detect(conn: Conn) -> MigrationHead | None:
    rows = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(%s)
             AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           ORDER BY n.nspname = 'public' DESC, n.nspname, c.relname""",
        (list(_TOOLS),),
    ).fetchall()
    for schema, table in rows:
        tool, template = _TOOLS[str(table)]
        qualified = sql.SQL("{}.{}").format(sql.Identifier(str(schema)), sql.Identifier(str(table)))
        query = sql.SQL(template).format(t=qualified)
        try:
            with conn.transaction():
                row = conn.execute(query).fetchone()
        except psycopg.Error:
            # A same-named table of another shape: not a migration table we can read.
            continue
        head = None if row is None or row[0] is None else str(row[0])
        return MigrationHead(tool, f"{schema}.{table}", head)
    return None
