"""The pgdrill command line. Command modules register on the group in cli.base; ``main`` is the
one place that turns exceptions into exit codes (0 ok, 1 failed check, 2 usage/config, 3 infra)."""

from __future__ import annotations

import sys
import traceback

import click

from pgdrill import secrets

# Importing a command module registers its commands on the group.
from pgdrill.cli import backups, demo, monitor, predeploy, prune, report  # noqa: F401
from pgdrill.cli import drill as _drill_commands  # noqa: F401
from pgdrill.cli.base import EXIT_INFRA, EXIT_USAGE, RUN, cli, publish_failure
from pgdrill.errors import PgdrillError
from pgdrill.pg import install
from pgdrill.report.actions import mask_secrets_early

__all__ = ["cli", "main"]


def _debug(argv: list[str]) -> bool:
    import os

    return "--debug" in argv or os.environ.get("PGDRILL_DEBUG", "") not in ("", "0", "false")


def main(argv: list[str] | None = None) -> int:
    # Inside GitHub Actions every secret must be masked before anything can print it.
    listener = mask_secrets_early()
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    finally:
        if listener is not None:
            secrets.off_register(listener)


def _main(args: list[str]) -> int:
    RUN.reset()
    # Downloading a PostgreSQL build changes the machine: say so on stderr, even with --quiet.
    install.set_progress(lambda msg: click.echo(secrets.scrub(f"pgdrill: {msg}"), err=True))
    try:
        cli.main(args=args, prog_name="pgdrill", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        where = f" (see pgdrill {exc.ctx.info_name if exc.ctx and exc.ctx.parent else ''} --help)".replace("  ", " ")
        click.echo(secrets.scrub(f"pgdrill: error: {exc.format_message()}{where}"), err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        click.echo(secrets.scrub(f"pgdrill: error: {exc.format_message()}"), err=True)
        return EXIT_USAGE
    except click.Abort:
        # click turns SIGINT/SIGTERM (KeyboardInterrupt) inside a command into Abort, after the
        # command's own cleanup ran: report it like the KeyboardInterrupt below.
        click.echo("pgdrill: error: interrupted; partial work was cleaned up — run the command again", err=True)
        publish_failure(KeyboardInterrupt())
        return EXIT_INFRA
    except PgdrillError as exc:
        if _debug(args):
            traceback.print_exc()
        click.echo(secrets.scrub(f"pgdrill: error: {exc.one_line()}"), err=True)
        publish_failure(exc)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        click.echo("pgdrill: error: interrupted; partial work was cleaned up — run the command again", err=True)
        publish_failure(exc)
        return EXIT_INFRA
    except Exception as exc:
        if _debug(args):
            traceback.print_exc()
        publish_failure(exc)
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        click.echo(secrets.scrub(f"pgdrill: error: unexpected {type(exc).__name__}: {msg} "
                                 "(run with --debug for a traceback)"), err=True)
        return EXIT_INFRA


def entry() -> None:
    sys.exit(main())
