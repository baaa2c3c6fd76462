"""The pure parts of keeping what pg_dump keeps: scope patterns, heads as tools print them, error
lines, database settings renamed, the compact privileges form, roles' needs, whole-cluster runs."""

from __future__ import annotations

import pytest
from psycopg import sql

from pgdrill.catalog import Catalog
from pgdrill.checks.contents import behind_source, sequence_behind
from pgdrill.checks.migration import parse_expected
from pgdrill.errors import ConfigError, IntegrityError, NotFound
from pgdrill.manifest import Manifest
from pgdrill.pg import privileges
from pgdrill.pg.privileges import ObjectPrivileges
from pgdrill.pg.roles import Role
from pgdrill.pg.scope import Scope, pattern_regexes
from pgdrill.process import error_line
from pgdrill.restore import MissingRoles, database_settings, kept_comment
from pgdrill.sources.markers import PREFIX, Marker


# -- pg_dump patterns, as patternToSQLRegex makes them ------------------------------------------------
@pytest.mark.parametrize(("pattern", "regexes"), [
    ("app.*", ["^(app)$", "^(.*)$"]),
    ('"Billing"."Invoice"', ["^(Billing)$", "^(Invoice)$"]),
    ("Orders", ["^(orders)$"]),  # unquoted names fold to lower case
    ("tab?e", ["^(tab.e)$"]),
    ('"a.b"', ["^(a\\.b)$"]),  # a dot inside quotes is a character, escaped for the regex
    ('"x""y"', ['^(x"y)$']),
    ("a$b", ["^(a\\$b)$"]),
    ("s.t*_log", ["^(s)$", "^(t.*_log)$"]),
])
def test_pattern_regexes_follow_psql(pattern: str, regexes: list[str]) -> None:
    assert pattern_regexes(pattern) == regexes


def test_scope_dump_args_and_validation() -> None:
    s = Scope(schemas=("app",), tables=("app.t",), exclude_schemas=("tmp",), exclude_tables=("app.log",),
              exclude_table_data=("app.big",))
    assert s.dump_args() == ["--schema=app", "--table=app.t", "--exclude-schema=tmp", "--exclude-table=app.log",
                             "--exclude-table-data=app.big"]
    assert not s.whole and not s.everything
    assert Scope().whole and Scope(exclude_tables=("x",)).everything
    with pytest.raises(ConfigError, match="--table is empty"):
        Scope(tables=(" ",)).validate()
    with pytest.raises(ConfigError, match="too many dotted parts"):
        Scope(schemas=("a.b",)).validate()
    with pytest.raises(ConfigError, match="too many dotted parts"):
        Scope(tables=("db.s.t",)).validate()


# -- heads as the tools print them ----------------------------------------------------------------
@pytest.mark.parametrize(("stdout", "heads"), [
    ("3f2a9c1b7d4e (head)\n", {"3f2a9c1b7d4e"}),
    ("3f2a9c1b7d4e (head) (effective head)\nae1027a6acf (head)\n", {"3f2a9c1b7d4e", "ae1027a6acf"}),
    ("INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n3f2a (head)\n", {"3f2a"}),
    ("Using environment: production\nCurrent Version: 20261201193401\n", {"20261201193401"}),
    ("Current Version: none\n", set()),
    ("auth.0012_alter_user\nshop.0002_price\n", {"auth.0012_alter_user", "shop.0002_price"}),
    ("a1,b2\n", {"a1", "b2"}),
    ("\n\n", set()),
])
def test_expected_command_output_forms(stdout: str, heads: set[str]) -> None:
    assert parse_expected(stdout) == heads


def test_error_line_is_the_line_that_states_the_error() -> None:
    sqlalchemy = "\n".join([
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        'psycopg.errors.CheckViolation: check constraint "no_debt" of relation "accounts" is violated by some row',
        "",
        "The above exception was the direct cause of the following exception:",
        "sqlalchemy.exc.IntegrityError: (psycopg.errors.CheckViolation) check constraint \"no_debt\" of relation "
        "\"accounts\" is violated by some row",
        "[SQL: ALTER TABLE app.accounts ADD CONSTRAINT no_debt CHECK (balance >= 0)]",
        "(Background on this error at: https://sqlalche.me/e/21/gkpj)",
    ])
    assert error_line(sqlalchemy).startswith("sqlalchemy.exc.IntegrityError: (psycopg.errors.CheckViolation)")
    assert error_line("NOTICE: x\npsql:migrate.sql:3: ERROR:  relation \"t\" does not exist\nLINE 1: …") \
        == 'psql:migrate.sql:3: ERROR:  relation "t" does not exist'
    assert error_line("npm ERR! missing script: release:check\n\nnpm ERR! A complete log …") \
        == "npm ERR! A complete log …"
    assert error_line("step 1\nstep 2 went wrong somehow\n") == "step 2 went wrong somehow"
    assert error_line("") == ""


# -- database-level settings from pg_restore --create, renamed -----------------------------------------
def test_database_settings_are_renamed_to_the_target() -> None:
    script = "\n".join([
        "CREATE DATABASE \"Shop DB\" WITH TEMPLATE = template0;",
        "\\connect -reuse-previous=on \"dbname='Shop DB'\"",
        'ALTER DATABASE "Shop DB" SET "TimeZone" TO \'Asia/Tokyo\';',
        "ALTER DATABASE \"Shop DB\" SET search_path TO 'app', 'public';",
        "ALTER DATABASE \"Shop DB\" SET application_name TO 'two",
        "lines';",
        'ALTER ROLE app_rw IN DATABASE "Shop DB" SET work_mem TO \'8MB\';',
        'ALTER ROLE "Odd ""Role""" IN DATABASE "Shop DB" SET statement_timeout TO \'5s\';',
        "ALTER DATABASE \"Shop DB\" OWNER TO postgres;",
    ])
    out = [s.as_string(None) for s in database_settings(script, "scratch_1")]  # type: ignore[arg-type]
    assert out == [
        'ALTER DATABASE "scratch_1" SET "TimeZone" TO \'Asia/Tokyo\';',
        "ALTER DATABASE \"scratch_1\" SET search_path TO 'app', 'public';",
        "ALTER DATABASE \"scratch_1\" SET application_name TO 'two\nlines';",
        'ALTER ROLE app_rw IN DATABASE "scratch_1" SET work_mem TO \'8MB\';',
        'ALTER ROLE "Odd ""Role""" IN DATABASE "scratch_1" SET statement_timeout TO \'5s\';',
    ]
    assert all(isinstance(s, sql.Composed) for s in database_settings(script, "x"))


# -- the compact privileges form ----------------------------------------------------------------------
def test_privileges_compact_form_round_trips() -> None:
    objects = {
        "schema app": ObjectPrivileges("owner", None),
        "table app.a": ObjectPrivileges("owner", None),
        "table app.b": ObjectPrivileges("owner", "{owner=arwdDxt/owner,ro=r/owner}"),
        "function app.f(integer)": ObjectPrivileges("other", None),
        "column app.b.note": ObjectPrivileges(None, "{rw=w/owner}"),
        "default acl owner in app on tables": ObjectPrivileges(None, "{ro=r/owner}"),
    }
    usual, count, listed = privileges.compact(objects)
    assert usual == "owner" and count == 6
    assert set(listed) == {"table app.b", "function app.f(integer)", "column app.b.note",
                           "default acl owner in app on tables"}
    for key, want in objects.items():
        assert privileges.expand(usual, listed, key, privileges.has_own_owner(key)) == want


# -- roles ---------------------------------------------------------------------------------------
def test_which_roles_a_restore_needs() -> None:
    owner = Role("o", ("owner",))
    grantee = Role("g", ("privileges",))
    policy = Role("p", ("policy", "privileges"))
    member = Role("m")
    assert [r.name for r in (owner, grantee, policy, member) if r.needed()] == ["o", "g", "p"]
    assert [r.name for r in (owner, grantee, policy) if r.needed(owners=False)] == ["g", "p"]
    assert [r.name for r in (owner, grantee, policy) if r.needed(owners=False, privileges=False)] == ["p"]


def test_restore_create_roles_comment_is_never_taken_for_a_copy_marker() -> None:
    """Roles `restore --create-roles` makes stay: their comment is no copy marker a sweep would act on."""
    text = kept_comment("B1")
    assert "pgdrill restore --create-roles" in text and "NOLOGIN, no password" in text
    assert Marker.from_text(text) is None and not text.startswith(PREFIX)


def test_missing_roles_message_lists_each_role_and_why() -> None:
    exc = MissingRoles("B1", "postgresql://x@h:5432/db", [Role("app_owner", ("owner", "privileges")),
                                                         Role("app_ro", ("policy",))])
    line = exc.one_line()
    assert "app_owner (owner, privileges), app_ro (policy)" in line
    assert "--create-roles" in line and "--no-owner" in line and exc.exit_code == 2


# -- sequences ------------------------------------------------------------------------------------
def test_sequence_comparisons() -> None:
    assert behind_source(1, 1, 10, 2000) and not behind_source(1, 1, 2000, 2000) and not behind_source(1, 1, 9, None)
    assert behind_source(1, 1, None, 5)  # unset: the next value is the start
    assert behind_source(-1, -1, -5, -10) and not behind_source(-1, -1, -10, -10)  # descending
    assert sequence_behind(1, 1, 20, 50) and not sequence_behind(1, 1, 50, 50)


# -- whole-cluster runs in the catalog ---------------------------------------------------------------
def _m(i: int, db: str, run: str | None, planned: list[str]) -> Manifest:
    bid = f"20260101T00000{i}000Z-00000000000{i}"
    return Manifest.model_validate({
        "id": bid, "created_at": f"2026-01-01T00:00:0{i}Z", "finished_at": f"2026-01-01T00:00:0{i}Z",
        "database": db, "host": "h", "port": 5432, "size": 1, "sha256": "0" * 64,
        "object_key": f"backups/{bid}/archive.pgdump", "server_version": "16.4", "pg_dump_version": "16.4",
        "pgdrill_version": "0.1.0", "run_id": run, "run_databases": planned})


def test_catalog_finds_runs_and_refuses_incomplete_ones() -> None:
    run = "20260101T000000000Z-aaaaaaaaaaaa"
    cat = Catalog(backups=[_m(1, "b", run, ["a", "b"]), _m(2, "a", run, ["a", "b"]), _m(3, "c", None, [])])
    assert [m.database for m in cat.run(run[:18])] == ["a", "b"]
    assert cat.is_run(run) and not cat.is_run("latest") and not cat.is_run(cat.backups[2].id)
    with pytest.raises(NotFound):
        cat.run("20270101")
    broken = Catalog(backups=[_m(1, "b", run, ["a", "b"])])
    with pytest.raises(IntegrityError, match="incomplete: no complete backup of a"):
        broken.run(run)
