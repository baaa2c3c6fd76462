"""Find the application's migration table and read its head, whichever tool wrote it."""

from __future__ import annotations

from collections.abc import Callable
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
    # Django's head is the set of leaf migrations, one per app (names sort by their 0001_ prefix);
    # the last row applied says nothing (`migrate sessions` after `migrate shop` re-applies sessions).
    "django_migrations": ("django", "SELECT string_agg(app || '.' || name, ',' ORDER BY app) FROM "
                                    "(SELECT DISTINCT ON (app) app, name FROM {t} ORDER BY app, name DESC) leaf"),
    # `knex migrate:currentVersion`: the largest timestamp prefix of the completed migrations.
    "knex_migrations": ("knex", "SELECT max(split_part(name, '_', 1)) FROM {t}"),
    "goose_db_version": ("goose", "SELECT version_id::text FROM {t} WHERE is_applied ORDER BY id DESC LIMIT 1"),
    # Rails and golang-migrate share the name; max(version) is the head for both.
    "schema_migrations": ("schema_migrations", "SELECT max(version)::text FROM {t}"),
}


def detect_all(conn: Conn, keep: Callable[[str, str], bool] | None = None) -> list[MigrationHead]:
    """Every migration table (``keep(schema, "schema.table")`` narrows them to a backup's scope),
    public first: a stale ``public.alembic_version`` beside ``app.alembic_version`` is reported,
    never silently preferred or ignored."""
    found = []
    rows = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(%s)
             AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           ORDER BY n.nspname = 'public' DESC, n.nspname, c.relname""",
        (list(_TOOLS),),
    ).fetchall()
    for schema, table in rows:
        if keep is not None and not keep(str(schema), f"{schema}.{table}"):
            continue
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
        found.append(MigrationHead(tool, f"{schema}.{table}", head))
    return found


def pick(found: list[MigrationHead], table: str | None = None) -> MigrationHead | None:
    """The head of ``table`` (schema.table, or a bare name when unambiguous), else the only one.
    Several tables and no ``table``: one entry that names them all (never one picked silently)."""
    if table is not None:
        named = [f for f in found if f.table == table or f.table.split(".", 1)[1] == table]
        return named[0] if len(named) == 1 else None
    if len(found) <= 1:
        return found[0] if found else None
    tools = sorted({f.tool for f in found})
    return MigrationHead(tools[0] if len(tools) == 1 else "several", ", ".join(f.table for f in found),
                         "; ".join(f"{f.table}: {f.head or '(empty)'}" for f in found))


def detect(conn: Conn, table: str | None = None) -> MigrationHead | None:
    return pick(detect_all(conn), table)
