"""monitor watching the whole recovery posture: the point-in-time window of a real pgBackRest
repository, of real barman-cloud backups, of a Neon project (the local stand-in), and the lag of a
real streaming replica on a primary (``--database-url PRIMARY --max-replica-lag``)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import psycopg
import pytest

from pgdrill.pg.cluster import LocalCluster, run_as_prefix
from pgdrill.pg.conn import DatabaseUrl

from support.neon_server import NeonStandIn
from support.pitr import BarmanBucket, PgBackRestRepo, chown_postgres, private_dir
from support.postgres import PgServer
from support.runner import pgdrill
from support.s3 import S3Server

pytestmark = pytest.mark.slow


def test_pgbackrest_window(pgbackrest_repo: PgBackRestRepo, capsys: pytest.CaptureFixture[str]) -> None:
    conf = str(pgbackrest_repo.config)
    # The repository's window is seconds long: under the 1-day default, so PitrWindowShort fires — a
    # warning: shown, exit 0; exit 1 with --fail-on warning.
    run = pgdrill(capsys, "monitor", "--pgbackrest-stanza", "main", "--pgbackrest-config", conf, "--json")
    assert run.code == 0 and [a["name"] for a in run.json()["alerts"]] == ["PitrWindowShort"], run.err
    run = pgdrill(capsys, "monitor", "--pgbackrest-stanza", "main", "--pgbackrest-config", conf, "--json",
                  "--fail-on", "warning")
    assert run.code == 1, run.err
    doc = run.json()
    assert [a["name"] for a in doc["alerts"]] == ["PitrWindowShort"]
    assert doc["pitr_available_days"] < 0.01 and 0 < doc["pitr"]["available_seconds"] < 600
    assert doc["pitr"]["newest_wal"] and doc["pitr"]["earliest_recoverable"]
    run = pgdrill(capsys, "monitor", "--pgbackrest-stanza", "main", "--pgbackrest-config", conf,
                  "--min-pitr-window", "1s", "--format", "prometheus")
    assert run.code == 0, run.out + run.err
    assert "pgdrill_pitr_available_days{" in run.out and "pgdrill_wal_archive_age_seconds{" in run.out
    # An archive older than the threshold is stale.
    time.sleep(1.1)
    run = pgdrill(capsys, "monitor", "--pgbackrest-stanza", "main", "--pgbackrest-config", conf,
                  "--min-pitr-window", "1s", "--max-wal-age", "1s")
    assert run.code == 1 and "WalArchiveStale" in run.out


def test_barman_window(barman_bucket: BarmanBucket, s3_env: S3Server, capsys: pytest.CaptureFixture[str]) -> None:
    run = pgdrill(capsys, "monitor", "--barman-cloud-url", barman_bucket.url_prefix, "--barman-server-name",
                  barman_bucket.server, "--min-pitr-window", "1s", "--json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    assert doc["status"] == "healthy" and doc["pitr_available_days"] > 0
    assert doc["pitr"]["source"].startswith("barman-cloud server pg-main")


def test_neon_history_retention(neon: NeonStandIn, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEON_API_KEY", neon.api_key)
    monkeypatch.setenv("NEON_API_HOST", neon.api_host)
    run = pgdrill(capsys, "monitor", "--neon-project", neon.project_id, "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["pitr_available_days"] == 7.0 and doc["pitr"]["continuous"] is True
    neon.history_retention_seconds = 6 * 3600  # runbook 003: alert when less than a day remains
    run = pgdrill(capsys, "monitor", "--neon-project", neon.project_id, "--json", "--fail-on", "warning")
    assert run.code == 1 and [a["name"] for a in run.json()["alerts"]] == ["PitrWindowShort"]


@pytest.fixture
def standby(pg: PgServer) -> Iterator[LocalCluster]:
    """A real streaming standby of the session's server (pg_basebackup -R), on its own port."""
    if pg.cluster is None:
        pytest.skip("needs the local test cluster as primary")
    base = private_dir("pgdrill-standby-")
    cluster = LocalCluster(pg.cluster.bin_dir, base=base)
    chown_postgres(base)
    out = subprocess.run([*run_as_prefix(), str(pg.cluster.bin_dir / "pg_basebackup"), "-d",
                          f"host={pg.cluster.socket_dir} port={pg.cluster.port} user=postgres "
                          "application_name=replica-eu", "-D", str(cluster.data_dir), "-R", "-X", "stream",
                          "--no-sync", "-c", "fast"],
                         capture_output=True, text=True, check=False, cwd="/")
    assert out.returncode == 0, out.stderr
    (cluster.base / "sock").mkdir()
    chown_postgres(cluster.socket_dir)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def _wait_streaming(pg: PgServer) -> None:
    for _ in range(100):
        with psycopg.connect(pg.admin_url.conninfo()) as conn:
            if conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                            "AND application_name = 'replica-eu'").fetchone() == (1,):
                return
        time.sleep(0.1)
    raise AssertionError("the standby never streamed")


def test_replica_lag(pg: PgServer, standby: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    _wait_streaming(pg)
    primary = pg.admin_url.conninfo()
    run = pgdrill(capsys, "monitor", "--database-url", primary, "--max-replica-lag", "5m", "--json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    assert [r["name"] for r in doc["replicas"]] == ["replica-eu"] and doc["status"] == "healthy"
    assert "pgdrill: error" not in run.err and pg.admin_url.password not in run.text  # type: ignore[operator]

    # Replay stops on the standby while the primary keeps writing: its lag grows past 1s.
    on_standby = DatabaseUrl({**pg.admin_url.params, "port": str(standby.port)})  # the primary's roles
    with psycopg.connect(on_standby.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    with psycopg.connect(primary, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lag_probe (at timestamptz)")
        for _ in range(25):
            conn.execute("INSERT INTO lag_probe VALUES (now())")
            time.sleep(0.1)
    run = pgdrill(capsys, "monitor", "--database-url", primary, "--max-replica-lag", "1s", "--format", "prometheus",
                  "--fail-on", "warning")  # ReplicaLagging is a warning: exit 1 only when warnings fail the run
    assert run.code == 1, run.out + run.err
    assert 'alert="ReplicaLagging",severity="warning"} 1' in run.out
    assert 'pgdrill_replica_lag_seconds{store="replicas",replica="replica-eu"}' in run.out
    with psycopg.connect(primary, autocommit=True) as conn:
        conn.execute("DROP TABLE lag_probe")


def test_database_url_without_a_lag_threshold_is_a_usage_error(pg: PgServer,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = pgdrill(capsys, "monitor", "--database-url", pg.admin_url.conninfo())
    assert run.code == 2 and "--max-replica-lag" in run.err
    run = pgdrill(capsys, "monitor", "--max-replica-lag", "5m")
    assert run.code == 2 and "--database-url" in run.err
