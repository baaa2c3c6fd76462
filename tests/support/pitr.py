"""Real archived clusters for the physical point-in-time tests: a PostgreSQL cluster with
``archive_mode = on`` and the tool's own ``archive_command`` (pgBackRest into a posix repository,
barman-cloud-wal-archive into the S3 test server), a base backup, then rows inserted at known
instants with the WAL switched (and archived) between them.

    backup ends … row 1 … [first] … row 2 … [second] … row 3 … (archived)

``instants["first"]`` lies between rows 1 and 2, ``instants["second"]`` between rows 2 and 3, so a
copy recovered to one holds exactly the rows before it. ``segments[n]`` is the WAL segment that holds
row n's commit (to remove it for the missing-segment case).

One archived cluster per test session and tool: building one takes seconds (barman-cloud: tens of
seconds), and the drills never write into it — which the tests check.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from pgdrill.pg.cluster import LocalCluster, find_server_bin
from pgdrill.pg.conn import DatabaseUrl

from support.s3 import S3Server

#: pgBackRest 2.45 (Debian 12) supports PostgreSQL up to 15
PGBACKREST_MAJOR = int(os.environ.get("PGDRILL_TEST_PGBACKREST_MAJOR", "15"))
#: barman-cloud supports current majors: use another one than pgBackRest, so both paths find their server
BARMAN_MAJOR = int(os.environ.get("PGDRILL_TEST_BARMAN_MAJOR", "17"))
VENV_BIN = Path(sys.executable).parent
ROWS = {1: "first row", 2: "second row", 3: "third row"}


def private_dir(prefix: str) -> Path:
    """A folder the cluster user can enter (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, 0o755)  # noqa: S103
    return d


def chown_postgres(path: Path) -> None:
    if os.geteuid() != 0:
        return
    owner = pwd.getpwnam(os.environ.get("PGDRILL_CLUSTER_USER", "postgres"))
    for root, dirs, files in os.walk(path):
        for n in (*dirs, *files):
            os.chown(os.path.join(root, n), owner.pw_uid, owner.pw_gid)
    os.chown(path, owner.pw_uid, owner.pw_gid)


def as_postgres(*args: str, env: dict[str, str] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", os.environ.get("PGDRILL_CLUSTER_USER", "postgres"), "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *args], capture_output=True, text=True, check=False, timeout=timeout, cwd="/",
                          env={**os.environ, **(env or {})})


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` → its size and sha256 (what "nothing changed" compares)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for n in files:
            p = Path(dirpath) / n
            out[str(p.relative_to(root))] = f"{p.stat().st_size}:{hashlib.sha256(p.read_bytes()).hexdigest()}"
    return out


@dataclass
class Archived:
    """An archived production cluster: the database ``appdb`` with table ``app.items``."""

    cluster: LocalCluster
    base: Path
    backup_end: datetime
    instants: dict[str, datetime] = field(default_factory=dict)
    segments: dict[int, str] = field(default_factory=dict)  # row → WAL segment holding its commit
    newest_segment: str = ""
    scratch: list[Path] = field(default_factory=list)  # folders made for tests (broken copies), removed by stop()

    @property
    def url(self) -> DatabaseUrl:
        return self.cluster.url("appdb")

    def write_rows(self) -> None:
        with psycopg.connect(self.cluster.url("appdb").conninfo(), autocommit=True) as conn:
            for n, name in ROWS.items():
                conn.execute("INSERT INTO app.items (id, name) VALUES (%s, %s)", (n, name))
                row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
                assert row is not None
                self.segments[n] = str(row[0])
                self.newest_segment = str(row[0])
                _wait_archived(conn, str(row[0]))
                time.sleep(0.3)
                if n == 1:
                    self.instants["first"] = datetime.now(timezone.utc)
                elif n == 2:
                    self.instants["second"] = datetime.now(timezone.utc)
                time.sleep(0.3)

    def stop(self) -> None:
        self.cluster.destroy()
        for folder in (self.base, *self.scratch):
            shutil.rmtree(folder, ignore_errors=True)


def _wait_archived(conn: psycopg.Connection[tuple[object, ...]], segment: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver").fetchone()
        if row and row[0] and str(row[0]) >= segment:
            return
        time.sleep(0.1)
    raise RuntimeError(f"WAL segment {segment} was not archived within {timeout}s: {row}")


def _production(major: int, base: Path, archive_command: str) -> LocalCluster:
    cluster = LocalCluster(find_server_bin(major), base=base / "prod")
    (base / "prod").mkdir()
    cluster.init()
    with open(cluster.data_dir / "postgresql.conf", "a", encoding="utf-8") as f:
        f.write(f"\narchive_mode = on\narchive_command = '{archive_command}'\nwal_level = replica\n")
    cluster.start()
    url = cluster.url()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE appdb")
    with psycopg.connect(cluster.url("appdb").conninfo(), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app")
        conn.execute("CREATE TABLE app.items (id int PRIMARY KEY, name text NOT NULL, "
                     "added_at timestamptz NOT NULL DEFAULT clock_timestamp())")
    return cluster


# -- pgBackRest ---------------------------------------------------------------------------------------
@dataclass
class PgBackRestRepo(Archived):
    config: Path = Path()
    repo: Path = Path()
    stanza: str = "main"

    def pgbackrest(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        return as_postgres("pgbackrest", f"--config={config or self.config}", f"--stanza={self.stanza}", *args)

    def broken_copy(self, missing_row: int) -> Path:
        """A copy of the repository (and a config for it) without the WAL segment of ``missing_row``."""
        base = private_dir("pgdrill-pgbr-broken-")
        self.scratch.append(base)
        repo = base / "repo"
        shutil.copytree(self.repo, repo, symlinks=True)
        segment = self.segments[missing_row]
        gone = [p for p in repo.rglob(f"{segment}-*")]
        assert gone, f"segment {segment} not found in the repository copy"
        for p in gone:
            p.unlink()
        config = base / "pgbackrest.conf"
        config.write_text(self.config.read_text().replace(f"repo1-path={self.repo}", f"repo1-path={repo}"))
        chown_postgres(base)
        return config


def pgbackrest_config(base: Path, repo: Path, cluster: LocalCluster | None = None, stanza: str = "main") -> str:
    lines = ["[global]", f"repo1-path={repo}", "repo1-retention-full=99", "log-level-console=warn",
             "log-level-file=off", f"lock-path={base / 'lock'}", f"spool-path={base / 'spool'}", "start-fast=y",
             "compress-type=gz", "compress-level=1"]
    if cluster is not None:
        lines += [f"[{stanza}]", f"pg1-path={cluster.data_dir}", f"pg1-socket-path={cluster.socket_dir}",
                  f"pg1-port={cluster.port}"]
    return "\n".join(lines) + "\n"


def make_pgbackrest_repo() -> PgBackRestRepo:
    if shutil.which("pgbackrest") is None:
        pytest.fail("pgbackrest is not installed: run scripts/setup/20-pitr-tools.sh")
    base = private_dir("pgdrill-pgbr-")
    repo = base / "repo"
    for d in (repo, base / "lock", base / "spool"):
        d.mkdir()
    config = base / "pgbackrest.conf"
    config.write_text(pgbackrest_config(base, repo))  # the stanza section is added once the cluster exists
    chown_postgres(base)
    cluster = _production(PGBACKREST_MAJOR, base, f"pgbackrest --config={config} --stanza=main archive-push %p")
    config.write_text(pgbackrest_config(base, repo, cluster))
    chown_postgres(config)
    archived = PgBackRestRepo(cluster, base, datetime.now(timezone.utc), config=config, repo=repo)
    try:
        for step in (("stanza-create",), ("backup", "--type=full")):
            out = archived.pgbackrest(*step)
            assert out.returncode == 0, out.stderr
        archived.backup_end = datetime.now(timezone.utc)
        time.sleep(1.1)  # pgBackRest records the backup's stop time to the second
        archived.write_rows()
    except BaseException:
        archived.stop()
        raise
    return archived


@pytest.fixture(scope="session")
def pgbackrest_repo() -> Iterator[PgBackRestRepo]:
    archived = make_pgbackrest_repo()
    try:
        yield archived
    finally:
        archived.stop()


# -- barman-cloud ---------------------------------------------------------------------------------------
@dataclass
class BarmanBucket(Archived):
    s3: S3Server | None = None
    bucket: str = ""
    path: str = "pg"
    server: str = "pg-main"

    @property
    def url_prefix(self) -> str:
        return f"s3://{self.bucket}/{self.path}"

    def objects(self, prefix: str | None = None) -> dict[str, str]:
        """Every object under the destination → its size and ETag."""
        assert self.s3 is not None
        client = self.s3.client()
        out = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix or self.path):
            for o in page.get("Contents", []):
                out[o["Key"]] = f"{o['Size']}:{o['ETag']}"
        return out

    def broken_copy(self, missing_row: int) -> str:
        """A copy of the destination under another path, without the WAL segment of ``missing_row``."""
        assert self.s3 is not None
        client = self.s3.client()
        path = f"broken-{missing_row}-{os.urandom(3).hex()}"
        segment = self.segments[missing_row]
        for key in self.objects():
            if key.rsplit("/", 1)[-1].startswith(segment):
                continue
            client.copy_object(Bucket=self.bucket, Key=path + key[len(self.path):],
                               CopySource={"Bucket": self.bucket, "Key": key})
        return f"s3://{self.bucket}/{path}"


def make_barman_bucket(s3: S3Server) -> BarmanBucket:
    base = private_dir("pgdrill-barman-")
    bucket = s3.create_bucket()
    url = f"s3://{bucket}/pg"
    archive = f"{VENV_BIN / 'barman-cloud-wal-archive'} --endpoint-url {s3.endpoint} {url} pg-main %p"
    saved = {k: os.environ.get(k) for k in s3.env()}
    os.environ.update(s3.env())  # the cluster's archive_command inherits the credentials
    try:
        cluster = _production(BARMAN_MAJOR, base, archive)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    archived = BarmanBucket(cluster, base, datetime.now(timezone.utc), s3=s3, bucket=bucket)
    try:
        out = as_postgres(str(VENV_BIN / "barman-cloud-backup"), "--endpoint-url", s3.endpoint, "-h",
                          str(cluster.socket_dir), "-p", str(cluster.port), "-U", "postgres", "--immediate-checkpoint",
                          url, "pg-main", env=s3.env())
        assert out.returncode == 0, out.stderr
        archived.backup_end = datetime.now(timezone.utc)
        time.sleep(1.1)
        archived.write_rows()
    except BaseException:
        archived.stop()
        raise
    return archived


@pytest.fixture(scope="session")
def barman_bucket(s3_server: S3Server) -> Iterator[BarmanBucket]:
    archived = make_barman_bucket(s3_server)
    try:
        yield archived
    finally:
        archived.stop()


@pytest.fixture
def copies_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """PGDRILL_COPIES_DIR for one test, checked empty afterwards by the tests themselves."""
    root = private_dir("pgdrill-copies-")
    monkeypatch.setenv("PGDRILL_COPIES_DIR", str(root))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def before(t: datetime, seconds: float) -> datetime:
    return t - timedelta(seconds=seconds)


def assert_no_secrets(text: str, *extra: str) -> None:
    """No password pgdrill has seen (production's, the target's, the copy's check role) in ``text``."""
    from pgdrill import secrets

    from support.secret_scan import SecretScanner

    values = {f"secret {i}": v for i, v in enumerate([*secrets.known(), *extra]) if len(v) >= 8}
    scanner = SecretScanner(values)
    scanner.add("output", text)
    scanner.assert_clean()
