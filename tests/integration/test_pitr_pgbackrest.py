"""Point-in-time drills of a real pgBackRest repository (posix): a PostgreSQL cluster archiving with
``pgbackrest archive-push``, a full backup, rows inserted at known instants with the WAL switched
between them (tests/support/pitr.py). Drills at instants between the rows prove which rows the copy
holds and which it does not; ``latest`` holds them all; targets outside the window are refused before
anything is restored; a repository missing a WAL segment fails the drill; the repository never
changes; the private server and its data directory are gone after every test.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from pgdrill.checks import ChecksConfig
from pgdrill.drill import DrillRequest, DrillResult, run_drill
from pgdrill.errors import ConfigError
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.sources.pgbackrest import PgBackRestSource
from pgdrill.sources.physical import PitrSettings

from support.pitr import ROWS, PgBackRestRepo, assert_no_secrets, private_dir, tree_digest
from support.postgres import PgServer
from support.runner import pgdrill

pytestmark = pytest.mark.slow


def rows_are(ids: list[int]) -> ChecksConfig:
    """SQL assertions that the copy holds exactly these rows of app.items (and so none of the others)."""
    listed = ",".join(str(i) for i in ids) or "none"
    return ChecksConfig.model_validate({"sql": [
        {"name": "rows present", "sql": "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), 'none') "
                                        "FROM app.items", "expect": listed},
        {"name": "names", "sql": "SELECT count(*) FROM app.items WHERE name = ANY(%s)" % (
            "ARRAY[" + ",".join(f"'{ROWS[i]}'" for i in ids) + "]::text[]" if ids else "ARRAY[]::text[]"),
         "expect": len(ids)},
    ]})


def drill(repo: PgBackRestRepo, root: Path, at: object, checks: ChecksConfig | None = None,
          config: Path | None = None, **settings: object) -> DrillResult:
    source = PgBackRestSource(root=root, stanza=repo.stanza, config=config or repo.config, at=at,  # type: ignore[arg-type]
                              settings=PitrSettings.model_validate(settings))
    return run_drill(source, DrillRequest(checks=checks or ChecksConfig()))


def check(result: DrillResult, name: str) -> tuple[str, str]:
    c = next(c for c in result.record.checks if c.name == name)
    return c.status, c.detail


@pytest.mark.parametrize(("instant", "present"), [("first", [1]), ("second", [1, 2])])
def test_a_drill_at_an_instant_holds_the_rows_before_it_and_none_after(
        pgbackrest_repo: PgBackRestRepo, copies_root: Path, instant: str, present: list[int]) -> None:
    before = tree_digest(pgbackrest_repo.repo)
    result = drill(pgbackrest_repo, copies_root, pgbackrest_repo.instants[instant], rows_are(present))
    assert result.passed, result.record.failures
    r = result.record
    assert r.source_kind == "pgbackrest" and r.point_in_time == pgbackrest_repo.instants[instant]
    status, detail = check(result, "point-in-time")
    assert status == "pass" and "recovery stopped before the next commit" in detail
    assert check(result, "recovery")[0] == "pass"
    # RTO is fetch + replay + checks, each measured
    assert r.fetch_seconds > 0 and r.replay_seconds > 0 and r.checks_seconds > 0
    assert r.rto.measured == pytest.approx(r.fetch_seconds + r.replay_seconds + r.checks_seconds, abs=0.01)
    assert r.restore_tool and r.restore_tool.startswith("pgBackRest")
    assert "destroyed" in r.cleanup or "deleted" in r.cleanup
    # Nothing in the repository changed: no new timeline, no WAL pushed by the copy.
    assert tree_digest(pgbackrest_repo.repo) == before
    assert list(copies_root.iterdir()) == []


def test_a_drill_at_latest_holds_every_row_and_measures_rpo_against_the_newest_wal(
        pgbackrest_repo: PgBackRestRepo, copies_root: Path) -> None:
    result = drill(pgbackrest_repo, copies_root, None, rows_are([1, 2, 3]))
    assert result.passed, result.record.failures
    r = result.record
    assert r.requested_at == "latest" and r.backup_id.startswith("pgbackrest:") and r.backup_id.endswith("@latest")
    assert r.rpo_detail and pgbackrest_repo.newest_segment in r.rpo_detail
    assert r.rpo.measured > 0  # the drill started after the newest WAL was archived
    assert list(copies_root.iterdir()) == []


def test_the_wrong_rows_fail_the_drill(pgbackrest_repo: PgBackRestRepo, copies_root: Path) -> None:
    """The row assertions are real: claiming row 2 is in a copy from before it fails."""
    result = drill(pgbackrest_repo, copies_root, pgbackrest_repo.instants["first"], rows_are([1, 2]))
    assert not result.passed
    assert "check 'sql: rows present' failed" in result.record.failures
    assert list(copies_root.iterdir()) == []


def test_a_marker_after_the_target_fails_the_point_in_time_check(
        pgbackrest_repo: PgBackRestRepo, copies_root: Path) -> None:
    # The marker query says the copy holds a row added after the target: recovery overshot.
    result = drill(pgbackrest_repo, copies_root, pgbackrest_repo.instants["first"],
                   marker_query="SELECT max(added_at) + interval '10 minutes' FROM app.items")
    status, detail = check(result, "point-in-time")
    assert status == "fail" and "overshot" in detail and not result.passed
    # And one far before it: recovery stopped early.
    early = drill(pgbackrest_repo, copies_root, pgbackrest_repo.instants["second"],
                  marker_query="SELECT max(added_at) - interval '1 hour' FROM app.items", tolerance="5m")
    status, detail = check(early, "point-in-time")
    assert status == "fail" and "stopped early" in detail
    # The true marker passes.
    good = drill(pgbackrest_repo, copies_root, pgbackrest_repo.instants["second"],
                 marker_query="SELECT max(added_at) FROM app.items")
    assert check(good, "point-in-time")[0] == "pass", check(good, "point-in-time")
    assert list(copies_root.iterdir()) == []


def test_targets_outside_the_window_are_refused_before_anything_is_restored(
        pgbackrest_repo: PgBackRestRepo, copies_root: Path) -> None:
    early = PgBackRestSource(root=copies_root, stanza="main", config=pgbackrest_repo.config,
                             at=pgbackrest_repo.backup_end - timedelta(hours=1))
    with pytest.raises(ConfigError) as info:
        run_drill(early, DrillRequest())
    assert "before the oldest base backup" in info.value.message and info.value.exit_code == 2
    newest = pgbackrest_repo.instants["second"] + timedelta(seconds=30)
    late = PgBackRestSource(root=copies_root, stanza="main", config=pgbackrest_repo.config, at=newest)
    with pytest.raises(ConfigError) as info:
        run_drill(late, DrillRequest())
    assert "after the newest archived WAL" in info.value.message
    assert list(copies_root.iterdir()) == []


@pytest.mark.parametrize("at", ["second", "latest"])
def test_a_missing_wal_segment_fails_the_drill(pgbackrest_repo: PgBackRestRepo, copies_root: Path, at: str) -> None:
    """Row 2's segment is gone: a drill past it must fail, not pass holding only row 1."""
    broken = pgbackrest_repo.broken_copy(missing_row=2)
    instant = pgbackrest_repo.instants[at] if at != "latest" else None
    result = drill(pgbackrest_repo, copies_root, instant, config=broken)
    assert not result.passed
    status, detail = check(result, "recovery")
    assert status == "fail", detail
    if instant is None:
        assert "stopped early" in detail and pgbackrest_repo.newest_segment in detail
    else:
        assert "recovery ended before configured recovery target was reached" in detail
    assert check(result, "cleanup")[0] == "pass"
    assert list(copies_root.iterdir()) == []


def _target(pg: PgServer) -> DatabaseUrl:
    url = pg.create_database()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app")
        conn.execute("CREATE TABLE app.items (id int PRIMARY KEY, name text NOT NULL, added_at timestamptz)")
        conn.execute("INSERT INTO app.items VALUES (1, 'first row', now()), (2, 'second row', now()), "
                     "(3, 'third row', now())")
        conn.execute("DELETE FROM app.items")  # the accident
    return url


def test_cli_drill_json_report_and_table_restore(pgbackrest_repo: PgBackRestRepo, copies_root: Path, pg: PgServer,
                                                 capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    at = pgbackrest_repo.instants["second"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    report = tmp_path / "drill.md"
    run = pgdrill(capsys, "drill", "--pgbackrest-stanza", "main", "--pgbackrest-config", str(pgbackrest_repo.config),
                  "--at", at, "--rto-target", "15m", "--json", "--report", str(report))
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["passed"] and doc["source_kind"] == "pgbackrest" and doc["replay_seconds"] > 0
    assert doc["rto"]["status"] == "pass"
    md = report.read_text()
    assert "fetch" in md and "replay" in md and "deleted" in md
    assert_no_secrets(run.text + md)
    assert list(copies_root.iterdir()) == []

    # The accidental DELETE: rows 1 and 2 come back as they were at the instant, row 3 did not exist yet.
    target = _target(pg)
    run = pgdrill(capsys, "restore", "--pgbackrest-stanza", "main", "--pgbackrest-config",
                  str(pgbackrest_repo.config), "--at", at, "--table", "app.items", "--data-only",
                  "--target-url", target.conninfo(), "--json")
    assert run.code == 0, run.err
    assert run.json()["tables"][0]["inserted"] == 2
    with psycopg.connect(target.conninfo()) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM app.items ORDER BY id")] == [1, 2]
    assert_no_secrets(run.text)
    assert list(copies_root.iterdir()) == []
    pg.drop_database(target.dbname)


def test_cli_errors_are_one_clear_line(pgbackrest_repo: PgBackRestRepo, copies_root: Path,
                                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    conf = str(pgbackrest_repo.config)
    # -15m is before this repository's only backup (made moments ago)
    run = pgdrill(capsys, "drill", "--pgbackrest-stanza", "main", "--pgbackrest-config", conf, "--at", "-15m")
    assert run.code == 2 and "before the oldest base backup" in run.err and len(run.err.strip().splitlines()) == 1
    run = pgdrill(capsys, "drill", "--pgbackrest-stanza", "nope", "--pgbackrest-config", conf)
    assert run.code == 2 and "stanza 'nope'" in run.err, run.err
    run = pgdrill(capsys, "drill", "--pgbackrest-stanza", "main", "--pgbackrest-config", str(tmp_path / "x.conf"))
    assert run.code == 2 and "does not exist" in run.err
    nowhere = private_dir("pgdrill-conf-") / "nowhere.conf"  # the cluster user must read it
    nowhere.write_text(pgbackrest_repo.config.read_text().replace(
        f"repo1-path={pgbackrest_repo.repo}", "repo1-path=/nonexistent/pgdrill-repo"))
    nowhere.chmod(0o644)
    run = pgdrill(capsys, "drill", "--pgbackrest-stanza", "main", "--pgbackrest-config", str(nowhere))
    assert run.code == 2 and "missing stanza path" in run.err
    mode = pgbackrest_repo.repo.stat().st_mode & 0o7777
    pgbackrest_repo.repo.chmod(0o000)  # the repository exists but this runner cannot read it
    try:
        run = pgdrill(capsys, "drill", "--pgbackrest-stanza", "main", "--pgbackrest-config", conf)
    finally:
        pgbackrest_repo.repo.chmod(mode)
    assert run.code == 3 and "cannot read the repository" in run.err and "Permission denied" in run.err, run.err
    run = pgdrill(capsys, "drill", "--pgbackrest-stanza", "main", "--pgbackrest-config", conf, "--at", "yesterday")
    assert run.code == 2 and "not a timestamp" in run.err
    assert list(copies_root.iterdir()) == []


def test_the_info_json_is_what_the_source_reads(pgbackrest_repo: PgBackRestRepo) -> None:
    """The repository's own view and the source's agree on the backup and the newest WAL segment."""
    out = pgbackrest_repo.pgbackrest("info", "--output=json")
    doc = json.loads(out.stdout)[0]
    repo = PgBackRestSource(stanza="main", config=pgbackrest_repo.config)._inspect()
    assert [b.id for b in repo.backups] == [b["label"] for b in doc["backup"]]
    assert repo.newest_wal is not None and repo.newest_wal.segment == doc["archive"][0]["max"]
    assert repo.backups[0].major == int(doc["db"][0]["version"])


def test_server_binaries_of_another_major_are_refused(pgbackrest_repo: PgBackRestRepo, copies_root: Path) -> None:
    from pgdrill.pg.cluster import find_server_bin

    other = find_server_bin(17)
    source = PgBackRestSource(root=copies_root, stanza="main", config=pgbackrest_repo.config, bin_dir=other)
    with pytest.raises(ConfigError) as info:
        run_drill(source, DrillRequest())
    assert "the backup is PostgreSQL 15 but the server binaries" in info.value.message
    assert list(copies_root.iterdir()) == []


def test_sigterm_while_pgbackrest_restores_leaves_nothing(pgbackrest_repo: PgBackRestRepo, copies_root: Path) -> None:
    """CI cancels the job mid-restore: pgbackrest itself is stopped (not only runuser), the half-restored
    data directory is deleted, and the exit is an interruption (3)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "pgdrill", "drill", "--pgbackrest-stanza", "main",
                             "--pgbackrest-config", str(pgbackrest_repo.config)],
                            env={**os.environ, "PGDRILL_COPIES_DIR": str(copies_root)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.is_dir() and any(p.iterdir()) for p in copies_root.glob("*/data")):
            break
        time.sleep(0.01)
    else:
        proc.kill()
        raise AssertionError("the restore never started")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "interrupted" in err
    assert list(copies_root.iterdir()) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(copies_root) not in ps, "a pgbackrest restore into the deleted copy is still running"
