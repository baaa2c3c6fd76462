"""Neon point-in-time drills against the local stand-in (tests/support/neon_server.py).

The stand-in answers with Neon's documented API shapes, and each "branch" is a real database on the
test cluster, so the drill's checks run against real Postgres. Its point-in-time model is snapshots
a test takes: a branch "at T" is a copy of the newest snapshot labelled at or before T.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from pgdrill.backup import BackupRequest, run_backup
from pgdrill.checks import ChecksConfig
from pgdrill.drill import DrillRequest, DrillResult, run_drill
from pgdrill.errors import ConfigError
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.providers.base import PitrProvider
from pgdrill.providers.neon import NeonApiError
from pgdrill.sources.branch import BranchSource
from pgdrill.store.base import Store
from pgdrill.store.local import LocalStore

from support.neon_server import NeonStandIn, Sleeps, make_provider, nothing_left


def neon_drill(provider: PitrProvider, *, at: datetime | None = None, store: Store | None = None,
               checks: ChecksConfig | None = None, tamper: object = None, progress: object = None) -> DrillResult:
    """A point-in-time drill of ``provider``'s branch; ``store`` keeps the record and lends its manifest."""
    source = BranchSource(provider, at=at, compare_store=store)
    req = DrillRequest(checks=checks or ChecksConfig(), records=store, tamper=tamper)  # type: ignore[arg-type]
    return run_drill(source, req, progress)  # type: ignore[arg-type]


def seed(url: DatabaseUrl, rows: int) -> None:
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS app")
        conn.execute("CREATE TABLE IF NOT EXISTS app.users (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO app.users (name) SELECT 'user ' || g FROM generate_series(1, %s) g", (rows,))


def count(url: DatabaseUrl, table: str = "app.users") -> int:
    with psycopg.connect(url.conninfo()) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[arg-type]
        assert row is not None
        return int(row[0])


def test_drill_at_latest_passes_checks_on_a_real_branch_and_deletes_it(neon: NeonStandIn) -> None:
    seed(neon.main_url(), 25)
    seen: list[int] = []

    def look(url: DatabaseUrl) -> None:
        # The branch is a separate database holding the parent's rows, reached through the API's URI.
        assert url.dbname != neon.main.physical
        seen.append(count(url))

    messages: list[str] = []
    result = neon_drill(make_provider(neon), tamper=look, progress=messages.append)

    assert result.passed, result.record.failures
    assert seen == [25]
    names = [c.name for c in result.record.checks]
    assert names[0] == "branch" and names[-1] == "cleanup"
    assert {c.name: c.status for c in result.record.checks}["cleanup"] == "pass"
    assert "sequences" in names and "migration head" in names  # the shared check runner ran on the branch
    nothing_left(neon)

    posts = neon.calls("POST", "/branches")
    assert len(posts) == 1
    body = posts[0].body
    assert body["endpoints"] == [{"type": "read_write"}]
    assert body["branch"]["parent_id"] == neon.main.id
    assert "parent_timestamp" not in body["branch"]
    expires = datetime.fromisoformat(body["branch"]["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=5) < expires - datetime.now(timezone.utc) <= timedelta(hours=6)
    assert len(neon.calls("DELETE", "/branches/")) == 1
    assert all(r.authorization == f"Bearer {neon.api_key}" for r in neon.requests)

    r = result.record
    assert r.rpo.measured < 60 and r.worst_gap_seconds == 0
    assert r.rpo_window_seconds == 7 * 86400
    assert r.rto.measured == pytest.approx(r.restore_seconds + r.checks_seconds, abs=0.01)
    assert r.backup_id == "neon:main@latest"
    assert r.model_dump()["source_kind"] == "neon"
    text = r.to_json() + "\n".join(messages)
    assert neon.api_key not in text
    assert neon.pg.admin_url.password is not None and neon.pg.admin_url.password not in text


def test_drill_at_a_timestamp_sees_the_data_of_that_instant(neon: NeonStandIn) -> None:
    seed(neon.main_url(), 10)
    then = datetime.now(timezone.utc) - timedelta(hours=2)
    neon.snapshot(then)
    seed(neon.main_url(), 5)  # rows written after the instant
    seen: list[int] = []

    at = then + timedelta(minutes=1)
    result = neon_drill(make_provider(neon), at=at, tamper=lambda u: seen.append(count(u)))

    assert result.passed, result.record.failures
    assert seen == [10]
    assert neon.calls("POST", "/branches")[0].body["branch"]["parent_timestamp"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Effective RPO: how far back the restored data is from the start of the drill.
    assert 7140 - 5 <= result.record.rpo.measured <= 7140 + 120
    assert result.record.backup_created_at == at.replace(microsecond=0)
    nothing_left(neon)


def test_failed_operation_is_a_failed_drill_and_the_branch_is_deleted(neon: NeonStandIn) -> None:
    seed(neon.main_url(), 3)
    neon.fail_next("create_branch", error="timeline creation failed: pageserver unavailable")

    result = neon_drill(make_provider(neon))

    assert not result.passed
    branch = result.record.checks[0]
    assert branch.name == "branch" and branch.status == "fail"
    assert "pageserver unavailable" in branch.detail and "create_branch" in branch.detail
    assert [c.name for c in result.record.checks] == ["branch", "cleanup"]  # no checks on a failed branch
    assert result.record.checks[-1].status == "pass"
    assert "check 'branch' failed" in result.record.failures
    assert len(neon.calls("DELETE", "/branches/")) == 1
    nothing_left(neon)


def test_a_failed_operation_that_neon_retries_does_not_fail_the_drill(neon: NeonStandIn) -> None:
    seed(neon.main_url(), 3)
    neon.script_next("create_branch", [("failed", "transient"), ("running", None), ("finished", None)])

    result = neon_drill(make_provider(neon, failed_grace=30))

    assert result.passed, result.record.failures
    nothing_left(neon)


def test_423_locked_is_retried_with_growing_backoff(neon: NeonStandIn) -> None:
    seed(neon.main_url(), 3)
    neon.inject(423, 3, method="POST", path_contains="/branches")
    sleeps = Sleeps()

    result = neon_drill(make_provider(neon, sleeps))

    assert result.passed, result.record.failures
    assert [r.status for r in neon.calls("POST", "/branches")] == [423, 423, 423, 201]
    assert sleeps[:3] == [0.01, 0.02, 0.04]
    nothing_left(neon)


def test_423_that_never_clears_is_an_infrastructure_error_with_nothing_left(neon: NeonStandIn) -> None:
    seed(neon.main_url(), 3)
    neon.inject(423, 50, method="POST", path_contains="/branches")

    with pytest.raises(NeonApiError) as info:
        neon_drill(make_provider(neon, locked_retries=3))

    assert info.value.exit_code == 3
    assert "423" in info.value.message
    assert len(neon.calls("POST", "/branches")) == 4
    # The create may or may not have reached Neon: the cleanup looked the branch up by name.
    assert neon.calls("GET", "/branches")
    nothing_left(neon)


def test_timestamp_outside_the_pitr_window_is_refused_before_any_branch(neon: NeonStandIn) -> None:
    neon.history_retention_seconds = 3600
    at = datetime.now(timezone.utc) - timedelta(hours=2)

    with pytest.raises(ConfigError) as info:
        neon_drill(make_provider(neon), at=at)

    msg = info.value.message
    assert "outside the point-in-time window" in msg and "history retention 1 hour" in msg
    assert info.value.exit_code == 2
    assert neon.calls("POST", "/branches") == []
    with pytest.raises(ConfigError, match="in the future"):
        neon_drill(make_provider(neon), at=datetime.now(timezone.utc) + timedelta(hours=1))


def test_branch_is_deleted_after_a_failing_check(neon: NeonStandIn) -> None:
    seed(neon.main_url(), 4)
    checks = ChecksConfig.model_validate({"sql": [{"name": "enough users", "sql": "SELECT count(*) FROM app.users",
                                                   "expect": 999}]})

    result = neon_drill(make_provider(neon), checks=checks)

    assert not result.passed
    failed = {c.name: c for c in result.record.checks if c.status == "fail"}
    assert list(failed) == ["sql: enough users"]
    assert "expected 999, got 4" in failed["sql: enough users"].detail
    assert result.record.checks[-1].name == "cleanup" and result.record.checks[-1].status == "pass"
    nothing_left(neon)


def test_interrupt_during_the_checks_still_deletes_the_branch(neon: NeonStandIn) -> None:
    seed(neon.main_url(), 2)

    def interrupt(url: DatabaseUrl) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        neon_drill(make_provider(neon), tamper=interrupt)
    assert len(neon.calls("DELETE", "/branches/")) == 1
    nothing_left(neon)


def test_a_branch_that_cannot_be_deleted_fails_the_drill_and_says_how_to_clean_up(neon: NeonStandIn) -> None:
    seed(neon.main_url(), 2)
    neon.inject(500, 50, method="DELETE")

    result = neon_drill(make_provider(neon))

    assert not result.passed
    cleanup = result.record.checks[-1]
    assert cleanup.name == "cleanup" and cleanup.status == "fail"
    assert "HTTP 500" in cleanup.items[0]
    assert "delete it with: neon branches delete br-" in cleanup.detail
    assert f"--project-id {neon.project_id}" in cleanup.detail and "deletes it by itself at" in cleanup.detail
    assert len(neon.child_branches()) == 1  # still there, with its expires_at as the safety net
    assert neon.child_branches()[0].expires_at is not None


def test_row_counts_are_compared_with_the_latest_backup_and_the_record_is_stored(
        neon: NeonStandIn, tmp_path: Path) -> None:
    seed(neon.main_url(), 12)
    store = LocalStore(tmp_path / "store")
    manifest = run_backup(BackupRequest(neon.main_url(), store))
    assert manifest.tables["app.users"] == 12

    same = neon_drill(make_provider(neon), store=store)
    assert same.passed, same.record.failures
    rows = {c.name: c for c in same.record.checks}["row counts"]
    assert rows.status == "pass" and "all equal to the manifest" in rows.detail
    assert same.saved_key is not None
    stored = json.loads(store.get_bytes(same.saved_key))
    assert stored["compared_backup_id"] == manifest.id and stored["source_kind"] == "neon"

    seed(neon.main_url(), 3)  # the database moved on since the backup: a warning by default …
    moved = neon_drill(make_provider(neon), store=store)
    assert moved.passed
    assert {c.name: c.status for c in moved.record.checks}["row counts"] == "warn"
    assert any("row counts are compared with backup" in w for w in moved.warnings)

    strict = ChecksConfig.model_validate({"row_counts": "fail"})  # … and a failure when pgdrill.yml says so
    failed = neon_drill(make_provider(neon), store=store, checks=strict)
    assert not failed.passed
    assert "app.users: manifest 12, restored 15" in {c.name: c for c in failed.record.checks}["row counts"].detail
    assert len(failed.trend) == 3  # the history in the store: three drills
    nothing_left(neon)
