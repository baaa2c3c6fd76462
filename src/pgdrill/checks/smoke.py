"""The user's smoke commands, run with ``DATABASE_URL`` and ``PG*`` pointing at the restored copy."""

from __future__ import annotations

from pgdrill.checks.base import Check, CheckContext
from pgdrill.checks.config import SmokeCommand
from pgdrill.checks.results import CheckResult
from pgdrill.process import command_env, run_command


class SmokeCommandCheck(Check):
    def __init__(self, cmd: SmokeCommand) -> None:
        self.cmd = cmd
        self.name = f"smoke: {cmd.label}"
        self.severity = cmd.severity

    def run(self, ctx: CheckContext) -> CheckResult:
        c = self.cmd
        env = command_env(ctx.url, ctx.env, c.env)
        cwd = c.cwd if c.cwd is None or ctx.cwd is None else str(ctx.cwd / c.cwd)
        r = run_command(c.run, env, c.timeout, c.tail, cwd or ctx.cwd)
        return self.result("pass" if r.ok else "fail", r.reason(), output=r.tail)


