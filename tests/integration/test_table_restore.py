"""`restore --table` of a stored backup (schema and rows): the table comes back whole — its rows,
defaults with the sequences they draw from (serial and identity columns), constraints, indexes,
grants, comments and policies — whatever order Python happens to iterate in (each run below uses
another hash seed; entry kinds that start with another, TABLE DATA and TABLE, once depended on it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from pgdrill.pg.conn import DatabaseUrl

from support.postgres import PgServer
from support.runner import pgdrill_process

ROLE = f"pgdrill_reader_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def backed_up(pg: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    src = pg.create_database()
    with psycopg.connect(pg.admin_url.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {ROLE} NOLOGIN")
    with psycopg.connect(src.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, ref int GENERATED ALWAYS AS IDENTITY, "
                     "total numeric NOT NULL CHECK (total >= 0), note text DEFAULT 'none')")
        conn.execute("INSERT INTO orders (total) SELECT g FROM generate_series(1, 250) g")
        conn.execute("CREATE INDEX orders_total ON orders (total)")
        conn.execute(f"GRANT SELECT ON orders TO {ROLE}")
        conn.execute(f"GRANT SELECT (total) ON orders TO {ROLE}")
        conn.execute("COMMENT ON TABLE orders IS 'what customers bought'")
        conn.execute("ALTER TABLE orders ENABLE ROW LEVEL SECURITY")
        conn.execute(f"CREATE POLICY readers ON orders FOR SELECT TO {ROLE} USING (total > 10)")
        conn.execute("CREATE TABLE other (id serial PRIMARY KEY)")  # not asked for: stays out
    store = str(tmp_path_factory.mktemp("table-restore") / "store")
    r = pgdrill_process("backup", "--database-url", src.conninfo(), "--store", store)
    assert r.code == 0, r.text
    pg.drop_database(src.dbname)
    yield store
    with psycopg.connect(pg.admin_url.conninfo(), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {ROLE}")


@pytest.mark.parametrize("seed", ["0", "1", "2", "3", "4", "5"])
def test_a_table_comes_back_whole(pg: PgServer, backed_up: str, seed: str) -> None:
    target: DatabaseUrl = pg.create_database()
    try:
        r = pgdrill_process("restore", "latest", "--store", backed_up, "--target-url", target.conninfo(),
                            "--table", "public.orders", env={"PYTHONHASHSEED": seed})
        assert r.code == 0, r.text
        with psycopg.connect(target.conninfo()) as conn:
            one = lambda q: conn.execute(q).fetchone()[0]  # type: ignore[index]  # noqa: E731
            assert one("SELECT count(*) FROM orders") == 250
            # the sequences came with their table, at their values: new rows continue after the old ones
            conn.execute("INSERT INTO orders (total) VALUES (1)")
            assert one("SELECT max(id) FROM orders") == 251 and one("SELECT max(ref) FROM orders") == 251
            assert one("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_total'") == 1
            assert one("SELECT obj_description('orders'::regclass)") == "what customers bought"
            assert one(f"SELECT has_table_privilege('{ROLE}', 'orders', 'SELECT')") is True
            assert one(f"SELECT has_column_privilege('{ROLE}', 'orders', 'total', 'SELECT')") is True
            assert one("SELECT count(*) FROM pg_policies WHERE tablename = 'orders'") == 1
            assert one("SELECT relrowsecurity FROM pg_class WHERE relname = 'orders'") is True
            assert one("SELECT to_regclass('public.other') IS NULL") is True
            conn.rollback()
    finally:
        pg.drop_database(target.dbname)
