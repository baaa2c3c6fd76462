"""Checks run against a restored copy: small objects with one ``run(ctx)`` each.

The runner needs nothing but a :class:`~pgdrill.pg.conn.DatabaseUrl` and, for the comparisons with
the source, the :class:`Expected` contents its source knows of — so a stored backup restored into a
scratch database, a Neon point-in-time branch or any other restored copy is checked the same way::

    results = run_checks(url, Expected.from_manifest(manifest), ChecksConfig(...))

Checks never raise for what they find: a mismatch is a ``fail`` result with a one-line detail. Only
an unreachable database raises (a :class:`~pgdrill.errors.SourceError`, infrastructure).

Layout: ``results`` (what a check found), ``config`` (the ``checks:`` section of pgdrill.yml),
``base`` (context, the Check class, the runner loop), one module per family of checks
(``contents``, ``drop``, ``migration``, ``sql``, ``smoke``), and ``runner`` (which checks, in which order).
"""

from pgdrill.checks.base import Baseline, Check, CheckContext, Expected, execute
from pgdrill.checks.config import ChecksConfig, MigrationConfig, Severity, SmokeCommand, SqlAssertion
from pgdrill.checks.results import CheckResult, RestoreOutcome, Status, failed, one_line
from pgdrill.checks.runner import build_checks, run_checks

__all__ = [
    "Baseline",
    "Check",
    "CheckContext",
    "CheckResult",
    "ChecksConfig",
    "Expected",
    "MigrationConfig",
    "RestoreOutcome",
    "Severity",
    "SmokeCommand",
    "SqlAssertion",
    "Status",
    "build_checks",
    "execute",
    "failed",
    "one_line",
    "run_checks",
]
