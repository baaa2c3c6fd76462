"""Pure renderers for ``pgdrill demo``."""

from __future__ import annotations

from typing import Any

from pgdrill.demo import DemoResult
from pgdrill.report.drill import drill_json, drill_text


def demo_json(r: DemoResult) -> dict[str, Any]:
    return {
        "ok": r.ok, "store": r.store, "backup": r.manifest.summary(), "restored_counts": r.restored_counts,
        "seconds": r.seconds, "drill": drill_json(r.drill) if r.drill else None,
    }


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
    if r.drill is not None:
        lines += ["", drill_text(r.drill), ""]
    lines.append(f"  verdict      {'PASSED' if r.ok else 'FAILED'} in {r.seconds:.1f}s")
    return "\n".join(lines)
