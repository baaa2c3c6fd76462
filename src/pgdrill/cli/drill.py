"""drill, drills."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from pgdrill import secrets
from pgdrill.checks import ChecksConfig
from pgdrill.cli import neon as neon_cli
from pgdrill.cli.base import (
    apply,
    cli,
    config_option,
    emit,
    environment_option,
    identities,
    identity_option,
    json_option,
    progress_printer,
    publish_outcome,
    s3_options,
    setting,
    state,
    store_from,
    store_option,
    warn,
)
from pgdrill.config import parse_duration
from pgdrill.drill import DrillRequest, DrillSettings, load_history, run_drill
from pgdrill.errors import CheckFailed, ConfigError
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.report import drill as render


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT) \
        and ctx.params.get(name) not in (None, "")


def _urls(ctx: click.Context) -> tuple[DatabaseUrl | None, DatabaseUrl | None]:
    """--scratch-url or --target-url. A flag given now wins over the other one's pgdrill.yml default,
    so a config made for `restore` (target_url:) does not block `drill --scratch-url`."""
    scratch, target = setting(ctx, "scratch_url"), setting(ctx, "target_url")
    if scratch and target:
        if _given(ctx, "scratch_url") and not _given(ctx, "target_url"):
            target = None
        elif _given(ctx, "target_url") and not _given(ctx, "scratch_url"):
            scratch = None
    if not scratch and not target:
        raise click.UsageError("missing --scratch-url (a server to create a scratch database on) or --target-url")
    if scratch and target:
        raise click.UsageError("give --scratch-url or --target-url, not both")
    return (DatabaseUrl.parse(str(scratch), "--scratch-url") if scratch else None,
            DatabaseUrl.parse(str(target), "--target-url") if target else None)


def _duration(ctx: click.Context, name: str, flag: str) -> float | None:
    value = setting(ctx, name)
    if value in (None, ""):
        return None
    seconds = parse_duration(value, flag)
    if seconds <= 0:
        raise ConfigError(f"{flag} must be positive, got '{value}'")
    return seconds


@cli.command()
@store_option
@click.option("--scratch-url", envvar="PGDRILL_SCRATCH_URL", metavar="ADMIN_URL",
              help="Server to create a scratch database on (role with CREATEDB); it is dropped afterwards.")
@click.option("--target-url", envvar="PGDRILL_TARGET_URL", metavar="URL",
              help="Existing empty database to restore into instead (refused if it holds tables).")
@click.option("--backup", "backup_ref", default="latest", show_default=True, envvar="PGDRILL_BACKUP",
              metavar="ID|latest", help="Backup to restore.")
@click.option("--rto-target", envvar="PGDRILL_RTO_TARGET", metavar="DURATION",
              help="Restore + checks must finish within this, e.g. 15m.")
@click.option("--rpo-target", envvar="PGDRILL_RPO_TARGET", metavar="DURATION",
              help="Backup age + worst gap between backups (30 days) must stay under this, e.g. 26h.")
@click.option("--keep", is_flag=True, help="Keep the scratch database for debugging (it is dropped otherwise).")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, envvar="PGDRILL_JOBS",
              metavar="N", help="Parallel pg_restore jobs (archive copied to a temp file first).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.md",
              help="Also write the Markdown report to FILE.md.")
@identity_option
@apply(s3_options)
@environment_option
@config_option
@json_option
@neon_cli.drill_options
@click.pass_context
def drill(ctx: click.Context, /, backup_ref: str, keep: bool, report_path: Path | None, as_json: bool,
          jobs: int, **_: object) -> None:
    """Restore a backup into a scratch database, check it, measure RTO/RPO, record the drill.

    With --neon-project (or --at): check a Neon branch made at --at instead, then delete it."""
    if neon_cli.requested(ctx):
        neon_cli.drill(ctx, backup_ref, report_path, as_json)
        return
    scratch, target = _urls(ctx)
    environment = setting(ctx, "environment")
    cfg = state(ctx).config(ctx.params.get("config"))
    req = DrillRequest(
        store=store_from(ctx),
        backup=backup_ref,
        scratch_url=scratch,
        target_url=target,
        keep=keep,
        checks=cfg.section("checks", ChecksConfig, environment),
        settings=cfg.section("drill", DrillSettings, environment),
        rto_target=_duration(ctx, "rto_target", "--rto-target"),
        rpo_target=_duration(ctx, "rpo_target", "--rpo-target"),
        identities=identities(ctx),
        production_databases=tuple(setting(ctx, "production_databases") or ()),
        environment=environment,
        jobs=jobs,
    )
    result = run_drill(req, progress_printer(ctx))
    for w in result.warnings:
        warn(w)
    if report_path is not None:
        try:
            report_path.write_text(secrets.scrub(render.drill_markdown(result)), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write --report {report_path}: {exc.strerror or exc}") from None
    emit(as_json, render.drill_json(result), render.drill_text(result))
    publish_outcome(ctx, render.drill_outcome(result, str(report_path) if report_path else None))
    if not result.passed:
        raise CheckFailed(f"drill {result.record.id} of backup {result.record.backup_id} failed: "
                          f"{'; '.join(result.record.failures)}",
                          "see the failed checks above; `pgdrill drills` keeps the record")


@cli.command()
@store_option
@apply(s3_options)
@config_option
@json_option
@click.pass_context
def drills(ctx: click.Context, /, as_json: bool, **_: object) -> None:
    """List recorded drills, newest first."""
    history = load_history(store_from(ctx))
    for w in render.drills_warnings(history):
        warn(w)
    emit(as_json, render.drills_json(history), render.drills_text(history))
