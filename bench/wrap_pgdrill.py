"""Run the pgdrill CLI in this process, then record its own peak RSS and its children's.

``python bench/wrap_pgdrill.py OUT.json <pgdrill args…>`` behaves like ``pgdrill <args…>`` (same
entry point, same imports) and writes {self_maxrss_kb, cpu…} to OUT.json. Peak RSS is this
process's VmHWM, not ru_maxrss (which keeps the high-water mark of the process that exec'd us).

PGDRILL_BENCH_NO_COUNTS=1 replaces the manifest's exact row counts with nothing, to measure what
they cost (bench only; the product has no such switch).
"""

from __future__ import annotations

import json
import os
import resource
import sys


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    if os.environ.get("PGDRILL_BENCH_NO_COUNTS"):
        from pgdrill.pg import stats

        stats.count_rows = lambda *a, **k: {}  # type: ignore[assignment]
    from pgdrill.cli import main as pgdrill_main

    try:
        from pgdrill.cli import exit_now
    except ImportError:  # an older checkout (--pgdrill-src): its normal exit
        exit_now = sys.exit  # type: ignore[assignment]

    code = 1
    try:
        code = pgdrill_main(args)
    finally:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open("/proc/self/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        with open(out, "w") as f:
            json.dump({
                "self_maxrss_kb": hwm,
                "self_cpu_s": round(me.ru_utime + me.ru_stime, 3),
                "children_cpu_s": round(kids.ru_utime + kids.ru_stime, 3),
            }, f)
    # ends the process as `pgdrill` itself does (without Python's teardown, in a recent pgdrill)
    exit_now(code)


if __name__ == "__main__":
    main()
