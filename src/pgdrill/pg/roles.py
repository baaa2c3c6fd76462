"""Roles: which ones a database needs, which ones a target lacks, and creating/dropping stand-ins.

A database's owners and grants name roles, and roles live in the cluster, outside any dump of one
database. At backup time :func:`needed` reads, in the backup's snapshot, every role the database
refers to (owners, grantees and grantors, default privileges, policies, per-role settings in the
database, user mappings) with its attributes, memberships and the *names* of its settings — never a
password, a hash or a setting's value (values can be secrets and live only in the backup's
encrypted-like-the-archive roles.sql).

At restore time :func:`missing` lists those a target server lacks; :func:`create` makes stand-ins
(``NOLOGIN``, no password, none of SUPERUSER/CREATEDB/CREATEROLE/REPLICATION/BYPASSRLS) whose comment
is the drill copy's marker (pgdrill, the run's host and pid, the time, the expiry), so :func:`drop`
removes exactly the roles a run created and the copy's sweep (pgdrill.sources.scratch) removes the
ones a killed run left behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

Conn = psycopg.Connection[tuple[object, ...]]

#: why a database needs a role; "owner" and "privileges" are the ones --no-owner/--no-privileges drop
REASONS = ("owner", "privileges", "policy", "setting", "user mapping")

_REFERENCES = """
WITH db AS (SELECT oid FROM pg_database WHERE datname = current_database()),
refs(why, role) AS (
  SELECT 'owner', nspowner FROM pg_namespace n WHERE {ns}
  UNION ALL SELECT 'owner', relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND {ns}
  UNION ALL SELECT 'owner', proowner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {ns}
  UNION ALL SELECT 'owner', typowner FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {ns}
  UNION ALL SELECT 'owner', collowner FROM pg_collation o JOIN pg_namespace n ON n.oid = o.collnamespace
            WHERE {ns}
  UNION ALL SELECT 'owner', conowner FROM pg_conversion o JOIN pg_namespace n ON n.oid = o.connamespace
            WHERE {ns}
  UNION ALL SELECT 'owner', oprowner FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
            WHERE {ns}
  UNION ALL SELECT 'owner', opcowner FROM pg_opclass o JOIN pg_namespace n ON n.oid = o.opcnamespace WHERE {ns}
  UNION ALL SELECT 'owner', opfowner FROM pg_opfamily o JOIN pg_namespace n ON n.oid = o.opfnamespace
            WHERE {ns}
  UNION ALL SELECT 'owner', cfgowner FROM pg_ts_config o JOIN pg_namespace n ON n.oid = o.cfgnamespace
            WHERE {ns}
  UNION ALL SELECT 'owner', dictowner FROM pg_ts_dict o JOIN pg_namespace n ON n.oid = o.dictnamespace
            WHERE {ns}
  UNION ALL SELECT 'owner', stxowner FROM pg_statistic_ext o JOIN pg_namespace n ON n.oid = o.stxnamespace
            WHERE {ns}
  UNION ALL SELECT 'owner', fdwowner FROM pg_foreign_data_wrapper
  UNION ALL SELECT 'owner', srvowner FROM pg_foreign_server
  UNION ALL SELECT 'owner', evtowner FROM pg_event_trigger
  UNION ALL SELECT 'owner', pubowner FROM pg_publication
  UNION ALL SELECT 'owner', lomowner FROM pg_largeobject_metadata
  UNION ALL SELECT 'privileges', x.who FROM (
      SELECT relacl AS acl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {ns}
      UNION ALL SELECT attacl FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attacl IS NOT NULL AND {ns}
      UNION ALL SELECT nspacl FROM pg_namespace n WHERE {ns}
      UNION ALL SELECT proacl FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {ns}
      UNION ALL SELECT typacl FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {ns}
      UNION ALL SELECT fdwacl FROM pg_foreign_data_wrapper
      UNION ALL SELECT srvacl FROM pg_foreign_server
      UNION ALL SELECT lomacl FROM pg_largeobject_metadata
      UNION ALL SELECT defaclacl FROM pg_default_acl
  ) a, LATERAL (SELECT (aclexplode(a.acl)).grantee UNION ALL SELECT (aclexplode(a.acl)).grantor) x(who)
  UNION ALL SELECT 'privileges', defaclrole FROM pg_default_acl
  UNION ALL SELECT 'policy', unnest(polroles) FROM pg_policy
  UNION ALL SELECT 'setting', setrole FROM pg_db_role_setting, db WHERE setdatabase = db.oid AND setrole <> 0
  UNION ALL SELECT 'user mapping', umuser FROM pg_user_mappings
)
SELECT r.rolname, array_agg(DISTINCT refs.why ORDER BY refs.why)
FROM refs JOIN pg_roles r ON r.oid = refs.role
WHERE r.rolname !~ '^pg_'
GROUP BY r.rolname
ORDER BY r.rolname
"""

_NS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
       "AND n.nspname NOT LIKE 'pg\\_temp%'")

_DESCRIBE = """
SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolreplication,
       r.rolbypassrls, r.rolconnlimit,
       coalesce((SELECT array_agg(g.rolname ORDER BY g.rolname) FROM pg_auth_members m
                 JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '{}'),
       coalesce((SELECT array_agg(DISTINCT split_part(c, '=', 1) ORDER BY split_part(c, '=', 1))
                 FROM pg_db_role_setting s, unnest(s.setconfig) c
                 WHERE s.setrole = r.oid AND s.setdatabase = 0), '{}'),
       coalesce((SELECT array_agg(DISTINCT split_part(c, '=', 1) ORDER BY split_part(c, '=', 1))
                 FROM pg_db_role_setting s, unnest(s.setconfig) c
                 WHERE s.setrole = r.oid
                   AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())), '{}')
FROM pg_roles r WHERE r.rolname = ANY(%s) ORDER BY r.rolname
"""


@dataclass(frozen=True)
class Role:
    """A role as a backup describes it: no password, no setting values."""

    name: str
    reasons: tuple[str, ...] = ()  # why the database needs it (REASONS); empty: only a member
    attributes: tuple[str, ...] = ()  # non-default ones: LOGIN, SUPERUSER, NOINHERIT, CONNECTION LIMIT 5, …
    member_of: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()  # names of ALTER ROLE … SET parameters
    database_settings: tuple[str, ...] = ()  # names of ALTER ROLE … IN DATABASE … SET parameters

    def needed(self, owners: bool = True, privileges: bool = True) -> bool:
        """Does a restore need this role, given whether it restores owners and privileges?"""
        dropped = ({"owner"} if not owners else set()) | ({"privileges"} if not privileges else set())
        return bool(set(self.reasons) - dropped)


def _attributes(row: Sequence[object]) -> tuple[str, ...]:
    _, superuser, inherit, createrole, createdb, login, replication, bypassrls, connlimit = row[:9]
    out = [name for name, on in (("SUPERUSER", superuser), ("LOGIN", login), ("CREATEDB", createdb),
                                 ("CREATEROLE", createrole), ("REPLICATION", replication),
                                 ("BYPASSRLS", bypassrls)) if on]
    if not inherit:
        out.append("NOINHERIT")
    if isinstance(connlimit, int) and connlimit >= 0:
        out.append(f"CONNECTION LIMIT {connlimit}")
    return tuple(out)


def needed(conn: Conn) -> list[Role]:
    """Every role the current database refers to, plus the roles those are members of (memberships
    carry privileges). Runs in the caller's transaction."""
    refs = {str(name): tuple(str(w) for w in whys)  # type: ignore[attr-defined]
            for name, whys in conn.execute(_REFERENCES.format(ns=_NS)).fetchall()}
    names = set(refs)
    described: dict[str, Role] = {}
    while names - set(described):
        rows = conn.execute(_DESCRIBE, (sorted(names - set(described)),)).fetchall()
        if not rows:
            break
        for row in rows:
            name = str(row[0])
            member_of = tuple(str(g) for g in row[9] if not str(g).startswith("pg_"))  # type: ignore[attr-defined]
            described[name] = Role(name, refs.get(name, ()), _attributes(row), member_of,
                                   tuple(str(s) for s in row[10]), tuple(str(s) for s in row[11]))  # type: ignore[attr-defined]
            names.update(member_of)
    return [described[n] for n in sorted(described)]


def database_setting_names(conn: Conn) -> list[str]:
    """Names of the parameters set with ALTER DATABASE … SET for the current database."""
    rows = conn.execute(
        """SELECT DISTINCT split_part(c, '=', 1) FROM pg_db_role_setting s, unnest(s.setconfig) c
           WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
           ORDER BY 1""").fetchall()
    return [str(r[0]) for r in rows]


def existing(conn: Conn, names: Iterable[str]) -> set[str]:
    rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (sorted(set(names)),)).fetchall()
    return {str(r[0]) for r in rows}


def missing(conn: Conn, roles: Iterable[Role], owners: bool = True, privileges: bool = True) -> list[Role]:
    """The roles a restore needs (given what it restores) that the target server lacks."""
    wanted = [r for r in roles if r.needed(owners, privileges)]
    have = existing(conn, (r.name for r in wanted))
    return [r for r in wanted if r.name not in have]


# -- stand-ins ------------------------------------------------------------------------------------
def create(conn: Conn, roles: Sequence[Role], comment: str) -> list[str]:
    """Create each role NOLOGIN with no password (keeping NOINHERIT, the one attribute that changes
    what its grants mean), with ``comment`` (a drill's copy marker, or a note saying who made it),
    then grant the memberships the backup recorded among roles that now exist. Returns the names
    created (a role that appeared meanwhile is skipped). Each role is committed on its own, so a
    failure midway leaves roles that carry the comment, for the caller or a later sweep."""
    created: list[str] = []
    for role in roles:
        ident = sql.Identifier(role.name)
        inherit = sql.SQL("NOINHERIT" if "NOINHERIT" in role.attributes else "INHERIT")
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN {}").format(ident, inherit))
                conn.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(ident, sql.Literal(comment)))
        except psycopg.errors.DuplicateObject:
            continue
        created.append(role.name)
    have = existing(conn, {g for r in roles for g in r.member_of})
    for role in roles:
        if role.name not in created:
            continue
        for group in role.member_of:
            if group in have or group in created:
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role.name)))
    return created


def comment_of(conn: Conn, name: str) -> str | None:
    row = conn.execute("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
                       (name,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def drop(conn: Conn, names: Iterable[str], comment: str) -> tuple[list[str], list[str]]:
    """Drop the roles created with ``comment`` (and only those: each must still carry it). Returns
    (one line per role that could not be dropped, the roles still used by another database — another
    run's copy on a shared server: left for the sweep once that copy is gone). Never raises for a role."""
    problems: list[str] = []
    in_use: list[str] = []
    for name in names:
        try:
            if comment_of(conn, name) != comment:
                problems.append(f"{name}: not dropped, it no longer carries the comment pgdrill gave it")
                continue
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        except psycopg.errors.DependentObjectsStillExist:
            in_use.append(name)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problems.append(f"{name}: {first}")
    return problems, in_use


def commented(conn: Conn, prefix: str) -> list[tuple[str, str]]:
    """(name, comment) of the roles whose comment starts with ``prefix`` (pgdrill's copy markers)."""
    rows = conn.execute("SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles "
                        "WHERE starts_with(coalesce(shobj_description(oid, 'pg_authid'), ''), %s)",
                        (prefix,)).fetchall()
    return [(str(n), str(c)) for n, c in rows]
