"""The click group, shared options, and the single place that turns outcomes into exit codes."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click
from click.core import ParameterSource

from pgdrill import config as config_mod
from pgdrill import secrets
from pgdrill.config import Config
from pgdrill.errors import ConfigError
from pgdrill.settings import Origin, Settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INFRA = 0, 1, 2, 3


class _Run:
    """The command being run, so main() can still report a job that died with an exception."""

    job: str | None = None
    environment: str | None = None
    published: bool = False
    github: Any = None

    def reset(self) -> None:
        self.job, self.environment, self.published, self.github = None, None, False, None


RUN = _Run()

#: commands whose result is published to GitHub (summary, outputs, post-mortem issues)
PUBLISHED_JOBS = ("backup", "predeploy", "drill", "monitor", "restore", "prune")


class State:
    def __init__(self, debug: bool, quiet: bool, config_path: str | None) -> None:
        self.debug = debug
        self.quiet = quiet
        self.config_path = config_path
        self._config: Config | None = None

    def config(self, explicit: str | None = None) -> Config:
        if self._config is None or explicit:
            self._config = config_mod.load(explicit or self.config_path)
        return self._config


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, envvar="PGDRILL_DEBUG", help="Show tracebacks on errors.")
@click.option("--quiet", "-q", is_flag=True, envvar="PGDRILL_QUIET", help="No progress lines.")
@click.option("--config", "config_path", envvar="PGDRILL_CONFIG", metavar="FILE",
              help="pgdrill.yml to read (default: ./pgdrill.yml when present).")
@click.version_option(package_name="pgdrill")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool, config_path: str | None) -> None:
    """PostgreSQL backups that prove they restore."""
    ctx.obj = State(debug, quiet, config_path)
    RUN.job = ctx.invoked_subcommand
    # SIGTERM (CI cancel, timeout) must run the same cleanup as Ctrl-C.
    signal.signal(signal.SIGTERM, _sigterm)


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def state(ctx: click.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State(False, False, None)
    return root.obj


def settings_of(ctx: click.Context) -> Settings:
    """The command's settings: its parameters (with where each came from) over pgdrill.yml, resolved
    by :class:`~pgdrill.settings.Settings` — the one precedence rule for every command."""
    cached = ctx.meta.get("pgdrill.settings")
    if isinstance(cached, Settings):
        return cached
    values: dict[str, tuple[Any, Origin | None]] = {}
    for name, value in ctx.params.items():
        source = ctx.get_parameter_source(name)
        origin: Origin | None = ("flag" if source is ParameterSource.COMMANDLINE
                                 else "env" if source is ParameterSource.ENVIRONMENT else None)
        values[name] = (value, origin)
    config = state(ctx).config(ctx.params.get("config"))
    result = Settings.from_values(values, config)
    ctx.meta["pgdrill.settings"] = result
    return result


# -- shared options ---------------------------------------------------------------------------
def _opt(*args: Any, **kw: Any) -> Callable[[F], F]:
    return click.option(*args, **kw)


store_option = _opt("--store", envvar="PGDRILL_STORE", metavar="STORE",
                    help="Folder, file:///path or s3://bucket/prefix (env PGDRILL_STORE).")
json_option = _opt("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
environment_option = _opt("--environment", "-e", envvar="PGDRILL_ENVIRONMENT", metavar="NAME",
                          help="Environment block of pgdrill.yml to use (env PGDRILL_ENVIRONMENT).")
config_option = _opt("--config", envvar="PGDRILL_CONFIG", metavar="FILE", help="pgdrill.yml to read.")
identity_option = _opt("--age-identity-file", envvar="PGDRILL_AGE_IDENTITY_FILE", metavar="FILE",
                       help="age identity to decrypt encrypted backups (or PGDRILL_AGE_IDENTITY with the key).")
report_option = _opt("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.md",
                     help="Also write the Markdown report to FILE.md.")
#: for commands that take a backup (backup, predeploy)
dump_options = [
    _opt("--encrypt-to", multiple=True, envvar="PGDRILL_ENCRYPT_TO", metavar="AGE1…",
         help="age recipient public key (repeatable)."),
    _opt("--recipients-file", envvar="PGDRILL_RECIPIENTS_FILE", metavar="FILE",
         help="File of age recipients, one per line."),
    _opt("--compress", envvar="PGDRILL_COMPRESS", metavar="SPEC",
         help="pg_dump --compress value, e.g. 6, 0, zstd:3 (PostgreSQL 16+). Default: zstd with pg_dump 16+, gzip "
              "before."),
]
#: for commands that write objects into the store (backups, drill records)
sse_options = [
    _opt("--sse", envvar="PGDRILL_SSE", type=click.Choice(["AES256", "aws:kms"]),
         help="S3 server-side encryption of what this command writes."),
    _opt("--sse-kms-key-id", envvar="PGDRILL_SSE_KMS_KEY_ID", metavar="KEY", help="KMS key for aws:kms."),
]
#: for commands that write backups
object_lock_option = _opt("--object-lock-days", envvar="PGDRILL_OBJECT_LOCK_DAYS", type=int, metavar="N",
                          help="S3 object-lock (compliance) retention for new backups.")


def apply(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def deco(f: F) -> F:
        for o in reversed(options):
            f = o(f)
        return f

    return deco


def common(*, store: bool = True, writes: Literal["nothing", "records", "backups"] = "nothing",
           json: bool = True) -> Callable[[F], F]:
    """The options every store command shares, in one order: --store, the S3 options for what the
    command writes, --environment, --config and --json."""
    options: list[Callable[[F], F]] = [store_option] if store else []
    if writes != "nothing":
        options += sse_options
    if writes == "backups":
        options.append(object_lock_option)
    options += [environment_option, config_option]
    if json:
        options.append(json_option)
    return apply(options)


# -- output -----------------------------------------------------------------------------------
def progress_printer(ctx: click.Context) -> Callable[[str], None] | None:
    if state(ctx).quiet:
        return None

    def say(msg: str) -> None:
        click.echo(secrets.scrub(f"pgdrill: {msg}"), err=True)

    return say


def warn(msg: str) -> None:
    click.echo(secrets.scrub(f"pgdrill: warning: {msg}"), err=True)


def emit(as_json: bool, doc: Any, text: str) -> None:
    if as_json:
        click.echo(secrets.scrub(json.dumps(doc, indent=2, default=str, ensure_ascii=False)))
    else:
        click.echo(secrets.scrub(text))


def write_report(path: Path | None, markdown: str) -> None:
    """``--report FILE.md``: the Markdown report, written where the user asked."""
    if path is None:
        return
    try:
        path.write_text(secrets.scrub(markdown), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write --report {path}: {exc.strerror or exc}") from None


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def github_settings(ctx: click.Context) -> Any:
    """The ``github:`` section for this run; read early so a bad section fails before the job runs."""
    from pgdrill.report.github import GitHubSettings

    s = settings_of(ctx)
    RUN.environment = s.environment
    RUN.github = s.section("github", GitHubSettings)
    return RUN.github


def publish_outcome(ctx: click.Context, outcome: Any) -> None:
    """Hand a job's Outcome to the GitHub publisher (a no-op outside GitHub Actions)."""
    from pgdrill.report.github import publish

    RUN.published = True
    result = publish(outcome, github_settings(ctx))
    for w in result.warnings:
        warn(w)


def publish_failure(exc: BaseException) -> None:
    """A job that raised still reports: summary, outputs (passed=false) and the post-mortem issue."""
    if RUN.published or RUN.job not in PUBLISHED_JOBS:
        return
    from pgdrill.report.github import publish
    from pgdrill.report.outcome import Outcome

    RUN.published = True
    error: BaseException | str = exc if not isinstance(exc, KeyboardInterrupt) else "interrupted"
    outcome = Outcome.from_error(str(RUN.job), error, environment=RUN.environment)
    result = publish(outcome, RUN.github)
    for w in result.warnings:
        warn(w)
