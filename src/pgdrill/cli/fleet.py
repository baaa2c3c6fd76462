"""matrix: the GitHub Actions matrix of a fleet, one entry per database of pgdrill.yml."""

from __future__ import annotations

import json
import os

import click

from pgdrill import secrets
from pgdrill.cli.base import cli, common, settings_of


@cli.command()
@click.option("--job", type=click.Choice(("backup", "drill", "monitor")), envvar="PGDRILL_JOB",
              help="Only the databases that run this job (an entry's jobs:, all three by default).")
@common(store=False, json=False)
@click.pass_context
def matrix(ctx: click.Context, /, **_: object) -> None:
    """Print the GitHub Actions matrix of pgdrill.yml's databases: {"include": [...]}, one entry each.

    Each entry has database, environment, store, database_url_env (the secret holding its URL) and
    postgres_version (for its drill's scratch server), as strings. Use it with
    strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }} and run each job with --database
    ${{ matrix.database }}. Inside Actions it is also written to the step's `matrix` output.

    \b
    Examples:
      pgdrill matrix
      pgdrill matrix --job drill --environment production
    """
    from pgdrill.fleet.members import matrix as to_matrix
    from pgdrill.report.actions import write_outputs
    from pgdrill.settings import jobs

    doc = to_matrix(jobs.matrix(settings_of(ctx)))
    text = secrets.scrub(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    if os.environ.get("GITHUB_OUTPUT"):
        write_outputs(os.environ["GITHUB_OUTPUT"], {"matrix": text, "databases": str(len(doc["include"]))})
    click.echo(text)
