"""pgdrill is installed once per job and kept in the Actions cache between runs.

The first pgdrill step of a job builds the venv (or restores it from the cache and saves a new one
there); every later step of the job finds it and goes straight to its command. Between runs the
runner is a new machine (act's tool cache is wiped here, as a GitHub-hosted VM starts empty) but
the Actions cache (standins/actions-cache, a folder standing in for GitHub's cache service) stays.
How long each path takes is measured by bench/action_steps.py, not here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from act_runner import Act, ActResult, url_text

from pgdrill.pg.conn import DatabaseUrl

from support.postgres import PgServer


@pytest.fixture(scope="module")
def small_db(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 10)")
    yield url
    pg.drop_database(url.dbname)


def _run(act: Act, db: DatabaseUrl, store: Path, cache: str = "true") -> ActResult:
    r = act.run("t-install.yml", inputs={"store": str(store), "cache": cache},
                secrets={"DATABASE_URL": url_text(db)})
    assert r.code == 0, r.explain()
    assert r.outputs("first")["backup-id"] and r.outputs("second")["kept"] == "1", r.explain()
    return r


def _empty_cache(act: Act) -> None:
    act.new_machine()
    shutil.rmtree(act.actions_cache, ignore_errors=True)
    act.actions_cache.mkdir()


def test_cold_job_installs_once_saves_to_the_cache_and_the_next_step_reuses_it(
        act: Act, small_db: DatabaseUrl, tmp_path: Path) -> None:
    _empty_cache(act)
    r = _run(act, small_db, tmp_path / "store")

    first_setup, second_setup = r.outputs("first", "setup"), r.outputs("second", "setup")
    assert first_setup["install"] == "true" and first_setup["cache-key"].startswith("pgdrill-")
    assert "Cache not found for input keys" in r.log("first", "cache")
    assert "pgdrill: installing from" in r.log("first", "install")
    assert r.outputs("first", "install")["installed"] == "true"
    assert r.ran("first", "cache-save") and "Cache saved with key" in r.log("first", "cache-save")
    assert len(list(act.actions_cache.glob("*.tar"))) == 1

    # the second step: same venv, nothing installed, no cache traffic
    assert second_setup["pgdrill"] == first_setup["pgdrill"]
    assert second_setup["install"] == "false" and "cache-key" not in second_setup
    assert "installed earlier in" in r.log("second", "setup")
    assert not r.ran("second", "install") and not r.ran("second", "cache")
    assert r.outputs("second")["version"] == r.outputs("first")["version"] != ""


def test_warm_cache_on_a_new_machine_restores_instead_of_installing(
        act: Act, small_db: DatabaseUrl, tmp_path: Path) -> None:
    _empty_cache(act)
    _run(act, small_db, tmp_path / "warm-up")  # fills the cache
    act.new_machine()
    r = _run(act, small_db, tmp_path / "store")

    assert "Cache restored from key" in r.log("first", "cache")
    assert r.outputs("first", "cache")["cache-hit"] == "true"
    install = r.log("first", "install")
    assert "restored from the Actions cache" in install and "installing from" not in install
    assert r.outputs("first", "install")["installed"] == "false"
    assert not r.ran("first", "cache-save")  # caches are immutable
    assert not r.ran("second", "install")


def test_cache_false_installs_without_the_cache(act: Act, small_db: DatabaseUrl, tmp_path: Path) -> None:
    _empty_cache(act)
    r = _run(act, small_db, tmp_path / "store", cache="false")
    assert "cache-key" not in r.outputs("first", "setup")
    assert not r.ran("first", "cache")
    assert "pgdrill: installing from" in r.log("first", "install")
    assert not r.ran("first", "cache-save")
    assert list(act.actions_cache.glob("*.tar")) == []
    assert not r.ran("second", "install")

