"""backup, list, verify, restore."""

from __future__ import annotations

import click

from pgdrill.cli.base import (
    apply,
    cli,
    common,
    dump_options,
    emit,
    identity_option,
    notify_options,
    progress_printer,
    publish_outcome,
    settings_of,
    start_job,
    warn,
)
from pgdrill.cli.sources import archives_option, restore_options
from pgdrill.errors import CheckFailed, IntegrityError


@cli.command()
@click.option("--database-url", envvar="PGDRILL_DATABASE_URL", metavar="URL",
              help="Source database, direct (not pooled) connection (env PGDRILL_DATABASE_URL).")
@click.option("--tag", "tags", multiple=True, envvar="PGDRILL_TAGS", metavar="NAME",
              help="Tag the backup (repeatable), e.g. pre-deploy.")
@apply(dump_options)
@click.option("--schema", "schema", multiple=True, metavar="PATTERN",
              help="Only these schemas (pg_dump --schema; repeatable). Recorded in the manifest.")
@click.option("--table", "table", multiple=True, metavar="PATTERN",
              help="Only these tables (pg_dump --table; repeatable): no schemas, extensions or large objects.")
@click.option("--exclude-schema", multiple=True, metavar="PATTERN", help="Leave these schemas out (repeatable).")
@click.option("--exclude-table", multiple=True, metavar="PATTERN", help="Leave these tables out (repeatable).")
@click.option("--exclude-table-data", multiple=True, metavar="PATTERN",
              help="Keep these tables' definitions but not their rows (repeatable).")
@click.option("--all-databases", is_flag=True, default=None,
              help="The roles once, then every database this role can connect to, each its own backup with "
                   "one shared run id (--database-url names the server).")
@common(writes="backups")
@apply(notify_options)
@click.pass_context
def backup(ctx: click.Context, /, as_json: bool, **_: object) -> None:
    """Dump a database into the store, with its roles and a manifest of exact row counts, owners,
    grants and sequence states, all from the dump's own snapshot.

    \b
    Examples:
      pgdrill backup --database-url "$DATABASE_URL" --store s3://acme-backups/prod
      pgdrill backup --store ./backups --encrypt-to age1… --tag before-upgrade
      PGDRILL_DATABASE_URL=… pgdrill backup -e production     # store and keys from pgdrill.yml
    """
    from pgdrill.backup import run_backup, run_cluster_backup
    from pgdrill.report import backups as render
    from pgdrill.settings import jobs

    start_job(ctx)  # bad github:/notify: settings fail before the backup, not after; the start ping
    s = settings_of(ctx)
    req = jobs.backup(s)
    if s.get("all_databases"):
        manifests = run_cluster_backup(req, progress_printer(ctx))
        emit(as_json, render.cluster_backup_json(manifests), render.cluster_backup_text(manifests))
        publish_outcome(ctx, render.backup_outcome(manifests[-1], len(manifests)))
        return
    manifest = run_backup(req, progress_printer(ctx))
    emit(as_json, render.backup_json(manifest), render.backup_text(manifest))
    publish_outcome(ctx, render.backup_outcome(manifest))


@cli.command("list")
@archives_option
@common()
@click.pass_context
def list_(ctx: click.Context, /, as_json: bool, **_: object) -> None:
    """List complete backups, oldest first, the latest last (with --archives: the archives of the set).

    \b
    Examples:
      pgdrill list --store s3://acme-backups/prod
      pgdrill list -e production --json
    """
    from pgdrill import catalog
    from pgdrill.report import backups as render
    from pgdrill.settings import jobs

    pattern = jobs.archive_set(settings_of(ctx))
    if pattern is not None:
        from pgdrill.archives import ArchiveSet
        from pgdrill.report import archives as render_archives

        aset = ArchiveSet.load(pattern)
        aset.require()
        emit(as_json, render_archives.list_json(aset), render_archives.list_text(aset))
        return
    store = jobs.store(settings_of(ctx))
    assert store is not None
    cat = catalog.load(store)
    for line in render.warnings_for(cat):
        warn(line)
    emit(as_json, render.list_json(cat), render.list_text(cat))


@cli.command()
@click.argument("backup_id", default="latest", metavar="ID|latest")
@archives_option
@identity_option
@common()
@click.pass_context
def verify(ctx: click.Context, /, backup_id: str, as_json: bool, **_: object) -> None:
    """Read a stored backup back: size, sha256 and a readable archive.

    With --archives: read archive ID (a name, or latest) of the set to its end.

    \b
    Examples:
      pgdrill verify latest --store s3://acme-backups/prod
      pgdrill verify 20261120T031700 --store ./backups --age-identity-file key.txt
    """
    from pgdrill.report import backups as render
    from pgdrill.settings import jobs
    from pgdrill.verify import run_verify

    s = settings_of(ctx)
    pattern = jobs.archive_set(s)
    if pattern is not None:
        from pgdrill.archives.commands import run_verify as verify_archive
        from pgdrill.report import archives as render_archives

        report = verify_archive(pattern, backup_id, jobs.store(s, required=False), progress_printer(ctx))
        for line in report.warnings:
            warn(line)
        emit(as_json, render_archives.verify_json(report), render_archives.verify_text(report))
        return
    store = jobs.store(s)
    assert store is not None
    result = run_verify(store, backup_id, jobs.identities(s), progress_printer(ctx))
    for line in result.warnings:
        warn(line)
    emit(as_json, render.verify_json(result), render.verify_text(result))


@cli.command()
@click.argument("backup_id", default="latest", metavar="ID|RUN|latest")
@click.option("--target-url", envvar="PGDRILL_TARGET_URL", metavar="URL",
              help="Database to restore into (must exist; refused if it holds tables).")
@click.option("--clean", is_flag=True, help="Drop existing objects first (needs --confirm).")
@click.option("--confirm", metavar="DBNAME", help="The target's database name, to allow --clean.")
@click.option("--table", "tables", multiple=True, metavar="SCHEMA.TABLE", help="Only this table (repeatable).")
@click.option("--data-only", is_flag=True, help="Only rows (with --table: the accidental-DELETE case).")
@click.option("--create-roles", is_flag=True,
              help="Create the roles the backup needs that the target lacks: NOLOGIN, no password (they stay).")
@click.option("--no-owner", is_flag=True,
              help="Do not restore owners: everything belongs to the restoring role (recorded in the result).")
@click.option("--no-privileges", is_flag=True,
              help="Do not restore grants (GRANT/REVOKE, default privileges; recorded in the result).")
@click.option("--keep-owners", is_flag=True,
              help="For pgdrill's backups a no-op kept so existing scripts work (owners and grants are restored "
                   "by default now); with --archives, keep the dump's owners and grants.")
@click.option("--no-verify", is_flag=True, help="Skip reading the archive once before restoring.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, envvar="PGDRILL_JOBS",
              metavar="N", help="Parallel pg_restore jobs: the archive is copied to a temp file and checked first, "
                                "and the restore is not one transaction (not with --clean).")
@identity_option
@common()
@restore_options
@archives_option
@click.pass_context
def restore(ctx: click.Context, /, as_json: bool, **_: object) -> None:
    """Restore a backup into a database, with its owners, grants and database settings.

    Roles the backup needs that the target lacks stop the restore (exit 2) before anything is
    written, unless --create-roles, --no-owner or --no-privileges says what to do about them.

    ID may name an --all-databases run: every database of it is restored into a database of the same
    name on the --target-url server (created when missing; refused when one holds tables).

    With --neon-project and --at: copy the --table rows as they were then from a Neon branch (or a
    pgBackRest / barman-cloud recovery); with --promote: make a Neon branch at --at the default.
    With --archives: restore archive ID (a name, or latest) of the set.

    \b
    Examples:
      pgdrill restore latest --store s3://acme-backups/prod --target-url postgresql://…/shop_restored
      pgdrill restore 20261120T0317 --store ./backups --target-url "$URL" --clean --confirm shop
      pgdrill restore --store ./backups --target-url "$URL" --table app.users --data-only --clean --confirm shop
      pgdrill restore --neon-project P --at -15m --table app.orders --data-only --missing-only --target-url "$URL"
    """
    from pgdrill.report import backups as render
    from pgdrill.settings import jobs

    s = settings_of(ctx)
    if s.get("promote"):
        _promote(ctx, as_json)
        return
    if jobs.archive_set(s) is not None:
        _archive_restore(ctx, as_json)
        return
    if jobs.point_in_time_restore(s):
        _table_restore(ctx, as_json)
        return
    from pgdrill import catalog
    from pgdrill.restore import run_restore, run_restore_run

    req = jobs.restore(s)
    req.validate()  # usage errors first, before the store is read
    cat = catalog.load(req.store)
    if cat.is_run(req.backup):
        jobs.require_one_of(s, {"clean": "--clean", "tables": "--table", "data_only": "--data-only"},
                            "restoring an --all-databases run")
        results = run_restore_run(req, cat, progress_printer(ctx))
        emit(as_json, render.restore_run_json(results), render.restore_run_text(results))
        publish_outcome(ctx, render.restore_outcome(next((r for r in results if not r.ok), results[0])))
        bad = [r for r in results if not r.ok]
        if bad:
            raise CheckFailed(f"restore of run {results[0].manifest.run_id}: {len(bad)} database(s) reported "
                              f"errors ({', '.join(r.manifest.database for r in bad)})")
        return
    result = run_restore(req, progress_printer(ctx), cat.find(req.backup))
    emit(as_json, render.restore_json(result), render.restore_text(result))
    publish_outcome(ctx, render.restore_outcome(result))
    if not result.ok:
        raise CheckFailed(f"restore of {result.manifest.id} reported {result.error_count} error(s)")


def _archive_restore(ctx: click.Context, as_json: bool) -> None:
    from pgdrill.archives.commands import run_restore as restore_archive
    from pgdrill.report import archives as render_archives
    from pgdrill.settings import jobs

    req = jobs.archive_restore(settings_of(ctx))
    result = restore_archive(req, progress_printer(ctx))
    emit(as_json, render_archives.restore_json(result), render_archives.restore_text(result))
    publish_outcome(ctx, render_archives.restore_outcome(result))
    if result.outcome.integrity_error:
        raise IntegrityError(f"restore of {result.archive.url} failed: {result.outcome.integrity_error}")
    if not result.ok:
        raise CheckFailed(f"restore of {result.archive.url} reported {result.outcome.error_count} error(s)")


def _table_restore(ctx: click.Context, as_json: bool) -> None:
    """``restore --neon-project … --at … --table … --data-only``: rows only, one transaction."""
    from pgdrill.report import tables as render_tables
    from pgdrill.settings import jobs
    from pgdrill.table_restore import run_table_restore

    source, req = jobs.table_restore(settings_of(ctx))
    result = run_table_restore(source, req, progress_printer(ctx))
    emit(as_json, result.to_dict(), render_tables.restore_text(result))
    if not result.cleaned_up:
        warn("; ".join((result.cleanup.detail, *result.cleanup.items)))
    publish_outcome(ctx, render_tables.restore_outcome(result))


def _promote(ctx: click.Context, as_json: bool) -> None:
    """``restore --neon-project … --at … --promote --confirm <default>``: the whole database back to --at."""
    from pgdrill.promote import run_promote
    from pgdrill.report import promote as render_promote
    from pgdrill.settings import jobs

    provider, req = jobs.promote(settings_of(ctx))
    result = run_promote(provider, req, progress_printer(ctx))
    emit(as_json, result.to_dict(), render_promote.promote_text(result))
    publish_outcome(ctx, render_promote.promote_outcome(result))
