"""Physical point-in-time drills: ``pgdrill drill --pgbackrest-stanza`` against the bare sequence it
automates, and against a logical drill of the same database.

    .venv/bin/python -m bench.pitr                    # 50 MB and 300 MB databases, 3 repetitions
    .venv/bin/python -m bench.pitr --sizes 20MB --reps 2

For each size: a PostgreSQL cluster archiving with ``pgbackrest archive-push`` into a posix
repository, a full backup, then rows written and the WAL switched (so recovery replays archived WAL);
and a logical backup of the same database in a local store (``pgdrill backup``). Each repetition runs,
in rotating order:

- **bare**: ``pgbackrest restore`` into a fresh data directory + ``pg_ctl start`` with archiving off
  + waiting until ``pg_is_in_recovery()`` is false — the sequence people script. Timed to promotion;
  stopping and deleting it afterwards is not counted;
- **bare_nosync**: the same with ``fsync=off`` and ``synchronous_commit=off``, as pgdrill starts its
  throwaway copy (the part of the difference that is the settings, not pgdrill);
- **pgdrill**: ``pgdrill drill --pgbackrest-stanza main`` — the same restore and recovery, plus
  pgdrill's start-up, its checks, its records, and stopping and deleting the copy;
- **logical**: ``pgdrill drill --store … --scratch-url …`` of the logical backup (pg_restore + checks).

Ratios are medians of per-repetition ratios (pgdrill ÷ bare, logical ÷ pgdrill). The record goes to
bench/results/<time>-pitr.json. Everything it starts is stopped on exit, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from bench.dataset import MB, build
from bench.run import parse_size, size_label
from pgdrill.pg.cluster import LocalCluster, find_server_bin, free_port, run_as_prefix

ROOT = Path(__file__).resolve().parent.parent
PGDRILL = str(Path(sys.executable).parent / "pgdrill")
MAJOR = 15  # Debian 12's pgBackRest 2.45 supports PostgreSQL up to 15


def _chown(path: Path) -> None:
    prefix = run_as_prefix()
    if prefix:
        subprocess.run(["chown", "-R", prefix[2], str(path)], check=True)


def _as_cluster_user(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([*run_as_prefix(), *args], capture_output=True, text=True, check=False, cwd="/",
                         env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {out.stderr[-800:]}")
    return out


class Setup:
    """One archived cluster holding one database of the given size, its repository and a logical backup."""

    def __init__(self, size: int, work: Path) -> None:
        self.size, self.work = size, work
        self.repo, self.conf = work / "repo", work / "pgbackrest.conf"
        self.store, self.copies = work / "store", work / "copies"
        for d in (self.repo, work / "lock", work / "spool", self.copies):
            d.mkdir(parents=True)
        self.conf.write_text(self._config())
        _chown(work)
        self.cluster = LocalCluster(find_server_bin(MAJOR), base=work / "prod")
        (work / "prod").mkdir()
        self.cluster.init()
        with open(self.cluster.data_dir / "postgresql.conf", "a") as f:
            f.write(f"\narchive_mode = on\narchive_command = 'pgbackrest --config={self.conf} --stanza=main "
                    "archive-push %p'\nmax_wal_size = 4GB\n")
        self.cluster.start()
        self.conf.write_text(self._config(self.cluster))
        _chown(self.conf)

    def _config(self, cluster: LocalCluster | None = None) -> str:
        text = (f"[global]\nrepo1-path={self.repo}\nrepo1-retention-full=9\nlog-level-console=warn\n"
                f"log-level-file=off\nlock-path={self.work / 'lock'}\nspool-path={self.work / 'spool'}\n"
                "start-fast=y\nprocess-max=2\n")
        if cluster is not None:
            text += (f"[main]\npg1-path={cluster.data_dir}\npg1-socket-path={cluster.socket_dir}\n"
                     f"pg1-port={cluster.port}\n")
        return text

    def prepare(self) -> dict[str, object]:
        built = build(self.cluster, "benchdb", self.size)
        pgbr = ["pgbackrest", f"--config={self.conf}", "--stanza=main"]
        _as_cluster_user(*pgbr, "stanza-create")
        t0 = time.monotonic()
        _as_cluster_user(*pgbr, "backup", "--type=full")
        backup_s = time.monotonic() - t0
        with psycopg.connect(built.url.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE after_backup (id int, at timestamptz DEFAULT now())")
            for _ in range(3):  # WAL for recovery to replay, archived segment by segment
                conn.execute("INSERT INTO after_backup (id) SELECT g FROM generate_series(1, 10000) g")
                conn.execute("SELECT pg_switch_wal()")
            time.sleep(2)
        env = {**os.environ, "PGDRILL_COPIES_DIR": str(self.copies)}
        subprocess.run([PGDRILL, "--quiet", "backup", "--database-url", built.url.conninfo(), "--store",
                        str(self.store)], check=True, env=env, capture_output=True)
        return {"database_bytes": built.database_bytes, "pgbackrest_backup_seconds": round(backup_s, 2)}

    # -- the cases ------------------------------------------------------------------------------------
    def bare(self, durable: bool = True) -> float:
        data = self.work / "bare"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        (data / "sock").mkdir()
        _chown(data)
        port = free_port()
        t0 = time.perf_counter()
        _as_cluster_user("pgbackrest", f"--config={self.conf}", "--stanza=main", "restore",
                         f"--pg1-path={data / 'data'}", "--type=default", "--archive-mode=off")
        _as_cluster_user(str(self.cluster.bin_dir / "pg_ctl"), "-D", str(data / "data"), "-l", str(data / "log"),
                         "-W", "-o", f"-p {port} -k {data / 'sock'} -c listen_addresses='' -c archive_mode=off"
                         + ("" if durable else " -c fsync=off -c synchronous_commit=off"), "start")
        while True:
            try:
                with psycopg.connect(host=str(data / "sock"), port=port, user="postgres", dbname="postgres",
                                     connect_timeout=2) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    if row is not None and not row[0]:
                        break
            except psycopg.OperationalError:
                pass
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        _as_cluster_user(str(self.cluster.bin_dir / "pg_ctl"), "-D", str(data / "data"), "-m", "immediate", "stop")
        shutil.rmtree(data)
        return seconds

    def bare_nosync(self) -> float:
        return self.bare(durable=False)

    def _pgdrill(self, *args: str) -> float:
        env = {**os.environ, "PGDRILL_COPIES_DIR": str(self.copies)}
        t0 = time.perf_counter()
        out = subprocess.run([PGDRILL, "--quiet", "drill", *args], env=env, capture_output=True, text=True,
                             check=False)
        seconds = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"pgdrill drill {' '.join(args[:2])} failed: {out.stderr[-800:]}{out.stdout[-800:]}")
        return seconds

    def physical(self) -> float:
        return self._pgdrill("--pgbackrest-stanza", "main", "--pgbackrest-config", str(self.conf))

    def logical(self) -> float:
        return self._pgdrill("--store", str(self.store), "--scratch-url", self.cluster.url().conninfo())

    def close(self) -> None:
        self.cluster.destroy()


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pitr", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="50MB,300MB", help="database sizes, comma-separated (default 50MB,300MB)")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    record: dict[str, object] = {"started_at": datetime.now(timezone.utc).isoformat(), "reps": args.reps,
                                 "pg_major": MAJOR, "cpus": os.cpu_count(), "sizes": {}}
    for size in sizes:
        work = Path(tempfile.mkdtemp(prefix="pgdrill-bench-pitr-"))
        os.chmod(work, 0o755)
        setup = Setup(size, work)
        try:
            info = setup.prepare()
            cases = {"bare": setup.bare, "bare_nosync": setup.bare_nosync, "pgdrill": setup.physical,
                     "logical": setup.logical}
            times: dict[str, list[float]] = {k: [] for k in cases}
            names = list(cases)
            for rep in range(args.reps):
                order = names[rep % len(names):] + names[:rep % len(names)]  # rotate: drifts hit every case alike
                for name in order:
                    times[name].append(cases[name]())
                    print(f"  {size_label(size)} rep {rep + 1} {name}: {times[name][-1]:.2f}s", file=sys.stderr)
            vs_bare = [p / b for p, b in zip(times["pgdrill"], times["bare"], strict=True)]
            vs_nosync = [p / b for p, b in zip(times["pgdrill"], times["bare_nosync"], strict=True)]
            vs_logical = [lg / p for lg, p in zip(times["logical"], times["pgdrill"], strict=True)]
            result = {**info, "seconds": times, "median": {k: _median(v) for k, v in times.items()},
                      "pgdrill_vs_bare": _median(vs_bare), "pgdrill_vs_bare_range": [round(min(vs_bare), 3),
                                                                                      round(max(vs_bare), 3)],
                      "pgdrill_vs_bare_nosync": _median(vs_nosync), "logical_vs_physical": _median(vs_logical)}
            record["sizes"][size_label(size)] = result  # type: ignore[index]
            print(f"{size_label(size)} ({int(info['database_bytes']) / MB:.0f} MB database): "  # type: ignore[call-overload]
                  f"bare {result['median']['bare']:.2f}s, pgdrill {result['median']['pgdrill']:.2f}s, "  # type: ignore[index]
                  f"logical {result['median']['logical']:.2f}s; pgdrill/bare {result['pgdrill_vs_bare']:.3f} "
                  f"(target <= 1.10), pgdrill/bare without fsync {result['pgdrill_vs_bare_nosync']:.3f}, "
                  f"logical/physical {result['logical_vs_physical']:.2f}")
        finally:
            setup.close()
            shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "bench" / "results" / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-pitr.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"record: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    sys.exit(main())
