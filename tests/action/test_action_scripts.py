"""The action's shell and Python helpers (.github/action/), run directly for the paths act cannot
reach here: installing a client with apt, bad inputs, what gets masked."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest
from act_runner import ROOT

HELPERS = ROOT / ".github" / "action"


def _bash(script: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GITHUB_OUTPUT": str(tmp_path / "out"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    return subprocess.run(["bash", str(HELPERS / script)], env={**base, **env}, capture_output=True, text=True,
                          check=False, timeout=60)


def test_client_step_without_a_version_does_nothing(tmp_path: Path) -> None:
    r = _bash("install-client.sh", {}, tmp_path)
    assert r.returncode == 0 and "picks the client from the server's version" in r.stdout


@pytest.mark.parametrize(("env", "message"), [
    ({"PGDRILL_ACTION_POSTGRES_VERSION": "sixteen"}, "postgres-version must be a major version"),
    ({"PGDRILL_ACTION_POSTGRES_VERSION": "16", "PGDRILL_ACTION_INSTALL_CLIENT": "maybe"},
     "must be auto, true or false"),
])
def test_client_step_rejects_bad_inputs(tmp_path: Path, env: dict[str, str], message: str) -> None:
    r = _bash("install-client.sh", env, tmp_path)
    assert r.returncode == 2 and "::error" in r.stdout and message in r.stdout


def test_client_step_finds_an_installed_major(tmp_path: Path) -> None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    if not found:
        pytest.skip("no Debian PostgreSQL client here")
    major = Path(found[0]).parts[4]
    r = _bash("install-client.sh",
              {"PGDRILL_ACTION_POSTGRES_VERSION": f"{major}.3", "PGDRILL_ACTION_INSTALL_CLIENT": "true"}, tmp_path)
    assert r.returncode == 0 and f"PostgreSQL {major} client found" in r.stdout


def test_client_step_leaves_self_hosted_runners_alone(tmp_path: Path) -> None:
    """auto installs only on GitHub-hosted runners; act and self-hosted runners are left as they are."""
    r = _bash("install-client.sh", {"PGDRILL_ACTION_POSTGRES_VERSION": "9", "RUNNER_OS": "Linux"}, tmp_path)
    assert r.returncode == 0 and "not a GitHub-hosted Linux runner" in r.stdout
    r = _bash("install-client.sh", {"PGDRILL_ACTION_POSTGRES_VERSION": "9", "PGDRILL_ACTION_INSTALL_CLIENT": "false"},
              tmp_path)
    assert r.returncode == 0 and "not installing" in r.stdout


def test_run_step_rejects_an_unknown_command(tmp_path: Path) -> None:
    r = _bash("run.sh", {"PGDRILL_ACTION_COMMAND": "backup; rm -rf /", "PGDRILL_ACTION_EXE": sys.executable},
              tmp_path)
    assert r.returncode == 2 and "::error title=pgdrill::command must be one of" in r.stdout


def test_run_step_without_pgdrill_reports_the_setup_failure(tmp_path: Path) -> None:
    r = _bash("run.sh", {"PGDRILL_ACTION_COMMAND": "backup", "PGDRILL_ACTION_EXE": ""}, tmp_path)
    assert r.returncode == 3 and "setup step failed" in r.stdout


def _masks(env: dict[str, str]) -> list[str]:
    r = subprocess.run([sys.executable, str(HELPERS / "mask.py")], env={"PATH": os.environ["PATH"], **env},
                       capture_output=True, text=True, check=True)
    lines = r.stdout.splitlines()
    masks = [line for line in lines if line.startswith("::add-mask::")]
    # the masks come first, then what setup.sh needs to know of the interpreter
    assert lines[:len(masks)] == masks, lines
    facts = dict(line.split("=", 1) for line in lines[len(masks):])
    assert facts["python-ok"] == "true" and facts["python-version"] == "{}.{}".format(*sys.version_info[:2])
    return [line[len("::add-mask::"):] for line in masks]


def test_mask_covers_url_passwords_as_written_and_decoded() -> None:
    masks = _masks({"PGDRILL_ACTION_MASK_DATABASE_URL": "postgresql://app:p%40ss%2Fw0rd@db.internal:5432/prod"})
    assert "postgresql://app:p%40ss%2Fw0rd@db.internal:5432/prod" in masks
    assert "p%40ss%2Fw0rd" in masks and "p@ss/w0rd" in masks


def test_mask_covers_keyword_passwords_identity_lines_and_skips_blanks() -> None:
    identity = "# created: 2026-01-01\nAGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS\n"
    masks = _masks({"PGDRILL_ACTION_MASK_SCRATCH_URL": "host=db user=x password='se cret!' dbname=y",
                    "PGDRILL_ACTION_MASK_AGE_IDENTITY": identity,
                    "PGDRILL_ACTION_MASK_TARGET_URL": "",
                    "UNRELATED": "not-a-secret-value"})
    assert "se cret!" in masks
    assert "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS" in masks
    assert "not-a-secret-value" not in masks
    assert all("\n" not in m and len(m) >= 4 for m in masks)
