"""Pure parts of the physical point-in-time sources: times as the tools accept them, the window rules,
WAL segment arithmetic, reading the server's log, and which source a command picks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgdrill.config import Config
from pgdrill.errors import ConfigError, ToolMissing
from pgdrill.settings import Settings
from pgdrill.sources.instants import parse_at
from pgdrill.sources.physical import (
    ArchivedWal,
    BaseBackup,
    Repository,
    _lsn_segment,
    _stopped_before,
    conf_quote,
    newest_segment,
    pg_time,
    segment_number,
)
from pgdrill.sources.registry import kind_for, pitr_kind

T = datetime(2026, 11, 20, 14, 29, 45, 250000, tzinfo=timezone.utc)


def test_times_are_converted_to_what_postgres_and_pgbackrest_accept() -> None:
    # pgBackRest 2.45 rejects a trailing Z; PostgreSQL rejects …T…Z in recovery_target_time.
    assert pg_time(parse_at("2026-11-20T14:29:45.25Z")) == "2026-11-20 14:29:45.250000+00"  # type: ignore[arg-type]
    assert pg_time(parse_at("2026-11-20T16:29:45.25+02:00")) == "2026-11-20 14:29:45.250000+00"  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        pg_time(datetime(2026, 11, 20))
    assert conf_quote("a 'b' \\c") == "'a ''b'' \\\\c'"


def repo(*stops: datetime, wal: datetime | None = None) -> Repository:
    backups = tuple(BaseBackup(f"b{i}", s - timedelta(minutes=5), s, 16) for i, s in enumerate(stops))
    return Repository(backups, ArchivedWal("000000010000000000000009", wal) if wal else None, "test repo")


def test_the_window_refuses_targets_outside_it() -> None:
    r = repo(T - timedelta(days=2), T - timedelta(days=1), wal=T + timedelta(hours=1))
    now = T + timedelta(hours=2)
    r.check_target(T, now)
    assert r.pick(T).id == "b1" and r.pick(T - timedelta(hours=30)).id == "b0" and r.pick(None).id == "b1"
    with pytest.raises(ConfigError, match="before the oldest base backup"):
        r.check_target(T - timedelta(days=3), now)
    with pytest.raises(ConfigError, match="after the newest archived WAL"):
        r.check_target(T + timedelta(hours=1, seconds=2), now)
    with pytest.raises(ConfigError, match="in the future"):
        r.check_target(now + timedelta(hours=1), now)
    with pytest.raises(ConfigError, match="no complete base backup"):
        repo().check_target(None, now)
    assert r.window().seconds(now) == pytest.approx(timedelta(days=2, hours=1).total_seconds())


def test_wal_segments() -> None:
    assert segment_number("000000010000000000000003") == 3
    assert segment_number("0000000200000001000000A0") == 256 + 0xA0
    assert segment_number("00000002.history") is None
    assert _lsn_segment("1/A0000028", 16 << 20) == 256 + 0xA0
    names = ["000000010000000000000002", "000000010000000000000003.00000028.backup",
             "000000010000000000000003-3a96a12f.gz", "00000002.history", "000000010000000000000004.partial"]
    assert newest_segment(names) == "000000010000000000000003"


def test_the_stop_line_of_the_servers_log_is_read() -> None:
    log = ("2026-12-01 21:37:46.183 UTC [6859] LOG:  recovery stopping before commit of transaction 727, time "
           "2026-12-01 21:37:26.940074+00\n2026-12-01 21:37:46.183 UTC [6859] LOG:  redo done at 0/5000070\n")
    assert _stopped_before(log) == datetime(2026, 12, 1, 21, 37, 26, 940074, tzinfo=timezone.utc)
    assert _stopped_before("LOG:  redo done\n") is None


def settings(given: dict[str, object], data: dict[str, object] | None = None) -> Settings:
    return Settings(given=given, origins={k: "flag" for k in given}, config=Config(Path("pgdrill.yml"), data or {}))


@pytest.mark.parametrize(("given", "data", "kind"), [
    ({"pgbackrest_stanza": "main"}, {}, "pgbackrest"),
    ({"barman_cloud_url": "s3://b/p"}, {}, "barman"),
    ({"at": "-15m"}, {"pgbackrest_stanza": "main"}, "pgbackrest"),  # --at alone: the configured source
    ({"at": "-15m"}, {"barman_cloud_url": "s3://b/p"}, "barman"),
    ({"at": "-15m"}, {}, "neon"),
    ({}, {"pgbackrest_stanza": "main"}, "pgbackrest"),  # no store: the only thing there is to drill
    ({}, {"store": "s3://x/y", "pgbackrest_stanza": "main"}, "backup"),
])
def test_which_source_a_command_uses(given: dict[str, object], data: dict[str, object], kind: str) -> None:
    assert kind_for(settings(given, data)).name == kind


def test_two_sources_at_once_are_refused() -> None:
    with pytest.raises(ConfigError, match="pick different sources"):
        kind_for(settings({"pgbackrest_stanza": "main", "barman_cloud_url": "s3://b/p"}))


def test_monitor_watches_the_source_given_or_configured() -> None:
    assert pitr_kind(settings({}, {"store": "s3://x/y", "pgbackrest_stanza": "main"})).name == "pgbackrest"  # type: ignore[union-attr]
    assert pitr_kind(settings({}, {"store": "s3://x/y"})) is None


def test_a_major_that_cannot_be_found_nor_fetched_is_one_clear_line(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    from pgdrill.pg.cluster import server_bin_for

    monkeypatch.setenv("PGDRILL_ALLOW_DOWNLOAD", "0")
    with pytest.raises(ToolMissing) as info:
        server_bin_for(9)
    assert "PostgreSQL 9 server binaries" in info.value.one_line() and info.value.exit_code == 3


def test_the_pitr_example_in_config_md_is_a_valid_pgdrill_yml(tmp_path: Path) -> None:
    import re

    from pgdrill import config as config_mod
    from pgdrill.sources.physical import PitrSettings

    text = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "pgbackrest_stanza" in b)
    path = tmp_path / "pgdrill.yml"
    path.write_text("\n".join(line[2:] if line.startswith("  ") else line for line in block.splitlines()))
    cfg = config_mod.load(str(path))
    pitr = cfg.section("pitr", PitrSettings)
    assert pitr.tolerance == 600 and pitr.server_settings == {"shared_buffers": "256MB"}
    assert kind_for(Settings(config=cfg)).name == "pgbackrest"
