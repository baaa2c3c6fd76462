"""Case 9: SIGTERM (a CI cancel or timeout) or Ctrl-C (SIGINT to the whole process group, so
pg_dump/pg_restore get it too) while a backup streams its dump, and while a drill restores.

Afterwards: exit 3 with one line, no manifest, no partial file or multipart upload, no pg_dump or
pg_restore session left on the server, the scratch database dropped, nothing recorded as a drill,
and a prune refuses because the attempt failed."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from pgdrill.drill import load_history

from .conftest import Case

SIGNALS = ["SIGTERM", "SIGINT-group"]


def _interrupt(proc: subprocess.Popen[str], how: str) -> None:
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does


def _sessions(case: Case, app: str, dbname_like: str) -> list[str]:
    with psycopg.connect(case.pg.admin_url.conninfo(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_stat_activity WHERE application_name = %s AND datname LIKE %s",
                            (app, dbname_like)).fetchall()
    return [str(r[0]) for r in rows]


@pytest.mark.parametrize("how", SIGNALS)
def test_interrupted_backup(big_case: Case, how: str) -> None:
    case = big_case
    proc = case.spawn("backup", "--database-url", case.source.url.conninfo(), "--store", case.store_url,
                      start_new_session=True)
    case.wait_copy_running(proc)
    _interrupt(proc, how)
    r = case.finish(proc, timeout=120)
    case.assert_failed_cleanly(r, 3, "interrupted", "partial work was cleaned up", "run the command again")
    case.wait_for("pg_dump's session to end", lambda: not case.pg_dump_sessions(), timeout=10)
    assert list(case.store.incomplete()) == [], "a partial upload was left behind"
    case.assert_prune_refuses()


@pytest.mark.parametrize("how", SIGNALS)
def test_interrupted_drill(big_local_case: Case, how: str, tmp_path: Path) -> None:
    case = big_local_case
    prefix = f"f_int_{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "cfg" / "pgdrill.yml"
    cfg.parent.mkdir()
    cfg.write_text(f"drill:\n  scratch_prefix: {prefix}\n")
    proc = case.spawn("--config", str(cfg), "drill", "--store", case.store_url, "--scratch-url",
                      case.pg.admin_url.conninfo(), start_new_session=True)
    case.wait_for("pg_restore to write into the scratch database",
                  lambda: bool(_sessions(case, "pg_restore", f"{prefix}%")), proc=proc)
    _interrupt(proc, how)
    r = case.finish(proc, timeout=120)
    case.assert_failed_cleanly(r, 3, "interrupted", "run the command again", restore=False)
    assert not [d for d in case.pg.databases() if d.startswith(prefix)], "scratch database left behind"
    assert _sessions(case, "pg_restore", f"{prefix}%") == []
    assert load_history(case.store).records == [], "an interrupted drill was recorded as a drill"
    case.assert_previous_intact()
