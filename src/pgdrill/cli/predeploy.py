"""predeploy."""

from __future__ import annotations

from pathlib import Path

import click

from pgdrill import secrets
from pgdrill.cli.base import (
    apply,
    cli,
    config_option,
    database_url,
    emit,
    environment_option,
    github_settings,
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
)
from pgdrill.errors import CheckFailed, ConfigError
from pgdrill.predeploy import PredeployRequest, PredeploySettings, run_predeploy
from pgdrill.report.predeploy import render_json, render_markdown, render_text, to_outcome


@cli.command()
@click.option("--database-url", envvar="PGDRILL_DATABASE_URL", metavar="URL",
              help="The database about to be migrated, direct (not pooled) connection.")
@store_option
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
@click.option("--encrypt-to", multiple=True, envvar="PGDRILL_ENCRYPT_TO", metavar="AGE1…",
              help="age recipient public key (repeatable).")
@click.option("--recipients-file", envvar="PGDRILL_RECIPIENTS_FILE", metavar="FILE",
              help="File of age recipients, one per line.")
@click.option("--compress", envvar="PGDRILL_COMPRESS", metavar="SPEC", help="pg_dump --compress value.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.md",
              help="Also write the Markdown report to FILE.md.")
@identity_option
@apply(s3_options)
@environment_option
@config_option
@json_option
@click.pass_context
def predeploy(ctx: click.Context, /, rehearse: bool, extra_tags: tuple[str, ...], report_path: Path | None,
              as_json: bool, **_: object) -> None:
    """Gate a deploy: backup tagged pre-deploy, read back, release check, optional migration rehearsal.

    Prints the backup id and the exact rollback command. Exit 1 when any check fails.
    """
    url = database_url(ctx, "database_url", "--database-url")
    assert url is not None
    environment = setting(ctx, "environment")
    recipients = tuple(setting(ctx, "encrypt_to", ()) or ())
    rfile = setting(ctx, "recipients_file")
    if recipients or rfile:
        from pgdrill import crypto

        recipients = tuple(crypto.parse_recipients(list(recipients), rfile))
    scratch = database_url(ctx, "scratch_url", "--scratch-url", required=False) if rehearse else None
    req = PredeployRequest(
        database_url=url,
        store=store_from(ctx),
        release_check=setting(ctx, "release_check"),
        rehearse=rehearse,
        scratch_url=scratch,
        migrate_command=setting(ctx, "migrate_command") if rehearse else None,
        settings=state(ctx).config(ctx.params.get("config")).section("predeploy", PredeploySettings, environment),
        tags=extra_tags,
        environment=environment,
        encrypt_to=recipients,
        identities=identities(ctx),
        compress=setting(ctx, "compress"),
    )
    github_settings(ctx)  # a bad github: section must fail before the backup, not after
    result = run_predeploy(req, progress_printer(ctx))
    if report_path is not None:
        try:
            report_path.write_text(secrets.scrub(render_markdown(result)), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write --report {report_path}: {exc.strerror or exc}") from None
    emit(as_json, render_json(result), render_text(result))
    publish_outcome(ctx, to_outcome(result, environment))
    if not result.passed:
        raise CheckFailed(f"predeploy failed, do not deploy: {'; '.join(result.failures)}",
                          f"backup {result.manifest.id} was taken; rollback: {result.rollback_command}")
