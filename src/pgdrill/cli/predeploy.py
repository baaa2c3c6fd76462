"""predeploy."""

from __future__ import annotations

from pathlib import Path

import click

from pgdrill.cli.base import (
    apply,
    cli,
    common,
    dump_options,
    emit,
    github_settings,
    identity_option,
    progress_printer,
    publish_outcome,
    report_option,
    settings_of,
    write_report,
)
from pgdrill.errors import CheckFailed
from pgdrill.predeploy import run_predeploy
from pgdrill.report.predeploy import render_json, render_markdown, render_text, to_outcome
from pgdrill.settings import jobs


@cli.command()
@click.option("--database-url", envvar="PGDRILL_DATABASE_URL", metavar="URL",
              help="The database about to be migrated, direct (not pooled) connection.")
@click.option("--release-check", envvar="PGDRILL_RELEASE_CHECK", metavar="CMD",
              help="Command that must pass before deploying, e.g. 'npm run release:check' (sh -c).")
@click.option("--rehearse", is_flag=True,
              help="Restore the new backup into a scratch database and run --migrate-command against it.")
@click.option("--scratch-url", envvar="PGDRILL_SCRATCH_URL", metavar="ADMIN_URL",
              help="Server to create the rehearsal's scratch database on (role with CREATEDB).")
@click.option("--migrate-command", envvar="PGDRILL_MIGRATE_COMMAND", metavar="CMD",
              help="Migration command for the rehearsal, e.g. 'alembic upgrade head'; it gets DATABASE_URL "
                   "and PG* of the scratch copy.")
@click.option("--tag", "extra_tags", multiple=True, metavar="NAME",
              help="More tags for the backup (pre-deploy is always set).")
@apply(dump_options)
@report_option
@identity_option
@common(writes="backups")
@click.pass_context
def predeploy(ctx: click.Context, /, report_path: Path | None, as_json: bool, **_: object) -> None:
    """Gate a deploy: backup tagged pre-deploy, read back, release check, optional migration rehearsal.

    Prints the backup id and the exact rollback command. Exit 1 when any check fails.
    """
    req = jobs.predeploy(settings_of(ctx))
    github_settings(ctx)  # a bad github: section must fail before the backup, not after
    result = run_predeploy(req, progress_printer(ctx))
    write_report(report_path, render_markdown(result))
    emit(as_json, render_json(result), render_text(result))
    publish_outcome(ctx, to_outcome(result, req.environment))
    if not result.passed:
        raise CheckFailed(f"predeploy failed, do not deploy: {'; '.join(result.failures)}",
                          f"backup {result.manifest.id} was taken; rollback: {result.rollback_command}")
