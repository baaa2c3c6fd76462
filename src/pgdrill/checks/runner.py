"""Building the list of checks from the ``checks:`` section and running it against a copy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pgdrill.checks.base import Check, CheckContext, Expected, Progress, execute
from pgdrill.checks.config import ChecksConfig, Severity
from pgdrill.checks.contents import (
    ExtensionsCheck,
    RestoreErrorsCheck,
    RowCountsCheck,
    SchemasCheck,
    SequencesCheck,
)
from pgdrill.checks.drop import RowDropCheck
from pgdrill.checks.migration import MigrationHeadCheck
from pgdrill.checks.privileges import PrivilegesCheck
from pgdrill.checks.results import CheckResult, RestoreOutcome
from pgdrill.checks.smoke import SmokeCommandCheck
from pgdrill.checks.sql import SqlAssertionCheck
from pgdrill.pg.conn import DatabaseUrl


def _with_severity(check: Check, severity: Severity) -> Check:
    check.severity = severity
    return check


def build_checks(cfg: ChecksConfig | None = None, *, restore: bool = False, baseline: bool = False) -> list[Check]:
    """The checks in the order they run. Read-only checks come first: a smoke command (e.g.
    ``alembic upgrade head``) may change the migration head and the rows. ``baseline``: the source
    knows an earlier copy's counts (the row-drop check)."""
    cfg = cfg or ChecksConfig()
    out: list[Check] = [RestoreErrorsCheck()] if restore else []
    checks: list[tuple[Check, Severity]] = [(SchemasCheck(), cfg.schemas), (ExtensionsCheck(), cfg.extensions),
                                            (RowCountsCheck(), cfg.row_counts)]
    if baseline:
        checks.append((RowDropCheck(), cfg.row_drop))
    for check, severity in (*checks, (SequencesCheck(), cfg.sequences), (PrivilegesCheck(), cfg.privileges)):
        if severity != "off":
            out.append(_with_severity(check, severity))
    if cfg.migration.severity != "off":
        out.append(MigrationHeadCheck(cfg.migration))
    out += [SqlAssertionCheck(a) for a in cfg.sql if a.severity != "off"]
    out += [SmokeCommandCheck(c) for c in cfg.smoke if c.severity != "off"]
    return out


def run_checks(url: DatabaseUrl, expected: Expected | None = None, cfg: ChecksConfig | None = None, *,
               restore: RestoreOutcome | None = None, env: Mapping[str, str] | None = None,
               cwd: Path | None = None, progress: Progress | None = None,
               row_counts: dict[str, int] | None = None) -> list[CheckResult]:
    """Check the database at ``url``: the entry point for drills of any kind.

    ``expected`` enables the comparisons with the source (schemas, extensions, row counts, recorded
    migration head); ``restore`` adds the restore check first. ``row_counts``, when given, receives
    the per-table counts the checks took (before any smoke command ran). Raises SourceError only when
    the database cannot be reached at all.
    """
    ctx = CheckContext(url, expected, restore, env, cwd)
    try:
        ctx.conn()  # unreachable is infrastructure trouble, not a failed check
        baseline = expected is not None and expected.previous is not None
        return execute(build_checks(cfg, restore=restore is not None, baseline=baseline), ctx, progress)
    finally:
        if row_counts is not None and ctx.counted is not None:
            row_counts.update(ctx.counted)
        ctx.close()


