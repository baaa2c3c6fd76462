"""Nothing pg_dump keeps is lost: owners, grants, default privileges, policies, database settings and
the roles they name come back with DEFAULT options; a target without the roles is refused before
it is touched; a drill into a server that has none of them passes and leaves no role behind."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgdrill.manifest import Manifest
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.sources.backup import StoredBackupSource
from pgdrill.sources.markers import PREFIX, Marker
from pgdrill.store import open_store

from support.fingerprint import fingerprint, load_hard_content
from support.grants import AppRoles, apply_grants, create_roles, drop_roles, server_roles
from support.postgres import PgServer, start_local_from
from support.runner import pgdrill


@pytest.fixture(scope="module")
def app_roles(pg: PgServer) -> Iterator[AppRoles]:
    roles = create_roles(pg.admin_url)
    yield roles
    drop_roles(pg.admin_url, roles.names)


@pytest.fixture(scope="module")
def granted(pg: PgServer, app_roles: AppRoles) -> Iterator[DatabaseUrl]:
    """hard_content.sql plus owners, grants, default privileges, a policy and database settings."""
    url = pg.create_database()
    load_hard_content(url)
    apply_grants(url, app_roles)
    yield url
    pg.drop_database(url.dbname)


def _backup(capsys: pytest.CaptureFixture[str], url: DatabaseUrl, store: str, *extra: str) -> dict[str, Any]:
    r = pgdrill(capsys, "backup", "--database-url", url.conninfo(), "--store", store, "--json", *extra)
    assert r.code == 0, r.err
    return r.json()  # type: ignore[no-any-return]


def _tables(url: DatabaseUrl) -> int:
    with psycopg.connect(url.conninfo()) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                           "'information_schema')").fetchone()
        return int(row[0]) if row else 0


def _marked_roles(admin: DatabaseUrl) -> list[str]:
    with psycopg.connect(admin.conninfo()) as conn:
        return [str(r[0]) for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE %s", (PREFIX + "%",))]


# -- the default round trip --------------------------------------------------------------------------
def test_default_round_trip_keeps_owners_grants_and_database_settings(
        capsys: pytest.CaptureFixture[str], granted: DatabaseUrl, app_roles: AppRoles, target_db: DatabaseUrl,
        store_url: str) -> None:
    doc = _backup(capsys, granted, store_url)
    needed = {r["name"]: r for r in doc["roles"]["needed"]}
    assert {app_roles.owner, app_roles.ro, app_roles.rw} <= set(needed)
    assert needed[app_roles.owner]["reasons"] == ["owner", "privileges"]
    assert needed[app_roles.rw]["attributes"] == ["LOGIN"] and needed[app_roles.rw]["member_of"] == [app_roles.ro]
    assert needed[app_roles.rw]["settings"] == ["statement_timeout"]
    assert needed[app_roles.rw]["database_settings"] == ["work_mem"]
    assert "policy" in needed[app_roles.ro]["reasons"]
    assert doc["roles"]["database_settings"] == ["TimeZone", "bytea_output", "search_path"]
    assert doc["materialized_views"] == {"app.invoice_totals": 1}
    assert doc["privileges"]["count"] > 25
    assert doc["privileges"]["objects"]["table app.everything"][0] == app_roles.owner
    assert doc["sequences"]['Billing.Invoice_InvoiceID_seq'] == 9001

    r = pgdrill(capsys, "restore", doc["id"], "--store", store_url, "--target-url", target_db.conninfo(), "--json")
    assert r.code == 0, r.err
    res = r.json()
    assert res["error_count"] == 0 and res["owners"] is True and res["privileges"] is True
    assert res["created_roles"] == [] and res["database_settings"] == 4
    # pg_dump's own text of both (owners and privileges included), rows, sequences, large objects
    # with their owners and ACLs, and the database-level settings: all identical.
    assert fingerprint(target_db, owners=True) == fingerprint(granted, owners=True)


def test_the_roles_file_never_holds_a_password(capsys: pytest.CaptureFixture[str], granted: DatabaseUrl,
                                               app_roles: AppRoles, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    doc = _backup(capsys, granted, store)
    with psycopg.connect(granted.conninfo()) as conn:  # the role really has a password, hashed
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (app_roles.rw,)).fetchone()
    assert row and str(row[0]).startswith("SCRAM-SHA-256$")
    roles_sql = (tmp_path / "store" / doc["roles"]["object_key"]).read_text()
    assert f"CREATE ROLE {app_roles.rw};" in roles_sql and f"GRANT {app_roles.ro} TO {app_roles.rw}" in roles_sql
    manifest = (tmp_path / "store" / "backups" / doc["id"] / "manifest.json").read_text()
    for text in (roles_sql, manifest):
        assert app_roles.password not in text and "SCRAM-SHA-256" not in text and "md5" not in text
        assert " PASSWORD " not in text.upper()
    # the setting values stay in the roles file; the manifest names the settings only
    assert "'30s'" in roles_sql and "30s" not in manifest and "Asia/Tokyo" not in manifest


def test_encrypted_backup_encrypts_the_roles_file_too(capsys: pytest.CaptureFixture[str], granted: DatabaseUrl,
                                                      tmp_path: Path) -> None:
    from pgdrill.crypto import generate_identity

    _, recipient = generate_identity()
    doc = _backup(capsys, granted, str(tmp_path / "store"), "--encrypt-to", recipient)
    assert doc["roles"]["object_key"].endswith("roles.sql.age")
    data = (tmp_path / "store" / doc["roles"]["object_key"]).read_bytes()
    assert data.startswith(b"age-encryption.org/v1") and b"CREATE ROLE" not in data


# -- a target without the roles ----------------------------------------------------------------------
def test_restore_into_a_fresh_server_refuses_lists_the_roles_then_does_what_it_is_told(
        capsys: pytest.CaptureFixture[str], granted: DatabaseUrl, app_roles: AppRoles, fresh_server: PgServer,
        store_url: str) -> None:
    doc = _backup(capsys, granted, store_url)
    target = fresh_server.create_database("restored")
    r = pgdrill(capsys, "restore", doc["id"], "--store", store_url, "--target-url", target.conninfo())
    assert r.code == 2, r.err
    [line] = [ln for ln in r.err.splitlines() if ln.startswith("pgdrill: error:")]
    for name in (app_roles.owner, app_roles.ro, app_roles.rw):
        assert name in line
    assert "--create-roles" in line and "--no-owner" in line
    assert _tables(target) == 0  # refused before anything was written

    assert f"{app_roles.owner} (owner, privileges)" in line and f"{app_roles.rw} (privileges, setting)" in line

    # on purpose: no owners, no grants — the owner is no longer needed; the policy's role and the role
    # with a setting in the database still are
    plain = fresh_server.create_database("plain")
    r = pgdrill(capsys, "restore", doc["id"], "--store", store_url, "--target-url", plain.conninfo(),
                "--no-owner", "--no-privileges", "--json")
    assert r.code == 2 and app_roles.owner not in r.err and f"{app_roles.ro} (" in r.err, r.err
    assert _tables(plain) == 0

    # --create-roles: NOLOGIN stand-ins without passwords, said so, and everything restored as it was
    r = pgdrill(capsys, "restore", doc["id"], "--store", store_url, "--target-url", target.conninfo(), "--json")
    assert r.code == 2  # still refused: nothing was created by the --no-owner restore
    r = pgdrill(capsys, "restore", doc["id"], "--store", store_url, "--target-url", target.conninfo(),
                "--create-roles", "--json")
    assert r.code == 0, r.err
    res = r.json()
    assert set(res["created_roles"]) >= {app_roles.owner, app_roles.ro, app_roles.rw}
    assert "NOLOGIN, no password" in r.err
    with psycopg.connect(fresh_server.admin_url.conninfo()) as conn:
        rows = conn.execute("SELECT rolname, rolcanlogin, rolpassword, rolsuper FROM pg_authid WHERE rolname = ANY(%s)",
                            (res["created_roles"],)).fetchall()
        member = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (app_roles.rw, app_roles.ro)).fetchone()
    assert rows and all(not login and password is None and not su for _, login, password, su in rows)
    assert member == (True,)
    source, restored = fingerprint(granted, owners=True), fingerprint(target, owners=True)
    assert restored == source


# -- drills ------------------------------------------------------------------------------------------
def test_drill_into_a_fresh_server_passes_checks_privileges_and_leaves_no_role(
        capsys: pytest.CaptureFixture[str], granted: DatabaseUrl, app_roles: AppRoles, fresh_server: PgServer,
        store_url: str) -> None:
    _backup(capsys, granted, store_url)
    # what a killed run left is swept; what a live run on the same server made is not
    dead = subprocess.Popen(["true"])
    dead.wait()
    long_ago = datetime(2000, 1, 1, tzinfo=timezone.utc)
    with psycopg.connect(fresh_server.admin_url.conninfo(), autocommit=True) as conn:
        for name, m in (("left_by_killed_run", replace(Marker.new(long_ago), pid=dead.pid, started=0)),
                        ("made_by_live_run", Marker.new(long_ago))):  # this process: alive
            conn.execute(f"CREATE ROLE {name} NOLOGIN")  # type: ignore[arg-type]
            conn.execute(f"COMMENT ON ROLE {name} IS '{m.to_text()}'")  # type: ignore[arg-type]
    before = server_roles(fresh_server.admin_url) - {"left_by_killed_run"}
    r = pgdrill(capsys, "drill", "--store", store_url, "--scratch-url", fresh_server.admin_url.conninfo(), "--json")
    assert r.code == 0, r.out + r.err
    checks = {c["name"]: c for c in r.json()["checks"]}
    assert all(c["status"] == "pass" for c in checks.values()), checks
    assert "with the owners and grants of the manifest" in checks["privileges"]["detail"]
    assert "stand-in role(s)" in checks["cleanup"]["detail"] and "dropped" in checks["cleanup"]["detail"]
    assert server_roles(fresh_server.admin_url) == before
    assert _marked_roles(fresh_server.admin_url) == ["made_by_live_run"]
    assert "removed copy role left_by_killed_run left by an earlier run" in r.err


def test_privileges_check_fails_on_a_lost_grant(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                granted: DatabaseUrl, app_roles: AppRoles, tmp_path: Path) -> None:
    from pgdrill.drill import DrillRequest, DrillSettings, run_drill

    store = str(tmp_path / "store")
    _backup(capsys, granted, store)

    def lose_grant(url: DatabaseUrl) -> None:
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute(f"REVOKE SELECT ON app.everything FROM {app_roles.ro}")  # type: ignore[arg-type]

    source = StoredBackupSource(scratch_url=pg.admin_url, prefix="t_fid_priv", store=open_store(store))
    res = run_drill(source, DrillRequest(tamper=lose_grant, save=False,
                                         settings=DrillSettings(scratch_prefix="t_fid_priv")))
    priv = {c.name: c for c in res.record.checks}["privileges"]
    assert priv.status == "fail" and res.passed is False
    assert priv.items[0].startswith("table app.everything: manifest owner")
    assert f"{app_roles.ro}=r/" in priv.items[0]


def test_sequence_already_behind_in_the_source_is_a_warning(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                             tmp_path: Path) -> None:
    from pgdrill.drill import DrillRequest, DrillSettings, run_drill

    src = pg.create_database()
    try:
        with psycopg.connect(src.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id serial PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 50);"
                         "SELECT setval('t_id_seq', 20)")  # the source's own bug: next INSERT collides
        store = str(tmp_path / "store")
        _backup(capsys, src, store)
        source = StoredBackupSource(scratch_url=pg.admin_url, prefix="t_fid_seq", store=open_store(store))
        res = run_drill(source, DrillRequest(save=False, settings=DrillSettings(scratch_prefix="t_fid_seq")))
        seq = {c.name: c for c in res.record.checks}["sequences"]
        assert seq.status == "warn" and "already behind their column in the source" in seq.detail
        assert seq.items == ("public.t_id_seq: last_value 20, max(public.t.id) = 50, as in the source",)
        assert res.passed is True
    finally:
        pg.drop_database(src.dbname)


# -- scope options ----------------------------------------------------------------------------------
def test_scope_options_are_recorded_and_left_out_tables_are_not_failures(
        capsys: pytest.CaptureFixture[str], pg: PgServer, granted: DatabaseUrl, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    doc = _backup(capsys, granted, store, "--exclude-table-data", "app.everything", "--exclude-table",
                  "app.parent_t", "--exclude-table", "app.child_t", "--exclude-schema", "audit")
    assert doc["scope"]["exclude_table_data"] == ["app.everything"]
    assert doc["scope"]["data_excluded_tables"] == ["app.everything"]
    assert doc["scope"]["excluded_tables"] == ["app.child_t", "app.parent_t"]
    assert "app.everything" not in doc["tables"] and "app.parent_t" not in doc["tables"]
    assert "audit" not in doc["schemas"] and "audit.log" not in doc["tables"]
    assert "Billing.Invoice" in doc["tables"] and "hstore" in doc["extensions"]
    r = pgdrill(capsys, "drill", "--store", store, "--scratch-url", pg.admin_url.conninfo(), "--json")
    checks = {c["name"]: c for c in r.json()["checks"]}
    # the trigger function lived in the excluded schema: the restore reports it, the rest is judged fairly
    assert checks["row counts"]["status"] == "pass", checks["row counts"]
    assert "1 table without rows and 2 tables left out on purpose" in checks["row counts"]["detail"]
    assert checks["schemas"]["status"] == "pass" and checks["sequences"]["status"] == "pass"

    r = pgdrill(capsys, "backup", "--database-url", granted.conninfo(), "--store", str(tmp_path / "x"),
                "--schema", "Billing")  # unquoted: folded to lower case, as pg_dump does
    assert r.code == 2 and "no schema matches --schema Billing" in r.err
    only = _backup(capsys, granted, str(tmp_path / "only"), "--schema", '"Billing"')
    assert only["schemas"] == ["Billing"] and list(only["tables"]) == ["Billing.Invoice"]
    assert only["extensions"] == {} and "app.invoice_totals" not in only["materialized_views"]
    assert all(k.split()[-1].startswith(("Billing.", "Billing")) or k.startswith("schema Billing")
               for k in only["privileges"]["objects"]), only["privileges"]["objects"]
    table = _backup(capsys, granted, str(tmp_path / "table"), "--table", '"Billing"."Invoice"')
    assert list(table["tables"]) == ["Billing.Invoice"] and table["schemas"] == []
    assert list(table["sequences"]) == ["Billing.Invoice_InvoiceID_seq"]


# -- whole clusters ---------------------------------------------------------------------------------
def test_all_databases_round_trip(capsys: pytest.CaptureFixture[str], fresh_server: PgServer,
                                  tmp_path: Path) -> None:
    """Three databases sharing roles: one run, roles once, each database its own backup; restored into
    another fresh server with --create-roles, every database identical."""
    src = fresh_server
    roles = create_roles(src.admin_url)
    urls = [src.create_database(name) for name in ("shop", "billing", "crm")]
    load_hard_content(urls[0])
    apply_grants(urls[0], roles)
    for url in urls[1:]:
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA app AUTHORIZATION {roles.owner}; "  # type: ignore[arg-type]
                         "CREATE TABLE app.t (id serial PRIMARY KEY, v text); "
                         f"ALTER TABLE app.t OWNER TO {roles.owner};"
                         f"GRANT SELECT ON app.t TO {roles.ro}; INSERT INTO app.t (v) SELECT 'v' || g "
                         f"FROM generate_series(1, 100) g; ALTER DATABASE {url.dbname} SET timezone TO 'UTC'")
    store = str(tmp_path / "store")
    r = pgdrill(capsys, "backup", "--all-databases", "--database-url", src.admin_url.conninfo(), "--store", store,
                "--json")
    assert r.code == 0, r.err
    doc = r.json()
    run_id = doc["run_id"]
    assert [b["database"] for b in doc["backups"]] == ["billing", "crm", "postgres", "shop"]
    assert {b["run_id"] for b in doc["backups"]} == {run_id}
    sha = {b["roles"]["sha256"] for b in doc["backups"]}
    assert len(sha) == 1  # the roles were taken once for the run

    r = pgdrill(capsys, "list", "--store", store)
    assert r.code == 0 and f"run {run_id}" in r.out
    assert src.cluster is not None
    dest = start_local_from(src.cluster.bin_dir)
    try:
        # a drill of the run: each database its own scratch copy and record, stand-in roles dropped after
        before = server_roles(dest.admin_url)
        r = pgdrill(capsys, "drill", "--backup", run_id, "--store", store, "--scratch-url", dest.admin_url.conninfo(),
                    "--json")
        assert r.code == 0, r.out + r.err
        drills = r.json()["drills"]
        assert [d["source_database"] for d in drills] == ["billing", "crm", "postgres", "shop"]
        assert all(d["passed"] for d in drills) and server_roles(dest.admin_url) == before
        r = pgdrill(capsys, "restore", run_id, "--store", store, "--target-url", dest.admin_url.conninfo(), "--json")
        assert r.code == 2 and roles.owner in r.err  # the roles are missing: refused before anything
        r = pgdrill(capsys, "restore", run_id, "--store", store, "--target-url", dest.admin_url.conninfo(),
                    "--create-roles", "--json")
        assert r.code == 0, r.err
        assert [d["ok"] for d in r.json()["databases"]] == [True] * 4
        for url in urls:
            assert fingerprint(dest.url(url.dbname), owners=True) == fingerprint(url, owners=True), url.dbname
    finally:
        assert dest.cluster is not None
        dest.cluster.destroy()


def test_manifest_of_an_old_backup_still_parses() -> None:
    """Manifests written before roles/privileges/sequences were kept stay valid (fields optional)."""
    m = Manifest.model_validate({
        "id": "20260101T000000000Z-0123456789ab", "created_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:00:01Z", "database": "d", "host": "h", "port": 5432, "size": 1,
        "sha256": "0" * 64, "object_key": "backups/20260101T000000000Z-0123456789ab/archive.pgdump",
        "server_version": "16.4", "pg_dump_version": "16.4", "pgdrill_version": "0.1.0"})
    assert m.roles is None and m.privileges is None and m.sequences is None and m.run_id is None


def test_a_stand_in_another_copy_still_uses_is_left_for_a_later_sweep(pg: PgServer) -> None:
    """Two drills on one scratch server need the same role: the first made it, the second found it.
    When the first ends, the role still owns the second's objects: left (not a failure), swept later."""
    from pgdrill.pg import roles

    name = f"fid_shared_{uuid.uuid4().hex[:6]}"
    other = pg.create_database()
    try:
        with psycopg.connect(pg.admin_url.conninfo(), autocommit=True) as conn:
            assert roles.create(conn, [roles.Role(name, ("owner",))], "pgdrill-copy:test") == [name]
            assert roles.create(conn, [roles.Role(name, ("owner",))], "pgdrill-copy:test") == []  # exists: skipped
        with psycopg.connect(other.conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE TABLE t (id int); ALTER TABLE t OWNER TO {name}")  # type: ignore[arg-type]
        with psycopg.connect(pg.admin_url.conninfo(), autocommit=True) as conn:
            assert roles.drop(conn, [name], "pgdrill-copy:other") == (
                [f"{name}: not dropped, it no longer carries the comment pgdrill gave it"], [])
            assert roles.drop(conn, [name], "pgdrill-copy:test") == ([], [name])
    finally:
        pg.drop_database(other.dbname)
    with psycopg.connect(pg.admin_url.conninfo(), autocommit=True) as conn:
        assert roles.drop(conn, [name], "pgdrill-copy:test") == ([], [])
        assert roles.existing(conn, [name]) == set()
