"""Promoting a Neon point-in-time branch to the project's default (runbook 003 §2.2, §3.2), against the
local Neon API stand-in: refused without the exact --confirm, the old default kept under a new name,
the new branch the default under the old name, and the undo steps printed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from support.neon_server import NeonStandIn
from support.runner import pgdrill


@pytest.fixture
def incident(neon: NeonStandIn, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Ten orders; a snapshot (Neon's history at T); then an accident empties the table."""
    monkeypatch.setenv("NEON_API_KEY", neon.api_key)
    monkeypatch.setenv("NEON_API_HOST", neon.api_host)
    with psycopg.connect(neon.main_url().conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY)")
        conn.execute("INSERT INTO orders SELECT generate_series(1, 10)")
    at = datetime.now(timezone.utc) - timedelta(minutes=10)
    neon.snapshot(at)
    with psycopg.connect(neon.main_url().conninfo(), autocommit=True) as conn:
        conn.execute("DELETE FROM orders")
    return at + timedelta(minutes=1)


def _at(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_promote_is_refused_without_the_exact_confirm(neon: NeonStandIn, incident: datetime,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for confirm in ((), ("--confirm", "production")):
        run = pgdrill(capsys, "restore", "--neon-project", neon.project_id, "--at", _at(incident), "--promote",
                      *confirm)
        assert run.code == 2 and "--confirm main" in run.err, run.err
    assert neon.calls("POST") == [] and neon.calls("PATCH") == []
    assert neon.default_branch().name == "main" and neon.child_branches() == []


def test_promote_keeps_the_old_default_and_makes_the_branch_at_t_the_default(
        neon: NeonStandIn, incident: datetime, capsys: pytest.CaptureFixture[str]) -> None:
    old = neon.default_branch()
    run = pgdrill(capsys, "restore", "--neon-project", neon.project_id, "--at", _at(incident), "--promote",
                  "--confirm", "main", "--json")
    assert run.code == 0, run.err
    doc = run.json()
    new = neon.default_branch()
    assert new.id != old.id and new.name == "main" and new.parent_id == old.id and new.expires_at is None
    assert new.parent_timestamp is not None and abs((new.parent_timestamp - incident).total_seconds()) < 1
    # The old default is kept, renamed with a timestamp, never deleted.
    assert old.id in neon.branches and old.name.startswith("main-before-restore-") and not old.default
    assert doc["promoted"] == {"id": new.id, "name": "main"}
    assert doc["previous_default"] == {"id": old.id, "name": old.name}
    assert any(f"set-default {old.id}" in step for step in doc["undo"])
    # The default branch now holds the data as it was at T.
    with psycopg.connect(neon.branch_url(new).conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (10,)
    assert [c.body for c in neon.calls("POST", "/set_as_default")] == [None]
    assert neon.api_key not in run.text


def test_promote_text_says_how_to_undo(neon: NeonStandIn, incident: datetime,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    run = pgdrill(capsys, "restore", "--neon-project", neon.project_id, "--at", _at(incident), "--promote",
                  "--confirm", "main")
    assert run.code == 0, run.err
    assert "undo" in run.out and "neon branches set-default" in run.out and "not deleted" in run.out


def test_promote_outside_the_history_window_or_with_tables_is_refused(
        neon: NeonStandIn, incident: datetime, capsys: pytest.CaptureFixture[str]) -> None:
    old = datetime.now(timezone.utc) - timedelta(days=30)
    run = pgdrill(capsys, "restore", "--neon-project", neon.project_id, "--at", _at(old), "--promote",
                  "--confirm", "main")
    assert run.code == 2 and "outside the point-in-time window" in run.err
    run = pgdrill(capsys, "restore", "--neon-project", neon.project_id, "--at", _at(incident), "--promote",
                  "--confirm", "main", "--table", "public.orders")
    assert run.code == 2 and "whole database" in run.err
    run = pgdrill(capsys, "restore", "--neon-project", neon.project_id, "--promote", "--confirm", "main")
    assert run.code == 2 and "needs --at" in run.err
    assert neon.calls("POST") == [] and neon.default_branch().name == "main"


def test_a_failed_switch_gives_the_old_default_its_name_back(
        neon: NeonStandIn, incident: datetime, capsys: pytest.CaptureFixture[str]) -> None:
    neon.inject(400, 1, method="POST", path_contains="/set_as_default")
    run = pgdrill(capsys, "restore", "--neon-project", neon.project_id, "--at", _at(incident), "--promote",
                  "--confirm", "main")
    assert run.code != 0 and "still the default" in run.err, run.err
    old = neon.default_branch()
    assert old.name == "main" and len(neon.child_branches()) == 1  # the new branch, left to inspect
