"""The migration head check: the restored copy is at the schema version the backup recorded and,
when configured, the version the application expects.

Every migration table is looked at (a stale ``public.alembic_version`` beside the
``app.alembic_version`` alembic really uses is reported, never silently preferred); ``table:`` names
the one the application uses. ``expected_command``'s stdout is read in the tools' own forms:
alembic's ``3f2a9c1b7d4e (head)``, knex's ``Current Version: 20261201193401`` (after ``Using
environment: …``), one Django ``app.migration`` leaf per line, or plain heads.
"""

from __future__ import annotations

import re

from pgdrill.checks.base import Check, CheckContext
from pgdrill.checks.config import MigrationConfig
from pgdrill.checks.results import CheckResult, one_line
from pgdrill.pg import migrations
from pgdrill.process import command_env, run_command

_NOISE = re.compile(r"^(?:Using environment:|Working directory changed to |Requiring external module |"
                    r"(?:INFO|DEBUG|WARNING|WARN)\b[\s:\[])")
_KNEX = re.compile(r"^Current Version:\s*(\S+)")
_NONE = {"none", "(none)", "(empty)"}


def _heads(text: str) -> set[str]:
    return {h.strip() for h in text.split(",") if h.strip() and h.strip() not in _NONE}


def parse_expected(stdout: str) -> set[str]:
    """The heads an expected_command printed, in any of the tools' output forms (module docstring)."""
    heads: set[str] = set()
    for raw in stdout.splitlines():
        line = raw.strip()
        if not line or _NOISE.match(line):
            continue
        knex = _KNEX.match(line)
        word = knex.group(1) if knex else line.split()[0]
        if word not in _NONE:
            heads |= _heads(word)
    return heads


def _describe(found: list[migrations.MigrationHead]) -> str:
    return "; ".join(f"{f.tool} head {f.head or '(empty)'} in {f.table}" for f in found)


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
            # stdout alone: log lines (alembic's INFO on stderr) are not heads
            r = run_command(self.cfg.expected_command, command_env(ctx.url, ctx.env), self.cfg.timeout, 50, ctx.cwd,
                            merge_stderr=False)
            if r.returncode != 0:
                why = r.error or ("timed out" if r.timed_out else f"exit {r.returncode}")
                return None, "command", f"expected_command failed ({why}): {one_line(r.error_line[-200:])}"
            return parse_expected(r.tail), "expected_command", None
        return None, "", None

    def _recorded(self, ctx: CheckContext) -> dict[str, str | None] | str | None:
        e = ctx.expected
        if e is None:
            return None
        if e.migration_heads:
            return dict(e.migration_heads)
        return e.migration_head

    def run(self, ctx: CheckContext) -> CheckResult:
        found = migrations.detect_all(ctx.conn())
        want, source, error = self.expected(ctx)
        if error:
            return self.result("fail", error)
        recorded = self._recorded(ctx)
        table = self.cfg.table
        if table is not None:
            chosen = migrations.pick(found, table)
            if chosen is None:
                tables = ", ".join(f.table for f in found) or "none"
                return self.result("fail", f"no migration table {table} in the restored copy (found: {tables})")
            found = [chosen]
            if isinstance(recorded, dict):
                recorded = {k: v for k, v in recorded.items() if k == chosen.table}
        if not found:
            if want is not None:
                return self.result("fail", f"no migration table found; expected head {', '.join(sorted(want))}")
            if recorded:
                shown = recorded if isinstance(recorded, str) else "; ".join(f"{k}: {v}" for k, v in recorded.items())
                return self.result("fail", f"no migration table found; the backup recorded head {shown}")
            return self.result("skip", "no migration table found (alembic, prisma, flyway, django, knex, goose, "
                                       "schema_migrations)")
        what = _describe(found)
        by_table = {f.table: f for f in found}
        if isinstance(recorded, dict):
            for t, head in recorded.items():
                got = by_table.get(t)
                if got is None:
                    return self.result("fail", f"{what}; the backup recorded {head} in {t}, absent from the copy")
                if _heads(got.head or "") != _heads(head or ""):
                    return self.result("fail", f"{what}, but the backup recorded {head or '(empty)'} in {t}")
        elif recorded is not None and len(found) == 1 and _heads(recorded) != _heads(found[0].head or ""):
            return self.result("fail", f"{what}, but the backup recorded {recorded}")
        if want is not None:
            if len(found) > 1:
                return self.result("fail", f"{len(found)} migration tables ({what}): name the one the application "
                                           "uses with checks.migration.table")
            have = _heads(found[0].head or "")
            if have != want:
                return self.result("fail", f"{what}, expected {', '.join(sorted(want)) or '(none)'} (from {source})")
            return self.result("pass", f"{what}, as expected (from {source})")
        if len(found) > 1:
            return self.result("pass", f"{len(found)} migration tables, each as in the backup: {what}"
                               if recorded else f"{len(found)} migration tables: {what}")
        return self.result("pass", what + (", as in the backup" if recorded else ""))
