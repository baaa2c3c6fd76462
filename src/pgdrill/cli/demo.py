"""demo."""

from __future__ import annotations

from pathlib import Path

import click

from pgdrill.cli.base import cli, emit, json_option, progress_printer
from pgdrill.demo import render_text, run_demo
from pgdrill.errors import CheckFailed
from pgdrill.report.drill import drill_json


@cli.command()
@click.option("--store", "store_dir", default="pgdrill-demo", show_default=True, type=click.Path(path_type=Path),
              help="Local folder for the demo's backups.")
@json_option
@click.pass_context
def demo(ctx: click.Context, /, store_dir: Path, as_json: bool) -> None:
    """Back up, restore and drill a sample database on a throwaway local PostgreSQL."""
    result = run_demo(store_dir, progress_printer(ctx))
    doc = {
        "ok": result.ok, "store": result.store, "backup": result.manifest.summary(),
        "restored_counts": result.restored_counts, "seconds": result.seconds,
        "drill": drill_json(result.drill) if result.drill else None,
    }
    emit(as_json, doc, render_text(result))
    if not result.ok:
        raise CheckFailed("demo restore or drill did not pass")
