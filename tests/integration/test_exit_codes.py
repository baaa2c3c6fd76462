"""Exit 2 is for what the user fixes, 3 for what is down: missing AWS credentials and a database name
that does not exist are the user's to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.postgres import PgServer
from support.runner import pgdrill
from support.s3 import S3Server


def test_restore_into_a_database_that_does_not_exist(capsys: pytest.CaptureFixture[str], pg: PgServer, db,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    assert pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", store).code == 0
    target = pg.url("restored_nope")
    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", target.conninfo())
    assert r.code == 2, r.err
    assert r.err.count("\n") == 1 and 'database "restored_nope" does not exist' in r.err
    assert "create it first (CREATE DATABASE), or fix the URL" in r.err
    assert pg.admin_url.password is None or pg.admin_url.password not in r.err
    # a server that is down is still infrastructure
    down = "postgresql://postgres@127.0.0.1:1/postgres"
    assert pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", down).code == 3


@pytest.mark.parametrize("command", [["list"], ["backup", "--database-url", "postgresql://u@127.0.0.1:1/x"],
                                     ["monitor"]])
def test_missing_aws_credentials(capsys: pytest.CaptureFixture[str], s3_env: S3Server,
                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]) -> None:
    bucket = s3_env.create_bucket()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    r = pgdrill(capsys, *command, "--store", f"s3://{bucket}/prod")
    assert r.code == 2, r.err
    assert r.err.count("\n") == 1 and "no AWS credentials found" in r.err and "AWS_ACCESS_KEY_ID" in r.err
