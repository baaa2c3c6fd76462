"""`pgdrill demo`: the whole loop on a throwaway local PostgreSQL — no cloud account, no config.

Start a cluster from the binaries on this machine, load a small shop, back it up into a local
store, restore it into a fresh database, compare exact row counts, and remove the cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pgdrill.backup import BackupRequest, run_backup
from pgdrill.manifest import Manifest
from pgdrill.pg import stats
from pgdrill.pg.cluster import LocalCluster
from pgdrill.pg.conn import connect, server_version_string
from pgdrill.restore import RestoreRequest, RestoreResult, run_restore
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

    @property
    def ok(self) -> bool:
        return self.restore.ok and not self.mismatches


def sample_sql() -> str:
    return (resources.files("pgdrill.demo") / "sample.sql").read_text(encoding="utf-8")


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
        return DemoResult(str(store.root), version, manifest, result, restored, mismatches,
                          round(time.monotonic() - t0, 2))


def render_text(r: DemoResult) -> str:
    lines = [
        "pgdrill demo",
        f"  PostgreSQL   {r.postgres_version} (throwaway local cluster, removed)",
        f"  store        {r.store}",
        f"  backup       {r.manifest.id}  {r.manifest.size} bytes  sha256 {r.manifest.sha256[:16]}…",
        f"  restore      {r.restore.duration_seconds:.2f}s with pg_restore {r.restore.pg_restore_version}, "
        f"{r.restore.error_count} errors",
        "  row counts   table                       manifest   restored",
    ]
    for table, count in sorted(r.manifest.tables.items()):
        got = r.restored_counts.get(table)
        mark = "ok" if got == count else "MISMATCH"
        lines.append(f"               {table:<27} {count:>8}   {got if got is not None else '-':>8}  {mark}")
    lines.append(f"  verdict      {'PASSED' if r.ok else 'FAILED'} in {r.seconds:.1f}s")
    return "\n".join(lines)
