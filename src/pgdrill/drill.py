"""The restore drill: restore a backup into a scratch database, check it, measure RTO and RPO, keep
a record of it in the store, and drop the scratch database — always.

RTO is measured as restore time + checks time. RPO is the age of the restored backup at the start of
the drill plus the worst gap between consecutive backups over the last 30 days (the data a disaster
at the worst moment of that window would have lost on top). Both are evaluated against targets by
pure functions; so is the verdict.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets as pysecrets
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pgdrill import __version__
from pgdrill.catalog import Catalog, drill_keys
from pgdrill.catalog import load as load_catalog
from pgdrill.checks import (
    CheckResult,
    ChecksConfig,
    Expected,
    RestoreOutcome,
    one_line,
    run_checks,
)
from pgdrill.ci import RunInfo
from pgdrill.config import Seconds
from pgdrill.errors import ConfigError, IntegrityError, PgdrillError, Refused, TargetError
from pgdrill.manifest import DRILLS, Manifest, new_id
from pgdrill.pg.conn import DatabaseUrl, connect, server_version_string
from pgdrill.report.format import fmt_seconds, fmt_target
from pgdrill.restore import (
    RestoreRequest,
    RestoreResult,
    drop_stand_ins,
    guard_target,
    provide_roles,
    run_restore,
    target_state,
)
from pgdrill.secrets import Secret
from pgdrill.store.base import Store
from pgdrill.streams import Progress

RECORD_VERSION = 1
DAY = 86400.0
TargetStatus = Literal["pass", "fail", "none"]


# -- the `drill:` section of pgdrill.yml ---------------------------------------------------------
class DrillSettings(BaseModel):
    """Drill settings besides the checks and the targets (``rto_target``/``rpo_target`` are
    flag defaults, top level or per environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owners: list[str] = Field(default_factory=list, description="who answers for this database's recovery")
    trend: int = Field(default=10, ge=1, le=100, description="drills shown in the report's trend")
    scratch_prefix: str = Field(default="pgdrill_drill", pattern=r"^[a-z_][a-z0-9_]{0,29}$")
    rpo_window: Seconds = 30 * DAY

    @field_validator("owners", mode="before")
    @classmethod
    def _one_owner(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


# -- pure measurements ------------------------------------------------------------------------
@dataclass(frozen=True)
class RpoMeasure:
    age: float  # seconds between the restored backup's start and the drill's start
    worst_gap: float  # longest stretch between consecutive backups in the window
    window: float

    @property
    def total(self) -> float:
        return self.age + self.worst_gap


def measure_rpo(restored_created_at: datetime, backup_times: Sequence[datetime], at: datetime,
                window: float = 30 * DAY) -> RpoMeasure:
    """RPO of a drill started ``at`` restoring the backup created at ``restored_created_at``.
    Gaps count when they end inside the window; backups after ``at`` are ignored."""
    age = max(0.0, (at - restored_created_at).total_seconds())
    times = sorted(t for t in backup_times if t <= at)
    start = at - timedelta(seconds=window)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times) if b >= start]
    return RpoMeasure(round(age, 3), round(max(gaps, default=0.0), 3), window)


class TargetRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    measured: float
    target: float | None = None
    status: TargetStatus = "none"


def evaluate(measured: float, target: float | None) -> TargetRecord:
    """Met when measured ≤ target; no target, no judgement."""
    if target is None:
        return TargetRecord(measured=round(measured, 3), target=None, status="none")
    return TargetRecord(measured=round(measured, 3), target=target, status="pass" if measured <= target else "fail")


def failure_reasons(checks: Sequence[CheckResult], rto: TargetRecord, rpo: TargetRecord) -> list[str]:
    """Why a drill failed; empty means it passed. Warnings and skips never fail a drill."""
    out = [f"check '{c.name}' failed" for c in checks if c.status == "fail"]
    for name, t in (("RTO", rto), ("RPO", rpo)):
        if t.status == "fail":
            out.append(f"{name} {fmt_seconds(t.measured)} over target {fmt_target(t.target)}")
    return out


# -- the record -------------------------------------------------------------------------------
class DrillRecord(BaseModel):
    """One drill, as kept in the store at drills/<id>.json. Never holds a secret."""

    model_config = ConfigDict(extra="allow", frozen=True)

    record_version: int = RECORD_VERSION
    id: str
    passed: bool
    failures: list[str] = Field(default_factory=list)
    started_at: datetime
    finished_at: datetime
    environment: str | None = None
    backup_id: str
    backup_created_at: datetime
    backup_size: int = 0
    backup_sha256: str = ""
    backup_tags: list[str] = Field(default_factory=list)
    backup_encrypted: bool = False
    source_database: str = ""
    source_host: str = ""
    source_port: int = 0
    source_server_version: str = ""
    pg_dump_version: str = ""
    tables: int = 0
    rows: int = 0
    target: str = ""  # redacted URL
    target_kind: Literal["scratch", "target"] = "scratch"
    scratch_database: str | None = None
    cleanup: str = ""
    target_server_version: str | None = None
    pg_restore_version: str | None = None
    pgdrill_version: str = __version__
    restore_seconds: float = 0.0
    checks_seconds: float = 0.0
    rto: TargetRecord
    rpo: TargetRecord
    backup_age_seconds: float = 0.0
    worst_gap_seconds: float = 0.0
    rpo_window_seconds: float = 30 * DAY
    checks: list[CheckResult] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list)
    run_url: str | None = None
    git_sha: str | None = None
    git_ref: str | None = None

    @field_validator("started_at", "finished_at", "backup_created_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("timestamp must include a timezone")
        return v.astimezone(timezone.utc)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def record_key(drill_id: str) -> str:
    return f"{DRILLS}{drill_id}.json"


def parse_record(data: bytes, where: str) -> DrillRecord:
    try:
        return DrillRecord.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "document"
        raise IntegrityError(f"drill record {where} is invalid: {loc}: {first.get('msg')}") from None


@dataclass
class History:
    records: list[DrillRecord] = field(default_factory=list)  # oldest first
    problems: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)

    @property
    def latest(self) -> DrillRecord | None:
        return self.records[-1] if self.records else None


def load_history(store: Store) -> History:
    """Every readable drill record, oldest first; unreadable ones are listed, not fatal."""
    h = History()
    for key in drill_keys(store):
        try:
            h.records.append(parse_record(store.get_bytes(key), key))
        except IntegrityError as exc:
            h.problems.append((key, exc.message))
        except PgdrillError as exc:
            h.problems.append((key, f"unreadable: {exc.message}"))
    h.records.sort(key=lambda r: (r.started_at, r.id))
    return h


def trend(history: Sequence[DrillRecord], current: DrillRecord | None, n: int) -> list[DrillRecord]:
    """The last ``n`` drills, oldest first, ending with ``current``."""
    past = [r for r in history if current is None or r.id != current.id]
    rows = [*past, current] if current is not None else past
    rows.sort(key=lambda r: (r.started_at, r.id))
    return rows[-n:]


# -- scratch databases ------------------------------------------------------------------------
def scratch_name(prefix: str, at: datetime) -> str:
    return f"{prefix}_{at:%Y%m%d_%H%M%S}_{pysecrets.token_hex(3)}"


def create_scratch(admin: DatabaseUrl, name: str) -> None:
    with connect(admin, role="scratch server") as conn:
        try:
            # template0: objects someone added to template1 would clash with the restore.
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege:
            raise ConfigError(f"the --scratch-url role cannot create databases on {admin.redacted}",
                              "use a role with CREATEDB (the service container's superuser works)") from None
        except psycopg.Error as exc:
            raise TargetError(f"cannot create scratch database {name}: {str(exc).strip().splitlines()[0]}") from None


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while cleaning up, so a second Ctrl-C or a CI cancel cannot leave the scratch
    database behind; they are delivered right after."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def drop_scratch(admin: DatabaseUrl, name: str) -> CheckResult:
    """Drop the scratch database, ending any session still in it (an app a smoke command started).
    Never raises: the outcome is the drill's cleanup check."""
    t0 = time.monotonic()
    ident = sql.Identifier(name)
    try:
        with signals_deferred(), connect(admin, role="scratch server") as conn:
            if conn.info.server_version >= 130000:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            else:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))
            still = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if still:
            raise TargetError("it still exists after DROP DATABASE")
    except (PgdrillError, psycopg.Error) as exc:
        msg = exc.message if isinstance(exc, PgdrillError) else str(exc).strip().splitlines()[0]
        return CheckResult("cleanup", "fail", one_line(f"could not drop scratch database {name}: {msg}"),
                           round(time.monotonic() - t0, 3))
    return CheckResult("cleanup", "pass", f"scratch database {name} dropped with everything restored into it",
                       round(time.monotonic() - t0, 3))


def drop_roles_after(cleanup: CheckResult, admin: DatabaseUrl, names: Sequence[str], run: str) -> CheckResult:
    """Add the stand-in roles to the cleanup: dropped after the scratch database that used them."""
    if cleanup.status == "fail":
        return replace(cleanup, detail=one_line(f"{cleanup.detail}; stand-in roles {', '.join(names)} not dropped "
                                                "(the scratch database still uses them)"))
    with signals_deferred():
        problems = drop_stand_ins(admin, names, run)
    if problems:
        return replace(cleanup, status="fail", detail=one_line(f"{cleanup.detail}; stand-in roles left: "
                                                               f"{'; '.join(problems)}"), items=tuple(problems))
    return replace(cleanup, detail=f"{cleanup.detail}; stand-in role(s) {', '.join(names)} dropped")


# -- the drill --------------------------------------------------------------------------------
Tamper = Callable[[DatabaseUrl], None]


@dataclass(frozen=True)
class DrillRequest:
    store: Store
    backup: str = "latest"
    scratch_url: DatabaseUrl | None = None  # admin connection with CREATEDB
    target_url: DatabaseUrl | None = None  # an existing, empty database
    keep: bool = False
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    settings: DrillSettings = field(default_factory=DrillSettings)
    rto_target: float | None = None
    rpo_target: float | None = None
    identities: tuple[Secret, ...] = ()
    production_databases: tuple[str, ...] = ()
    environment: str | None = None
    jobs: int = 1  # pg_restore --jobs (parallel restore from a verified temp copy of the archive)
    run: RunInfo = field(default_factory=RunInfo.from_env)
    save: bool = True
    cwd: Path | None = None
    #: called with the restored database's URL before the checks (tests use it to break things)
    tamper: Tamper | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))


@dataclass
class DrillResult:
    record: DrillRecord
    trend: list[DrillRecord]  # oldest first, ends with this drill
    warnings: list[str] = field(default_factory=list)
    saved_key: str | None = None

    @property
    def passed(self) -> bool:
        return self.record.passed


def _say(progress: Progress | None, msg: str) -> None:
    if progress:
        progress(msg)


def validate(req: DrillRequest) -> None:
    if (req.scratch_url is None) == (req.target_url is None):
        raise ConfigError("a drill needs exactly one of --scratch-url and --target-url",
                          "--scratch-url postgresql://postgres:…@localhost:5432/postgres creates a scratch database")
    if req.target_url is not None and req.target_url.dbname in req.production_databases:
        raise Refused(f"target database '{req.target_url.dbname}' is listed in production_databases",
                      "drill into a scratch database (--scratch-url) or another target")


def _skipped_newer(cat: Catalog, m: Manifest, ref: str) -> list[str]:
    if ref not in ("latest", ""):
        return []
    return [f"newer backup {p.backup_id} was skipped: {p.reason}" for p in cat.problems if p.backup_id > m.id]


def _restore(req: DrillRequest, m: Manifest, target: DatabaseUrl,
             progress: Progress | None) -> tuple[RestoreOutcome, RestoreResult | None, float]:
    t0 = time.monotonic()
    # One pass over the archive: hashed on the way into pg_restore, errors counted rather than aborting.
    # Owners and grants come back as they were: the roles exist (provide_roles made stand-ins).
    rreq = RestoreRequest(req.store, m.id, target, identities=req.identities, verify_first=False, atomic=False,
                          jobs=req.jobs, check_roles=False)
    try:
        r = run_restore(rreq, progress, m)
    except IntegrityError as exc:
        # A corrupt archive is a failed drill with a record, not a crash.
        seconds = time.monotonic() - t0
        return RestoreOutcome(integrity_error=exc.message, duration=seconds), None, seconds
    seconds = time.monotonic() - t0
    return RestoreOutcome(r.error_count, tuple(r.errors), None, seconds), r, seconds


def _server_version(url: DatabaseUrl) -> str | None:
    try:
        with connect(url, role="restored database") as conn:
            return server_version_string(conn)
    except PgdrillError:
        return None


def run_drill(req: DrillRequest, progress: Progress | None = None) -> DrillResult:
    """Run one drill. Returns the result (passed or failed); raises only for configuration and
    infrastructure trouble, after dropping the scratch database."""
    validate(req)
    started = req.clock().astimezone(timezone.utc)
    cat = load_catalog(req.store)
    m = cat.find(req.backup)
    warnings = _skipped_newer(cat, m, req.backup)
    history = load_history(req.store)
    warnings += [f"drill record {key} skipped: {why}" for key, why in history.problems]
    rpo_m = measure_rpo(m.created_at, [b.created_at for b in cat.backups], started, req.settings.rpo_window)

    if req.target_url is not None:
        target = req.target_url
        user_tables, _, _ = target_state(target)
        guard_target(target, False, None, user_tables)
        kind: Literal["scratch", "target"] = "target"
        name = None
    else:
        assert req.scratch_url is not None
        name = scratch_name(req.settings.scratch_prefix, started)
        target = req.scratch_url.with_dbname(name)
        kind = "scratch"

    cleanup: CheckResult | None = None
    created = False
    run_label = name or f"drill-{started:%Y%m%dT%H%M%S}-{pysecrets.token_hex(3)}"
    stand_ins: list[str] = []
    try:
        if name is not None:
            assert req.scratch_url is not None
            created = True  # before CREATE: an interrupt right after it must still drop it
            create_scratch(req.scratch_url, name)
            _say(progress, f"created scratch database {name} on {req.scratch_url.redacted}")
        # Roles are cluster-wide: the server gets NOLOGIN stand-ins for the ones it lacks, dropped
        # after the scratch database (a --target-url copy keeps them: its objects belong to them).
        stand_ins = provide_roles(req.store, m, req.identities, target, run_label, progress)
        outcome, restored, restore_s = _restore(req, m, target, progress)
        if req.tamper is not None:
            req.tamper(target)
        _say(progress, f"checking {target.redacted}")
        t0 = time.monotonic()
        results = run_checks(target, Expected.from_manifest(m), req.checks, restore=outcome, cwd=req.cwd,
                             progress=progress)
        checks_s = time.monotonic() - t0
        target_version = restored.target_server_version if restored else _server_version(target)
    finally:
        if created and name is not None and req.scratch_url is not None:
            if req.keep:
                kept = f"; stand-in roles {', '.join(stand_ins)} kept with it" if stand_ins else ""
                cleanup = CheckResult("cleanup", "skip", f"scratch database {name} kept (--keep); "
                                      f"drop it with: DROP DATABASE \"{name}\"{kept}")
            else:
                cleanup = drop_scratch(req.scratch_url, name)
                if stand_ins:
                    cleanup = drop_roles_after(cleanup, req.scratch_url, stand_ins, run_label)
                _say(progress, cleanup.detail)

    if cleanup is not None:
        results.append(cleanup)
    elif stand_ins:
        warnings.append(f"stand-in role(s) {', '.join(stand_ins)} (NOLOGIN, no password) stay on "
                        f"{target.host}:{target.port}: the restored objects in {target.dbname} belong to them")
    rto = evaluate(restore_s + checks_s, req.rto_target)
    rpo = evaluate(rpo_m.total, req.rpo_target)
    reasons = failure_reasons(results, rto, rpo)
    record = DrillRecord(
        id=new_id(started), passed=not reasons, failures=reasons,
        started_at=started, finished_at=req.clock().astimezone(timezone.utc), environment=req.environment,
        backup_id=m.id, backup_created_at=m.created_at, backup_size=m.size, backup_sha256=m.sha256,
        backup_tags=list(m.tags), backup_encrypted=m.encrypted, source_database=m.database,
        source_host=m.host, source_port=m.port, source_server_version=m.server_version,
        pg_dump_version=m.pg_dump_version, tables=len(m.tables), rows=m.total_rows,
        target=target.redacted, target_kind=kind, scratch_database=name,
        cleanup=cleanup.detail if cleanup else f"target {target.redacted} left in place (given with --target-url)",
        target_server_version=target_version, pg_restore_version=restored.pg_restore_version if restored else None,
        restore_seconds=round(restore_s, 3), checks_seconds=round(checks_s, 3), rto=rto, rpo=rpo,
        backup_age_seconds=rpo_m.age, worst_gap_seconds=rpo_m.worst_gap, rpo_window_seconds=rpo_m.window,
        checks=results, owners=list(req.settings.owners), run_url=req.run.run_url, git_sha=req.run.git_sha,
        git_ref=req.run.git_ref,
    )
    saved = None
    if req.save:
        try:
            req.store.put_bytes(record_key(record.id), record.to_json().encode())
            saved = record_key(record.id)
        except PgdrillError as exc:
            warnings.append(f"the drill record could not be saved: {exc.message}")
    return DrillResult(record, trend(history.records, record, req.settings.trend), warnings, saved)
