"""What each command imports: `pgdrill --version` and `--help` load no heavy module, and a command
loads only what it uses (an import-graph test, not a timing test: the timings are in bench/startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: modules that cost tens of milliseconds each, and the HTTP, Neon, GitHub and notification code (their
#: settings models are light: every command validates pgdrill.yml with them)
HEAVY = ("psycopg", "boto3", "botocore", "httpx", "pydantic", "yaml", "pyrage", "pgdrill.rest",
         "pgdrill.providers.neon.client", "pgdrill.providers.neon.provider", "pgdrill.report.github.client",
         "pgdrill.report.github.issues", "pgdrill.report.github.publish", "pgdrill.report.notify.send")

_PROBE = """
import json, sys
from pgdrill.cli import main
code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def imported(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("PGDRILL_", "GITHUB_", "AWS_"))}
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], capture_output=True, text=True,
                          cwd=cwd, env={**base, **(env or {})}, check=False)
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc["code"], set(doc["modules"])


def heavy(modules: set[str], allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)
                  and not any(m == a or m.startswith(a + ".") for a in allowed))


def test_version_imports_nothing_heavy(tmp_path: Path) -> None:
    code, modules = imported(["--version"], tmp_path)
    assert code == 0
    assert heavy(modules) == []
    # no command module either: they are loaded when their command runs
    assert not [m for m in modules if m.startswith("pgdrill.cli.") and m != "pgdrill.cli.base"]


def test_help_lists_every_command_without_loading_their_work(tmp_path: Path) -> None:
    code, modules = imported(["--help"], tmp_path)
    assert code == 0
    assert {"pgdrill.cli.backups", "pgdrill.cli.drill", "pgdrill.cli.monitor"} <= modules
    assert heavy(modules) == []


@pytest.mark.parametrize("command", ["backup", "drill", "monitor", "prune", "restore", "predeploy", "check"])
def test_command_help_imports_nothing_heavy(tmp_path: Path, command: str) -> None:
    code, modules = imported([command, "--help"], tmp_path)
    assert code == 0
    assert heavy(modules) == []


def test_list_on_a_local_store_loads_no_s3_http_or_database_code(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    code, modules = imported(["list", "--store", str(tmp_path / "store")], tmp_path)
    assert code == 0
    # manifests are pydantic models and pgdrill.yml is YAML; nothing else heavy
    assert heavy(modules, allowed=("pydantic", "yaml")) == []


def test_a_failing_backup_outside_actions_loads_no_http_or_github_code(tmp_path: Path) -> None:
    code, modules = imported(["backup", "--database-url", "postgresql://u@127.0.0.1:1/x", "--store",
                              str(tmp_path / "store")], tmp_path)
    assert code == 3
    # psycopg is what a backup needs before pg_dump starts; the manifest's model (pydantic) is loaded
    # while pg_dump works, pgdrill.yml's reader only when there is one; never GitHub, notifications, Neon
    assert heavy(modules, allowed=("psycopg",)) == []


def test_notifications_load_only_when_a_url_is_set(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    code, modules = imported(["monitor", "--store", str(tmp_path / "store"), "--ping-url",
                              "http://127.0.0.1:1/ping/x"], tmp_path)
    assert code == 1  # NoBackup; the ping failing is only a warning
    assert "pgdrill.report.notify.send" in modules and "httpx" in modules
    # monitor may connect to a primary to watch its replicas (psycopg); no GitHub or Neon code
    assert heavy(modules, allowed=("pydantic", "yaml", "httpx", "psycopg", "pgdrill.rest",
                                   "pgdrill.report.notify.send")) == []


def test_the_entry_point_flushes_runs_atexit_and_keeps_the_exit_code(tmp_path: Path) -> None:
    """`pgdrill` skips Python's module teardown at exit (bench/startup.py), nothing else."""
    code = ("import atexit, sys; atexit.register(lambda: print('atexit ran', file=sys.stderr)); "
            "sys.argv = ['pgdrill'] + sys.argv[1:]; from pgdrill.cli import entry; entry()")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PGDRILL_")}
    ok = subprocess.run([sys.executable, "-c", code, "--version"], capture_output=True, text=True, cwd=tmp_path,
                        env=env, check=False)
    assert ok.returncode == 0 and ok.stdout == "pgdrill, version 0.1.0\n" and ok.stderr == "atexit ran\n"
    bad = subprocess.run([sys.executable, "-c", code, "list", "--store", str(tmp_path / "nope")], capture_output=True,
                         text=True, cwd=tmp_path, env=env, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("pgdrill: error: store ") and "atexit ran" in bad.stderr
