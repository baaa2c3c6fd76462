"""backup, list, verify, restore."""

from __future__ import annotations

import click

from pgdrill import catalog
from pgdrill.backup import BackupRequest, run_backup, run_cluster_backup
from pgdrill.cli import neon as neon_cli
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
    require,
    s3_options,
    setting,
    store_from,
    store_option,
    warn,
)
from pgdrill.errors import CheckFailed
from pgdrill.pg.scope import Scope
from pgdrill.report import backups as render
from pgdrill.restore import RestoreRequest, run_restore, run_restore_run
from pgdrill.verify import run_verify


@cli.command()
@click.option("--database-url", envvar="PGDRILL_DATABASE_URL", metavar="URL",
              help="Source database, direct (not pooled) connection (env PGDRILL_DATABASE_URL).")
@store_option
@click.option("--tag", "tags", multiple=True, envvar="PGDRILL_TAGS", metavar="NAME",
              help="Tag the backup (repeatable), e.g. pre-deploy.")
@click.option("--encrypt-to", multiple=True, envvar="PGDRILL_ENCRYPT_TO", metavar="AGE1…",
              help="age recipient public key (repeatable).")
@click.option("--recipients-file", envvar="PGDRILL_RECIPIENTS_FILE", metavar="FILE",
              help="File of age recipients, one per line.")
@click.option("--compress", envvar="PGDRILL_COMPRESS", metavar="SPEC",
              help="pg_dump --compress value, e.g. 6, 0, zstd:3 (PostgreSQL 16+). "
                   "Default: zstd with pg_dump 16+, gzip before.")
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
@apply(s3_options)
@environment_option
@config_option
@json_option
@click.pass_context
def backup(ctx: click.Context, /, as_json: bool, **_: object) -> None:
    """Dump a database into the store, with its roles and a manifest of exact row counts, owners,
    grants and sequence states, all from the dump's own snapshot."""
    url = database_url(ctx, "database_url", "--database-url")
    assert url is not None
    recipients = tuple(setting(ctx, "encrypt_to", ()) or ())
    rfile = setting(ctx, "recipients_file")
    if recipients or rfile:
        from pgdrill import crypto

        recipients = tuple(crypto.parse_recipients(list(recipients), rfile))
    req = BackupRequest(
        database_url=url,
        store=store_from(ctx),
        tags=tuple(setting(ctx, "tags", ()) or ()),
        environment=setting(ctx, "environment"),
        encrypt_to=recipients,
        compress=setting(ctx, "compress"),
        scope=Scope(*(tuple(setting(ctx, name, ()) or ()) for name in (
            "schema", "table", "exclude_schema", "exclude_table", "exclude_table_data"))),
    )
    github_settings(ctx)  # a bad github: section must fail before the backup, not after
    if setting(ctx, "all_databases"):
        manifests = run_cluster_backup(req, progress_printer(ctx))
        emit(as_json, render.cluster_backup_json(manifests), render.cluster_backup_text(manifests))
        publish_outcome(ctx, render.backup_outcome(manifests[-1], len(manifests)))
        return
    manifest = run_backup(req, progress_printer(ctx))
    emit(as_json, render.backup_json(manifest), render.backup_text(manifest))
    publish_outcome(ctx, render.backup_outcome(manifest))


@cli.command("list")
@store_option
@config_option
@json_option
@click.pass_context
def list_(ctx: click.Context, /, as_json: bool, **_: object) -> None:
    """List complete backups, oldest first."""
    cat = catalog.load(store_from(ctx))
    for line in render.warnings_for(cat):
        warn(line)
    emit(as_json, render.list_json(cat), render.list_text(cat))


@cli.command()
@click.argument("backup_id", default="latest", metavar="ID|latest")
@store_option
@identity_option
@config_option
@json_option
@click.pass_context
def verify(ctx: click.Context, /, backup_id: str, as_json: bool, **_: object) -> None:
    """Read a stored backup back: size, sha256 and a readable archive."""
    result = run_verify(store_from(ctx), backup_id, identities(ctx), progress_printer(ctx))
    for line in result.warnings:
        warn(line)
    emit(as_json, render.verify_json(result), render.verify_text(result))


@cli.command()
@click.argument("backup_id", default="latest", metavar="ID|latest")
@store_option
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
              help="No-op, kept so existing scripts work: owners and grants are restored by default now.")
@click.option("--no-verify", is_flag=True, help="Skip reading the archive once before restoring.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, envvar="PGDRILL_JOBS",
              metavar="N", help="Parallel pg_restore jobs: the archive is copied to a temp file and checked first, "
                                "and the restore is not one transaction (not with --clean).")
@identity_option
@config_option
@json_option
@neon_cli.restore_options
@click.pass_context
def restore(ctx: click.Context, /, backup_id: str, clean: bool, confirm: str | None, tables: tuple[str, ...],
            data_only: bool, keep_owners: bool, no_verify: bool, as_json: bool, jobs: int = 1,
            create_roles: bool = False, no_owner: bool = False, no_privileges: bool = False,
            **_: object) -> None:
    """Restore a backup into a database, with its owners, grants and database settings.

    Roles the backup needs that the target lacks stop the restore (exit 2) before anything is
    written, unless --create-roles, --no-owner or --no-privileges says what to do about them.

    ID may name an --all-databases run: every database of it is restored into a database of the same
    name on the --target-url server (created when missing; refused when one holds tables).

    With --neon-project and --at: copy the --table rows as they were then from a Neon branch."""
    if neon_cli.requested(ctx):
        neon_cli.restore(ctx, backup_id, tables, data_only, confirm, as_json)
        return
    target = database_url(ctx, "target_url", "--target-url")
    assert target is not None
    if jobs > 1 and clean:
        raise click.UsageError("--jobs cannot be combined with --clean: a parallel restore is not one transaction, "
                               "so a failure would leave the database half replaced")
    del keep_owners  # the old default-off flag: owners and grants are restored by default now
    req = RestoreRequest(
        store=store_from(ctx), backup=backup_id, target_url=target, clean=clean, confirm=confirm,
        tables=tables, data_only=data_only, identities=identities(ctx),
        no_owner=no_owner, no_privileges=no_privileges, create_roles=create_roles,
        # A parallel restore checks the archive itself before pg_restore starts: no read-through.
        verify_first=not no_verify and jobs == 1, atomic=jobs == 1, jobs=jobs,
    )
    store = req.store
    cat = catalog.load(store)
    if cat.is_run(backup_id):
        if clean or tables or data_only:
            raise click.UsageError("restoring an --all-databases run takes none of --clean, --table, --data-only")
        results = run_restore_run(req, cat, progress_printer(ctx))
        emit(as_json, render.restore_run_json(results), render.restore_run_text(results))
        publish_outcome(ctx, render.restore_outcome(next((r for r in results if not r.ok), results[0])))
        bad = [r for r in results if not r.ok]
        if bad:
            raise CheckFailed(f"restore of run {results[0].manifest.run_id}: {len(bad)} database(s) reported "
                              f"errors ({', '.join(r.manifest.database for r in bad)})")
        return
    result = run_restore(req, progress_printer(ctx), cat.find(backup_id))
    emit(as_json, render.restore_json(result), render.restore_text(result))
    publish_outcome(ctx, render.restore_outcome(result))
    if not result.ok:
        raise CheckFailed(f"restore of {result.manifest.id} reported {result.error_count} error(s)")


_ = require  # re-exported for command modules that need a mandatory setting
