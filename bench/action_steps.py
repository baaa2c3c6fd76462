"""What the actions cost before pgdrill starts its work, under a real workflow runner (act).

    .venv/bin/python -m bench.action_steps [--reps N] [--note TEXT]

Runs tests/action/workflows/t-install.yml (two pgdrill steps in one job: ./backup, then ./prune)
against a throwaway local PostgreSQL, three ways:

  cold   a new machine and an empty Actions cache: the first step builds the venv with pip
  warm   a new machine (act's tool cache wiped, as a GitHub-hosted VM starts empty) with the
         Actions cache kept from an earlier run: the first step restores the venv
  and in both, the second step of the job, which finds the venv the first one made

For each step it reports the seconds from the runner starting the step to pgdrill starting its
command (run.sh's `pgdrill <command> …` line), timed as act's JSON events arrive. Targets (issue
18): second step within 1 s, first step with a warm cache within 3 s. The actions cache is the
offline stand-in of tests/action/standins (a folder); on GitHub the restore also downloads ~40 MB.
Writes bench/results/<time>-action-steps.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "action"))
sys.path.insert(0, str(ROOT / "tests"))

import psycopg  # noqa: E402
from act_runner import CACHE_ACTION, Act, act_binary, make_act, url_text  # noqa: E402

from pgdrill.pg.cluster import LocalCluster  # noqa: E402

TARGETS = {"second_step": 1.0, "warm_first_step": 3.0}


def timed_run(act: Act, inputs: dict[str, str], secrets: dict[str, str]) -> dict[str, float]:
    """Seconds from each step's start to its pgdrill command, by arrival time of act's events."""
    secret_file = Path(tempfile.mkdtemp()) / "secrets"
    secret_file.write_text("".join(f'{k}="{v}"\n' for k, v in secrets.items()))
    cmd = [str(act.binary), "workflow_dispatch", "-C", str(act.repo), "-W", ".github/workflows/t-install.yml",
           "-P", "ubuntu-latest=-self-hosted", "--no-cache-server", "--json", "--secret-file", str(secret_file),
           "--local-repository", f"OWNER/pgdrill@v1={act.repo}",
           "--local-repository", f"{CACHE_ACTION}={act.standins / 'actions-cache'}"]
    for k, v in inputs.items():
        cmd += ["--input", f"{k}={v}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "PGDRILL_"))}
    env.update({"HOME": str(act.home), "ACT_DISABLE_VERSION_CHECK": "1", "PIP_CACHE_DIR": str(act.pip_cache)})
    started: dict[str, float] = {}
    working: dict[str, float] = {}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.monotonic()
        if not line.startswith("{"):
            continue
        event: dict[str, Any] = json.loads(line)
        step = list(event.get("stepID") or [])
        msg = str(event.get("msg", "")).strip()
        if len(step) == 1 and event.get("stage") == "Main" and msg.startswith("⭐ Run Main ./"):
            started[step[0]] = now
        if len(step) == 2 and step[1] == "run" and event.get("raw_output") and msg.startswith("pgdrill "):
            working.setdefault(step[0], now)
    if proc.wait() != 0:
        raise SystemExit(f"the workflow failed (exit {proc.returncode}): run tests/action/test_action_install.py")
    shutil.rmtree(secret_file.parent, ignore_errors=True)
    return {step: round(working[step] - started[step], 3) for step in ("first", "second")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs of each way (default: %(default)s)")
    parser.add_argument("--note", default="", help="a note kept with the results")
    args = parser.parse_args(argv)
    binary = act_binary()
    if binary is None:
        raise SystemExit("act is missing: run scripts/setup/50-action-tools.sh")
    base = Path(tempfile.mkdtemp(prefix="bench-act-"))
    t0 = time.monotonic()
    results: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    try:
        act = make_act(base / "act", binary)
        with LocalCluster.create() as cluster:
            with psycopg.connect(cluster.url().conninfo(), autocommit=True) as conn:
                conn.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS id")
            secrets = {"DATABASE_URL": url_text(cluster.url())}
            for rep in range(args.reps):
                for way in ("cold", "warm"):
                    act.new_machine()
                    if way == "cold":
                        shutil.rmtree(act.actions_cache, ignore_errors=True)
                        act.actions_cache.mkdir()
                    store = base / f"store-{way}-{rep}"
                    got = timed_run(act, {"store": str(store)}, secrets)
                    results[way].append(got)
                    print(f"{way:<5} run {rep + 1}: first step {got['first']:6.2f}s, second step {got['second']:5.2f}s",
                          flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    def median(way: str, step: str) -> float:
        return round(statistics.median(r[step] for r in results[way]), 3)

    summary = {
        "cold_first_step": median("cold", "first"),
        "warm_first_step": median("warm", "first"),
        "second_step": round(statistics.median([r["second"] for w in results for r in results[w]]), 3),
    }
    verdicts = {k: summary[k] <= limit for k, limit in TARGETS.items()}
    print(f"\nmedian of {args.reps}: cold first step {summary['cold_first_step']}s (pip install), "
          f"warm first step {summary['warm_first_step']}s (target ≤ {TARGETS['warm_first_step']}s), "
          f"second step {summary['second_step']}s (target ≤ {TARGETS['second_step']}s)")
    record = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0),
        "git": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip(),
        "note": args.note,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_at_start": os.getloadavg()[0]},
        "what": "seconds from an action step's start to pgdrill starting its command (act, self-hosted mode)",
        "runs": results, "median": summary, "targets": TARGETS, "met": verdicts,
    }
    out = ROOT / "bench" / "results" / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-action-steps.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
