"""Point-in-time table restores from Neon branches: the accidental-DELETE scenario.

What the stand-in simulates: the "production" database is the stand-in's main branch (a real
database); a snapshot taken before the DELETE is what Neon's history would hold at that instant, so
the branch made "at T" holds the rows as they were. The copy back into production is real.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from pgdrill.errors import ConfigError, Refused, TargetError
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.providers.base import PitrProvider
from pgdrill.sources.branch import BranchSource
from pgdrill.table_restore import TableRestoreRequest, TableRestoreResult, run_table_restore

from support.neon_server import NeonStandIn, make_provider, nothing_left


def table_request(provider: PitrProvider, at: datetime | None, tables: tuple[str, ...], target: DatabaseUrl,
                  **kw: object) -> tuple[BranchSource, TableRestoreRequest]:
    """A table restore of ``tables`` from ``provider``'s branch at ``at`` into ``target``."""
    return BranchSource(provider, at=at), TableRestoreRequest(tables, target, **kw)  # type: ignore[arg-type]


def run_pitr_table_restore(request: tuple[BranchSource, TableRestoreRequest]) -> TableRestoreResult:
    return run_table_restore(*request)

def run(url: DatabaseUrl, *statements: str) -> None:
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        for s in statements:
            conn.execute(s)  # type: ignore[arg-type]


def rows(url: DatabaseUrl, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url.conninfo()) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


@pytest.fixture
def incident(neon: NeonStandIn) -> datetime:
    """10 users and their orders; at T-0 a snapshot; then 4 users deleted by mistake and one new
    user signs up. Returns an instant between the snapshot and the DELETE."""
    run(neon.main_url(),
        "CREATE SCHEMA app",
        "CREATE TABLE app.users (id serial PRIMARY KEY, email text NOT NULL UNIQUE)",
        "CREATE TABLE app.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "user_id int NOT NULL REFERENCES app.users(id) ON DELETE CASCADE, total numeric(10,2))",
        "INSERT INTO app.users (email) SELECT 'u' || g || '@example.com' FROM generate_series(1, 10) g",
        "INSERT INTO app.orders (user_id, total) SELECT 1 + g % 10, g * 1.5 FROM generate_series(1, 30) g")
    before = datetime.now(timezone.utc) - timedelta(minutes=30)
    neon.snapshot(before)
    run(neon.main_url(),
        "DELETE FROM app.users WHERE id IN (2, 3, 5, 8)",  # cascades: their orders go too
        "INSERT INTO app.users (email) VALUES ('new@example.com')")
    return before + timedelta(minutes=1)


def test_replacing_rows_is_refused_without_confirm_before_any_branch(neon: NeonStandIn, incident: datetime) -> None:
    req = table_request(make_provider(neon), incident, ("app.users",), neon.main_url())
    with pytest.raises(Refused) as info:
        run_pitr_table_restore(req)
    assert "app.users (7 rows)" in info.value.message
    assert f"--confirm {neon.main.physical}" in (info.value.hint or "")
    assert neon.calls("POST", "/branches") == []

    wrong = table_request(make_provider(neon), incident, ("app.users",), neon.main_url(), confirm="prod")
    with pytest.raises(ConfigError, match="--confirm names 'prod'"):
        run_pitr_table_restore(wrong)
    assert neon.calls("POST", "/branches") == []


def test_missing_only_puts_back_the_deleted_rows_and_keeps_the_new_ones(neon: NeonStandIn,
                                                                       incident: datetime) -> None:
    url = neon.main_url()
    req = table_request(make_provider(neon), incident, ("app.users", "app.orders"), url, missing_only=True)

    result = run_pitr_table_restore(req)

    by_table = {t.table: t for t in result.tables}
    assert [t.table for t in result.tables] == ["app.users", "app.orders"]  # referenced table first
    assert by_table["app.users"].inserted == 4 and by_table["app.users"].target_rows_after == 11
    assert by_table["app.orders"].branch_rows == 30 and by_table["app.orders"].target_rows_after == 30
    assert result.mode == "missing" and result.cleaned_up
    assert rows(url, "SELECT count(*) FROM app.users WHERE email = 'new@example.com'") == [(1,)]
    assert rows(url, "SELECT array_agg(id ORDER BY id) FROM app.users") == [([*range(1, 12)],)]
    # Sequences are past the copied keys: the next inserts get fresh ids.
    run(url, "INSERT INTO app.users (email) VALUES ('after@example.com')",
        "INSERT INTO app.orders (user_id, total) VALUES (2, 1)")
    assert rows(url, "SELECT max(id) FROM app.users") == [(12,)]
    nothing_left(neon)


def test_confirmed_replace_restores_the_tables_as_they_were(neon: NeonStandIn, incident: datetime) -> None:
    url = neon.main_url()
    req = table_request(make_provider(neon), incident, ("app.orders", "app.users"), url,
                                  confirm=neon.main.physical)

    result = run_pitr_table_restore(req)

    assert result.mode == "replace"
    assert {t.table: (t.target_rows_before, t.target_rows_after) for t in result.tables} == \
        {"app.users": (7, 10), "app.orders": (18, 30)}
    assert rows(url, "SELECT count(*) FROM app.users WHERE email = 'new@example.com'") == [(0,)]
    assert result.point_in_time == incident.replace(microsecond=0)
    post = neon.calls("POST", "/branches")[0].body["branch"]
    assert post["parent_timestamp"] == incident.strftime("%Y-%m-%dT%H:%M:%SZ")
    run(url, "INSERT INTO app.users (email) VALUES ('later@example.com')")  # the sequence did not collide
    nothing_left(neon)


def test_a_copy_that_fails_changes_nothing_and_deletes_the_branch(neon: NeonStandIn, incident: datetime) -> None:
    url = neon.main_url()
    # A column added after the instant, NOT NULL without default: the orders copy must fail.
    run(url, "ALTER TABLE app.orders ADD COLUMN currency text")
    run(url, "UPDATE app.orders SET currency = 'EUR'", "ALTER TABLE app.orders ALTER COLUMN currency SET NOT NULL")
    before_users = rows(url, "SELECT id, email FROM app.users ORDER BY id")
    req = table_request(make_provider(neon), incident, ("app.users", "app.orders"), url,
                                  confirm=neon.main.physical)

    with pytest.raises(TargetError) as info:
        run_pitr_table_restore(req)

    assert "currency" in info.value.message
    assert "nothing was changed" in (info.value.hint or "")
    assert rows(url, "SELECT id, email FROM app.users ORDER BY id") == before_users  # users copy rolled back too
    assert rows(url, "SELECT count(*) FROM app.orders") == [(18,)]
    nothing_left(neon)


def test_a_table_restore_needs_an_instant_tables_and_an_existing_target_table(neon: NeonStandIn,
                                                                               incident: datetime) -> None:
    url = neon.main_url()
    with pytest.raises(ConfigError, match="needs --at"):
        run_pitr_table_restore(table_request(make_provider(neon), None, ("app.users",), url))
    with pytest.raises(ConfigError, match="needs --table"):
        run_pitr_table_restore(table_request(make_provider(neon), incident, (), url))
    with pytest.raises(ConfigError, match=r"app\.nope does not exist on the target"):
        run_pitr_table_restore(table_request(make_provider(neon), incident, ("app.nope",), url))
    run(url, "CREATE TABLE app.notes (body text)")
    with pytest.raises(ConfigError, match="--missing-only needs a primary key"):
        run_pitr_table_restore(table_request(make_provider(neon), incident, ("app.notes",), url,
                                                       missing_only=True))
    assert neon.calls("POST", "/branches") == []
