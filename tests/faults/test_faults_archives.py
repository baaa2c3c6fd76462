"""Faults of archive-set drills: SIGTERM or Ctrl-C while psql streams a team's plain SQL dump into the
scratch database. Afterwards: exit 3 with one line, no psql session left, the scratch database
dropped, no drill recorded, and the dump exactly as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from pgdrill.pg import binaries
from pgdrill.store.local import LocalStore

from .conftest import Case
from .test_faults_interrupt import SIGNALS, _interrupt


def _sessions(case: Case, dbname_like: str) -> list[str]:
    with psycopg.connect(case.pg.admin_url.conninfo(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_stat_activity WHERE application_name = 'psql' AND datname LIKE %s",
                            (dbname_like,)).fetchall()
    return [str(r[0]) for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize("how", SIGNALS)
def test_interrupted_plain_sql_drill(big_local_case: Case, how: str, tmp_path: Path) -> None:
    case = big_local_case
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    pg_dump = binaries.for_dump(case.pg.major).tool("pg_dump")
    env = {**os.environ, **case.source.url.subprocess_env()}
    # the cron line, as a shell runs it
    subprocess.run(["bash", "-o", "pipefail", "-c", f'"{pg_dump}" --dbname="$DB" | gzip -1 > '
                    f'{dumps}/app_20251025_030000.sql.gz'],
                   check=True, env={**env, "DB": case.source.url.conninfo_without_password()}, timeout=300)
    digest = hashlib.sha256((dumps / "app_20251025_030000.sql.gz").read_bytes()).hexdigest()
    prefix = f"f_arc_{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "cfg" / "pgdrill.yml"
    cfg.parent.mkdir()
    cfg.write_text(f"drill:\n  scratch_prefix: {prefix}\n")
    records = tmp_path / "records"
    proc = case.spawn("--config", str(cfg), "drill", "--archives", f"{dumps}/*.sql.gz", "--store", str(records),
                      "--scratch-url", case.pg.admin_url.conninfo(), start_new_session=True)
    case.wait_for("psql to write into the scratch database", lambda: bool(_sessions(case, f"{prefix}%")), proc=proc)
    _interrupt(proc, how)
    r = case.finish(proc, timeout=120)
    line = case.error_line(r)
    assert r.code == 3 and "interrupted" in line, r.err
    assert not [d for d in case.pg.databases() if d.startswith(prefix)], "scratch database left behind"
    case.wait_for("psql's session to end", lambda: not _sessions(case, f"{prefix}%"), timeout=10)
    assert not list(LocalStore(records).list("drills/")), "an interrupted drill was recorded as a drill"
    assert [p.name for p in dumps.iterdir()] == ["app_20251025_030000.sql.gz"]
    assert hashlib.sha256((dumps / "app_20251025_030000.sql.gz").read_bytes()).hexdigest() == digest
