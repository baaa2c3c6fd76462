"""The pgdrill command line. Command modules register on the group in cli.base; ``main`` is the
one place that turns exceptions into exit codes (0 ok, 1 failed check, 2 usage/config, 3 infra)."""

from __future__ import annotations

import sys
import traceback
from typing import NoReturn

import click

from pgdrill import secrets

# Command modules are imported by the group when their command runs (cli.base.COMMANDS).
from pgdrill.cli.base import EXIT_INFRA, EXIT_USAGE, RUN, cli, publish_failure
from pgdrill.errors import PgdrillError
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
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """End the process once the command's work and output are done, without Python's own teardown:
    freeing every loaded module (psycopg, pydantic, boto3) costs ~0.1 s that every command and every
    action step would pay (bench/startup.py). atexit handlers still run and both streams are flushed
    first; no thread of a finished command is still working."""
    import atexit
    import contextlib
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said
            stream.flush()
    os._exit(code)
