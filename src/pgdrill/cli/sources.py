"""Options that pick and describe a drill's source (beyond the store's backups), shared by ``drill``
and ``restore``. Which source runs is decided from the settings by :mod:`pgdrill.sources.registry`,
never here.

    pgdrill drill   --neon-project ID [--neon-branch main] [--at 2026-11-20T14:29:45Z | -15m | latest]
    pgdrill drill   --pgbackrest-stanza main [--pgbackrest-config FILE] [--at …]
    pgdrill drill   --barman-cloud-url s3://bucket/path --barman-server-name pg-main [--at …]
    pgdrill restore --neon-project ID --at TIMESTAMP --table app.users --target-url URL --data-only
    pgdrill drill   --archives 's3://bucket/db/*/*/app-*.dump' [--archive NAME|latest] [--compare-url URL]
"""

from __future__ import annotations

import click

from pgdrill.cli.base import apply

_neon = [
    click.option("--neon-project", envvar="PGDRILL_NEON_PROJECT", metavar="ID",
                 help="Work on a Neon branch made at --at instead of a stored backup (API key in NEON_API_KEY)."),
    click.option("--neon-branch", envvar="PGDRILL_NEON_BRANCH", metavar="NAME|ID",
                 help="Neon branch to branch from (default: the project's default branch)."),
    click.option("--neon-database", envvar="PGDRILL_NEON_DATABASE", metavar="NAME",
                 help="Database on the Neon branch (default: its only one)."),
    click.option("--neon-role", envvar="PGDRILL_NEON_ROLE", metavar="NAME",
                 help="Role to connect as (default: the database's owner)."),
]
#: physical backups recovered to a point in time on a private server (drill, restore, monitor)
physical_source_options = [
    click.option("--pgbackrest-stanza", envvar="PGDRILL_PGBACKREST_STANZA", metavar="STANZA",
                 help="Recover this pgBackRest stanza's backup + WAL to --at on a private server instead."),
    click.option("--pgbackrest-config", envvar="PGDRILL_PGBACKREST_CONFIG", metavar="FILE",
                 help="pgbackrest.conf to use (default: pgBackRest's own)."),
    click.option("--barman-cloud-url", envvar="PGDRILL_BARMAN_CLOUD_URL", metavar="s3://BUCKET/PATH",
                 help="Recover a barman-cloud (CloudNativePG) backup + WAL from this bucket path to --at instead."),
    click.option("--barman-server-name", envvar="PGDRILL_BARMAN_SERVER_NAME", metavar="NAME",
                 help="The barman-cloud server name (CloudNativePG: the cluster's name)."),
]
_pitr_database = click.option("--pitr-database", envvar="PGDRILL_PITR_DATABASE", metavar="NAME",
                              help="Database of a recovered cluster to check (default: its only one, else postgres).")
_at = click.option("--at", "at", envvar="PGDRILL_AT", metavar="TIMESTAMP|-15m|latest",
                   help="Point in time to recover to: ISO 8601 with a zone, a time before now (-15m), or latest.")

#: every point-in-time source's options, for drill and restore
point_in_time_options = apply([*_neon, *physical_source_options, _pitr_database, _at])
#: the point-in-time sources whose window monitor watches
monitor_source_options = apply([_neon[0], _neon[1], *physical_source_options])
restore_options = apply([
    *_neon, *physical_source_options, _pitr_database, _at,
    click.option("--promote", is_flag=True,
                 help="Neon: make a branch at --at the project's default (the current one is kept, renamed); "
                      "needs --confirm <current default branch name>."),
    click.option("--missing-only", is_flag=True,
                 help="Point in time: add back only rows whose key the target lacks, leave the others "
                      "(no --confirm needed)."),
])

#: the dumps a team's own scripts make: an archive set (list, verify, drill, monitor, restore)
archives_option = click.option(
    "--archives", envvar="PGDRILL_ARCHIVES", metavar="PATTERN",
    help="Work on dumps made by other tools: a glob over a folder or an S3 prefix ('*' stays in one folder, "
         "'**' crosses them), e.g. 's3://bucket/db/*/*/app-*.dump'. Read only; --store keeps drill records.")
archive_drill_options = apply([
    archives_option,
    click.option("--archive", envvar="PGDRILL_ARCHIVE", metavar="NAME|latest",
                 help="With --archives: the archive to drill (default: the newest, by the time in its name)."),
    click.option("--compare-url", envvar="PGDRILL_COMPARE_URL", metavar="URL",
                 help="With --archives: also compare row counts with this database (e.g. a read replica)."),
    click.option("--compare-tolerance", envvar="PGDRILL_COMPARE_TOLERANCE", metavar="PERCENT",
                 help="How far counts may differ from --compare-url per table (default 10%)."),
])
