"""drill, drills."""

from __future__ import annotations

from pathlib import Path

import click

from pgdrill.cli.base import (
    apply,
    cli,
    common,
    emit,
    identity_option,
    notify_options,
    progress_printer,
    publish_outcome,
    report_option,
    settings_of,
    start_job,
    warn,
    write_report,
)
from pgdrill.cli.sources import archive_drill_options, point_in_time_options
from pgdrill.errors import CheckFailed


@cli.command()
@click.option("--scratch-url", envvar="PGDRILL_SCRATCH_URL", metavar="ADMIN_URL",
              help="Server to create a scratch database on (role with CREATEDB); it is dropped afterwards.")
@click.option("--target-url", envvar="PGDRILL_TARGET_URL", metavar="URL",
              help="Existing empty database to restore into instead (refused if it holds tables).")
@click.option("--backup", "backup_ref", default="latest", show_default=True, envvar="PGDRILL_BACKUP",
              metavar="ID|RUN|latest", help="Backup to restore (an --all-databases run: each of its databases).")
@click.option("--rto-target", envvar="PGDRILL_RTO_TARGET", metavar="DURATION",
              help="Restore + checks must finish within this, e.g. 15m.")
@click.option("--rpo-target", envvar="PGDRILL_RPO_TARGET", metavar="DURATION",
              help="Backup age + worst gap between backups (30 days) must stay under this, e.g. 26h.")
@click.option("--keep", is_flag=True, help="Keep the restored copy for debugging (it is destroyed otherwise).")
@click.option("--jobs", default="auto", show_default=True, envvar="PGDRILL_JOBS", metavar="N|auto",
              help="Parallel pg_restore jobs (archive copied to a temp file first); auto: the runner's cores when "
                   "that copy fits in the free space, else 1.")
@report_option
@identity_option
@common(writes="records")
@point_in_time_options
@archive_drill_options
@apply(notify_options)
@click.pass_context
def drill(ctx: click.Context, /, report_path: Path | None, as_json: bool, **_: object) -> None:
    """Restore a backup into a scratch database, check it, measure RTO/RPO, record the drill.

    With --neon-project (or --at): check a Neon branch made at --at instead, then delete it.
    With --archives: drill a dump made by other tools (the newest, or --archive NAME).

    \b
    Examples:
      pgdrill drill --store s3://acme-backups/prod --scratch-url postgresql://postgres:postgres@localhost:5432/postgres
      pgdrill drill -e production --rto-target 30m --rpo-target 26h --report drill.md
      pgdrill drill --neon-project P --at -15m --store s3://acme-backups/prod   # a Neon branch, records kept
    """
    from pgdrill.drill import run_drill
    from pgdrill.report import drill as render
    from pgdrill.settings import jobs

    start_job(ctx)
    plans = jobs.drill_plans(settings_of(ctx))
    results = [run_drill(plan.source, plan.request, progress_printer(ctx)) for plan in plans]
    for result in results:
        for w in result.warnings:
            warn(w)
    write_report(report_path, "\n".join(render.drill_markdown(r) for r in results))
    if len(results) == 1:
        emit(as_json, render.drill_json(results[0]), render.drill_text(results[0]))
    else:  # the databases of an --all-databases run, one drill each
        emit(as_json, {"passed": all(r.passed for r in results), "drills": [render.drill_json(r) for r in results]},
             "\n\n".join(render.drill_text(r) for r in results))
    failed = [r for r in results if not r.passed]
    shown = failed[0] if failed else results[-1]
    publish_outcome(ctx, render.drill_outcome(shown, str(report_path) if report_path else None))
    if failed:
        raise CheckFailed("; ".join(f"drill {r.record.id} of {r.record.backup_id} failed: "
                                    f"{'; '.join(r.record.failures)}" for r in failed),
                          "see the failed checks above; `pgdrill drills` keeps the record")


@cli.command()
@common()
@click.pass_context
def drills(ctx: click.Context, /, as_json: bool, **_: object) -> None:
    """List recorded drills, oldest first (the latest last), like `pgdrill list`.

    \b
    Examples:
      pgdrill drills --store s3://acme-backups/prod
      pgdrill drills -e production --json
    """
    from pgdrill.drill import load_history
    from pgdrill.report import drill as render
    from pgdrill.settings import jobs

    store = jobs.store(settings_of(ctx))
    assert store is not None
    history = load_history(store)
    for w in render.drills_warnings(history):
        warn(w)
    emit(as_json, render.drills_json(history), render.drills_text(history))
