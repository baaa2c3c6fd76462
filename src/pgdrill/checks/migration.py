"""The migration head check: the restored copy is at the schema version the backup recorded and,
when configured, the version the application expects."""

from __future__ import annotations

from pgdrill.checks.base import Check, CheckContext
from pgdrill.checks.config import MigrationConfig
from pgdrill.checks.results import CheckResult, one_line
from pgdrill.pg import migrations
from pgdrill.process import command_env, run_command


def _heads(text: str) -> set[str]:
    return {h.strip() for h in text.split(",") if h.strip()}


class MigrationHeadCheck(Check):
    name = "migration head"

    def __init__(self, cfg: MigrationConfig) -> None:
        self.cfg = cfg
        self.severity = cfg.severity

    def expected(self, ctx: CheckContext) -> tuple[set[str] | None, str, str | None]:
        """(expected heads, where they came from, error running the command)."""
        if self.cfg.expected:
            return _heads(self.cfg.expected), "config", None
        if self.cfg.expected_command:
            r = run_command(self.cfg.expected_command, command_env(ctx.url, ctx.env), self.cfg.timeout, 50, ctx.cwd)
            if r.returncode != 0:
                why = r.error or ("timed out" if r.timed_out else f"exit {r.returncode}")
                return None, "command", f"expected_command failed ({why}): {one_line(r.tail[-200:])}"
            heads = {ln.split()[0] for ln in r.tail.splitlines() if ln.strip()}
            return heads, "expected_command", None
        return None, "", None

    def run(self, ctx: CheckContext) -> CheckResult:
        found = migrations.detect(ctx.conn())
        want, source, error = self.expected(ctx)
        if error:
            return self.result("fail", error)
        if found is None:
            if want is not None:
                return self.result("fail", f"no migration table found; expected head {', '.join(sorted(want))}")
            if ctx.expected is not None and ctx.expected.migration_head:
                return self.result("fail", f"no migration table found; the backup recorded head "
                                           f"{ctx.expected.migration_head}")
            return self.result("skip", "no migration table found (alembic, prisma, flyway, django, knex, goose, "
                                       "schema_migrations)")
        head = found.head or "(empty)"
        what = f"{found.tool} head {head} in {found.table}"
        have = _heads(found.head or "")
        recorded = ctx.expected.migration_head if ctx.expected is not None else None
        if recorded is not None and _heads(recorded) != have:
            return self.result("fail", f"{what}, but the backup recorded {recorded}")
        if want is not None:
            if have != want:
                return self.result("fail", f"{what}, expected {', '.join(sorted(want))} (from {source})")
            return self.result("pass", f"{what}, as expected (from {source})")
        return self.result("pass", what + (", as in the backup" if recorded else ""))


