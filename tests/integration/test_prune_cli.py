"""pgdrill prune against real backups of a real database, in a local folder and in S3."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import yaml

from pgdrill.catalog import load as load_catalog
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import open_store

from support.postgres import PgServer
from support.runner import Run, pgdrill


@pytest.fixture(scope="module")
def source(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 500) g")
    yield url
    pg.drop_database(url.dbname)


def backups(capsys: pytest.CaptureFixture[str], url: DatabaseUrl, store: str, n: int,
            *tags: str) -> list[str]:
    out = []
    for _ in range(n):
        args = ["backup", "--database-url", url.conninfo(), "--store", store, "--json"]
        for t in tags:
            args += ["--tag", t]
        r = pgdrill(capsys, *args)
        assert r.code == 0, r.err
        out.append(r.json()["id"])
    return out


def listed(store: str) -> list[str]:
    return [m.id for m in load_catalog(open_store(store)).backups]


def objects(store: str) -> list[str]:
    return [o.key for o in open_store(store).list("backups/")]


def prune(capsys: pytest.CaptureFixture[str], store: str, *args: str) -> Run:
    return pgdrill(capsys, "prune", "--store", store, *args)


def test_prune_keeps_the_policy_and_removes_every_object_of_the_rest(
        capsys: pytest.CaptureFixture[str], source: DatabaseUrl, store_url: str) -> None:
    ids = backups(capsys, source, store_url, 3)
    tagged = backups(capsys, source, store_url, 1, "pre-deploy")
    ids += backups(capsys, source, store_url, 1)

    dry = prune(capsys, store_url, "--keep-last", "2", "--keep-tag", "pre-deploy=1", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    plan = {b["id"]: (b["action"], b["reasons"]) for b in dry.json()["backups"]}
    assert plan[ids[-1]] == ("keep", ["newest", "last #1"])
    assert plan[tagged[0]] == ("keep", ["last #2", "tag pre-deploy #1"])
    assert [i for i, (a, _) in plan.items() if a == "remove"] == ids[:3]
    assert len(listed(store_url)) == 5  # dry run: nothing touched

    r = prune(capsys, store_url, "--keep-last", "2", "--keep-tag", "pre-deploy=1", "--json")
    assert r.code == 0, r.err
    assert r.json()["removed"] == ids[:3]
    assert listed(store_url) == [tagged[0], ids[-1]]
    assert not [k for k in objects(store_url) if any(i in k for i in ids[:3])]


def test_prune_refuses_after_a_failed_backup_attempt(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                     source: DatabaseUrl, store_url: str) -> None:
    ids = backups(capsys, source, store_url, 3)
    # The nightly job breaks: a wrong password. The attempt is recorded in the store.
    bad = DatabaseUrl({**source.params, "password": "not-the-password"})
    r = pgdrill(capsys, "backup", "--database-url", bad.conninfo(), "--store", store_url)
    assert r.code == 3
    r = prune(capsys, store_url, "--keep-last", "1")
    assert r.code == 1
    assert "prune refused: the newest backup attempt failed" in r.err
    assert "--force" in r.err
    assert listed(store_url) == ids

    dry = prune(capsys, store_url, "--keep-last", "1", "--dry-run")
    assert dry.code == 0 and "REFUSED without --force" in dry.out

    forced = prune(capsys, store_url, "--keep-last", "1", "--force")
    assert forced.code == 0, forced.err
    assert "--force: pruned although the newest backup attempt failed" in forced.err
    assert listed(store_url) == ids[-1:]

    # a good backup after the failure lifts the refusal
    newer = backups(capsys, source, store_url, 1)
    assert prune(capsys, store_url, "--keep-last", "1").code == 0
    assert listed(store_url) == newer


def test_prune_refuses_when_the_newest_backup_is_older_than_max_age(
        capsys: pytest.CaptureFixture[str], source: DatabaseUrl, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    ids = backups(capsys, source, store, 2)
    time.sleep(1.2)
    r = prune(capsys, store, "--keep-last", "1", "--max-age", "1s")
    assert r.code == 1 and "older than the max age" in r.err
    assert listed(store) == ids
    assert prune(capsys, store, "--keep-last", "1", "--max-age", "off").code == 0
    assert listed(store) == ids[-1:]


def test_policy_from_pgdrill_yml_per_environment(capsys: pytest.CaptureFixture[str], source: DatabaseUrl,
                                                 tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    ids = backups(capsys, source, store, 4)
    cfg = tmp_path / "pgdrill.yml"
    cfg.write_text(yaml.safe_dump({
        "store": store,
        "retention": {"keep_last": 3},
        "environments": {"staging": {"retention": {"keep_last": 1}}, "production": {}},
    }))
    r = pgdrill(capsys, "prune", "--config", str(cfg), "--environment", "production", "--dry-run", "--json")
    assert r.code == 0, r.err
    assert r.json()["remove"] == 1 and r.json()["policy_text"] == "keep 3 last"
    r = pgdrill(capsys, "prune", "--config", str(cfg), "-e", "staging", "--json")
    assert r.code == 0, r.err
    assert r.json()["policy_text"] == "keep 1 last" and listed(store) == ids[-1:]
    # flags win over the file; a bad one is a usage error
    r = pgdrill(capsys, "prune", "--config", str(cfg), "-e", "staging", "--keep-last", "5", "--dry-run", "--json")
    assert r.code == 0 and r.json()["policy_text"] == "keep 5 last"
    r = pgdrill(capsys, "prune", "--config", str(cfg), "-e", "staging", "--keep-last", "abc")
    assert r.code == 2 and "--keep-last 'abc': Input should be a valid integer" in r.err  # names the flag


def test_prune_clears_old_incomplete_uploads_and_writes_a_report(
        capsys: pytest.CaptureFixture[str], source: DatabaseUrl, tmp_path: Path) -> None:
    root = tmp_path / "store"
    ids = backups(capsys, source, str(root), 1)
    partial = root / "backups" / "20200101T000000000Z-0123456789ab" / "archive.pgdump.partial-abcdef123456"
    orphan = root / "backups" / "20200102T000000000Z-0123456789ab" / "archive.pgdump"
    for p in (partial, orphan):
        p.parent.mkdir(parents=True)
        p.write_bytes(b"half a dump")
        old = (datetime.now(timezone.utc) - timedelta(days=3)).timestamp()
        os.utime(p, (old, old))
    report = tmp_path / "plan.md"
    r = prune(capsys, str(root), "--keep-daily", "7", "--report", str(report))
    assert r.code == 0, r.err
    assert not partial.exists() and not orphan.exists()
    assert "incomplete upload" in r.out and "incomplete no-manifest" in r.out
    assert listed(str(root)) == ids
    assert report.read_text().startswith("### 🧹 pgdrill prune")
