"""`pgdrill drill --neon-project` and `pgdrill restore --neon-project` end to end, against the stand-in."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from pgdrill import secrets

from support.github_server import FakeGitHub
from support.neon_server import NeonStandIn, nothing_left
from support.runner import Run, pgdrill


@pytest.fixture
def neon_env(neon: NeonStandIn, monkeypatch: pytest.MonkeyPatch) -> NeonStandIn:
    monkeypatch.setenv("NEON_API_KEY", neon.api_key)
    monkeypatch.setenv("NEON_API_HOST", neon.api_host)
    monkeypatch.delenv("PGDRILL_CONFIG", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no pgdrill.yml here
    with psycopg.connect(neon.main_url().conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id serial PRIMARY KEY, email text)")
        conn.execute("INSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 8) g")
    return neon


def no_secrets(neon: NeonStandIn, r: Run) -> None:
    # ::add-mask:: lines are how a secret is legitimately named to the Actions runner.
    text = "\n".join(ln for ln in r.text.splitlines() if not ln.startswith("::add-mask::"))
    assert neon.api_key not in text
    password = neon.pg.admin_url.password
    assert password and password not in text


def test_neon_drill_command_passes_and_prints_the_record(capsys: pytest.CaptureFixture[str],
                                                         neon_env: NeonStandIn) -> None:
    r = pgdrill(capsys, "drill", "--neon-project", neon_env.project_id, "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["passed"] is True and doc["source_kind"] == "neon" and doc["requested_at"] == "latest"
    assert doc["backup_id"] == "neon:main@latest"
    assert doc["checks"][0]["name"] == "branch"
    assert "creating branch pgdrill-drill-" in r.err  # progress on stderr
    no_secrets(neon_env, r)
    nothing_left(neon_env)

    text = pgdrill(capsys, "drill", "--neon-project", neon_env.project_id, "--neon-branch", "main")
    assert text.code == 0, text.err
    assert "PASSED" in text.out and "Neon project" in text.out
    no_secrets(neon_env, text)


def test_neon_drill_exit_codes(capsys: pytest.CaptureFixture[str], neon_env: NeonStandIn) -> None:
    neon_env.history_retention_seconds = 86400
    old = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = pgdrill(capsys, "drill", "--neon-project", neon_env.project_id, "--at", old)
    assert r.code == 2 and "outside the point-in-time window" in r.err

    neon_env.fail_next("start_compute", error="compute quota exceeded", status="error")
    failed = pgdrill(capsys, "drill", "--neon-project", neon_env.project_id, "--json")
    assert failed.code == 1
    assert "compute quota exceeded" in failed.out
    nothing_left(neon_env)

    assert pgdrill(capsys, "drill", "--neon-project", "nope", "--json").code == 2  # 404 from the API
    usage = pgdrill(capsys, "drill", "--neon-project", neon_env.project_id, "--scratch-url", "postgresql://x@h/db")
    assert usage.code == 2 and "--scratch-url does not apply to a Neon drill" in usage.err


def test_neon_table_restore_command(capsys: pytest.CaptureFixture[str], neon_env: NeonStandIn) -> None:
    neon_env.snapshot(datetime.now(timezone.utc) - timedelta(minutes=10))
    url = neon_env.main_url()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id > 5")
    at = (datetime.now(timezone.utc) - timedelta(minutes=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = ["restore", "--neon-project", neon_env.project_id, "--at", at, "--table", "public.users",
            "--target-url", url.conninfo()]

    assert pgdrill(capsys, *base).code == 2  # rows only: --data-only is required
    refused = pgdrill(capsys, *base, "--data-only")
    assert refused.code == 2 and "would be replaced" in refused.err
    r = pgdrill(capsys, *base, "--data-only", "--missing-only", "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["mode"] == "missing" and doc["tables"][0]["inserted"] == 3
    assert doc["tables"][0]["target_rows_after"] == 8 and doc["cleanup"]["ok"] is True
    no_secrets(neon_env, r)
    nothing_left(neon_env)


def test_sigterm_during_a_neon_drill_deletes_the_branch(neon_env: NeonStandIn, tmp_path: Path) -> None:
    (tmp_path / "pgdrill.yml").write_text("checks:\n  smoke:\n    - run: sleep 60\n      timeout: 120s\n")
    env = {"NEON_API_KEY": neon_env.api_key, "NEON_API_HOST": neon_env.api_host}
    proc = subprocess.Popen([sys.executable, "-m", "pgdrill", "drill", "--neon-project", neon_env.project_id],
                            cwd=tmp_path, env={**_base_env(), **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not neon_env.calls("GET", "/connection_uri") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert neon_env.child_branches(), "the branch was never created"
        time.sleep(1.0)  # into the smoke command
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    assert "interrupted" in err
    assert len(neon_env.calls("DELETE", "/branches/")) == 1
    nothing_left(neon_env)


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("PGDRILL_", "NEON_", "GITHUB_"))}


@pytest.fixture
def own_mask_listeners() -> Iterator[None]:
    """In Actions, main() adds a process-wide ::add-mask:: listener; later tests must not inherit it."""
    saved = list(secrets._listeners)
    try:
        yield
    finally:
        secrets._listeners[:] = saved


@pytest.mark.usefixtures("own_mask_listeners")
def test_neon_drill_reports_to_github_like_other_drills(capsys: pytest.CaptureFixture[str], neon_env: NeonStandIn,
                                                        github_server: FakeGitHub, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in github_server.env("acme/shop").items():
        monkeypatch.setenv(key, value)
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    neon_env.fail_next("create_branch", error="pageserver unavailable", status="error")
    failed = pgdrill(capsys, "drill", "--neon-project", neon_env.project_id)
    assert failed.code == 1
    issues = github_server.issues("acme/shop")
    assert len(issues) == 1 and issues[0]["state"] == "open"
    assert issues[0]["title"].startswith("pgdrill drill failing")
    assert "neon:main@latest" in issues[0]["body"] and "pageserver unavailable" in issues[0]["body"]
    assert "passed=false" in output.read_text() and "backup-id=neon:main@latest" in output.read_text()

    passed = pgdrill(capsys, "drill", "--neon-project", neon_env.project_id)
    assert passed.code == 0, passed.err
    assert github_server.issues("acme/shop")[0]["state"] == "closed"  # the same lifecycle as store drills
    assert "rto-seconds=" in output.read_text() and "Neon project" in summary.read_text()
    sent = github_server.sent_text() + summary.read_text() + output.read_text()
    assert neon_env.api_key not in sent and str(neon_env.pg.admin_url.password) not in sent
    nothing_left(neon_env)


def test_neon_drill_with_a_store_compares_and_keeps_the_record(capsys: pytest.CaptureFixture[str],
                                                               neon_env: NeonStandIn, tmp_path: Path) -> None:
    store = str(tmp_path / "backups")
    backup = pgdrill(capsys, "backup", "--database-url", neon_env.main_url().conninfo(), "--store", store, "--json")
    assert backup.code == 0, backup.err

    r = pgdrill(capsys, "drill", "--neon-project", neon_env.project_id, "--store", store, "--json")
    assert r.code == 0, r.err
    assert r.out.strip(), (r.out, r.err)
    doc = r.json()
    assert doc["compared_backup_id"] == backup.json()["id"]
    assert {c["name"]: c["status"] for c in doc["checks"]}["row counts"] == "pass"
    listed = pgdrill(capsys, "drills", "--store", store, "--json")
    assert listed.code == 0 and doc["id"] in listed.out
    nothing_left(neon_env)
