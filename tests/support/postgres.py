"""The Postgres fixtures: one server per test session, a fresh database per test.

Without a Docker engine (this machine) the server is a throwaway initdb/pg_ctl cluster on a free
port; with one (GitHub's runners, PGDRILL_TEST_DOCKER=1) pytest-docker provides ``postgres:<major>``.
Both paths return the same PgServer, so tests never know which one they got.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from pgdrill.pg.cluster import LocalCluster, find_server_bin
from pgdrill.pg.conn import DatabaseUrl


@dataclass
class PgServer:
    admin_url: DatabaseUrl
    major: int
    cluster: LocalCluster | None = None
    created: list[str] = field(default_factory=list)

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        with psycopg.connect(self.admin_url.with_dbname(dbname).conninfo(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, name: str | None = None) -> DatabaseUrl:
        name = name or f"t_{uuid.uuid4().hex[:10]}"
        self.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.with_dbname(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def databases(self) -> set[str]:
        with psycopg.connect(self.admin_url.conninfo()) as conn:
            return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}

    def url(self, dbname: str) -> DatabaseUrl:
        return self.admin_url.with_dbname(dbname)


def docker_engine() -> bool:
    if os.environ.get("PGDRILL_TEST_DOCKER", "") == "0" or not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def local_server_bin() -> Path:
    major = os.environ.get("PGDRILL_TEST_PG_MAJOR")
    if major:
        return find_server_bin(int(major))
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    return find_server_bin()


def start_local(major: int | None = None) -> PgServer:
    cluster = LocalCluster.create(bin_dir=find_server_bin(major) if major else local_server_bin())
    url = cluster.url()
    with psycopg.connect(url.conninfo()) as conn:
        server_major = conn.info.server_version // 10000
    return PgServer(url, server_major, cluster)


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(Path(__file__).with_name("docker-compose.yml"))


@pytest.fixture(scope="session")
def pg(request: pytest.FixtureRequest) -> Iterator[PgServer]:
    if docker_engine():
        services = request.getfixturevalue("docker_services")
        port = services.port_for("postgres", 5432)
        url = DatabaseUrl.parse(f"postgresql://postgres:pgdrill-test-pw@127.0.0.1:{port}/postgres")

        def ready() -> bool:
            try:
                psycopg.connect(url.conninfo(), connect_timeout=2).close()
                return True
            except psycopg.Error:
                return False

        services.wait_until_responsive(timeout=60.0, pause=0.5, check=ready)
        with psycopg.connect(url.conninfo()) as conn:
            major = conn.info.server_version // 10000
        yield PgServer(url, major)
        return
    server = start_local()
    try:
        yield server
    finally:
        assert server.cluster is not None
        server.cluster.destroy()


@pytest.fixture
def db(pg: PgServer) -> Iterator[DatabaseUrl]:
    """A fresh empty database, dropped after the test."""
    url = pg.create_database()
    yield url
    pg.drop_database(url.dbname)


@pytest.fixture
def target_db(pg: PgServer) -> Iterator[DatabaseUrl]:
    """A second fresh database to restore into."""
    url = pg.create_database()
    yield url
    pg.drop_database(url.dbname)


@pytest.fixture
def fresh_server(pg: PgServer) -> Iterator[PgServer]:
    """A brand-new server of the session server's major, with none of its roles (a new RDS instance,
    a drill's scratch server); destroyed after the test."""
    server = start_local(pg.major) if pg.cluster is None else start_local_from(pg.cluster.bin_dir)
    try:
        yield server
    finally:
        assert server.cluster is not None
        server.cluster.destroy()


def start_local_from(bin_dir: Path) -> PgServer:
    cluster = LocalCluster.create(bin_dir=bin_dir)
    url = cluster.url()
    with psycopg.connect(url.conninfo()) as conn:
        major = conn.info.server_version // 10000
    return PgServer(url, major, cluster)
