"""`pgdrill demo`: the whole loop on a throwaway local PostgreSQL — no cloud account, no config.

Start a cluster from the binaries on this machine, load a small shop, back it up into a local
store, restore it into a fresh database, compare exact row counts, run a restore drill into a scratch
database on the same cluster, and remove the cluster.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pgdrill.backup import BackupRequest, run_backup
from pgdrill.checks import ChecksConfig
from pgdrill.drill import DrillRequest, DrillResult, run_drill
from pgdrill.manifest import Manifest
from pgdrill.pg import stats
from pgdrill.pg.cluster import LocalCluster
from pgdrill.pg.conn import connect, server_version_string
from pgdrill.restore import RestoreRequest, RestoreResult, run_restore
from pgdrill.sources.backup import StoredBackupSource
from pgdrill.store.local import LocalStore
from pgdrill.streams import Progress


@dataclass
class DemoResult:
    store: str
    postgres_version: str
    manifest: Manifest
    restore: RestoreResult
    restored_counts: dict[str, int]
    mismatches: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)
    drill: DrillResult | None = None

    @property
    def ok(self) -> bool:
        return self.restore.ok and not self.mismatches and (self.drill is None or self.drill.passed)


def sample_sql() -> str:
    return (resources.files("pgdrill.demo") / "sample.sql").read_text(encoding="utf-8")


# The smoke command stands in for the app: it writes through DATABASE_URL like a real one would,
# which also proves the restored sequences hand out fresh ids.
_DEMO_APP = """
import os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    new = conn.execute("INSERT INTO app.customers (email, name) VALUES ('drill@example.com', 'Drill') RETURNING id")
    print("signed up customer", new.fetchone()[0], "in", conn.execute("SELECT current_database()").fetchone()[0])
"""


def demo_checks() -> ChecksConfig:
    return ChecksConfig.model_validate({
        "migration": {"expected": "7c2d1e9a4b10"},
        "sql": [
            {"name": "every order has items", "no_rows": True,
             "sql": "SELECT o.id FROM app.orders o WHERE NOT EXISTS "
                    "(SELECT 1 FROM app.order_items i WHERE i.order_id = o.id)"},
            {"name": "2000 customers", "sql": "SELECT count(*) FROM app.customers", "expect": 2000},
            {"name": "revenue report answers", "sql": "SELECT * FROM app.revenue_by_month", "min_rows": 1},
        ],
        "smoke": [{"name": "app signs up a customer", "run": [sys.executable, "-c", _DEMO_APP], "timeout": "1m"}],
    })


def run_demo(store_dir: Path, progress: Progress | None = None) -> DemoResult:
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    say("starting a throwaway PostgreSQL cluster")
    with LocalCluster.create() as cluster:
        admin = cluster.url()
        with connect(admin) as conn:
            conn.execute("CREATE DATABASE shop")
            conn.execute("CREATE DATABASE shop_restored")
            version = server_version_string(conn)
        source = cluster.url("shop")
        with connect(source) as conn:
            conn.execute(sample_sql())
        say(f"loaded the sample shop into PostgreSQL {version}")
        store = LocalStore(store_dir)
        manifest = run_backup(BackupRequest(source, store, tags=("demo",)), progress)
        target = cluster.url("shop_restored")
        result = run_restore(RestoreRequest(store, manifest.id, target), progress, manifest)
        with connect(target) as conn:
            restored = stats.count_rows(conn)
        mismatches = {
            k: (v, restored.get(k)) for k, v in manifest.tables.items() if restored.get(k) != v
        }
        say("drilling: restore into a scratch database, checks, RTO, drill record")
        # No RPO target: the demo's backups are not a schedule, their gaps mean nothing.
        drill_source = StoredBackupSource(scratch_url=admin, store=store, backup=manifest.id)
        drill = run_drill(drill_source, DrillRequest(checks=demo_checks(), rto_target=15 * 60.0, environment="demo",
                                               records=store), progress)
        return DemoResult(str(store.root), version, manifest, result, restored, mismatches,
                          round(time.monotonic() - t0, 2), drill=drill)
