"""prune."""

from __future__ import annotations

from pathlib import Path

import click

from pgdrill.cli.base import (
    cli,
    common,
    emit,
    github_settings,
    publish_outcome,
    report_option,
    settings_of,
    warn,
    write_report,
)
from pgdrill.prune import run_prune
from pgdrill.report.prune import render_json, render_markdown, render_text, to_outcome
from pgdrill.settings import jobs

_COUNT_HELP = "N (or 'all')"


@cli.command()
@click.option("--keep-last", metavar=_COUNT_HELP, help="Keep the N newest backups.")
@click.option("--keep-hourly", metavar=_COUNT_HELP, help="Keep the newest backup of each of the last N hours.")
@click.option("--keep-daily", metavar=_COUNT_HELP, help="… of each of the last N days (UTC) with a backup.")
@click.option("--keep-weekly", metavar=_COUNT_HELP, help="… of each of the last N ISO weeks with a backup.")
@click.option("--keep-monthly", metavar=_COUNT_HELP, help="… of each of the last N months with a backup.")
@click.option("--keep-yearly", metavar=_COUNT_HELP, help="… of each of the last N years with a backup.")
@click.option("--keep-within", metavar="DURATION", help="Keep every backup up to this much older than the newest.")
@click.option("--keep-tag", "keep_tags", multiple=True, metavar="TAG=N|TAG=DURATION",
              help="Keep the N newest backups with TAG, or those within DURATION of the newest (repeatable).")
@click.option("--max-age", envvar="PGDRILL_MAX_AGE", metavar="DURATION",
              help=f"Refuse when the newest complete backup is older than this "
                   f"(default {jobs.DEFAULT_MAX_AGE}; 'off').")
@click.option("--force", is_flag=True, help="Prune even after a failed backup attempt or with a stale newest backup.")
@click.option("--dry-run", is_flag=True, help="Show the plan (keep/remove and why); change nothing.")
@report_option
@common()
@click.pass_context
def prune(ctx: click.Context, /, report_path: Path | None, as_json: bool, **_: object) -> None:
    """Apply the retention policy (pgdrill.yml `retention:` + --keep-* flags); clear old incomplete uploads.

    Never removes the newest complete backup; refuses after a failed backup attempt or when the newest
    backup is older than --max-age, unless --force.
    """
    req = jobs.prune(settings_of(ctx))
    github_settings(ctx)  # a bad github: section must fail before anything is deleted
    if req.policy.empty:
        warn("no retention policy (pgdrill.yml `retention:` or --keep-*): every backup is kept")
    result = run_prune(req)
    if result.forced:
        warn(f"--force: pruned although {result.forced}")
    write_report(report_path, render_markdown(result))
    emit(as_json, render_json(result), render_text(result))
    publish_outcome(ctx, to_outcome(result, settings_of(ctx).environment))
