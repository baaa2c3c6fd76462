"""Options that pick and describe a drill's source (beyond the store's backups), shared by ``drill``
and ``restore``. Which source runs is decided from the settings by :mod:`pgdrill.sources.registry`,
never here.

    pgdrill drill   --neon-project ID [--neon-branch main] [--at 2026-11-20T14:29:45Z | -15m | latest]
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
_at = click.option("--at", "at", envvar="PGDRILL_AT", metavar="TIMESTAMP|-15m|latest",
                   help="Point in time to recover to: ISO 8601 with a zone, a time before now (-15m), or latest.")

#: every point-in-time source's options, for drill and restore
point_in_time_options = apply([*_neon, _at])
restore_options = apply([
    *_neon, _at,
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
