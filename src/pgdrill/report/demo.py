"""Pure renderers for ``pgdrill demo``."""

from __future__ import annotations

import shlex
from typing import Any

from pgdrill.demo import DemoResult
from pgdrill.report.drill import drill_json, drill_text
from pgdrill.report.format import human_size

#: a pgdrill.yml to start from with a real database (docs/config.md has every key)
STARTER_CONFIG = """\
store: s3://your-bucket/prod            # or a folder; the database URL comes from PGDRILL_DATABASE_URL
rto_target: 30m                         # a drill fails when restore + checks take longer
checks:
  sql:
    - name: customers are there
      sql: SELECT count(*) FROM customers
      min_rows: 1
retention:
  keep_daily: 7
  keep_weekly: 4
  keep_monthly: 12
monitor:
  max_age: 26h
"""


def next_steps(store: str) -> list[str]:
    """Commands to try on the demo's store, which keeps its backups and drill records."""
    s = shlex.quote(store)
    return [f"pgdrill list --store {s}", f"pgdrill drills --store {s}", f"pgdrill verify latest --store {s}",
            f"pgdrill monitor --store {s}", f"pgdrill prune --store {s} --keep-last 1 --dry-run"]


def demo_json(r: DemoResult, store_arg: str | None = None) -> dict[str, Any]:
    return {
        "ok": r.ok, "store": r.store, "backup": r.manifest.summary(), "restored_counts": r.restored_counts,
        "seconds": r.seconds, "drill": drill_json(r.drill) if r.drill else None,
        "next": next_steps(store_arg or r.store), "starter_config": STARTER_CONFIG,
    }


def render_text(r: DemoResult, store_arg: str | None = None) -> str:
    lines = [
        "pgdrill demo",
        f"  PostgreSQL   {r.postgres_version} (throwaway local cluster, removed)",
        f"  store        {r.store}",
        f"  backup       {r.manifest.id}  {human_size(r.manifest.size)}  sha256 {r.manifest.sha256[:16]}…",
        f"  restore      {r.restore.duration_seconds:.2f}s with pg_restore {r.restore.pg_restore_version}, "
        f"{r.restore.error_count} errors",
        "  row counts   table                       manifest   restored",
    ]
    for table, count in sorted(r.manifest.tables.items()):
        got = r.restored_counts.get(table)
        mark = "ok" if got == count else "MISMATCH"
        lines.append(f"               {table:<27} {count:>8}   {got if got is not None else '-':>8}  {mark}")
    if r.drill is not None:
        lines += ["", drill_text(r.drill), ""]
    lines.append(f"  verdict      {'PASSED' if r.ok else 'FAILED'} in {r.seconds:.1f}s")
    lines += ["", "try next, on the demo's store (it keeps the backup and the drill records):"]
    lines += [f"  {c}" for c in next_steps(store_arg or r.store)]
    lines += ["", "then your own database: save this as pgdrill.yml, export PGDRILL_DATABASE_URL, and run "
                  "`pgdrill check`, then `pgdrill backup` (docs/config.md has every key):", ""]
    lines += [f"  {ln}" for ln in STARTER_CONFIG.splitlines()]
    return "\n".join(lines)
