"""report: the dashboard (a static site) and the evidence of a period."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pgdrill import secrets
from pgdrill.cli.base import cli, common, progress_printer, settings_of


@cli.command()
@click.option("--html", "html_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write the dashboard, a self-contained static site, into DIR (index.html).")
@click.option("--period", envvar="PGDRILL_PERIOD", metavar="2026-11|2026-Q4",
              help="Evidence of a month or a quarter: drills, targets, retained backups, gaps, a sign-off block.")
@click.option("--format", "fmt", type=click.Choice(("md", "html", "json")), default="md", show_default=True,
              help="Format of the evidence report.")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the evidence report to FILE instead of stdout.")
@common(json=False)
@click.pass_context
def report(ctx: click.Context, /, **_: object) -> None:
    """Draw what the store holds: --html DIR writes the dashboard, --period the evidence for auditors.

    Reads backups, failed attempts and drill records; evaluates them with the monitor thresholds and the
    retention policy of pgdrill.yml. Exit 0 whatever they show (`pgdrill monitor` is the judge)."""
    from pgdrill.overview import run_report, write_output, write_site
    from pgdrill.report import dashboard, evidence
    from pgdrill.settings import jobs

    req = jobs.report(settings_of(ctx))
    result = run_report(req)
    say = progress_printer(ctx)
    if req.html_dir is not None:
        pages = dashboard.render_site(result.views)
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
        text = secrets.scrub(text)
        if req.output is not None:
            write_output(req.output, text)
            if say:
                say(f"evidence for {req.period} written: {req.output}")
        else:
            click.echo(text, nl=False)
