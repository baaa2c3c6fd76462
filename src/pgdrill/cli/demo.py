"""demo."""

from __future__ import annotations

from pathlib import Path

import click

from pgdrill.cli.base import cli, emit, json_option, progress_printer
from pgdrill.errors import CheckFailed


@cli.command()
@click.option("--store", "store_dir", default="pgdrill-demo", show_default=True, type=click.Path(path_type=Path),
              help="Local folder for the demo's backups.")
@json_option
@click.pass_context
def demo(ctx: click.Context, /, store_dir: Path, as_json: bool) -> None:
    """Back up, restore and drill a sample database on a throwaway local PostgreSQL."""
    from pgdrill.demo import run_demo
    from pgdrill.report.demo import demo_json, render_text

    result = run_demo(store_dir, progress_printer(ctx))
    emit(as_json, demo_json(result), render_text(result))
    if not result.ok:
        raise CheckFailed("demo restore or drill did not pass")
