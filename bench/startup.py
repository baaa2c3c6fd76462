"""The fixed cost of every command: how long ``pgdrill --version`` takes, and what each command
imports (``python -X importtime``), against a bare ``python -c pass``.

    .venv/bin/python -m bench.startup              # 30 runs each, prints the table, writes the record
    .venv/bin/python -m bench.startup --runs 50 --out /tmp

Every command pays this before doing any work, and so does every action step; on ordinary databases
it is most of pgdrill's overhead over the bare tools. The import-graph test
(tests/unit/test_startup_imports.py) keeps heavy modules off these paths; this measures the time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TARGET_VERSION_S = 0.10

#: (name, pgdrill arguments); "{store}" is an empty local store
COMMANDS = [
    ("--version", ["--version"]),
    ("--help", ["--help"]),
    ("backup --help", ["backup", "--help"]),
    ("list (local store)", ["list", "--store", "{store}"]),
    ("check (local store)", ["check", "--store", "{store}"]),
]
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PGDRILL_", "GITHUB_", "AWS_"))}


def wall(argv: list[str], runs: int, cwd: str) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, cwd=cwd, env=_env(), check=False)
        times.append(time.perf_counter() - t0)
    return times


def importtime(args: list[str], cwd: str) -> tuple[float, list[tuple[str, float]]]:
    """(total import time of pgdrill.cli and what the command loads, in s; the heaviest top-level
    imports), from ``python -X importtime``."""
    code = "import sys; from pgdrill.cli import main; main(sys.argv[1:])"
    proc = subprocess.run([PY, "-X", "importtime", "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(), check=False)
    top: dict[str, float] = {}
    total = 0.0
    for line in proc.stderr.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        cumulative, depth, name = int(m.group(2)) / 1e6, len(m.group(3)), m.group(4)
        if depth <= 1:  # a module imported by the program itself (not by another module)
            total += cumulative
            top[name] = top.get(name, 0.0) + cumulative
    return total, sorted(top.items(), key=lambda kv: -kv[1])[:8]


def compile_pgdrill() -> None:
    """As an install does; with PYTHONDONTWRITEBYTECODE set each run would compile again."""
    import pgdrill

    subprocess.run([PY, "-m", "compileall", "-q", os.path.dirname(pgdrill.__file__)], capture_output=True,
                   check=False)


def measure(runs: int) -> dict[str, object]:
    compile_pgdrill()
    work = tempfile.mkdtemp(prefix="pgdrill-startup-")
    try:
        store = os.path.join(work, "store")
        os.mkdir(store)
        bare = wall([PY, "-c", "pass"], runs, work)
        cases = {}
        for name, args in COMMANDS:
            argv = [a.replace("{store}", store) for a in args]
            times = wall([PY, "-m", "pgdrill", *argv], runs, work)
            total, top = importtime(argv, work)
            cases[name] = {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4),
                           "imports_s": round(total, 4), "top_imports": [[n, round(s, 4)] for n, s in top]}
        return {"runs": runs, "python_bare_median_s": round(statistics.median(bare), 4), "cases": cases,
                "target_version_s": TARGET_VERSION_S,
                "version_ok": cases["--version"]["median_s"] <= TARGET_VERSION_S}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(result: dict[str, object]) -> str:
    cases = result["cases"]
    assert isinstance(cases, dict)
    lines = [f"python -c pass: {result['python_bare_median_s']:.3f} s (median of {result['runs']})", "",
             f"{'command':<22} {'median s':>9} {'min s':>7} {'imports s':>10}  heaviest imports"]
    for name, c in cases.items():
        heavy = ", ".join(f"{n} {s * 1000:.0f} ms" for n, s in c["top_imports"][:4])
        lines.append(f"{name:<22} {c['median_s']:>9.3f} {c['min_s']:>7.3f} {c['imports_s']:>10.3f}  {heavy}")
    ok = "holds" if result["version_ok"] else "MISSED"
    lines += ["", f"pgdrill --version ≤ {TARGET_VERSION_S:.2f} s: {ok}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(argv)
    started = datetime.now(timezone.utc)
    result = {"started_at": started.isoformat(timespec="seconds"), "kind": "startup",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load": os.getloadavg()[0]}, **measure(args.runs)}
    print(render(result))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{started:%Y%m%dT%H%M%SZ}-startup.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
