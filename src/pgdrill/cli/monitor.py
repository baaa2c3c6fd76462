"""monitor."""

from __future__ import annotations

from pathlib import Path

import click

from pgdrill import secrets
from pgdrill.cli.base import (
    apply,
    cli,
    common,
    notify_options,
    publish_outcome,
    settings_of,
    start_job,
)
from pgdrill.cli.sources import archives_option, monitor_source_options
from pgdrill.errors import CheckFailed, ConfigError

FORMATS = ("text", "json", "prometheus", "markdown")


@cli.command()
@archives_option
@click.option("--max-age", envvar="PGDRILL_MAX_AGE", metavar="DURATION",
              help="Alert when the newest backup is older (default 26h).")
@click.option("--size-deviation", envvar="PGDRILL_SIZE_DEVIATION", metavar="PERCENT",
              help="Alert when the newest size is this far off the median of the previous 7 (default 50%).")
@click.option("--row-drop", envvar="PGDRILL_ROW_DROP", metavar="PERCENT",
              help="Alert when a table lost more rows than this between the last two backups (default 20%).")
@click.option("--max-drill-age", envvar="PGDRILL_MAX_DRILL_AGE", metavar="DURATION",
              help="Alert when the last drill is older, or none exists (default 35d; 'off').")
@click.option("--schedule", envvar="PGDRILL_SCHEDULE", metavar="DURATION",
              help="Expected interval between scheduled backups (default: inferred from the history).")
@click.option("--max-wal-age", envvar="PGDRILL_MAX_WAL_AGE", metavar="DURATION",
              help="Point-in-time source: alert when the newest archived WAL is older (default 1h).")
@click.option("--min-pitr-window", envvar="PGDRILL_MIN_PITR_WINDOW", metavar="DURATION",
              help="Point-in-time source: alert when the recoverable window is shorter (default 1d).")
@click.option("--database-url", envvar="PGDRILL_DATABASE_URL", metavar="PRIMARY_URL",
              help="A primary whose replicas to watch (pg_stat_replication), with --max-replica-lag.")
@click.option("--max-replica-lag", envvar="PGDRILL_MAX_REPLICA_LAG", metavar="DURATION",
              help="Alert when a replica replays further behind the primary, or none streams, e.g. 5m.")
@monitor_source_options
@click.option("--fail-on", envvar="PGDRILL_FAIL_ON", type=click.Choice(["critical", "warning"]),
              help="Alerts that fail the run (exit 1): critical (default), or warning too.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              envvar="PGDRILL_FORMAT", help="Output format.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the output to FILE (atomically: a node-exporter textfile is never half-written).")
@common(json=False)
@apply(notify_options)
@click.pass_context
def monitor(ctx: click.Context, /, fmt: str, as_json: bool, output_path: Path | None, **_: object) -> None:
    """Check backup age, size, row counts, schedule, failed attempts and drills.

    Exit 1 on a critical alert; warnings are shown and exit 0 (unless --fail-on warning).
    With --archives: the newest archive's age, its size and the schedule, from names and times alone.
    With --pgbackrest-stanza, --barman-cloud-url or --neon-project: also the point-in-time window;
    with --database-url and --max-replica-lag: the primary's replicas.

    \b
    Examples:
      pgdrill monitor --store s3://acme-backups/prod --max-age 26h
      pgdrill monitor -e production --format prometheus --output /var/lib/node_exporter/pgdrill.prom
      pgdrill monitor --store ./backups --fail-on warning --slack-webhook-url "$SLACK_WEBHOOK_URL"
    """
    from pgdrill.monitor import run_monitor
    from pgdrill.report.monitor import render_json, render_markdown, render_prometheus, render_text, to_outcome
    from pgdrill.settings import jobs

    s = settings_of(ctx)
    start_job(ctx)
    plan = jobs.monitor(s)
    pattern = jobs.archive_set(s)
    if pattern is not None:
        # The set's names and times alone; --store, when given, holds its drill records.
        from pgdrill.archives import ArchiveSet
        from pgdrill.monitor.archives import run_archive_monitor

        health = run_archive_monitor(ArchiveSet.load(pattern), jobs.store(s, required=False), plan.thresholds)
    else:
        health = run_monitor(plan.store, plan.thresholds, source=plan.source, primary=plan.primary)
    fmt = "json" if as_json else fmt
    if fmt == "json":
        import json

        text = json.dumps(render_json(health), indent=2, ensure_ascii=False)
    elif fmt == "prometheus":
        text = render_prometheus(health, s.database).rstrip("\n")
    elif fmt == "markdown":
        text = render_markdown(health).rstrip("\n")
    else:
        text = render_text(health)
    text = secrets.scrub(text)
    if output_path is not None:
        tmp = output_path.with_name(f".{output_path.name}.tmp")
        try:
            tmp.write_text(text + "\n", encoding="utf-8")
            tmp.replace(output_path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"cannot write --output {output_path}: {exc.strerror or exc}") from None
    else:
        click.echo(text)
    publish_outcome(ctx, to_outcome(health, s.environment))
    failing = health.failing
    if failing:
        raise CheckFailed(f"{len(failing)} alert(s): {', '.join(a.name for a in failing)}",
                          "see the alerts above")
