"""Owners and access privileges of every object pg_dump writes, read the same way on the source (in
the backup's snapshot) and on a restored copy (by the privileges check), so the two compare directly.

One row per object: a readable key (``table app.orders``, ``function app.total(integer)``,
``column app.orders.note``, ``default acl app_owner in app on tables``, ``large object 16403``),
its owner and its ACL as PostgreSQL prints it (``None``: the built-in default — an ACL spelled out but
equal to ``acldefault()`` is the default too: pg_dump writes no GRANT for it, so a restored copy has
NULL there). The queries run with
``search_path = pg_catalog`` so type names in function signatures come out schema-qualified and
identical on both sides.

Not compared: the database itself (a restore goes into a database the target already has, under
another name) and objects that belong to an extension (``CREATE EXTENSION`` makes them, with the
target's own owner).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import psycopg

Conn = psycopg.Connection[tuple[object, ...]]

_USER_NS = """n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"""


def _not_ext(catalog: str, oid: str) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass "
            f"AND d.objid = {oid} AND d.deptype = 'e')")


_RELKIND = ("CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' "
            "WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' END")

_OBJECTS = f"""
SELECT 'schema ' || n.nspname, n.nspname, NULL, pg_get_userbyid(n.nspowner),
       NULLIF(n.nspacl, acldefault('n', n.nspowner))::text
FROM pg_namespace n WHERE {_USER_NS} AND {_not_ext('pg_namespace', 'n.oid')}
UNION ALL
SELECT {_RELKIND} || ' ' || n.nspname || '.' || c.relname, n.nspname, n.nspname || '.' || c.relname,
       pg_get_userbyid(c.relowner),
       NULLIF(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {_USER_NS} AND {_not_ext('pg_class', 'c.oid')}
UNION ALL
SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname, n.nspname, n.nspname || '.' || c.relname,
       NULL, NULLIF(a.attacl, acldefault('c', c.relowner))::text
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped AND {_USER_NS}
  AND {_not_ext('pg_class', 'c.oid')}
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' ELSE 'function ' END
       || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       n.nspname, NULL, pg_get_userbyid(p.proowner), NULLIF(p.proacl, acldefault('f', p.proowner))::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {_USER_NS} AND {_not_ext('pg_proc', 'p.oid')}
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'domain ' ELSE 'type ' END || format_type(t.oid, NULL), n.nspname, NULL,
       pg_get_userbyid(t.typowner), NULLIF(t.typacl, acldefault('T', t.typowner))::text
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE {_USER_NS} AND {_not_ext('pg_type', 't.oid')}
  AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND NOT (t.typcategory = 'A' AND t.typelem <> 0)
UNION ALL
SELECT 'collation ' || n.nspname || '.' || o.collname, n.nspname, NULL, pg_get_userbyid(o.collowner), NULL
FROM pg_collation o JOIN pg_namespace n ON n.oid = o.collnamespace
WHERE {_USER_NS} AND {_not_ext('pg_collation', 'o.oid')}
UNION ALL
SELECT 'conversion ' || n.nspname || '.' || o.conname, n.nspname, NULL, pg_get_userbyid(o.conowner), NULL
FROM pg_conversion o JOIN pg_namespace n ON n.oid = o.connamespace
WHERE {_USER_NS} AND {_not_ext('pg_conversion', 'o.oid')}
UNION ALL
SELECT 'operator ' || n.nspname || '.' || o.oprname || '(' || format_type(o.oprleft, NULL) || ', '
       || format_type(o.oprright, NULL) || ')', n.nspname, NULL, pg_get_userbyid(o.oprowner), NULL
FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
WHERE {_USER_NS} AND {_not_ext('pg_operator', 'o.oid')} AND o.oprcode <> 0  -- pg_dump skips shell operators
UNION ALL
SELECT 'operator class ' || n.nspname || '.' || o.opcname || ' using ' || am.amname, n.nspname, NULL,
       pg_get_userbyid(o.opcowner), NULL
FROM pg_opclass o JOIN pg_namespace n ON n.oid = o.opcnamespace JOIN pg_am am ON am.oid = o.opcmethod
WHERE {_USER_NS} AND {_not_ext('pg_opclass', 'o.oid')}
UNION ALL
SELECT 'operator family ' || n.nspname || '.' || o.opfname || ' using ' || am.amname, n.nspname, NULL,
       pg_get_userbyid(o.opfowner), NULL
FROM pg_opfamily o JOIN pg_namespace n ON n.oid = o.opfnamespace JOIN pg_am am ON am.oid = o.opfmethod
WHERE {_USER_NS} AND {_not_ext('pg_opfamily', 'o.oid')}
UNION ALL
SELECT 'text search configuration ' || n.nspname || '.' || o.cfgname, n.nspname, NULL,
       pg_get_userbyid(o.cfgowner), NULL
FROM pg_ts_config o JOIN pg_namespace n ON n.oid = o.cfgnamespace
WHERE {_USER_NS} AND {_not_ext('pg_ts_config', 'o.oid')}
UNION ALL
SELECT 'text search dictionary ' || n.nspname || '.' || o.dictname, n.nspname, NULL,
       pg_get_userbyid(o.dictowner), NULL
FROM pg_ts_dict o JOIN pg_namespace n ON n.oid = o.dictnamespace
WHERE {_USER_NS} AND {_not_ext('pg_ts_dict', 'o.oid')}
UNION ALL
SELECT 'statistics ' || n.nspname || '.' || o.stxname, n.nspname, NULL, pg_get_userbyid(o.stxowner), NULL
FROM pg_statistic_ext o JOIN pg_namespace n ON n.oid = o.stxnamespace
WHERE {_USER_NS}
UNION ALL
SELECT 'foreign data wrapper ' || o.fdwname, NULL, NULL, pg_get_userbyid(o.fdwowner),
       NULLIF(o.fdwacl, acldefault('F', o.fdwowner))::text
FROM pg_foreign_data_wrapper o WHERE {_not_ext('pg_foreign_data_wrapper', 'o.oid')}
UNION ALL
SELECT 'server ' || o.srvname, NULL, NULL, pg_get_userbyid(o.srvowner),
       NULLIF(o.srvacl, acldefault('S', o.srvowner))::text
FROM pg_foreign_server o WHERE {_not_ext('pg_foreign_server', 'o.oid')}
UNION ALL
SELECT 'event trigger ' || o.evtname, NULL, NULL, pg_get_userbyid(o.evtowner), NULL
FROM pg_event_trigger o WHERE {_not_ext('pg_event_trigger', 'o.oid')}
UNION ALL
SELECT 'publication ' || o.pubname, NULL, NULL, pg_get_userbyid(o.pubowner), NULL FROM pg_publication o
UNION ALL
SELECT 'large object ' || o.oid::text, NULL, NULL, pg_get_userbyid(o.lomowner),
       NULLIF(o.lomacl, acldefault('L', o.lomowner))::text
FROM pg_largeobject_metadata o
UNION ALL
SELECT 'default acl ' || pg_get_userbyid(d.defaclrole) || coalesce(' in ' || n.nspname, '') || ' on '
       || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                               WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END,
       n.nspname, NULL, NULL, d.defaclacl::text
FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
"""


@dataclass(frozen=True)
class ObjectPrivileges:
    owner: str | None  # None: an entry without an owner of its own (a column, a default ACL)
    acl: str | None  # None: the built-in default privileges


#: keep(schema, relation, key): is this object part of the dump? (a scoped backup narrows it)
Keep = Callable[[str | None, str | None, str], bool]


def _everything(schema: str | None, relation: str | None, key: str) -> bool:
    return True


def snapshot(conn: Conn, keep: Keep = _everything) -> dict[str, ObjectPrivileges]:
    """Owner and ACL of every object, by key. Runs in the caller's transaction (the backup's snapshot)."""
    rows = with_catalog_path(conn, _OBJECTS)
    out: dict[str, ObjectPrivileges] = {}
    for key, schema, relation, owner, acl in rows:
        if key is None or not keep(None if schema is None else str(schema),
                                   None if relation is None else str(relation), str(key)):
            continue
        out[str(key)] = ObjectPrivileges(None if owner is None else str(owner), None if acl is None else str(acl))
    return out


def with_catalog_path(conn: Conn, query: str) -> list[tuple[object, ...]]:
    """Run ``query`` with search_path = pg_catalog, then put the caller's search_path back (SET LOCAL
    would outlive a savepoint and change the rest of the backup's transaction)."""
    with conn.transaction():
        row = conn.execute("SELECT current_setting('search_path'), set_config('search_path', 'pg_catalog', true)"
                           ).fetchone()
        try:
            return conn.execute(query).fetchall()
        finally:
            conn.execute("SELECT set_config('search_path', %s, true)", (str(row[0]) if row else "",))


# -- the compact form kept in the manifest ---------------------------------------------------------
def compact(objects: Mapping[str, ObjectPrivileges]) -> tuple[str | None, int, dict[str, list[str | None]]]:
    """(most common owner, object count, the objects that differ from "that owner, default ACL").
    A database of 5,000 objects owned by one role with no grants is stored as one name and a count."""
    owners: dict[str, int] = {}
    for p in objects.values():
        if p.owner is not None:
            owners[p.owner] = owners.get(p.owner, 0) + 1
    usual = max(sorted(owners), key=lambda o: owners[o]) if owners else None
    rest = {k: [p.owner, p.acl] for k, p in sorted(objects.items())
            if not (p.acl is None and (p.owner == usual or p.owner is None))}
    return usual, len(objects), rest


def expand(owner: str | None, listed: Mapping[str, list[str | None]], key: str, has_owner: bool) -> ObjectPrivileges:
    """What the compact form says about one object (an unlisted one: the usual owner, default ACL)."""
    if key in listed:
        entry = listed[key]
        return ObjectPrivileges(entry[0] if entry else None, entry[1] if len(entry) > 1 else None)
    return ObjectPrivileges(owner if has_owner else None, None)


def has_own_owner(key: str) -> bool:
    """Columns and default ACLs have no owner of their own."""
    return not key.startswith(("column ", "default acl "))
