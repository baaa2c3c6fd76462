"""The benchmark database: pgbench tables plus a table of wide rows (jsonb, text, bytea)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

import psycopg

from pgdrill.pg.cluster import LocalCluster
from pgdrill.pg.conn import DatabaseUrl

MB = 1_000_000
# Measured on PostgreSQL 15: bytes on disk per pgbench scale unit (tables + indexes) and per wide row.
PGBENCH_PER_SCALE = 15_400_000
WIDE_ROW = 1_950

WIDE_TABLE = """
CREATE TABLE wide (
    id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    body text NOT NULL,
    blob bytea NOT NULL
);
CREATE INDEX wide_created_at ON wide (created_at);
"""

# ~300 B of jsonb, ~0.9 KB of text that compresses like prose, 512 B of incompressible bytes.
WIDE_INSERT = """
INSERT INTO wide
SELECT g,
       timestamptz '2024-01-01' + g * interval '7 seconds',
       jsonb_build_object(
           'id', g, 'name', 'customer ' || g, 'score', (g * 7919 %% 1000) / 10.0,
           'tags', jsonb_build_array('t' || (g %% 17), 't' || (g %% 31), 't' || (g %% 101)),
           'address', jsonb_build_object('street', md5(g::text), 'city', 'city ' || (g %% 1000),
                                         'zip', lpad((g %% 100000)::text, 5, '0')),
           'active', g %% 3 <> 0),
       (SELECT string_agg(md5((g * 31 + i)::text) || ' the quick brown fox jumps over the lazy dog', ' ')
          FROM generate_series(1, 12) i),
       (SELECT string_agg(sha256((g * 16 + i)::text::bytea), ''::bytea) FROM generate_series(0, 15) i)
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
"""


@dataclass(frozen=True)
class Built:
    url: DatabaseUrl
    target_bytes: int
    database_bytes: int  # pg_database_size
    user_bytes: int  # tables + indexes + toast of user tables
    pgbench_scale: float
    wide_rows: int
    seconds: float


def _pg_env(url: DatabaseUrl) -> dict[str, str]:
    return {**os.environ, **url.subprocess_env()}


def build(cluster: LocalCluster, dbname: str, target_bytes: int) -> Built:
    """Create ``dbname`` holding about ``target_bytes`` of user data: half pgbench, half wide rows."""
    t0 = time.monotonic()
    with psycopg.connect(cluster.url().conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    url = cluster.url(dbname)
    half = target_bytes / 2
    scale = half / PGBENCH_PER_SCALE
    pgbench = str(cluster.bin_dir / "pgbench")
    subprocess.run(
        [pgbench, "-i", "-q", "-s", str(max(1, round(scale))), "--foreign-keys",
         "-h", "127.0.0.1", "-p", str(cluster.port), "-U", cluster.user, dbname],
        env=_pg_env(url), check=True, capture_output=True,
    )
    rows = max(1000, int(half / WIDE_ROW))
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        if scale < 0.75:
            # Below one pgbench scale unit: keep only a share of the accounts.
            keep = max(1000, int(100_000 * scale))
            conn.execute("ALTER TABLE pgbench_history DROP CONSTRAINT IF EXISTS pgbench_history_aid_fkey")
            conn.execute("DELETE FROM pgbench_accounts WHERE aid > %s", (keep,))
            conn.execute("VACUUM FULL pgbench_accounts")
        conn.execute(WIDE_TABLE)
        step = 50_000
        for lo in range(1, rows + 1, step):
            conn.execute(WIDE_INSERT, {"lo": lo, "hi": min(rows, lo + step - 1)})
        conn.execute("VACUUM ANALYZE")
        row = conn.execute(
            "SELECT pg_database_size(current_database()),"
            " (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
            "   ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public')"
        ).fetchone()
    assert row is not None
    return Built(url, target_bytes, int(row[0]), int(row[1]), scale if scale < 0.75 else max(1, round(scale)),
                 rows, round(time.monotonic() - t0, 1))
