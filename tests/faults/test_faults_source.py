"""Case 2: the source database goes away mid-dump (``pg_terminate_backend`` of pg_dump's session,
or of pgdrill's own snapshot-holding session), or cannot be reached from the start.

The dump is terminated while pg_dump is streaming table data (its COPY is active in
pg_stat_activity), so part of the archive has already gone to the store."""

from __future__ import annotations

import psycopg
import pytest

from pgdrill.pg.cluster import free_port

from .conftest import Case


def _terminate(case: Case, where: str) -> None:
    with psycopg.connect(case.pg.admin_url.conninfo(), autocommit=True) as conn:
        n = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s "
            "AND datname = %s", (where, case.source.url.dbname),
        ).fetchone()
    assert n and n[0] == 1, f"expected one {where} session to terminate, found {n}"


def _no_session_left(case: Case) -> None:
    case.wait_for("the source sessions to end", lambda: not case.pg_dump_sessions(), timeout=10)


# pgdrill's own snapshot session dies the same way whatever the store: that one runs on local only.
@pytest.mark.parametrize(("kind", "victim"), [("local", "pg_dump"), ("s3", "pg_dump"), ("local", "pgdrill")])
def test_backend_terminated_mid_dump(request: pytest.FixtureRequest, kind: str, victim: str) -> None:
    case: Case = request.getfixturevalue(f"big_{kind}_case")
    proc = case.spawn("backup", "--database-url", case.source.url.conninfo(), "--store", case.store_url)
    case.wait_copy_running(proc)
    _terminate(case, victim)
    r = case.finish(proc)
    why = "pg_dump failed" if victim == "pg_dump" else "terminating connection due to administrator command"
    case.assert_failed_cleanly(r, 3, why, "run the backup again")
    _no_session_left(case)
    assert list(case.store.incomplete()) == [], "a partial upload was left behind"
    case.assert_prune_refuses()


def test_database_unreachable_from_the_start(local_case: Case) -> None:
    url = f"postgresql://postgres:{local_case.secrets.db_password}@127.0.0.1:{free_port()}/app"
    r = local_case.run("backup", "--database-url", url, "--store", local_case.store_url)
    local_case.assert_failed_cleanly(r, 3, "cannot connect to source database", "Connection refused",
                                     "check the URL, the network and that the server is up", restore=False)
    # the job summary and step outputs got the failure too (and the scanner reads them at teardown)
    assert "pgdrill backup failed" in (local_case.tmp / "step-summary.md").read_text()
    assert "passed=false" in (local_case.tmp / "github-output.txt").read_text()
    local_case.assert_prune_refuses()

