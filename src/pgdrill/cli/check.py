"""check."""

from __future__ import annotations

import click

from pgdrill.cli.base import (
    RUN,
    cli,
    common,
    dump_options,
    emit,
    identity_option,
    publish_outcome,
    settings_for,
    state,
)
from pgdrill.errors import ConfigError, PreflightFailed


@cli.command()
@click.option("--database-url", envvar="PGDRILL_DATABASE_URL", metavar="URL",
              help="The database the backups are taken of (connectivity, direct or pooled, what the role reads).")
@click.option("--scratch-url", envvar="PGDRILL_SCRATCH_URL", metavar="ADMIN_URL",
              help="The drills' scratch server (the role must be allowed to create databases).")
@dump_options[0]
@dump_options[1]
@identity_option
@common(writes="records")
@click.pass_context
def check(ctx: click.Context, /, as_json: bool, **_: object) -> None:
    """Check the whole set-up before the first backup: pgdrill.yml, database, client, store, keys, scratch.

    One line per item; nothing is written (the store's probes leave no object behind). Exit 0 when
    ready, 2 when something is yours to fix, 3 when something is down.

    \b
    Examples:
      pgdrill check                                    # what pgdrill.yml and PGDRILL_* describe
      pgdrill check --store s3://acme-backups/prod --database-url "$DATABASE_URL"
      pgdrill check -e production --scratch-url postgresql://postgres:postgres@localhost:5432/postgres
    """
    from pgdrill import config as config_mod
    from pgdrill.preflight import run_preflight
    from pgdrill.report.preflight import render_json, render_text, to_outcome
    from pgdrill.settings import jobs

    cfg, problems = config_mod.read(ctx.params.get("config") or state(ctx).config_path)
    try:
        s = settings_for(ctx, cfg)
    except ConfigError as exc:  # an environment or database pgdrill.yml does not define: a problem like the others
        problems = [*problems, exc]
        s = settings_for(ctx, cfg, environment=False)
    RUN.environment, RUN.database = s.environment, s.database
    result = run_preflight(jobs.preflight(s, problems))
    emit(as_json, render_json(result), render_text(result))
    publish_outcome(ctx, to_outcome(result, s.environment))
    if result.failures:
        names = ", ".join(dict.fromkeys(i.name for i in result.failures))
        raise PreflightFailed(f"check found {len(result.failures)} problem(s): {names}",
                              "fix the FAIL lines above, then run pgdrill check again", result.exit_code)
