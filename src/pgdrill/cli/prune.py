"""prune."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from pgdrill import secrets
from pgdrill.cli.base import (
    apply,
    cli,
    config_option,
    emit,
    environment_option,
    github_settings,
    json_option,
    publish_outcome,
    s3_options,
    setting,
    state,
    store_from,
    store_option,
    warn,
)
from pgdrill.config import parse_duration
from pgdrill.errors import ConfigError
from pgdrill.prune import PruneRequest, run_prune
from pgdrill.report.prune import render_json, render_markdown, render_text, to_outcome
from pgdrill.retention import Policy, parse_tag_rule, policy_from_options

DEFAULT_MAX_AGE = "26h"
_COUNT_HELP = "N (or 'all')"


def max_age_setting(ctx: click.Context) -> timedelta | None:
    """--max-age > PGDRILL_MAX_AGE > pgdrill.yml max_age > 26h; 'off' disables the age refusal."""
    value = setting(ctx, "max_age", DEFAULT_MAX_AGE)
    if str(value).strip().lower() in ("off", "none", "0"):
        return None
    seconds = parse_duration(value, "--max-age")
    if seconds <= 0:
        raise ConfigError(f"--max-age must be positive, got '{value}'", "or 'off' to disable the age check")
    return timedelta(seconds=seconds)


def write_report(path: Path | None, markdown: str) -> None:
    if path is None:
        return
    try:
        path.write_text(secrets.scrub(markdown), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write --report {path}: {exc.strerror or exc}") from None


@cli.command()
@store_option
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
              help=f"Refuse when the newest complete backup is older than this (default {DEFAULT_MAX_AGE}; 'off').")
@click.option("--force", is_flag=True, help="Prune even after a failed backup attempt or with a stale newest backup.")
@click.option("--dry-run", is_flag=True, help="Show the plan (keep/remove and why); change nothing.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.md",
              help="Also write the plan as Markdown to FILE.md.")
@apply(s3_options)
@environment_option
@config_option
@json_option
@click.pass_context
def prune(ctx: click.Context, /, keep_last: str | None, keep_hourly: str | None, keep_daily: str | None,
          keep_weekly: str | None, keep_monthly: str | None, keep_yearly: str | None, keep_within: str | None,
          keep_tags: tuple[str, ...], force: bool, dry_run: bool, report_path: Path | None, as_json: bool,
          **_: object) -> None:
    """Apply the retention policy (pgdrill.yml `retention:` + --keep-* flags); clear old incomplete uploads.

    Never removes the newest complete backup; refuses after a failed backup attempt or when the newest
    backup is older than --max-age, unless --force.
    """
    environment = setting(ctx, "environment")
    base = state(ctx).config(ctx.params.get("config")).section("retention", Policy, environment)
    policy = policy_from_options(
        base, keep_last=keep_last, keep_hourly=keep_hourly, keep_daily=keep_daily, keep_weekly=keep_weekly,
        keep_monthly=keep_monthly, keep_yearly=keep_yearly, keep_within=keep_within,
        keep_tags=[parse_tag_rule(t) for t in keep_tags],
    )
    github_settings(ctx)  # a bad github: section must fail before anything is deleted
    if policy.empty:
        warn("no retention policy (pgdrill.yml `retention:` or --keep-*): every backup is kept")
    result = run_prune(PruneRequest(store_from(ctx), policy, max_age=max_age_setting(ctx), force=force,
                                    dry_run=dry_run))
    if result.forced:
        warn(f"--force: pruned although {result.forced}")
    write_report(report_path, render_markdown(result))
    emit(as_json, render_json(result), render_text(result))
    publish_outcome(ctx, to_outcome(result, environment))
