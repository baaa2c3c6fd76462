"""Every command honours the environment block of pgdrill.yml, picked by PGDRILL_ENVIRONMENT (or -e).

pgdrill.yml here has a top-level store that is empty and a `prod` environment whose store holds the
backups: any command that reads the top level instead would say "no backups" (which it once did for
list, drills, verify and restore — the rollback path).
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import yaml

from pgdrill.pg.conn import DatabaseUrl

from support.postgres import PgServer
from support.runner import pgdrill


@pytest.fixture
def envs(tmp_path: Path, db: DatabaseUrl, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 25) g")
    top, prod = tmp_path / "top-store", tmp_path / "prod-store"
    top.mkdir()
    prod.mkdir()
    cfg = tmp_path / "pgdrill.yml"
    cfg.write_text(yaml.safe_dump({
        "store": str(top),
        "drill": {"scratch_prefix": "pgdrill_envtest"},
        "environments": {"prod": {"store": str(prod), "database_url": db.conninfo()}},
    }))
    monkeypatch.setenv("PGDRILL_CONFIG", str(cfg))
    monkeypatch.setenv("PGDRILL_ENVIRONMENT", "prod")
    return {"top": str(top), "prod": str(prod)}


def _ids(out: str) -> list[str]:
    return [b["id"] for b in json.loads(out)["backups"]]


def test_every_command_reads_the_environments_store(capsys: pytest.CaptureFixture[str], envs: dict[str, str],
                                                    pg: PgServer, target_db: DatabaseUrl) -> None:
    backup = pgdrill(capsys, "backup", "--json")
    assert backup.code == 0, backup.err
    backup_id = json.loads(backup.out)["id"]
    assert (Path(envs["prod"]) / "backups" / backup_id / "manifest.json").is_file()
    assert not any(Path(envs["top"]).iterdir())

    listed = pgdrill(capsys, "list", "--json")
    assert listed.code == 0 and _ids(listed.out) == [backup_id], listed.err

    verified = pgdrill(capsys, "verify", "latest", "--json")
    assert verified.code == 0 and json.loads(verified.out)["id"] == backup_id, verified.err

    restored = pgdrill(capsys, "restore", "latest", "--target-url", target_db.conninfo(), "--json")
    assert restored.code == 0, restored.err
    with psycopg.connect(target_db.conninfo()) as conn:
        row = conn.execute("SELECT count(*) FROM items").fetchone()
        assert row is not None and row[0] == 25

    drill = pgdrill(capsys, "drill", "--scratch-url", pg.admin_url.conninfo(), "--json")
    assert drill.code == 0, drill.err
    assert json.loads(drill.out)["environment"] == "prod"
    assert json.loads(drill.out)["backup_id"] == backup_id

    drills = pgdrill(capsys, "drills", "--json")
    assert drills.code == 0 and [d["backup_id"] for d in json.loads(drills.out)["drills"]] == [backup_id]

    monitor = pgdrill(capsys, "monitor", "--json")
    doc = json.loads(monitor.out)
    assert doc["store"] == envs["prod"] and doc["last_backup_id"] == backup_id, monitor.err

    pruned = pgdrill(capsys, "prune", "--dry-run", "--keep-last", "1", "--json")
    assert pruned.code == 0 and [b["id"] for b in json.loads(pruned.out)["backups"]] == [backup_id], pruned.err

    gate = pgdrill(capsys, "predeploy", "--json")
    assert gate.code == 0, gate.err
    assert json.loads(gate.out)["store"] == envs["prod"]
    assert not any(Path(envs["top"]).iterdir())  # nothing ever went to the top-level store


def test_dash_e_picks_the_environment_too_and_an_unknown_one_is_an_error(
        capsys: pytest.CaptureFixture[str], envs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGDRILL_ENVIRONMENT")
    listed = pgdrill(capsys, "list", "-e", "prod")
    assert listed.code == 0 and listed.out.strip() == f"no backups in {envs['prod']}", listed.err
    for command in (["list"], ["drills"], ["verify", "latest"], ["monitor"]):
        r = pgdrill(capsys, *command, "-e", "staging")
        assert r.code == 2 and "environment 'staging' is not defined" in r.err and "prod" in r.err, (command, r.err)


def test_an_empty_store_names_itself(capsys: pytest.CaptureFixture[str], envs: dict[str, str],
                                     target_db: DatabaseUrl) -> None:
    listed = pgdrill(capsys, "list")
    assert listed.code == 0 and listed.out.strip() == f"no backups in {envs['prod']}"
    r = pgdrill(capsys, "restore", "latest", "--target-url", target_db.conninfo())
    assert r.code == 2 and f"the store {envs['prod']} holds no complete backup" in r.err
