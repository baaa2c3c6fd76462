"""pgdrill against bare pg_dump / pg_restore: one command, interleaved repetitions, medians.

    bench/run                     # about 1 GB database, 3 repetitions (~12 min on 2 cores)
    bench/run --quick             # 10 MB database, 2 repetitions: a smoke run (~1 min)
    bench/run --size 10MB --reps 5
    bench/run --explore           # also: compression levels, -Fd -j2 dump, pg_restore -j2

Builds the database on a throwaway local cluster, starts a local S3-compatible server (moto),
runs every case once per repetition in rotating order (so slow drifts on a shared machine hit all
cases alike), prints the medians, the ratios against the targets, and writes the JSON record to
bench/results/. Everything it starts is stopped on exit, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from bench import report
from bench.dataset import MB, Built, build
from bench.measure import BenchError, Sample, Summary, run
from pgdrill.pg.cluster import LocalCluster
from pgdrill.pg.conn import DatabaseUrl

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WRAP = str(ROOT / "bench" / "wrap_pgdrill.py")
UPLOAD = str(ROOT / "bench" / "s3_upload.py")


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(MB|GB|M|G)\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"size like 10MB or 1GB, not {text!r}")
    n, unit = float(m.group(1)), m.group(2).upper()[0]
    return int(n * (1000 if unit == "G" else 1) * MB)


def size_label(n: int) -> str:
    return f"{n / 1000 / MB:g}GB" if n >= 1000 * MB else f"{n / MB:g}MB"


# -- the environment one run needs -------------------------------------------------------------
@dataclass
class Env:
    cluster: LocalCluster
    work: Path
    log: str
    s3_env: dict[str, str]
    bucket: str
    s3_client: object
    recipient: str | None
    identity_file: str | None
    servers: tuple[int, ...] = ()  # postmaster and S3 server pids: their CPU is charged to each run
    pgdrill_src: str | None = None  # another checkout's src/ to benchmark (before/after comparisons)
    dbs: dict[str, Built] = field(default_factory=dict)
    fixtures: dict[str, dict[str, str]] = field(default_factory=dict)  # db -> {dump, store}

    def run(self, cmd: list[str], env: dict[str, str], cwd: Path | str) -> Sample:
        return run(cmd, env, str(cwd), self.log, servers=self.servers)

    def pg_env(self, url: DatabaseUrl) -> dict[str, str]:
        return {**os.environ, **url.subprocess_env()}

    def tool(self, name: str) -> str:
        return str(self.cluster.bin_dir / name)

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.cluster.url().conninfo(), autocommit=True) as conn:
            conn.execute(sql)

    def pgdrill_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PGDRILL_", "AWS_"))}
        if self.pgdrill_src:
            env["PYTHONPATH"] = self.pgdrill_src
        return {**env, **self.s3_env, "PGDRILL_QUIET": "1", **extra}

    def s3_delete_prefix(self, prefix: str) -> None:
        client = self.s3_client
        resp = client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)  # type: ignore[attr-defined]
        for obj in resp.get("Contents", []):
            client.delete_object(Bucket=self.bucket, Key=obj["Key"])  # type: ignore[attr-defined]


# -- cases ----------------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    label: str
    db: str  # "main" or "small"
    kind: str  # "bare" or "pgdrill"
    body: Callable[[Env, Built, Path], Sample]


def _pgdrill(env: Env, scratch: Path, args: list[str], **extra_env: str) -> Sample:
    out = scratch / "rusage.json"
    sample = env.run([PY, WRAP, str(out), *args], env.pgdrill_env(**extra_env), scratch)
    usage = json.loads(out.read_text())
    sample.self_maxrss_kb = usage["self_maxrss_kb"]
    sample.children_maxrss_kb = max((kb for name, kb in sample.peaks_kb.items()
                                     if not name.startswith(("python", "bash"))), default=None)
    sample.extra = {"self_cpu_s": usage["self_cpu_s"], "children_cpu_s": usage["children_cpu_s"]}
    return sample


@contextmanager
def fresh_database(env: Env) -> Iterator[DatabaseUrl]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    env.admin(f'CREATE DATABASE "{name}"')
    try:
        yield env.cluster.url(name)
    finally:
        env.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dump_file(env: Env, db: Built, scratch: Path, *opts: str, fsync: bool = False) -> Sample:
    out = scratch / "bare.dump"
    dump = [env.tool("pg_dump"), "-Fc", *opts, "-f", str(out), f"--dbname={db.url.conninfo_without_password()}"]
    try:
        if fsync:  # what the local store does: the archive is on disk when the command returns
            sample = env.run(["bash", "-c", " ".join(f"'{a}'" for a in dump) + f" && sync '{out}'"],
                             env.pg_env(db.url), scratch)
        else:
            sample = env.run(dump, env.pg_env(db.url), scratch)
        sample.extra["archive_bytes"] = out.stat().st_size
        return sample
    finally:
        out.unlink(missing_ok=True)


def dump_dir(env: Env, db: Built, scratch: Path, jobs: int, *opts: str) -> Sample:
    out = scratch / "bare.dir"
    try:
        return env.run([env.tool("pg_dump"), "-Fd", f"-j{jobs}", *opts, "-f", str(out),
                        f"--dbname={db.url.conninfo_without_password()}"], env.pg_env(db.url), scratch)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def dump_s3(env: Env, db: Built, scratch: Path, *opts: str) -> Sample:
    key = f"bare/{uuid.uuid4().hex}.dump"
    line = (f"set -o pipefail; {env.tool('pg_dump')} -Fc {' '.join(opts)} "
            f"--dbname='{db.url.conninfo_without_password()}' | {PY} {UPLOAD} s3://{env.bucket}/{key}")
    try:
        return env.run(["bash", "-c", line], {**env.pg_env(db.url), **env.s3_env}, scratch)
    finally:
        env.s3_delete_prefix(key)


def backup_local(env: Env, db: Built, scratch: Path, *opts: str, **extra_env: str) -> Sample:
    store = scratch / "store"
    try:
        return _pgdrill(env, scratch, ["backup", "--database-url", db.url.conninfo(), "--store", str(store), *opts],
                        **extra_env)
    finally:
        shutil.rmtree(store, ignore_errors=True)


def backup_age(env: Env, db: Built, scratch: Path) -> Sample:
    assert env.recipient
    return backup_local(env, db, scratch, "--encrypt-to", env.recipient)


def backup_s3(env: Env, db: Built, scratch: Path) -> Sample:
    prefix = f"pgdrill-{uuid.uuid4().hex[:8]}"
    try:
        return _pgdrill(env, scratch, ["backup", "--database-url", db.url.conninfo(),
                                       "--store", f"s3://{env.bucket}/{prefix}"])
    finally:
        env.s3_delete_prefix(prefix)


def restore_bare(env: Env, db: Built, scratch: Path, *opts: str) -> Sample:
    """pg_restore of the very archive pgdrill stored (same bytes, same compression)."""
    with fresh_database(env) as target:
        return env.run([env.tool("pg_restore"), "--no-owner", "--no-privileges", *opts,
                        f"--dbname={target.conninfo_without_password()}", env.fixtures[db.url.dbname]["archive"]],
                       env.pg_env(target), scratch)


def restore_pgdrill(env: Env, db: Built, scratch: Path, *opts: str, store: str = "store") -> Sample:
    with fresh_database(env) as target:
        return _pgdrill(env, scratch, ["restore", "latest", "--store", env.fixtures[db.url.dbname][store],
                                       "--target-url", target.conninfo(), *opts])


def drill(env: Env, db: Built, scratch: Path, *opts: str) -> Sample:
    return _pgdrill(env, scratch, ["drill", "--store", env.fixtures[db.url.dbname]["store"],
                                   "--scratch-url", env.cluster.url().conninfo(), *opts])


def compile_pgdrill(env: Env) -> None:
    """Byte-compile the benchmarked package, as an install does: with PYTHONDONTWRITEBYTECODE set
    (as on this machine) a source checkout would otherwise be compiled again by every command."""
    out = subprocess.run([PY, "-c", "import os, pgdrill; print(os.path.dirname(pgdrill.__file__))"],
                         env=env.pgdrill_env(), capture_output=True, text=True, check=True)
    subprocess.run([PY, "-m", "compileall", "-q", out.stdout.strip()], capture_output=True, check=False)


def drill_available() -> bool:
    out = subprocess.run([PY, "-m", "pgdrill", "drill", "--help"], capture_output=True, text=True, check=False)
    return out.returncode == 0 and "--scratch-url" in out.stdout


def crypto_available() -> bool:
    try:
        from pgdrill import crypto  # noqa: F401
    except Exception:
        return False
    return True


def pgdrill_compression(env: Env, major: int) -> str | None:
    """The --compress value the benchmarked pgdrill passes to pg_dump by default (None: pg_dump's own)."""
    code = ("try:\n from pgdrill.backup import default_compress\nexcept ImportError:\n print('')\n"
            f"else:\n print(default_compress({major}) or '')")
    out = subprocess.run([PY, "-c", code], env=env.pgdrill_env(), capture_output=True, text=True, check=True)
    return out.stdout.strip() or None


Block = list[Case]


def core_blocks(db: str, same: str | None, with_age: bool, with_drill: bool) -> list[Block]:
    """Cases that are compared run in one block, next to each other."""
    opts = (f"--compress={same}",) if same else ()
    dump = [Case("dump_file", "pg_dump -Fc -f FILE", db, "bare", dump_file)]
    if same:
        dump.append(Case("dump_file_same", f"pg_dump -Fc --compress={same} -f FILE", db, "bare",
                         lambda e, d, s: dump_file(e, d, s, *opts)))
    dump += [
        Case("backup_local", "pgdrill backup -> local store", db, "pgdrill", backup_local),
        Case("backup_local_nocounts", "pgdrill backup -> local, row counts off", db, "pgdrill",
             lambda e, d, s: backup_local(e, d, s, PGDRILL_BENCH_NO_COUNTS="1")),
    ]
    if with_age:
        dump.append(Case("backup_local_age", "pgdrill backup -> local, age", db, "pgdrill", backup_age))
    s3 = [
        Case("dump_s3", f"pg_dump -Fc {' '.join(opts)} | boto3 upload".replace("  ", " "), db, "bare",
             lambda e, d, s: dump_s3(e, d, s, *opts)),
        Case("backup_s3", "pgdrill backup -> S3", db, "pgdrill", backup_s3),
    ]
    restore = [
        Case("restore_bare", "pg_restore -d FRESH ARCHIVE", db, "bare", restore_bare),
        Case("restore", "pgdrill restore", db, "pgdrill", restore_pgdrill),
    ]
    if with_drill:
        restore.append(Case("drill", "pgdrill drill (restore + checks)", db, "pgdrill", drill))
    return [dump, s3, restore]


def memory_blocks(db: str, with_drill: bool) -> list[Block]:
    cases = [
        Case("backup_local", "pgdrill backup -> local store", db, "pgdrill", backup_local),
        Case("backup_s3", "pgdrill backup -> S3", db, "pgdrill", backup_s3),
        Case("restore", "pgdrill restore", db, "pgdrill", restore_pgdrill),
    ]
    if with_drill:
        cases.append(Case("drill", "pgdrill drill (restore + checks)", db, "pgdrill", drill))
    return [cases]


def jobs_available(env: Env) -> bool:
    out = subprocess.run([PY, "-m", "pgdrill", "drill", "--help"], env=env.pgdrill_env(), capture_output=True,
                         text=True, check=False)
    return "--jobs" in out.stdout


def add_explore(env: Env, blocks: list[Block], db: str, major: int, same: str | None) -> None:
    """Compression levels and -Fd -j2 into the dump block; pg_restore -j2 / --single-transaction into
    the restore block."""
    def z(spec: str) -> Case:
        return Case(f"dump_file_{spec.replace(':', '')}", f"pg_dump -Fc --compress={spec}", db, "bare",
                    lambda e, d, s: dump_file(e, d, s, f"--compress={spec}"))

    specs = ["0", "1"] + (["zstd:1", "zstd", "lz4"] if major >= 16 else [])
    opts = (f"--compress={same}",) if same else ()
    blocks[0] += [z(x) for x in specs if x != same]
    blocks[0] += [
        Case("dump_file_fsync", f"pg_dump -Fc {' '.join(opts)} -f FILE && sync FILE".replace("  ", " "), db,
             "bare", lambda e, d, s: dump_file(e, d, s, *opts, fsync=True)),
        Case("dump_dir_j2", "pg_dump -Fd -j2 -f DIR", db, "bare", lambda e, d, s: dump_dir(e, d, s, 2, *opts)),
    ]
    blocks[2] += [
        Case("restore_bare_j2", "pg_restore -j2 -d FRESH ARCHIVE", db, "bare",
             lambda e, d, s: restore_bare(e, d, s, "-j2")),
        Case("restore_bare_1tx", "pg_restore --single-transaction", db, "bare",
             lambda e, d, s: restore_bare(e, d, s, "--single-transaction", "--exit-on-error")),
        Case("restore_noverify", "pgdrill restore --no-verify", db, "pgdrill",
             lambda e, d, s: restore_pgdrill(e, d, s, "--no-verify")),
        Case("restore_s3", "pgdrill restore from S3", db, "pgdrill",
             lambda e, d, s: restore_pgdrill(e, d, s, store="s3_store")),
        Case("restore_s3_noverify", "pgdrill restore --no-verify from S3", db, "pgdrill",
             lambda e, d, s: restore_pgdrill(e, d, s, "--no-verify", store="s3_store")),
    ]
    if jobs_available(env) and any(c.name == "drill" for c in blocks[2]):
        blocks[2].append(Case("drill_j2", "pgdrill drill --jobs 2", db, "pgdrill",
                              lambda e, d, s: drill(e, d, s, "--jobs", "2")))


def schedule(blocks: list[Block], rep: int) -> list[Case]:
    """Blocks in rotating order; inside a block, forward on even repetitions and reversed on odd ones,
    so compared cases run minutes apart at most and neither always goes first."""
    k = rep % len(blocks)
    out: list[Case] = []
    for block in blocks[k:] + blocks[:k]:
        out += block if rep % 2 == 0 else block[::-1]
    return out


# -- setup ---------------------------------------------------------------------------------------
def time_row_counts(db: Built, reps: int = 3) -> float:
    """Seconds to count every table's rows in one snapshot, as the backup does, but alone."""
    from pgdrill.pg import stats

    times = []
    with psycopg.connect(db.url.conninfo()) as conn:
        for _ in range(reps):
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            t0 = time.perf_counter()
            stats.count_rows(conn)  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
            conn.rollback()
    return sorted(times)[len(times) // 2]


def make_fixtures(env: Env, db: Built) -> dict[str, object]:
    """A bare dump file and a pgdrill store with one backup of ``db``, for the restore cases."""
    base = env.work / f"fixture-{db.url.dbname}"
    base.mkdir()
    dump = base / "db.dump"
    run([env.tool("pg_dump"), "-Fc", "-f", str(dump), f"--dbname={db.url.conninfo_without_password()}"],
        env.pg_env(db.url), str(base), env.log)
    store = base / "store"
    _pgdrill(env, base, ["backup", "--database-url", db.url.conninfo(), "--store", str(store)])
    from pgdrill.catalog import load
    from pgdrill.store.local import LocalStore

    m = load(LocalStore(store)).find("latest")
    archive = store / m.object_key
    prefix = f"fixture-{db.url.dbname}"
    for path in store.rglob("*"):  # the same backup in S3, for restores from there
        if path.is_file():
            env.s3_client.upload_file(str(path), env.bucket,  # type: ignore[attr-defined]
                                      f"{prefix}/{path.relative_to(store).as_posix()}")
    env.fixtures[db.url.dbname] = {"store": str(store), "archive": str(archive),
                                   "s3_store": f"s3://{env.bucket}/{prefix}"}
    return {"archive_bytes": archive.stat().st_size, "pg_dump_default_bytes": dump.stat().st_size,
            "compression": m.compression}


def age_keys(work: Path) -> tuple[str | None, str | None]:
    try:
        import pyrage
    except ImportError:
        return None, None
    ident = pyrage.x25519.Identity.generate()
    path = work / "age-identity.txt"
    path.write_text(str(ident) + "\n")
    return str(ident.to_public()), str(path)


def git_sha(src: str | None) -> str:
    where = str(Path(src).resolve().parent) if src else str(ROOT)
    out = subprocess.run(["git", "-C", where, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False)
    dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--", "src"], capture_output=True,
                           text=True, check=False)
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# -- main ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--size", type=parse_size, default=parse_size("1GB"), help="database size: 10MB, 1GB, … (1GB)")
    ap.add_argument("--quick", action="store_true", help="smoke run: --size 10MB --reps 2, no 10 MB memory pass")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per case (3; 5 below 100MB)")
    ap.add_argument("--only", default="", help="comma-separated case names to run (default: all)")
    ap.add_argument("--explore", action="store_true", help="add compression-level and parallel dump/restore cases")
    ap.add_argument("--pg-major", type=int, default=None, help="PostgreSQL major of the cluster (newest found)")
    ap.add_argument("--pgdrill-src", default=None, metavar="DIR",
                    help="benchmark the pgdrill package in DIR (another checkout's src/) instead of this one")
    ap.add_argument("--note", default="", help="free text stored in the JSON record (what changed)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder for the JSON record")
    args = ap.parse_args(argv)
    if args.quick:
        args.size = parse_size("10MB")
    reps = args.reps or (2 if args.quick else 5 if args.size < 100 * MB else 3)

    work = Path(tempfile.mkdtemp(prefix="pgdrill-bench-"))
    os.chmod(work, 0o755)
    log = str(work / "bench.log")
    started = datetime.now(timezone.utc)
    print(f"pgdrill bench: {size_label(args.size)} database, {reps} repetitions, work dir {work}", flush=True)
    if os.getloadavg()[0] > 1.5:
        print(f"  note: load average is {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; expect noisy times",
              flush=True)

    from support.s3 import start_s3_server  # tests/support: the same moto server the tests use

    cluster: LocalCluster | None = None
    server = None
    try:
        cluster = LocalCluster.create(args.pg_major)
        server = start_s3_server()
        bucket = server.create_bucket("pgdrill-bench")
        recipient, identity = age_keys(work)
        postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        env = Env(cluster, work, log, server.env(), bucket, server.client(), recipient, identity,
                  (postmaster, server.proc.pid), args.pgdrill_src and str(Path(args.pgdrill_src).resolve()))

        compile_pgdrill(env)
        from bench import startup

        startup_record = startup.measure(10)  # the fixed cost every command pays, before the big cases
        with_age = bool(recipient) and crypto_available()
        with_drill = drill_available()
        sizes = {"main": args.size}
        if not args.quick and args.size > 10 * MB:
            sizes["small"] = 10 * MB
        for role, size in sizes.items():
            t0 = time.monotonic()
            env.dbs[role] = build(cluster, f"bench_{role}", size)
            print(f"  built {role} database: {env.dbs[role].database_bytes / MB:.0f} MB on disk "
                  f"({env.dbs[role].user_bytes / MB:.0f} MB of tables) in {time.monotonic() - t0:.0f}s", flush=True)
        load_at_start = os.getloadavg()[0]
        fixtures = {role: make_fixtures(env, db) for role, db in env.dbs.items()}
        counts_alone = time_row_counts(env.dbs["main"])

        with psycopg.connect(cluster.url().conninfo()) as conn:
            major = conn.info.server_version // 10000
            server_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        same = pgdrill_compression(env, major)
        blocks = core_blocks("main", same, with_age, with_drill)
        if args.explore:
            add_explore(env, blocks, "main", major, same)
        if "small" in env.dbs:
            blocks += memory_blocks("small", with_drill)
        if args.only:
            wanted = {n.strip() for n in args.only.split(",") if n.strip()}
            blocks = [[c for c in b if c.name in wanted] for b in blocks]
            blocks = [b for b in blocks if b]
        cases = [c for b in blocks for c in b]
        skipped = []
        if not with_age:
            skipped.append("backup_local_age: pgdrill.crypto or pyrage not available")
        if not with_drill:
            skipped.append("drill: `pgdrill drill` not available")

        samples: dict[str, list[Sample]] = {f"{c.db}:{c.name}": [] for c in cases}
        for rep in range(reps):
            for case in schedule(blocks, rep):
                scratch = work / f"run-{uuid.uuid4().hex[:8]}"
                scratch.mkdir()
                try:
                    s = case.body(env, env.dbs[case.db], scratch)
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
                samples[f"{case.db}:{case.name}"].append(s)
                rss = f"  rss {s.self_maxrss_kb / 1024:.0f} MB" if s.self_maxrss_kb else ""
                print(f"  [{rep + 1}/{reps}] {case.db:5} {case.name:22} {s.seconds:7.2f}s{rss}", flush=True)

        record = {
            "started_at": started.isoformat(timespec="seconds"),
            "seconds": round((datetime.now(timezone.utc) - started).total_seconds()),
            "git": git_sha(args.pgdrill_src),
            "note": args.note,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_at_start": load_at_start, "load_at_end": os.getloadavg()[0],
                        "postgres": server_version, "postgres_bin": str(cluster.bin_dir)},
            "pgdrill_compression": same or "pg_dump default (gzip)",
            "size": size_label(args.size),
            "reps": reps,
            "databases": {role: {**{k: v for k, v in asdict(db).items() if k != "url"}, **fixtures[role]}
                          for role, db in env.dbs.items()},
            "row_counts_alone_seconds": round(counts_alone, 3),
            "startup": startup_record,
            "skipped": skipped,
            "cases": {key: {"label": next(c.label for c in cases if f"{c.db}:{c.name}" == key),
                            "samples": [asdict(s) for s in ss],
                            "median_s": Summary.of([s.seconds for s in ss]).median}
                      for key, ss in samples.items() if ss},
        }
        record["ratios"] = report.ratios(record)
        print()
        print(report.render(record))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{size_label(args.size)}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"\nwritten {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        return 0
    except BenchError as exc:
        print(f"bench failed: {exc}\n(log: {log})", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.destroy()
        with suppress(OSError):
            shutil.copy(log, Path(tempfile.gettempdir()) / "pgdrill-bench-last.log")
        shutil.rmtree(work, ignore_errors=True)
