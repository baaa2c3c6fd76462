"""One resolve step per job: :class:`~pgdrill.settings.Settings` in, that job's request out.

Each function reads only through ``Settings`` (one precedence for every command), applies the job's
rules about which settings go together, and returns a request the job can run — or raises a
:class:`~pgdrill.errors.ConfigError` (exit 2) naming what to fix. Nothing here knows about click.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pgdrill import secrets
from pgdrill.errors import ConfigError, PgdrillError
from pgdrill.settings import Settings, flag_name
from pgdrill.store import S3Options, Store, open_store

if TYPE_CHECKING:
    from pgdrill.archives.commands import ArchiveRestoreRequest
    from pgdrill.backup import BackupRequest
    from pgdrill.checks import ChecksConfig
    from pgdrill.drill import DrillRequest
    from pgdrill.fleet.members import Member
    from pgdrill.monitor import Thresholds
    from pgdrill.overview import ReportRequest, ReportTarget
    from pgdrill.pg.conn import DatabaseUrl
    from pgdrill.predeploy import PredeployRequest
    from pgdrill.preflight import PreflightRequest
    from pgdrill.promote import PromoteRequest
    from pgdrill.providers.neon import NeonProvider
    from pgdrill.prune import PruneRequest
    from pgdrill.report.notify.settings import NotifySettings
    from pgdrill.restore import RestoreRequest
    from pgdrill.sources import Source
    from pgdrill.table_restore import TableRestoreRequest

DEFAULT_MAX_AGE = "26h"
T = TypeVar("T")


# -- shared pieces ----------------------------------------------------------------------------
def store(s: Settings, *, required: bool = True) -> Store | None:
    url = s.require("store") if required else s.text("store")
    if not url:
        return None
    options = S3Options(sse=s.text("sse"), sse_kms_key_id=s.text("sse_kms_key_id"),
                        object_lock_days=s.get("object_lock_days"))
    return open_store(str(url), options)


def identities(s: Settings) -> tuple[secrets.Secret, ...]:
    """age identities to read encrypted backups: ``age_identity_file``, or the key itself in
    PGDRILL_AGE_IDENTITY (a CI secret)."""
    path = s.text("age_identity_file")
    inline = s.env.get("PGDRILL_AGE_IDENTITY")
    if not path and not inline:
        return ()
    from pgdrill import crypto

    return tuple(crypto.load_identities(path or inline or ""))


def recipients(s: Settings) -> tuple[str, ...]:
    given = tuple(s.get("encrypt_to", ()) or ())
    rfile = s.text("recipients_file")
    if not given and not rfile:
        return ()
    from pgdrill import crypto

    return tuple(crypto.parse_recipients(list(given), rfile))


def checks(s: Settings) -> ChecksConfig:
    from pgdrill.checks import ChecksConfig

    return s.section("checks", ChecksConfig)


def workdir(s: Settings) -> Path | None:
    """Smoke commands run where pgdrill.yml is."""
    return s.config.path.parent.absolute() if s.config.path else None


# -- backup, restore --------------------------------------------------------------------------
def backup(s: Settings) -> BackupRequest:
    from pgdrill.backup import BackupRequest

    url = s.url("database_url", required=True)
    assert url is not None
    target = store(s)
    assert target is not None
    from pgdrill.pg.scope import Scope

    scope = Scope(*(tuple(s.get(name, ()) or ()) for name in (
        "schema", "table", "exclude_schema", "exclude_table", "exclude_table_data")))
    return BackupRequest(database_url=url, store=target, tags=tuple(s.get("tags", ()) or ()),
                         environment=s.environment, encrypt_to=recipients(s), compress=s.text("compress"),
                         scope=scope)


def restore(s: Settings) -> RestoreRequest:
    from pgdrill.restore import RestoreRequest

    target = s.url("target_url", required=True)
    assert target is not None
    jobs = int(s.get("jobs", 1) or 1)
    src = store(s)
    assert src is not None
    return RestoreRequest(
        store=src, backup=str(s.get("backup_id", "latest") or "latest"), target_url=target,
        clean=bool(s.get("clean")), confirm=s.text("confirm"), tables=tuple(s.get("tables", ()) or ()),
        data_only=bool(s.get("data_only")), identities=identities(s),
        # --keep-owners is accepted and ignored: owners and grants are restored by default now
        no_owner=bool(s.get("no_owner")), no_privileges=bool(s.get("no_privileges")),
        create_roles=bool(s.get("create_roles")),
        # A parallel restore checks the archive itself before pg_restore starts: no read-through.
        verify_first=not s.get("no_verify") and jobs == 1, atomic=jobs == 1, jobs=jobs,
    )


def point_in_time_restore(s: Settings) -> bool:
    """``restore`` copies rows from a point-in-time source when a setting given now selects one."""
    from pgdrill.sources.registry import selected

    kind = selected(s)
    return kind is not None and kind.point_in_time


def archive_set(s: Settings) -> str | None:
    """The archive-set pattern a command works on (``--archives``, or ``archives:`` in pgdrill.yml,
    which then wins over ``store:``: that store keeps the drill records), else None."""
    if not s.get("archives"):
        return None  # decided without loading the sources (a plain `list` stays light)
    from pgdrill.sources.registry import kind_for

    if kind_for(s).name != "archives":
        return None
    return str(s.require("archives"))


def archive_restore(s: Settings) -> ArchiveRestoreRequest:
    """``restore ID --archives PATTERN --target-url URL``: the whole archive into one database."""
    from pgdrill.archives.commands import ArchiveRestoreRequest

    if s.get("tables") or s.get("data_only"):
        raise ConfigError("--table and --data-only do not apply to --archives",
                          "restore the whole archive into an empty database, then copy the rows you need")
    require_one_of(s, {"create_roles": "--create-roles", "no_owner": "--no-owner", "no_privileges": "--no-privileges"},
                   "--archives (a dump made by another tool lists no roles; --keep-owners keeps its owners)")
    target = s.url("target_url", required=True)
    assert target is not None
    n = int(s.get("jobs", 1) or 1)
    return ArchiveRestoreRequest(
        pattern=str(s.require("archives")), archive=str(s.get("backup_id", "latest") or "latest"), target_url=target,
        clean=bool(s.get("clean")), confirm=s.text("confirm"), keep_owners=bool(s.get("keep_owners")),
        verify_first=not s.get("no_verify"), jobs=n)


def table_restore(s: Settings) -> tuple[Source, TableRestoreRequest]:
    from pgdrill.sources.registry import source_for
    from pgdrill.table_restore import TableRestoreRequest

    if s.get("backup_id") not in (None, "", "latest"):
        raise ConfigError("give a backup id or a point-in-time source (--neon-project/--at), not both")
    tables = tuple(s.get("tables", ()) or ())
    if not tables:
        raise ConfigError("a point-in-time restore copies rows of the tables named with --table")
    if not s.get("data_only"):
        raise ConfigError("a point-in-time restore copies rows only: add --data-only")
    target = s.url("target_url", required=True)
    assert target is not None
    source = source_for(s, "restore")
    return source, TableRestoreRequest(tables=tables, target_url=target, confirm=s.text("confirm"),
                                       missing_only=bool(s.get("missing_only")))


def promote(s: Settings) -> tuple[NeonProvider, PromoteRequest]:
    """``restore --neon-project P --at T --promote --confirm <default branch>``."""
    from pgdrill.promote import PromoteRequest
    from pgdrill.providers.neon import NeonClient, NeonProvider, NeonSettings
    from pgdrill.sources.instants import parse_at
    from pgdrill.sources.registry import selected

    kind = selected(s)
    if kind is None or kind.name != "neon":
        raise ConfigError("--promote makes a Neon branch the project's default: it needs --neon-project")
    for name in ("tables", "data_only", "missing_only", "clean"):
        if s.given_now(name):
            raise ConfigError(f"--promote restores the whole database: {flag_name(name)} does not apply")
    at = parse_at(s.text("at"))
    if at is None:
        raise ConfigError("--promote needs --at: the instant to recover the project's default branch to")
    neon = s.section("neon", NeonSettings)
    provider = NeonProvider(NeonClient(api_host=neon.api_host), str(s.require("neon_project")),
                            branch=s.text("neon_branch"), database=s.text("neon_database") or neon.database,
                            role=s.text("neon_role") or neon.role, failed_grace=neon.failed_grace)
    return provider, PromoteRequest(at=at, confirm=s.text("confirm"), ready_timeout=neon.ready_timeout)


# -- drill --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DrillPlan:
    """A drill ready to run: its source and its request."""

    source: Source
    request: DrillRequest


def drill(s: Settings) -> DrillPlan:
    from pgdrill.drill import DrillRequest, DrillSettings
    from pgdrill.sources.registry import source_for

    settings = s.section("drill", DrillSettings)
    source = source_for(s, "drill")
    records = store(s, required=False)
    req = DrillRequest(
        checks=checks(s), settings=settings, rto_target=s.duration("rto_target"), rpo_target=s.duration("rpo_target"),
        environment=s.environment, records=records, keep=bool(s.get("keep")), cwd=workdir(s),
    )
    return DrillPlan(source, req)


def drill_plans(s: Settings) -> list[DrillPlan]:
    """The drill's plan, or — when ``--backup`` names an ``--all-databases`` run — one plan per
    database of that run (each restored into its own scratch database, each its own record)."""
    from dataclasses import replace

    from pgdrill.catalog import load as load_catalog
    from pgdrill.sources.backup import StoredBackupSource

    plan = drill(s)
    src = plan.source
    if not isinstance(src, StoredBackupSource) or src.store is None or src.backup in ("", "latest"):
        return [plan]
    cat = load_catalog(src.store)
    if not cat.is_run(src.backup):
        return [plan]
    return [DrillPlan(replace(src, backup=m.id, manifest=m), plan.request) for m in cat.run(src.backup)]


# -- prune ----------------------------------------------------------------------------------------
def max_age(s: Settings) -> timedelta | None:
    """--max-age > PGDRILL_MAX_AGE > pgdrill.yml max_age > 26h; 'off' disables the age refusal."""
    value = s.get("max_age", DEFAULT_MAX_AGE)
    if _off(value) or str(value).strip() == "0":
        return None
    seconds = s.duration("max_age", DEFAULT_MAX_AGE)
    return timedelta(seconds=seconds) if seconds else None


def require_one_of(s: Settings, names: dict[str, str], why: str) -> None:
    for name, flag in names.items():
        if s.given_now(name):
            raise ConfigError(f"{flag} does not apply to {why}")


# -- predeploy ----------------------------------------------------------------------------------
def predeploy(s: Settings) -> PredeployRequest:
    from pgdrill.predeploy import PredeployRequest, PredeploySettings

    url = s.url("database_url", required=True)
    assert url is not None
    target = store(s)
    assert target is not None
    rehearse = bool(s.get("rehearse"))
    return PredeployRequest(
        database_url=url, store=target, release_check=s.text("release_check"), rehearse=rehearse,
        scratch_url=s.url("scratch_url") if rehearse else None,
        migrate_command=s.text("migrate_command") if rehearse else None,
        settings=s.section("predeploy", PredeploySettings), tags=tuple(s.get("extra_tags", ()) or ()),
        environment=s.environment, encrypt_to=recipients(s), identities=identities(s), compress=s.text("compress"),
    )


# -- prune ----------------------------------------------------------------------------------------
def prune(s: Settings) -> PruneRequest:
    from pgdrill.prune import PruneRequest
    from pgdrill.retention import Policy, parse_tag_rule, policy_from_options

    base = s.section("retention", Policy)
    policy = policy_from_options(
        base, **{k: s.given.get(k) for k in ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly",
                                            "keep_yearly", "keep_within")},
        keep_tags=[parse_tag_rule(t) for t in s.given.get("keep_tags", ())],
    )
    target = store(s)
    assert target is not None
    return PruneRequest(target, policy, max_age=max_age(s), force=bool(s.get("force")), dry_run=bool(s.get("dry_run")))


# -- monitor ----------------------------------------------------------------------------------------
def thresholds(s: Settings) -> Thresholds:
    """Flags > the `monitor:` section > the top-level `max_age` (shared with prune) > defaults. Every
    value given as a flag, a variable or a top-level key is read through Settings, so its error names
    where it came from."""
    from pgdrill.monitor import Thresholds, parse_fraction, thresholds_from_options

    base = s.section("monitor", Thresholds)
    overrides: dict[str, object] = {}
    if "max_age" not in base.model_fields_set and s.in_file("max_age") and not _off(s.file_value("max_age")):
        overrides["max_age"] = s.duration("max_age")  # 'off' only turns off prune's refusal
    for name in ("max_age", "schedule", "max_wal_age", "min_pitr_window", "max_replica_lag"):
        if s.given_now(name):
            overrides[name] = s.duration(name)
    if s.given_now("max_drill_age"):
        if _off(s.given["max_drill_age"]):
            base = base.model_copy(update={"max_drill_age": None})
        else:
            overrides["max_drill_age"] = s.duration("max_drill_age")
    for name in ("size_deviation", "row_drop"):
        if s.given_now(name):
            overrides[name] = parse_fraction(str(s.given[name]), s.where(name))
    if s.given_now("fail_on"):
        overrides["fail_on"] = s.given["fail_on"]
    return thresholds_from_options(base, **overrides)


def _off(value: object) -> bool:
    return value is False or str(value).strip().lower() in ("off", "none")  # YAML reads a bare off as false


# -- notifications --------------------------------------------------------------------------------
def notify(s: Settings) -> NotifySettings | None:
    """--slack-webhook-url/--webhook-url/--ping-url (or PGDRILL_*) over the `notify:` section; None when
    no URL is set at all (no notification code is loaded then)."""
    keys = ("slack_webhook_url", "webhook_url", "ping_url")  # report.notify.settings.URL_KEYS, not loaded yet
    given = {k: s.given[k] for k in keys if s.given_now(k)}
    if not given and not s.raw_section("notify"):
        return None
    from pgdrill.report.notify.settings import URL_KEYS, NotifySettings, check_url

    assert set(URL_KEYS) == set(keys)
    base = s.section("notify", NotifySettings)
    update: dict[str, object] = {}
    for key, value in given.items():
        try:
            update[key] = check_url(str(value), s.where(key))
        except ValueError as exc:
            raise ConfigError(str(exc), "use the https:// URL the service gave you") from None
    if s.given_now("notify_success"):
        update["on_success"] = True
    settings = base.model_copy(update=update)
    return settings if settings.any else None


# -- check ------------------------------------------------------------------------------------------
def preflight(s: Settings, problems: Sequence[ConfigError] = ()) -> PreflightRequest:
    """What `pgdrill check` looks at. Nothing here raises for a bad value: it becomes that item's
    failure, so one run lists every problem."""
    from pgdrill.config import SECTION_MODELS
    from pgdrill.preflight import PreflightRequest
    from pgdrill.report.actions import in_actions

    def attempt(read: Callable[[], T]) -> T | PgdrillError:
        try:
            return read()
        except PgdrillError as exc:
            return exc

    github: object | None = None
    if in_actions(s.env) and not problems:
        from pgdrill.report.github.settings import GitHubSettings

        found = attempt(lambda: s.section("github", GitHubSettings))
        github = found if not isinstance(found, PgdrillError) else None
    sections = [n for n in SECTION_MODELS if s.raw_section(n) is not None]
    return PreflightRequest(
        config_path=s.config.path, config_problems=tuple(problems), sections=sections,
        database_url=attempt(lambda: _url_named(s, "database_url")), store=attempt(lambda: store(s, required=False)),
        scratch_url=attempt(lambda: _url_named(s, "scratch_url")), recipients=attempt(lambda: recipients(s)),
        identities=attempt(lambda: identities(s)), github=github, env=s.env,
    )


def _url_named(s: Settings, name: str) -> DatabaseUrl | None:
    """A URL that may be absent — unless pgdrill.yml names the variable holding it (a database
    entry's ``database_url_env``) and that variable is not set: then it is missing, and said so."""
    found = s.from_file(name)
    return s.url(name, required=found is not None and found.variable is not None)


@dataclass(frozen=True)
class MonitorPlan:
    """What monitor watches: the store's backups, a point-in-time source's window, a primary's replicas."""

    store: Store | None
    thresholds: Thresholds
    source: Source | None = None
    primary: DatabaseUrl | None = None


def monitor(s: Settings) -> MonitorPlan:
    """The store when one is configured; the point-in-time source selected now (or the one pgdrill.yml
    configures); replicas when --database-url comes with a replica-lag threshold. At least one."""
    from pgdrill.sources.registry import pitr_kind

    limits = thresholds(s)
    archives = archive_set(s) is not None  # an archive set is watched on its own (cli/monitor.py)
    kind = None if archives else pitr_kind(s)
    source = kind.build(s, "monitor") if kind is not None else None
    primary = s.url("database_url") if limits.max_replica_lag is not None else None
    if s.origins.get("database_url") == "flag" and limits.max_replica_lag is None:
        raise ConfigError("--database-url on monitor watches replicas: add --max-replica-lag, e.g. 5m")
    if s.given_now("max_replica_lag") and primary is None:
        raise ConfigError("--max-replica-lag needs --database-url: the primary whose replicas to watch")
    target = None if archives else store(s, required=source is None and primary is None)
    return MonitorPlan(target, limits, source, primary)


# -- report -----------------------------------------------------------------------------------------
EVIDENCE_FORMATS = ("md", "html", "json")
STATUS_FORMATS = ("md", "json", "prometheus")


def report(s: Settings) -> ReportRequest:
    """``--html DIR`` (the dashboard) and/or ``--period P`` (the evidence, in ``--format``), else the
    status table (in ``--format``), of the store or, with ``--fleet``, of every database of pgdrill.yml;
    retention policies and monitor thresholds come from pgdrill.yml as for prune and monitor."""
    from pgdrill.evidence import parse_period
    from pgdrill.overview import ReportRequest

    html_dir, period = s.get("html_dir"), s.text("period")
    status = not html_dir and not period
    fmt = s.text("fmt", "md") or "md"
    if s.given_now("fmt"):
        if not period and not status:
            raise ConfigError("--format applies to the evidence report (add --period 2026-11|2026-Q4) or to the "
                              "status table (without --html)")
        allowed, what = (EVIDENCE_FORMATS, "the evidence report") if period else (STATUS_FORMATS, "the status table")
        if fmt not in allowed:
            raise ConfigError(f"--format {fmt} is not a format of {what}", f"use one of: {', '.join(allowed)}")
    if s.given_now("output_path") and not period and not status:
        raise ConfigError("--output applies to the evidence report: add --period (the dashboard goes to --html DIR)")
    if period:
        parse_period(period, s.where("period"))  # a bad period fails before the store is read
    fleet = bool(s.get("fleet"))
    members = [s] if not fleet else fleet_settings(s)
    return ReportRequest(databases=tuple(report_target(m) for m in members),
                         html_dir=Path(html_dir) if html_dir else None, period=period, fmt=fmt,
                         output=s.get("output_path"), fleet=fleet)


def report_target(s: Settings) -> ReportTarget:
    from pgdrill.overview import ReportTarget
    from pgdrill.retention import Policy

    target = store(s)
    assert target is not None
    return ReportTarget(s.database, target, s.section("retention", Policy),
                        thresholds(s), s.environment)


# -- fleets -----------------------------------------------------------------------------------------
def fleet_settings(s: Settings) -> list[Settings]:
    """The settings of every database of pgdrill.yml (of ``--environment`` when given), each as a
    command run with ``--database NAME`` would read them; flags given now apply to all of them."""
    from dataclasses import replace

    from pgdrill.fleet.members import require_members

    for name in ("store", "database"):
        if s.given_now(name):
            raise ConfigError(f"--fleet reads every database's own store from pgdrill.yml: drop {flag_name(name)}",
                              "or report on one database with --database NAME")
    environment = s.text("environment") if s.given_now("environment") else None
    return [replace(s, database=m.name, environment=m.environment)
            for m in require_members(s.config, environment=environment, env=s.env)]


def matrix(s: Settings) -> list[Member]:
    """``pgdrill matrix``: the databases of pgdrill.yml for ``--job`` and ``--environment``."""
    from pgdrill.fleet.members import require_members

    if s.given_now("database"):
        raise ConfigError("matrix lists every database: drop --database", "filter with --environment or --job")
    environment = s.text("environment") if s.given_now("environment") else None
    return require_members(s.config, environment=environment, job=s.text("job"), env=s.env)
