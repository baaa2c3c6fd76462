"""The click group, shared options, and the single place that turns outcomes into exit codes."""

from __future__ import annotations

import importlib
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click
from click.core import ParameterSource

from pgdrill import __version__, secrets
from pgdrill.errors import ConfigError

if TYPE_CHECKING:
    from pgdrill.config import Config
    from pgdrill.settings import Origin, Settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INFRA = 0, 1, 2, 3


class _Run:
    """The command being run, so main() can still report a job that died with an exception."""

    job: str | None = None
    environment: str | None = None
    published: bool = False
    github: Any = None
    store: str | None = None
    database: str | None = None  # the databases: entry the command runs for
    notifier: Any = None  # pgdrill.report.notify.send.Notifier, when a notification URL is set

    def reset(self) -> None:
        self.job, self.environment, self.published, self.github = None, None, False, None
        self.store, self.notifier, self.database = None, None, None


RUN = _Run()

#: commands whose result is published to GitHub (summary, outputs, post-mortem issues)
PUBLISHED_JOBS = ("backup", "predeploy", "drill", "monitor", "restore", "prune", "check")


class State:
    def __init__(self, debug: bool, quiet: bool, config_path: str | None) -> None:
        self.debug = debug
        self.quiet = quiet
        self.config_path = config_path
        self._config: Config | None = None

    def config(self, explicit: str | None = None) -> Config:
        if self._config is None or explicit:
            from pgdrill import config as config_mod

            self._config = config_mod.load(explicit or self.config_path)
        return self._config


#: command name → the module that defines it. Modules are imported only when their command runs (or
#: for --help), so `pgdrill --version` and each command pay only for what they use (bench/startup.py).
COMMANDS = {
    "backup": "pgdrill.cli.backups", "list": "pgdrill.cli.backups", "verify": "pgdrill.cli.backups",
    "restore": "pgdrill.cli.backups", "drill": "pgdrill.cli.drill", "drills": "pgdrill.cli.drill",
    "predeploy": "pgdrill.cli.predeploy", "monitor": "pgdrill.cli.monitor", "prune": "pgdrill.cli.prune",
    "report": "pgdrill.cli.report", "check": "pgdrill.cli.check", "matrix": "pgdrill.cli.fleet",
    "demo": "pgdrill.cli.demo",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (see COMMANDS)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loaded: dict[str, click.Command] = {}
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        """Every command (imports them all: for callers that want the full set)."""
        for name in COMMANDS:
            self._load(name)
        return self._loaded

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._loaded = dict(value)

    def _load(self, name: str) -> click.Command | None:
        if name not in self._loaded and name in COMMANDS:
            importlib.import_module(COMMANDS[name])  # the module registers its commands on this group
        return self._loaded.get(name)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        name = name or cmd.name
        if name is None:
            raise TypeError("Command has no name.")
        self._loaded[name] = cmd

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(dict.fromkeys([*COMMANDS, *self._loaded]))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, envvar="PGDRILL_DEBUG", help="Show tracebacks on errors.")
@click.option("--quiet", "-q", is_flag=True, envvar="PGDRILL_QUIET", help="No progress lines.")
@click.option("--config", "config_path", envvar="PGDRILL_CONFIG", metavar="FILE",
              help="pgdrill.yml to read (default: ./pgdrill.yml when present).")
@click.version_option(__version__, prog_name="pgdrill")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool, config_path: str | None) -> None:
    """PostgreSQL backups that prove they restore."""
    from pgdrill import pg

    ctx.obj = State(debug, quiet, config_path)
    RUN.job = ctx.invoked_subcommand
    # Downloading a PostgreSQL build changes the machine: say so on stderr, even with --quiet.
    pg.install_progress = lambda msg: click.echo(secrets.scrub(f"pgdrill: {msg}"), err=True)
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
    from pgdrill.settings import Settings

    cached = ctx.meta.get("pgdrill.settings")
    if isinstance(cached, Settings):
        return cached
    config = state(ctx).config(ctx.params.get("config"))
    return settings_for(ctx, config)


def settings_for(ctx: click.Context, config: Config, *, environment: bool = True) -> Settings:
    """The command's parameters over ``config`` (``environment=False``: ignore --environment and
    --database, for `check` to go on when pgdrill.yml does not define them)."""
    from pgdrill.settings import Settings

    values: dict[str, tuple[Any, Origin | None]] = {}
    for name, value in ctx.params.items():
        if name in ("environment", "database") and not environment:
            continue
        source = ctx.get_parameter_source(name)
        origin: Origin | None = ("flag" if source is ParameterSource.COMMANDLINE
                                 else "env" if source is ParameterSource.ENVIRONMENT else None)
        values[name] = (value, origin)
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
database_option = _opt("--database", envvar="PGDRILL_DATABASE", metavar="NAME",
                       help="Entry of pgdrill.yml's databases: to take settings from (env PGDRILL_DATABASE).")
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
#: for the commands whose end is notified (backup, drill, monitor)
notify_options = [
    _opt("--slack-webhook-url", envvar="PGDRILL_SLACK_WEBHOOK_URL", metavar="URL",
         help="Slack incoming webhook: a message on failure and on recovery (env PGDRILL_SLACK_WEBHOOK_URL)."),
    _opt("--webhook-url", envvar="PGDRILL_WEBHOOK_URL", metavar="URL",
         help="POST a JSON document on failure and on recovery: job, verdict, store, ids, error, run URL."),
    _opt("--ping-url", envvar="PGDRILL_PING_URL", metavar="URL",
         help="healthchecks.io-style ping: URL/start at the start, URL on success, URL/fail on failure."),
    _opt("--notify-success", is_flag=True, envvar="PGDRILL_NOTIFY_SUCCESS",
         help="Also message Slack and the webhook when the job passes."),
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
    options += [database_option, environment_option, config_option]
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
    """The ``github:`` section for this run; read early so a bad section fails before the job runs.
    Outside Actions, and without such a section, it is not needed (and its model is not loaded)."""
    import os

    from pgdrill.report.actions import in_actions

    s = settings_of(ctx)
    RUN.environment = s.environment
    RUN.store = s.text("store")
    RUN.database = s.database
    if in_actions(os.environ) or s.raw_section("github") is not None:
        from pgdrill.report.github.settings import GitHubSettings

        RUN.github = s.section("github", GitHubSettings)
    return RUN.github


def start_job(ctx: click.Context) -> None:
    """Before the job runs: read the publishers' settings (a bad ``github:`` or ``notify:`` fails now,
    not after the backup), learn the job's previous verdict from its store (for "recovered"
    notifications) and send the start ping. Only loads the notification code when a URL is set."""
    github_settings(ctx)
    if RUN.job is None:
        return
    from pgdrill.settings import jobs

    s = settings_of(ctx)
    notify = jobs.notify(s)
    if notify is None or RUN.job not in notify.jobs:
        return
    from pgdrill.report.notify.previous import previous_verdict
    from pgdrill.report.notify.send import Notifier

    RUN.notifier = Notifier(notify, RUN.job)
    RUN.notifier.previous = previous_verdict(RUN.job, jobs.store(s, required=False))
    RUN.notifier.start()
    for w in RUN.notifier.warnings:
        warn(w)
    RUN.notifier.warnings.clear()


def _publish(outcome: Any) -> None:
    """Every publisher, in order: GitHub (summary, outputs, issue; only inside Actions), then the
    notifiers, which learn from the issue whether this pass is a recovery. Never raises."""
    import os
    from dataclasses import replace

    from pgdrill.report.actions import in_actions

    RUN.published = True
    if outcome.store is None and RUN.store:
        outcome = replace(outcome, store=RUN.store)
    if outcome.database is None and RUN.database:
        outcome = replace(outcome, database=RUN.database)
    closed = False
    if in_actions(os.environ):
        from pgdrill.report.github import publish

        result = publish(outcome, RUN.github)
        closed = result.issue is not None and result.issue.action == "closed"
        for w in result.warnings:
            warn(w)
    if RUN.notifier is not None:
        for w in RUN.notifier.finish(outcome, issue_closed=closed):
            warn(w)


def publish_outcome(ctx: click.Context, outcome: Any) -> None:
    """Hand a job's Outcome to the publishers."""
    if RUN.environment is None and RUN.store is None:
        github_settings(ctx)
    _publish(outcome)


def publish_failure(exc: BaseException) -> None:
    """A job that raised still reports: summary, outputs (passed=false), the post-mortem issue and the
    failure notifications."""
    if RUN.published or RUN.job not in PUBLISHED_JOBS:
        return
    from pgdrill.report.outcome import Outcome

    error: BaseException | str = exc if not isinstance(exc, KeyboardInterrupt) else "interrupted"
    _publish(Outcome.from_error(str(RUN.job), error, environment=RUN.environment))
