"""Neon options for ``pgdrill drill`` and ``pgdrill restore``: point-in-time drills and table restores
through Neon branches.

    pgdrill drill --neon-project ID [--neon-branch main] [--at 2026-11-20T14:29:45Z | --at latest]
    pgdrill restore --neon-project ID --at TIMESTAMP --table app.users [--table …] --target-url URL --data-only

The commands stay where they are; they carry these options and hand over to :func:`drill` or
:func:`restore` when :func:`requested` says so. The API key comes from NEON_API_KEY only.
"""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from pgdrill import secrets
from pgdrill.checks import ChecksConfig
from pgdrill.cli.base import apply, emit, progress_printer, publish_outcome, setting, state, store_from, warn
from pgdrill.config import Config, parse_duration
from pgdrill.drill import DrillSettings
from pgdrill.errors import CheckFailed, ConfigError
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.pitr import (
    PitrDrillRequest,
    PitrTableRestoreRequest,
    PitrTableRestoreResult,
    parse_at,
    run_pitr_drill,
    run_pitr_table_restore,
)
from pgdrill.providers.neon import NeonClient, NeonProvider, NeonSettings
from pgdrill.report import drill as render
from pgdrill.report.format import md_escape
from pgdrill.report.outcome import Outcome

_common = [
    click.option("--neon-project", envvar="PGDRILL_NEON_PROJECT", metavar="ID",
                 help="Work on a Neon branch made at --at instead of a stored backup (API key in NEON_API_KEY)."),
    click.option("--neon-branch", envvar="PGDRILL_NEON_BRANCH", metavar="NAME|ID",
                 help="Neon branch to branch from (default: the project's default branch)."),
    click.option("--at", "at", envvar="PGDRILL_AT", metavar="TIMESTAMP|latest",
                 help="Point in time for the Neon branch, e.g. 2026-11-20T14:29:45Z."),
    click.option("--neon-database", envvar="PGDRILL_NEON_DATABASE", metavar="NAME",
                 help="Database on the Neon branch (default: its only one)."),
    click.option("--neon-role", envvar="PGDRILL_NEON_ROLE", metavar="NAME",
                 help="Role to connect as (default: the database's owner)."),
]

drill_options = apply(_common)
restore_options = apply([
    *_common,
    click.option("--missing-only", is_flag=True,
                 help="Neon: add back only rows whose key the target lacks, leave the others (no --confirm needed)."),
])


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT) \
        and ctx.params.get(name) not in (None, "", False, ())


def requested(ctx: click.Context) -> bool:
    """A Neon job when --neon-project or --at is given now (pgdrill.yml's neon_project alone does not
    turn every drill into a Neon drill)."""
    return _given(ctx, "neon_project") or _given(ctx, "at")


def _refuse(ctx: click.Context, names: dict[str, str], why: str) -> None:
    for name, flag in names.items():
        if _given(ctx, name):
            raise click.UsageError(f"{flag} does not apply to a Neon {why}")


def _duration(ctx: click.Context, name: str, flag: str) -> float | None:
    value = setting(ctx, name)
    if value in (None, ""):
        return None
    seconds = parse_duration(value, flag)
    if seconds <= 0:
        raise ConfigError(f"{flag} must be positive, got '{value}'")
    return seconds


def _provider(ctx: click.Context, neon: NeonSettings) -> NeonProvider:
    project = setting(ctx, "neon_project")
    if not project:
        raise click.UsageError("missing --neon-project (or PGDRILL_NEON_PROJECT, or 'neon_project:' in pgdrill.yml)")
    client = NeonClient(api_host=neon.api_host)  # NEON_API_HOST, when set, wins over pgdrill.yml
    client.on_retry = progress_printer(ctx)
    return NeonProvider(client, str(project), branch=setting(ctx, "neon_branch"),
                        database=setting(ctx, "neon_database") or neon.database,
                        role=setting(ctx, "neon_role") or neon.role, failed_grace=neon.failed_grace)


def _settings(ctx: click.Context) -> tuple[Config, NeonSettings, str | None]:
    environment = setting(ctx, "environment")
    cfg = state(ctx).config(ctx.params.get("config"))
    return cfg, cfg.section("neon", NeonSettings, environment), environment


def drill(ctx: click.Context, backup_ref: str, report_path: Path | None, as_json: bool) -> None:
    """``pgdrill drill --neon-project …``: the store, when given, keeps the record and lends its
    backup's manifest for the row counts."""
    _refuse(ctx, {"scratch_url": "--scratch-url", "target_url": "--target-url", "keep": "--keep"},
            "drill (the branch is the scratch database, and it is always deleted)")
    cfg, neon, environment = _settings(ctx)
    req = PitrDrillRequest(
        provider=_provider(ctx, neon),
        at=parse_at(setting(ctx, "at")),
        store=store_from(ctx) if setting(ctx, "store") else None,  # records, and a manifest's row counts
        backup=backup_ref,
        checks=cfg.section("checks", ChecksConfig, environment),
        settings=cfg.section("drill", DrillSettings, environment),
        rto_target=_duration(ctx, "rto_target", "--rto-target"),
        rpo_target=_duration(ctx, "rpo_target", "--rpo-target"),
        environment=environment,
        cwd=cfg.path.parent.absolute() if cfg.path else None,
        branch_ttl=neon.branch_ttl,
        ready_timeout=neon.ready_timeout,
    )
    result = run_pitr_drill(req, progress_printer(ctx))
    for w in result.warnings:
        warn(w)
    if report_path is not None:
        try:
            report_path.write_text(secrets.scrub(render.drill_markdown(result)), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write --report {report_path}: {exc.strerror or exc}") from None
    emit(as_json, render.drill_json(result), render.drill_text(result))
    publish_outcome(ctx, render.drill_outcome(result, str(report_path) if report_path else None))
    if not result.passed:
        raise CheckFailed(f"drill {result.record.id} of {result.record.backup_id} failed: "
                          f"{'; '.join(result.record.failures)}", "see the failed checks above")


def restore(ctx: click.Context, backup_id: str, tables: tuple[str, ...], data_only: bool, confirm: str | None,
            as_json: bool) -> None:
    """``pgdrill restore --neon-project … --at … --table … --data-only``: rows only, one transaction."""
    if backup_id not in ("", "latest"):
        raise click.UsageError("give a backup id or --neon-project/--at, not both")
    _refuse(ctx, {"keep_owners": "--keep-owners", "no_verify": "--no-verify"}, "restore")
    if not tables:
        raise click.UsageError("a Neon restore copies rows of the tables named with --table")
    if not data_only:
        raise click.UsageError("a Neon restore copies rows only: add --data-only")
    _, neon, _ = _settings(ctx)
    target = setting(ctx, "target_url")
    if not target:
        raise click.UsageError("missing --target-url (or PGDRILL_TARGET_URL, or 'target_url:' in pgdrill.yml)")
    req = PitrTableRestoreRequest(
        provider=_provider(ctx, neon),
        at=parse_at(setting(ctx, "at")),
        tables=tables,
        target_url=DatabaseUrl.parse(str(target), "--target-url"),
        confirm=confirm,
        missing_only=bool(ctx.params.get("missing_only")),
        branch_ttl=neon.branch_ttl,
        ready_timeout=neon.ready_timeout,
    )
    result = run_pitr_table_restore(req, progress_printer(ctx))
    emit(as_json, result.to_dict(), restore_text(result))
    if not result.cleanup.ok:
        warn("; ".join((result.cleanup.detail, *result.cleanup.items)))
    publish_outcome(ctx, restore_outcome(result))


def restore_text(r: PitrTableRestoreResult) -> str:
    what = "missing rows added back" if r.mode == "missing" else "rows replaced"
    lines = [f"restored {len(r.tables)} table(s) into {r.target} from {r.source} at "
             f"{r.point_in_time:%Y-%m-%d %H:%M:%S} UTC ({what}, one transaction)"]
    width = max((len(t.table) for t in r.tables), default=10)
    for t in r.tables:
        lines.append(f"  {t.table:<{width}}  {t.target_rows_before} → {t.target_rows_after} rows "
                     f"({t.inserted} copied from the branch's {t.branch_rows})")
    lines.append(f"  branch     {r.branch}: {r.cleanup.detail}")
    return "\n".join(lines)


def restore_markdown(r: PitrTableRestoreResult) -> str:
    what = "missing rows added back" if r.mode == "missing" else "rows replaced"
    rows = "\n".join(f"| `{md_escape(t.table)}` | {t.target_rows_before} | {t.target_rows_after} | {t.inserted} |"
                     for t in r.tables)
    return (f"### ✅ pgdrill restore from a point in time\n\n"
            f"{md_escape(r.source)} at {r.point_in_time:%Y-%m-%d %H:%M:%S} UTC into {md_escape(r.target)} "
            f"({what}, one transaction). Branch `{md_escape(r.branch)}`: {md_escape(r.cleanup.detail)}\n\n"
            f"| Table | Rows before | Rows after | Copied |\n|---|---|---|---|\n{rows}\n")


def restore_outcome(r: PitrTableRestoreResult) -> Outcome:
    at = f"{r.point_in_time:%Y-%m-%dT%H:%M:%SZ}"
    return Outcome(
        job="restore", passed=True, title=f"{len(r.tables)} table(s) restored into {r.target} as of {at}",
        markdown=restore_markdown(r), outputs={"passed": "true", "point-in-time": at},
        warnings=() if r.cleanup.ok else (r.cleanup.detail, *r.cleanup.items),
        details={"Source": r.source, "Point in time": at, "Target": r.target, "Branch": r.cleanup.detail},
    )
