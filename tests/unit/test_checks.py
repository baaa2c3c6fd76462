"""Check configuration, the runner, and the pure pieces of the checks. No Postgres: checks that need
a database are exercised in tests/integration/test_drill*.py."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from pgdrill import secrets
from pgdrill.checks import (
    Check,
    CheckContext,
    CheckResult,
    ChecksConfig,
    MigrationConfig,
    RestoreOutcome,
    SmokeCommand,
    SqlAssertion,
    build_checks,
    execute,
    one_line,
)
from pgdrill.checks.contents import RestoreErrorsCheck, row_count_differences, sequence_behind
from pgdrill.checks.smoke import SmokeCommandCheck
from pgdrill.checks.sql import _same
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.process import command_env, database_url_string, run_command

URL = DatabaseUrl.parse("postgresql://drill:s3cr%40t-pw@db.internal:6432/scratch_1?sslmode=require")


# -- config -----------------------------------------------------------------------------------
def test_defaults_enable_every_builtin_check_in_a_safe_order() -> None:
    names = [c.name for c in build_checks(ChecksConfig(), restore=True)]
    assert names == ["restore", "schemas", "extensions", "row counts", "sequences", "privileges", "migration head"]
    cfg = ChecksConfig.model_validate({
        "row_counts": "warn", "sequences": False, "migration": "off",
        "sql": {"name": "one", "sql": "select 1", "expect": 1},
        "smoke": "alembic upgrade head",
    })
    checks = build_checks(cfg)
    assert [c.name for c in checks] == ["schemas", "extensions", "row counts", "privileges", "sql: one",
                                        "smoke: alembic upgrade head"]
    assert [c.severity for c in checks][:3] == ["fail", "fail", "warn"]


def test_migration_shorthands() -> None:
    assert MigrationConfig.model_validate("7c2d1e9a4b10").expected == "7c2d1e9a4b10"
    assert MigrationConfig.model_validate(False).severity == "off"
    assert MigrationConfig.model_validate("warn").severity == "warn"
    m = MigrationConfig.model_validate({"expected_command": "alembic heads", "timeout": "2m"})
    assert m.expected_command == "alembic heads" and m.timeout == 120


@pytest.mark.parametrize("doc", [
    {"name": "a", "sql": "select 1"},  # no expectation
    {"name": "a", "sql": "select 1", "expect": 1, "min_rows": 1},
    {"name": "a", "sql": "select 1", "no_rows": True, "min_rows": 2},
    {"name": "a", "sql": "select 1", "min_rows": 0},
    {"name": "", "sql": "select 1", "expect": 1},
    {"name": "a", "sql": "select 1", "expect": 1, "timeout": "soon"},
    {"name": "a", "sql": "select 1", "expect": 1, "expected": 1},
])
def test_sql_assertion_needs_exactly_one_expectation_and_valid_fields(doc: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SqlAssertion.model_validate(doc)


def test_sql_assertion_expect_null_is_an_expectation() -> None:
    a = SqlAssertion.model_validate({"name": "no owner", "sql": "select null", "expect": None})
    assert "expect" in a.model_fields_set and a.expect is None


def test_duplicate_assertion_names_and_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unique"):
        ChecksConfig.model_validate({"sql": [{"name": "a", "sql": "x", "no_rows": True}] * 2})
    with pytest.raises(ValidationError, match="row_count"):
        ChecksConfig.model_validate({"row_count": True})


def test_checks_section_errors_name_file_and_field(tmp_path: Path) -> None:
    from pgdrill import config
    from pgdrill.errors import ConfigError

    p = tmp_path / "pgdrill.yml"
    p.write_text("checks:\n  sql:\n    - name: x\n      sql: select 1\n      min_rows: -3\n")
    # Every section is validated when pgdrill.yml is read, whichever command reads it.
    with pytest.raises(ConfigError) as exc:
        config.load(str(p))
    assert str(p) in exc.value.message and "checks.sql.0.min_rows" in exc.value.message
    p.write_text("checks:\n  sql: []\n")
    assert config.load(str(p)).section("checks", ChecksConfig) == ChecksConfig(sql=[])


# -- pure pieces ------------------------------------------------------------------------------
@pytest.mark.parametrize(("actual", "expected", "same"), [
    (42, 42, True), (Decimal("42.00"), 42, True), (42, "42", True), (42.5, 42, False),
    ("abc", "abc", True), ("abc", "ABC", False), (None, None, True), (None, 0, False), (0, None, False),
    (True, True, True), (False, True, False), ("t", True, True), (True, "true", True), (1, True, True),
    ("x", 1, False),
])
def test_expected_value_comparison(actual: object, expected: object, same: bool) -> None:
    assert _same(actual, expected) is same


@pytest.mark.parametrize(("start", "inc", "last", "extreme", "behind"), [
    (1, 1, 2000, 2000, False),  # last handed out == max: next is 2001
    (1, 1, 1999, 2000, True),
    (1, 1, None, None, False),  # empty table, unused sequence
    (1, 1, None, 1, True),  # never called but rows inserted with explicit ids
    (1, 1, 5, 3, False),
    (-1, -1, -10, -10, False),  # descending sequence
    (-1, -1, -5, -10, True),
])
def test_sequence_behind(start: int, inc: int, last: int | None, extreme: int | None, behind: bool) -> None:
    assert sequence_behind(start, inc, last, extreme) is behind


def test_row_count_differences_list_both_numbers_and_absent_tables() -> None:
    diffs = row_count_differences({"app.a": 10, "app.b": 5, "app.c": 1}, {"app.a": 10, "app.b": 4, "app.d": 0})
    assert diffs == ["app.b: manifest 5, restored 4", "app.c: manifest 1, restored absent",
                     "app.d: manifest absent, restored 0"]
    assert row_count_differences({"x.y": 1}, {"x.y": 1}) == []


def test_one_line() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("x" * 500, 10) == "x" * 9 + "…"


def test_database_url_for_commands_keeps_password_encoded_and_options() -> None:
    assert database_url_string(URL) == "postgresql://drill:s3cr%40t-pw@db.internal:6432/scratch_1?sslmode=require"
    sock = DatabaseUrl({"host": "/tmp/pg sock", "port": "5433", "dbname": "d", "user": "u"})
    assert database_url_string(sock) == "postgresql://u@:5433/d?host=%2Ftmp%2Fpg%20sock"


def test_command_env_points_only_at_the_restored_database() -> None:
    base = {"PATH": "/bin", "PGHOST": "prod.example.com", "PGSERVICE": "prod", "PGDRILL_STORE": "s3://b",
            "DATABASE_URL": "postgresql://prod"}
    env = command_env(URL, base, {"APP_ENV": "drill"})
    assert env["DATABASE_URL"].endswith("@db.internal:6432/scratch_1?sslmode=require")
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"], env["PGUSER"], env["PGPASSWORD"], env["PGSSLMODE"]) \
        == ("db.internal", "6432", "scratch_1", "drill", "s3cr@t-pw", "require")
    assert "PGSERVICE" not in env  # would redirect libpq elsewhere
    assert env["PGDRILL_STORE"] == "s3://b" and env["PATH"] == "/bin" and env["APP_ENV"] == "drill"


# -- commands ---------------------------------------------------------------------------------
def test_run_command_keeps_the_tail_and_exit_code() -> None:
    r = run_command("for i in $(seq 1 100); do echo line $i; done; echo oops >&2; exit 3", {"PATH": "/usr/bin:/bin"},
                    30, tail=5)
    assert r.returncode == 3 and not r.timed_out
    assert r.tail.splitlines() == ["line 97", "line 98", "line 99", "line 100", "oops"]


def test_run_command_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child-alive"
    # The child outlives its shell unless the whole group is killed.
    script = f"(sleep 3; touch {marker}) & echo started; sleep 30"
    t0 = time.monotonic()
    r = run_command(script, {"PATH": "/usr/bin:/bin"}, timeout=0.5)
    assert r.timed_out and r.returncode is None and "started" in r.tail
    assert time.monotonic() - t0 < 15
    time.sleep(3.5)
    assert not marker.exists()


def test_run_command_that_cannot_start() -> None:
    r = run_command(["/nonexistent/tool", "--x"], {}, 5)
    assert r.returncode is None and r.error and "cannot start /nonexistent/tool" in r.error


def test_smoke_check_scrubs_secrets_and_reports_exit(tmp_path: Path) -> None:
    secrets.register("hunter2-very-secret")
    cmd = SmokeCommand.model_validate({
        "name": "app", "run": [sys.executable, "-c",
                               "import os,sys; print('url', os.environ['DATABASE_URL']); "
                               "print('token hunter2-very-secret'); sys.exit(4)"],
        "timeout": "30s"})
    ctx = CheckContext(URL)
    [res] = execute([SmokeCommandCheck(cmd)], ctx)
    assert res.status == "fail" and res.detail.startswith("exit 4")
    assert res.output is not None
    assert "hunter2-very-secret" not in res.output and "s3cr" not in res.output
    assert res.output.splitlines() == ["url ***", "token ***"]  # the whole URL is a registered secret


def test_smoke_check_timeout_is_a_failure() -> None:
    cmd = SmokeCommand.model_validate({"run": "echo waiting; sleep 20", "timeout": 0.3})
    [res] = execute([SmokeCommandCheck(cmd)], CheckContext(URL))
    assert res.status == "fail" and "timed out after 0.3s" in res.detail and res.output == "waiting"


# -- the runner -------------------------------------------------------------------------------
class _Fixed(Check):
    def __init__(self, name: str, status: str, detail: str = "d", boom: Exception | None = None) -> None:
        self.name, self._status, self._detail, self._boom = name, status, detail, boom

    def run(self, ctx: CheckContext) -> CheckResult:
        if self._boom:
            raise self._boom
        return self.result(self._status, self._detail, items=("a", "b"))  # type: ignore[arg-type]


def test_runner_times_each_check_downgrades_warn_severity_and_contains_crashes() -> None:
    warn = _Fixed("soft", "fail", "differs")
    warn.severity = "warn"
    checks = [_Fixed("ok", "pass"), warn, _Fixed("crash", "pass", boom=RuntimeError("kaput\nmore")),
              _Fixed("long", "fail", "x " * 400)]
    seen: list[str] = []
    res = execute(checks, CheckContext(URL), seen.append)
    assert [(r.name, r.status) for r in res] == [("ok", "pass"), ("soft", "warn"), ("crash", "fail"), ("long", "fail")]
    assert res[1].detail == "differs (severity: warn)"
    assert res[2].detail == "check crashed: RuntimeError: kaput"
    assert len(res[3].detail) <= 240 and "\n" not in res[3].detail
    assert all(r.duration >= 0 for r in res) and len(seen) == 4


def test_untrusted_restore_skips_data_checks_but_fails_the_restore_check() -> None:
    ctx = CheckContext(URL, restore=RestoreOutcome(integrity_error="backup X is corrupt", duration=2.5))
    res = execute([RestoreErrorsCheck(), _Fixed("row counts", "pass")], ctx)
    assert res[0].status == "fail" and "integrity" in res[0].detail and res[0].duration == 2.5
    assert res[1].status == "skip" and "not trusted" in res[1].detail


def test_restore_check_lists_pg_restore_errors() -> None:
    errors = ("pg_restore: error: could not execute query: ERROR:  type \"hstore\" does not exist",
              "pg_restore: error: COPY failed for table \"x\"")
    ctx = CheckContext(URL, restore=RestoreOutcome(error_count=2, errors=errors, duration=1.0))
    [res] = execute([RestoreErrorsCheck()], ctx)
    assert res.status == "fail" and res.detail.startswith("pg_restore reported 2 error(s); first: pg_restore: error")
    assert res.items == errors
    [ok] = execute([RestoreErrorsCheck()], CheckContext(URL, restore=RestoreOutcome(duration=1.0)))
    assert ok.status == "pass"


def test_check_result_dict_round_trip() -> None:
    r = CheckResult("smoke: x", "fail", "exit 1", 1.23456, ("a",), "out\nput")
    assert CheckResult.from_dict(r.to_dict()) == CheckResult("smoke: x", "fail", "exit 1", 1.235, ("a",), "out\nput")
