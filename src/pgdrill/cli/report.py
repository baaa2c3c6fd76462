"""report: the dashboard (a static site) and the evidence of a period."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pgdrill import secrets
from pgdrill.cli.base import cli, common, progress_printer, settings_of, warn
from pgdrill.errors import StoreError

if TYPE_CHECKING:
    from pgdrill.fleet.status import DatabaseStatus


@cli.command()
@click.option("--html", "html_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write the dashboard, a self-contained static site, into DIR (index.html).")
@click.option("--period", envvar="PGDRILL_PERIOD", metavar="2026-11|2026-Q4",
              help="Evidence of a month or a quarter: drills, targets, retained backups, gaps, a sign-off block.")
@click.option("--format", "fmt", type=click.Choice(("md", "html", "json", "prometheus")), default="md",
              envvar="PGDRILL_FORMAT", show_default=True,
              help="Format of the evidence report (md, html, json) or of the status table (md, json, prometheus).")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the evidence report or the status table to FILE instead of stdout.")
@click.option("--fleet", is_flag=True, envvar="PGDRILL_FLEET",
              help="Every database of pgdrill.yml's databases: (of --environment when given), each from its own store.")
@common(json=False)
@click.pass_context
def report(ctx: click.Context, /, **_: object) -> None:
    """Draw what the stores hold: the status table, the dashboard (--html DIR), the evidence (--period).

    Reads backups, failed attempts and drill records; evaluates them with the monitor thresholds and the
    retention policy of pgdrill.yml. Without --html or --period, prints one row per database: the last
    backup's age and size, the last drill's verdict with RTO and RPO against their targets, open alerts.
    With --fleet a store that cannot be read is a row of its own. Exit 0 whatever they show
    (`pgdrill monitor` is the judge).

    \b
    Examples:
      pgdrill report --store s3://acme-backups/prod --html site/
      pgdrill report --fleet >> "$GITHUB_STEP_SUMMARY"
      pgdrill report --fleet --format prometheus --output /var/lib/node_exporter/pgdrill.prom
      pgdrill report --fleet --html site/
      pgdrill report -e production --period 2026-Q4 --format html --output evidence-2026-Q4.html
    """
    from pgdrill.overview import run_report, write_site
    from pgdrill.report import dashboard, evidence
    from pgdrill.settings import jobs

    req = jobs.report(settings_of(ctx))
    say = progress_printer(ctx)
    result = run_report(req, say)
    for st in result.statuses:
        if st.error:
            warn(f"{st.name}: store unreadable: {st.error}")
    if req.status:
        from pgdrill.report import fleet

        assert result.read_at is not None
        if req.fmt == "json":
            text = json.dumps(fleet.render_json(result.statuses, result.read_at), indent=2, ensure_ascii=False) + "\n"
        elif req.fmt == "prometheus":
            text = fleet.render_prometheus(result.statuses)
        else:
            text = fleet.render_markdown(result.statuses, result.read_at)
        _deliver(text, req.output, say, f"status of {len(result.statuses)} database(s)")
        _publish_status(result.statuses, result.read_at)
        return
    if req.html_dir is not None:
        if not result.views:
            raise StoreError("no store could be read: nothing to draw", "see the warnings above")
        pages = dashboard.render_site(result.views, [st for st in result.statuses if st.view is None])
        written = write_site(req.html_dir, {name: secrets.scrub(page) for name, page in pages.items()})
        if say:
            say(f"dashboard written: {written[-1] if len(written) == 1 else req.html_dir / 'index.html'}"
                f" ({len(written)} page(s))")
    if result.evidence:
        if req.fmt == "json":
            text = json.dumps(evidence.render_json(result.evidence), indent=2, ensure_ascii=False) + "\n"
        elif req.fmt == "html":
            text = evidence.render_html(result.evidence)
        else:
            text = evidence.render_markdown(result.evidence)
        _deliver(text, req.output, say, f"evidence for {req.period}")


def _deliver(text: str, output: Path | None, say: Callable[[str], None] | None, what: str) -> None:
    """A report to ``--output FILE`` (atomically, and said) or to stdout; scrubbed either way."""
    from pgdrill.overview import write_output

    text = secrets.scrub(text)
    if output is None:
        click.echo(text, nl=False)
        return
    write_output(output, text)
    if say:
        say(f"{what} written: {output}")


def _publish_status(statuses: list[DatabaseStatus], at: datetime) -> None:
    """Inside Actions the status table is the job summary, and the step outputs say which databases
    fail (a fleet's summary job passes them on to whatever follows)."""
    from pgdrill.report import actions, fleet

    if not actions.in_actions(os.environ):
        return
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        actions.append_summary(os.environ["GITHUB_STEP_SUMMARY"], fleet.render_markdown(statuses, at))
    if os.environ.get("GITHUB_OUTPUT"):
        doc = fleet.render_json(statuses, at)
        failing = [st.name for st in statuses if st.verdict in ("failed", "unreadable")]
        actions.write_outputs(os.environ["GITHUB_OUTPUT"], {
            "databases": str(len(statuses)), "failing": ",".join(failing),
            "status-json": json.dumps(doc, separators=(",", ":"), ensure_ascii=False)})
