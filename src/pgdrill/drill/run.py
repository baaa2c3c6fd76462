"""One drill over any source: make a restored copy, check it, measure RTO and RPO, keep a record —
and destroy the copy, always (the source's lifecycle sees to that).

    result = run_drill(StoredBackupSource(store, scratch_url=…), DrillRequest(checks=…, records=store))

The drill knows nothing of where the copy came from: everything source-specific reaches it through
the :class:`~pgdrill.sources.RestoredCopy` (its URL, what it should hold, its own checks, how long it
took) and :meth:`~pgdrill.sources.Source.rpo`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pgdrill.checks import CheckResult, ChecksConfig, run_checks
from pgdrill.ci import RunInfo
from pgdrill.config_models import Seconds
from pgdrill.drill.measures import TargetRecord, evaluate, failure_reasons
from pgdrill.drill.record import DAY, DrillRecord, History, load_history, record_key, trend
from pgdrill.errors import PgdrillError
from pgdrill.manifest import new_id
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.report.format import fmt_seconds
from pgdrill.sources.base import CopyOptions, RestoredCopy, RpoMeasure, Source, utcnow
from pgdrill.sources.markers import DEFAULT_GRACE
from pgdrill.store.base import Store
from pgdrill.streams import Progress


class DrillSettings(BaseModel):
    """The ``drill:`` section of pgdrill.yml (``rto_target``/``rpo_target`` are flag defaults, top
    level or per environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owners: list[str] = Field(default_factory=list, description="who answers for this database's recovery")
    trend: int = Field(default=10, ge=1, le=100, description="drills shown in the report's trend")
    scratch_prefix: str = Field(default="pgdrill_drill", pattern=r"^[a-z_][a-z0-9_]{0,29}$")
    rpo_window: Seconds = 30 * DAY
    sweep_grace: Seconds = Field(default=DEFAULT_GRACE,
                                 description="copies left by a killed run are removed once this old")

    @field_validator("owners", mode="before")
    @classmethod
    def _one_owner(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


Tamper = Callable[[DatabaseUrl], None]


@dataclass(frozen=True)
class DrillRequest:
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    settings: DrillSettings = field(default_factory=DrillSettings)
    rto_target: float | None = None
    rpo_target: float | None = None
    environment: str | None = None
    records: Store | None = None  # where drill records are kept (and the trend read from); None: nowhere
    keep: bool = False
    run: RunInfo = field(default_factory=RunInfo.from_env)
    save: bool = True
    cwd: Path | None = None
    #: called with the copy's URL before the checks (tests use it to break things)
    tamper: Tamper | None = None
    clock: Callable[[], datetime] = utcnow


@dataclass
class DrillResult:
    record: DrillRecord
    trend: list[DrillRecord]  # oldest first, ends with this drill
    warnings: list[str] = field(default_factory=list)
    saved_key: str | None = None
    #: sha256 of the record's bytes as stored: what an artifact attestation of the record names
    saved_sha256: str | None = None

    @property
    def passed(self) -> bool:
        return self.record.passed


def _say(progress: Progress | None, msg: str) -> None:
    if progress:
        progress(msg)


def _checks_for(cfg: ChecksConfig, copy: RestoredCopy, warnings: list[str]) -> ChecksConfig:
    """Expectations from another instant than the copy (a branch compared with a backup's manifest)
    differ by design: unless pgdrill.yml sets `row_counts` itself, a difference is a warning."""
    e = copy.expected
    # A tolerance is the allowance for the other instant already (a read replica counted now).
    if e is None or e.same_instant or e.tolerance or "row_counts" in cfg.model_fields_set or cfg.row_counts == "off":
        return cfg
    point, taken = copy.origin.point_in_time, e.taken_at
    gap = f"taken {fmt_seconds(abs((point - taken).total_seconds()))} away from" if point and taken \
        else "taken at another instant than"
    warnings.append(f"row counts are compared with backup {copy.origin.compared_backup_id}, {gap} the copy's "
                    "instant; differences are warnings (set checks.row_counts to decide)")
    return cfg.model_copy(update={"row_counts": "warn"})


def run_drill(source: Source, req: DrillRequest, progress: Progress | None = None) -> DrillResult:
    """Run one drill. Returns the result (passed or failed); raises only for configuration and
    infrastructure trouble — after the copy was destroyed."""
    started = req.clock().astimezone(timezone.utc)
    source.attach(progress)
    warnings = source.prepare(started)
    # A stored backup's drill has read its store in prepare(); a point-in-time source's first drill
    # starts the store that keeps its records.
    history = load_history(req.records, missing_ok=True) if req.records is not None else History()
    warnings += [f"drill record {key} skipped: {why}" for key, why in history.problems]
    rpo_m = source.rpo(started)

    opts = CopyOptions(keep=req.keep, purpose="drill", run=req.run, grace=req.settings.sweep_grace,
                       clock=req.clock)
    results: list[CheckResult] = []
    counted: dict[str, int] = {}
    checks_s = 0.0
    with source.restored(opts, progress) as copy:
        results += copy.checks
        if copy.usable:
            assert copy.url is not None
            if req.tamper is not None:
                req.tamper(copy.url)
            _say(progress, f"checking {copy.url.redacted}")
            cfg = _checks_for(req.checks, copy, warnings)
            t0 = time.monotonic()
            results += run_checks(copy.url, copy.expected, cfg, restore=copy.restore, cwd=req.cwd, progress=progress,
                                  row_counts=counted)
            checks_s = time.monotonic() - t0
    if copy.cleanup is not None:
        results.append(copy.cleanup)
    warnings += copy.notes

    # A branch's point in time is known once it is ready: measure the RPO from the copy's origin then.
    rpo_m = source.rpo(started) if copy.origin.point_in_time is not None else rpo_m
    rto = evaluate(copy.fetch_seconds + copy.restore_seconds + copy.replay_seconds + checks_s, req.rto_target)
    rpo = evaluate(rpo_m.total, req.rpo_target)
    reasons = failure_reasons(results, rto, rpo)
    record = _record(copy, req, started, results, checks_s, rto, rpo, rpo_m, reasons, counted)
    saved = digest = None
    if req.records is not None and req.save:
        data = record.to_json().encode()
        try:
            req.records.put_bytes(record_key(record.id), data)
            saved, digest = record_key(record.id), hashlib.sha256(data).hexdigest()
        except PgdrillError as exc:
            warnings.append(f"the drill record could not be saved: {exc.message}")
    return DrillResult(record, trend(history.records, record, req.settings.trend), warnings, saved, digest)


def _cleanup_text(copy: RestoredCopy) -> str:
    if copy.cleanup is not None:
        return copy.cleanup.detail
    if copy.target_kind == "target" and copy.url is not None:
        return f"target {copy.url.redacted} left in place (given with --target-url)"
    return "no copy was created"


def _record(copy: RestoredCopy, req: DrillRequest, started: datetime, results: list[CheckResult], checks_s: float,
            rto: TargetRecord, rpo: TargetRecord, rpo_m: RpoMeasure, reasons: list[str],
            counted: dict[str, int]) -> DrillRecord:
    o = copy.origin
    tool = copy.tool_version
    return DrillRecord(
        id=new_id(started), passed=not reasons, failures=reasons,
        started_at=started, finished_at=req.clock().astimezone(timezone.utc), environment=req.environment,
        source_kind=copy.source_kind, backup_id=o.id, backup_created_at=o.created_at, requested_at=o.requested,
        point_in_time=o.point_in_time, backup_size=o.size, backup_sha256=o.sha256, backup_tags=list(o.tags),
        backup_encrypted=o.encrypted, source_database=o.database, source_host=o.host, source_port=o.port,
        source_server_version=o.server_version, pg_dump_version=o.dump_version, tables=o.tables, rows=o.rows,
        table_rows=dict(sorted(counted.items())),
        compared_backup_id=o.compared_backup_id, window_earliest=o.window_earliest,
        target=copy.url.redacted if copy.url is not None else "", target_kind=copy.target_kind,
        scratch_database=copy.name if copy.target_kind != "target" else None, copy_id=copy.copy_id,
        cleanup=_cleanup_text(copy), target_server_version=copy.server_version,
        pg_restore_version=tool if copy.tool == "pg_restore" else None,
        restore_tool=f"{copy.tool} {tool}" if copy.tool != "pg_restore" and tool else None, restore_jobs=copy.jobs,
        fetch_seconds=round(copy.fetch_seconds, 3), restore_seconds=round(copy.restore_seconds, 3),
        replay_seconds=round(copy.replay_seconds, 3), checks_seconds=round(checks_s, 3), rto=rto, rpo=rpo,
        backup_age_seconds=rpo_m.age, worst_gap_seconds=rpo_m.worst_gap, rpo_window_seconds=rpo_m.window,
        rpo_detail=rpo_m.detail,
        checks=results, owners=list(req.settings.owners), run_url=req.run.run_url, git_sha=req.run.git_sha,
        git_ref=req.run.git_ref,
    )

