"""Security rules that the fault cases lean on: settings objects redact themselves; restore and
drill never write into a database that holds tables unless told exactly which one; a drill never
touches a database listed as production; a --debug traceback carries no secret either."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from pgdrill import config as config_mod
from pgdrill.backup import BackupRequest
from pgdrill.pg import stats
from pgdrill.pg.cluster import free_port
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.report.github import GitHubSettings
from pgdrill.restore import RestoreRequest
from pgdrill.secrets import Secret
from pgdrill.sources.backup import StoredBackupSource
from pgdrill.store import open_store

from .conftest import Case


def test_settings_objects_redact_themselves(local_case: Case, tmp_path: Path) -> None:
    case = local_case
    url_text = case.source.url.conninfo()
    cfg = tmp_path / "cfg" / "pgdrill.yml"
    cfg.parent.mkdir()
    cfg.write_text(f"database_url: '{url_text}'\nstore: {case.store_url}\n")
    url = DatabaseUrl.parse(url_text)
    store = open_store(case.store_url)
    identity = Secret(case.secrets.age_identity)
    objects = [
        config_mod.load(str(cfg)),
        url,
        identity,
        BackupRequest(url, store),
        RestoreRequest(store, "latest", url, identities=(identity,)),
        StoredBackupSource(store=store, scratch_url=url, identities=(identity,)),
        GitHubSettings(token=case.secrets.github_token),
    ]
    for obj in objects:
        for text in (repr(obj), str(obj), f"{obj}", f"{obj!r}"):
            case.scanner.add(f"repr of {type(obj).__name__}", text)
            assert case.secrets.db_password not in text, type(obj).__name__
            assert case.secrets.age_identity not in text, type(obj).__name__
            assert case.secrets.github_token not in text, type(obj).__name__


def test_debug_traceback_carries_no_secret(local_case: Case) -> None:
    """With --debug the traceback is printed; the scanner at teardown checks it like any output."""
    url = f"postgresql://postgres:{local_case.secrets.db_password}@127.0.0.1:{free_port()}/app"
    r = local_case.run_process("--debug", "backup", "--database-url", url, "--store", local_case.store_url)
    assert r.code == 3 and "Traceback (most recent call last)" in r.err
    assert len([ln for ln in r.err.splitlines() if ln.startswith("pgdrill: error:")]) == 1


def test_restore_refuses_a_database_that_holds_tables(local_case: Case) -> None:
    case = local_case
    target = case.pg.create_database()
    try:
        with psycopg.connect(target.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE keep_me (id int)")
            conn.execute("INSERT INTO keep_me VALUES (1)")
        for extra in ((), ("--clean",)):
            r = case.run("restore", "latest", "--store", case.store_url, "--target-url", target.conninfo(), *extra)
            case.assert_failed_cleanly(r, 2, f"target database '{target.dbname}' is not empty",
                                       f"--clean --confirm {target.dbname}", restore=False)
        with psycopg.connect(target.conninfo()) as conn:
            assert stats.count_rows(conn) == {"public.keep_me": 1}
    finally:
        case.pg.drop_database(target.dbname)


@pytest.mark.parametrize("target_kind", ["holds tables", "listed as production"])
def test_drill_refuses_its_target(local_case: Case, tmp_path: Path, target_kind: str) -> None:
    case = local_case
    target = case.pg.create_database(f"prod_{uuid.uuid4().hex[:8]}")
    cfg = tmp_path / "cfg" / "pgdrill.yml"
    cfg.parent.mkdir()
    cfg.write_text(f"production_databases: [{target.dbname}]\n" if target_kind == "listed as production" else "")
    try:
        if target_kind == "holds tables":
            with psycopg.connect(target.conninfo(), autocommit=True) as conn:
                conn.execute("CREATE TABLE keep_me (id int)")
            why = (f"target database '{target.dbname}' is not empty", "restore into an empty database")
        else:
            why = (f"target database '{target.dbname}' is listed in production_databases", "scratch database")
        r = case.run("--config", str(cfg), "drill", "--store", case.store_url, "--target-url", target.conninfo())
        case.assert_failed_cleanly(r, 2, *why, restore=False)
        with psycopg.connect(target.conninfo()) as conn:
            assert stats.user_table_count(conn) == (1 if target_kind == "holds tables" else 0)
    finally:
        case.pg.drop_database(target.dbname)
