"""A typo in --store must never read as "no backups": only a backup creates a store, and every other
command on a store that is not there — no such folder, a file, no such bucket, an S3 prefix nothing was
ever written to — fails with one line and exit 2, before touching anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.runner import pgdrill
from support.s3 import S3Server

NOWHERE = "postgresql://postgres@127.0.0.1:1/postgres"  # never contacted: the store fails first

COMMANDS = {
    "list": ["list"],
    "verify": ["verify", "latest"],
    "restore": ["restore", "latest", "--target-url", NOWHERE],
    "drill": ["drill", "--scratch-url", NOWHERE],
    "drills": ["drills"],
    "prune": ["prune", "--keep-last", "1"],
    "prune --dry-run": ["prune", "--keep-last", "1", "--dry-run"],
    "monitor": ["monitor"],
}


@pytest.fixture(params=["missing folder", "a file", "missing bucket", "empty prefix"])
def missing_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(store URL, what the error says)."""
    if request.param == "missing folder":
        return str(tmp_path / "nonexistent" / "path"), "does not exist"
    if request.param == "a file":
        (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
        return str(tmp_path / "passwd"), "is a file, not a store folder"
    s3: S3Server = request.getfixturevalue("s3_env")
    if request.param == "missing bucket":
        return "s3://pgdrill-no-such-bucket/prod", "bucket pgdrill-no-such-bucket does not exist"
    return f"s3://{s3.create_bucket()}/prod", "nothing is stored under that prefix"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_commands_on_a_store_that_does_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, missing_store: tuple[str, str],
                                                 command: str) -> None:
    monkeypatch.chdir(tmp_path)
    url, says = missing_store
    r = pgdrill(capsys, *COMMANDS[command], "--store", url)
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.out == "" and r.err.count("\n") == 1 and r.err.startswith("pgdrill: error:"), r.err
    assert says in r.err and " — " in r.err, r.err
    assert not (tmp_path / "nonexistent").exists()  # nothing was created


def test_backup_creates_a_new_store(capsys: pytest.CaptureFixture[str], tmp_path: Path, db) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "new" / "store"
    r = pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", str(store))
    assert r.code == 0, r.err
    r = pgdrill(capsys, "list", "--store", str(store), "--json")
    assert r.code == 0 and len(r.json()["backups"]) == 1
