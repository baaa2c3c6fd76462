"""Pre-deploy pieces that need no database: the rollback command, validation, renderers, outcome."""

from __future__ import annotations

import shlex
from datetime import datetime, timezone

import pytest

from pgdrill.checks import CheckResult
from pgdrill.errors import ConfigError
from pgdrill.manifest import Encryption
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.predeploy import PredeployRequest, PredeployResult, PredeploySettings, rollback_command, validate
from pgdrill.report.predeploy import render_json, render_markdown, render_text, to_outcome
from pgdrill.store.local import LocalStore

from support.history import make_manifest

T = datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc)


def test_rollback_command_is_exact_quoted_and_has_no_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = DatabaseUrl.parse("postgresql://app:s3cr%20et@db.example.com:6432/shop%20prod?sslmode=require")
    store = LocalStore(tmp_path / "my backups")
    m = make_manifest(T)
    cmd = rollback_command(m, store, url)
    assert "s3cr" not in cmd
    argv = shlex.split(cmd)
    assert argv == ["pgdrill", "restore", m.id, "--store", str(tmp_path / "my backups"), "--target-url",
                    "postgresql://app@db.example.com:6432/shop%20prod?sslmode=require", "--clean", "--confirm",
                    "shop prod"]
    assert DatabaseUrl.parse(argv[6]).dbname == "shop prod"


def test_rollback_of_an_encrypted_backup_names_the_identity(tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = make_manifest(T).model_copy(update={"encryption": Encryption(recipients=["age1xyz"])})
    cmd = rollback_command(m, LocalStore(tmp_path), DatabaseUrl.parse("postgresql://u@h/db"))
    assert cmd.endswith("--clean --confirm db --age-identity-file FILE")


def test_validate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = DatabaseUrl.parse("postgresql://u@h/db")
    store = LocalStore(tmp_path)
    with pytest.raises(ConfigError, match="--scratch-url"):
        validate(PredeployRequest(url, store, rehearse=True, migrate_command="alembic upgrade head"))
    with pytest.raises(ConfigError, match="--migrate-command"):
        validate(PredeployRequest(url, store, rehearse=True, scratch_url=url, migrate_command="  "))
    with pytest.raises(ConfigError, match="empty"):
        validate(PredeployRequest(url, store, release_check=" "))
    validate(PredeployRequest(url, store, rehearse=True, scratch_url=url, migrate_command="true"))


def test_settings() -> None:
    s = PredeploySettings.model_validate({"release_check_timeout": "5m", "migrate_timeout": "1h"})
    assert (s.release_check_timeout, s.migrate_timeout) == (300, 3600)
    for bad in ({"release_check_timeout": "0s"}, {"scratch_prefix": "Bad-Prefix"}, {"what": 1}):
        with pytest.raises(ValueError):
            PredeploySettings.model_validate(bad)


def result(*checks: CheckResult) -> PredeployResult:
    m = make_manifest(T, tags=["pre-deploy"]).model_copy(update={"git_sha": "0123456789abcdef" * 2})
    return PredeployResult(m, "s3://b/p", f"pgdrill restore {m.id} --clean --confirm app", list(checks))


def test_renderers_and_outcome_of_a_failed_gate() -> None:
    r = result(CheckResult("backup verified", "pass", "read back"),
               CheckResult("release check", "fail", "exit 1: boom", output="``` tricky\nboom"))
    assert not r.passed and r.failures == ["release check: exit 1: boom"]
    text = render_text(r)
    assert text.startswith("predeploy FAILED: do not deploy")
    assert "        | boom" in text and text.endswith(r.rollback_command)
    md = render_markdown(r)
    assert md.startswith("### ❌ pgdrill predeploy: do not deploy")
    assert "````text\n``` tricky\nboom\n````" in md  # the fence outlasts the output's own backticks
    doc = render_json(r)
    assert doc["passed"] is False and doc["backup"]["git_sha"] == "0123456789abcdef" * 2
    o = to_outcome(r, "production")
    assert not o.passed and o.outputs["backup-id"] == r.manifest.id
    assert o.outputs["rollback-command"] == r.rollback_command and o.failures == ("release check: exit 1: boom",)


def test_skips_and_warnings_do_not_fail_the_gate() -> None:
    r = result(CheckResult("migration head recorded", "skip", "no migration table"),
               CheckResult("x", "warn", "meh"))
    assert r.passed and to_outcome(r).passed and to_outcome(r).warnings == ("x: meh",)
