"""Owners, grants, default privileges, policies and database settings on top of hard_content.sql:
what a real application database carries besides its rows, and what a restore must bring back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg

from pgdrill.pg.conn import DatabaseUrl

# {owner} owns the app schema's objects, {ro} reads, {rw} (LOGIN, with a password) writes, {app} is
# only a member of {rw}. Everything pg_dump writes as ALTER … OWNER, GRANT/REVOKE or ALTER DEFAULT
# PRIVILEGES is here: schema, table, column, sequence, function, procedure, type and large-object
# privileges, a changed public schema, a policy naming a role, and database-level settings.
GRANTS_SQL = """
ALTER SCHEMA app OWNER TO {owner};
ALTER TABLE app.everything OWNER TO {owner};
ALTER TABLE app.tenant_data OWNER TO {owner};
ALTER TYPE app.mood OWNER TO {owner};
ALTER FUNCTION audit.log_invoice() OWNER TO {owner};
GRANT USAGE ON SCHEMA app TO {ro};
GRANT SELECT ON ALL TABLES IN SCHEMA app TO {ro};
GRANT INSERT, UPDATE ON app.everything TO {rw};
GRANT SELECT (tenant), UPDATE (secret) ON app.tenant_data TO {rw};
GRANT USAGE, SELECT ON SEQUENCE "Billing"."Invoice_InvoiceID_seq" TO {rw};
REVOKE EXECUTE ON FUNCTION audit.log_invoice() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.log_invoice() TO {rw};
CREATE PROCEDURE app.touch() LANGUAGE sql AS $$ SELECT 1 $$;
REVOKE EXECUTE ON PROCEDURE app.touch() FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE app.touch() TO {ro};
GRANT USAGE ON TYPE app.mood TO {rw};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA app GRANT SELECT ON TABLES TO {ro};
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT USAGE ON SEQUENCES TO {rw};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CREATE ON SCHEMA public TO {owner};
CREATE POLICY readers_see_all ON app.tenant_data TO {ro} USING (true);
DO $$ BEGIN
  EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO {ro}', (SELECT min(oid) FROM pg_largeobject_metadata));
  EXECUTE format('ALTER LARGE OBJECT %s OWNER TO {owner}', (SELECT max(oid) FROM pg_largeobject_metadata));
END $$;
ALTER DATABASE {db} SET timezone TO 'Asia/Tokyo';
ALTER DATABASE {db} SET bytea_output TO 'escape';
ALTER DATABASE {db} SET search_path TO app, public;
ALTER ROLE {rw} IN DATABASE {db} SET work_mem TO '8MB';
"""


@dataclass(frozen=True)
class AppRoles:
    owner: str
    ro: str
    rw: str
    app: str
    password: str

    @property
    def names(self) -> list[str]:
        return [self.owner, self.ro, self.rw, self.app]


def create_roles(admin: DatabaseUrl) -> AppRoles:
    """Four roles with names of their own (roles are cluster-wide; tests share the server)."""
    tag = uuid.uuid4().hex[:6]
    r = AppRoles(f"fid_{tag}_owner", f"fid_{tag}_ro", f"fid_{tag}_rw", f"fid_{tag}_app", f"sekrit-{uuid.uuid4().hex}")
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {r.owner} NOLOGIN")  # type: ignore[arg-type]
        conn.execute(f"CREATE ROLE {r.ro} NOLOGIN")  # type: ignore[arg-type]
        conn.execute(f"CREATE ROLE {r.rw} LOGIN PASSWORD '{r.password}' IN ROLE {r.ro}")  # type: ignore[arg-type]
        conn.execute(f"CREATE ROLE {r.app} LOGIN IN ROLE {r.rw}")  # type: ignore[arg-type]
        conn.execute(f"ALTER ROLE {r.rw} SET statement_timeout = '30s'")  # type: ignore[arg-type]
    return r


def apply_grants(url: DatabaseUrl, r: AppRoles) -> None:
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute(GRANTS_SQL.format(owner=r.owner, ro=r.ro, rw=r.rw, db=f'"{url.dbname}"'))  # type: ignore[arg-type]


def drop_roles(admin: DatabaseUrl, names: list[str]) -> None:
    """Drop roles once the databases that used them are gone."""
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        for name in reversed(names):
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')  # type: ignore[arg-type]


def server_roles(admin: DatabaseUrl) -> set[str]:
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        return {str(r[0]) for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_'")}
