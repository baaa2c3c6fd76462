"""Point-in-time drills and table restores through a provider's branches (Neon today).

A drill makes a branch of the source as it was at ``--at`` (or its latest state), runs the same
checks as a store-based drill on it (:func:`pgdrill.checks.run_checks`), measures RTO (asking for
the branch → checks done) and the effective RPO (how far back the branch's data is from the start of
the drill), keeps the same :class:`~pgdrill.drill.DrillRecord`, and deletes the branch — always: on
success, on failure, on Ctrl-C/SIGTERM (cleanup runs with those signals held), and should pgdrill
itself die, the provider deletes it at ``expires_at``.

A table restore copies the chosen tables' rows from such a branch into a target database inside one
transaction — the accidental ``DELETE`` case. It refuses to replace rows without ``confirm`` naming
the target database; ``missing_only`` inserts just the rows whose key the target lacks.

Which provider does the work is the caller's choice: this module only speaks
:class:`~pgdrill.providers.base.PitrProvider`.
"""

from __future__ import annotations

import contextlib
import secrets as pysecrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from pgdrill import secrets
from pgdrill.catalog import load as load_catalog
from pgdrill.checks import CheckResult, ChecksConfig, Expected, one_line, run_checks
from pgdrill.ci import RunInfo
from pgdrill.drill import (
    DrillRecord,
    DrillResult,
    DrillSettings,
    evaluate,
    failure_reasons,
    load_history,
    record_key,
    signals_deferred,
    trend,
)
from pgdrill.errors import ConfigError, PgdrillError, Refused, SourceError, TargetError
from pgdrill.manifest import Manifest, new_id
from pgdrill.pg import stats
from pgdrill.pg.conn import DatabaseUrl, connect, server_version_string
from pgdrill.providers.base import BranchFailed, BranchRef, Cleanup, PitrProvider, ReadyBranch, RestoreWindow
from pgdrill.report.format import fmt_seconds
from pgdrill.store.base import Store
from pgdrill.streams import Progress

Conn = psycopg.Connection[tuple[object, ...]]

#: clocks of the CI runner and the provider differ a little; "now" is allowed this much ahead
CLOCK_SKEW = timedelta(seconds=60)
DEFAULT_BRANCH_TTL = 6 * 3600.0  # a GitHub-hosted job runs at most 6 hours
DEFAULT_READY_TIMEOUT = 600.0
DEFAULT_DELETE_TIMEOUT = 180.0


def _say(progress: Progress | None, msg: str) -> None:
    if progress:
        progress(msg)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ts(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the instant ------------------------------------------------------------------------------
def parse_at(text: str | None) -> datetime | None:
    """``--at``: an ISO 8601 / RFC 3339 timestamp with a zone, or ``latest`` (None)."""
    value = (text or "").strip()
    if value.lower() in ("", "latest", "now"):
        return None
    s = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        t = datetime.fromisoformat(s.replace(" ", "T", 1))
    except ValueError:
        raise ConfigError(f"--at '{value}' is not a timestamp", "use e.g. 2026-11-20T14:29:45Z, or latest") from None
    if t.tzinfo is None:
        raise ConfigError(f"--at '{value}' has no time zone", "add Z for UTC, e.g. 2026-11-20T14:29:45Z")
    return t.astimezone(timezone.utc)


def check_window(at: datetime, window: RestoreWindow, now: datetime) -> None:
    """Refuse an instant the provider cannot branch at, before asking for a branch."""
    if at > now + CLOCK_SKEW:
        raise ConfigError(f"--at {_ts(at)} is in the future (now is {_ts(now)})", "pick a past instant, or latest")
    if at < window.earliest:
        raise ConfigError(
            f"--at {_ts(at)} is outside the point-in-time window: {window.what}, so the earliest restorable "
            f"instant is {_ts(window.earliest)}",
            "pick a later instant, or restore from a stored backup (pgdrill restore ID)",
        )


def branch_name(purpose: str, now: datetime) -> str:
    return f"pgdrill-{purpose}-{now:%Y%m%d-%H%M%S}-{pysecrets.token_hex(3)}"


# -- branch lifecycle shared by drills and restores -------------------------------------------
@dataclass
class _Branch:
    """Holds what is needed to delete a branch whatever happens while it is being made."""

    provider: PitrProvider
    name: str
    asked: bool = False
    ref: BranchRef | None = None
    ready: ReadyBranch | None = None
    cleanup: Cleanup | None = None

    def make(self, at: datetime | None, expires_at: datetime, timeout: float, progress: Progress | None) -> ReadyBranch:
        when = _ts(at) if at else "its latest state"
        _say(progress, f"creating branch {self.name} of {self.provider.describe()} at {when}")
        # Set before the request: an interrupt while it is in flight must still look the branch up.
        self.asked = True
        self.ref = self.provider.create_branch(self.name, at, expires_at)
        _say(progress, f"branch {self.ref.name} ({self.ref.id}) accepted; waiting for it to be ready")
        self.ready = self.provider.wait_ready(self.ref, timeout, progress)
        _say(progress, f"branch ready at {self.ready.url.redacted}")
        return self.ready

    def delete(self, timeout: float, progress: Progress | None) -> Cleanup | None:
        if not self.asked:
            return None
        with signals_deferred():
            self.cleanup = self.provider.delete_branch(self.ref, self.name, timeout)
        _say(progress, "; ".join((self.cleanup.detail, *self.cleanup.items)))
        return self.cleanup


# -- drill ------------------------------------------------------------------------------------
Tamper = Callable[[DatabaseUrl], None]


@dataclass(frozen=True)
class PitrDrillRequest:
    provider: PitrProvider
    at: datetime | None = None  # None: the source's latest state
    store: Store | None = None  # where drill records go, and the manifest row counts come from
    backup: str = "latest"
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    settings: DrillSettings = field(default_factory=DrillSettings)
    rto_target: float | None = None
    rpo_target: float | None = None
    environment: str | None = None
    run: RunInfo = field(default_factory=RunInfo.from_env)
    save: bool = True
    cwd: Path | None = None
    branch_ttl: float = DEFAULT_BRANCH_TTL
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    delete_timeout: float = DEFAULT_DELETE_TIMEOUT
    #: called with the branch's URL before the checks (tests use it to break things)
    tamper: Tamper | None = None
    clock: Callable[[], datetime] = _utcnow


def _branch_check(url: DatabaseUrl, ref: BranchRef, point: datetime, seconds: float,
                  source: str) -> tuple[CheckResult, str | None, int]:
    """The branch's own check: it exists and accepts connections. (result, server version, tables)."""
    try:
        with connect(url, role="point-in-time branch") as conn:
            version = server_version_string(conn)
            tables = stats.user_table_count(conn)
    except PgdrillError as exc:
        return CheckResult("branch", "fail", one_line(f"branch {ref.name} was made but is not reachable: "
                                                      f"{exc.message}"), round(seconds, 3)), None, 0
    detail = (f"branch {ref.name} of {source} at {_ts(point)} ready in {fmt_seconds(seconds)}: "
              f"PostgreSQL {version}, {tables} tables")
    return CheckResult("branch", "pass", one_line(detail), round(seconds, 3)), version, tables


def _checks_for(req: PitrDrillRequest, manifest: Manifest | None, point: datetime,
                warnings: list[str]) -> ChecksConfig:
    """A backup's row counts come from its own snapshot, never exactly the branch's instant: writes in
    between are expected. Unless pgdrill.yml sets `row_counts` itself, a difference is a warning."""
    if manifest is None or "row_counts" in req.checks.model_fields_set or req.checks.row_counts == "off":
        return req.checks
    gap = abs((point - manifest.created_at).total_seconds())
    warnings.append(f"row counts are compared with backup {manifest.id}, taken {fmt_seconds(gap)} away from the "
                    "branch's instant; differences are warnings (set checks.row_counts to decide)")
    return req.checks.model_copy(update={"row_counts": "warn"})


def run_pitr_drill(req: PitrDrillRequest, progress: Progress | None = None) -> DrillResult:
    """Run one point-in-time drill. Returns the result (passed or failed); raises for configuration
    and infrastructure trouble — after deleting the branch."""
    started = req.clock().astimezone(timezone.utc)
    window = req.provider.restore_window(started)
    if req.at is not None:
        check_window(req.at, window, started)
    warnings: list[str] = []
    manifest: Manifest | None = None
    history_records: list[DrillRecord] = []
    if req.store is not None:
        cat = load_catalog(req.store)
        manifest = cat.find(req.backup) if cat.backups else None
        if manifest is None:
            warnings.append("the store holds no backup: row counts are not compared with a manifest")
        history = load_history(req.store)
        history_records = history.records
        warnings += [f"drill record {key} skipped: {why}" for key, why in history.problems]

    branch = _Branch(req.provider, branch_name("drill", started))
    expires_at = started + timedelta(seconds=req.branch_ttl)
    results: list[CheckResult] = []
    branch_s = checks_s = 0.0
    version: str | None = None
    tables = 0
    t0 = time.monotonic()
    try:
        try:
            ready = branch.make(req.at, expires_at, req.ready_timeout, progress)
        except BranchFailed as exc:
            branch_s = time.monotonic() - t0
            results.append(CheckResult("branch", "fail", one_line(secrets.scrub(exc.message)), round(branch_s, 3)))
        else:
            branch_s = time.monotonic() - t0
            assert branch.ref is not None
            check, version, tables = _branch_check(ready.url, branch.ref, ready.point_in_time, branch_s,
                                                   req.provider.describe())
            results.append(check)
            if check.status == "pass":
                if req.tamper is not None:
                    req.tamper(ready.url)
                _say(progress, f"checking {ready.url.redacted}")
                t1 = time.monotonic()
                cfg = _checks_for(req, manifest, ready.point_in_time, warnings)
                expected = Expected.from_manifest(manifest, same_instant=False) if manifest else None
                results += run_checks(ready.url, expected, cfg, cwd=req.cwd, progress=progress)
                checks_s = time.monotonic() - t1
    finally:
        cleanup = branch.delete(req.delete_timeout, progress)

    if cleanup is not None:
        results.append(CheckResult("cleanup", "pass" if cleanup.ok else "fail", one_line(cleanup.detail),
                                   items=cleanup.items))
    point = branch.ready.point_in_time if branch.ready else (req.at or started)
    age = max(0.0, (started - point).total_seconds())
    rto = evaluate(branch_s + checks_s, req.rto_target)
    rpo = evaluate(age, req.rpo_target)
    reasons = failure_reasons(results, rto, rpo)
    ref = branch.ref
    record = DrillRecord(
        id=new_id(started), passed=not reasons, failures=reasons,
        started_at=started, finished_at=req.clock().astimezone(timezone.utc), environment=req.environment,
        backup_id=f"{req.provider.kind}:{req.provider.source_name()}@{_ts(point) if req.at else 'latest'}",
        backup_created_at=point, source_database=branch.ready.database if branch.ready else "",
        source_host=req.provider.describe(), source_server_version=version or "",
        tables=len(manifest.tables) if manifest else tables, rows=manifest.total_rows if manifest else 0,
        target=branch.ready.url.redacted if branch.ready else "", target_kind="scratch",
        scratch_database=ref.name if ref else branch.name,
        cleanup=cleanup.detail if cleanup else "no branch was created",
        target_server_version=version, restore_seconds=round(branch_s, 3), checks_seconds=round(checks_s, 3),
        rto=rto, rpo=rpo, backup_age_seconds=round(age, 3), worst_gap_seconds=0.0,
        rpo_window_seconds=window.retention_seconds, checks=results, owners=list(req.settings.owners),
        run_url=req.run.run_url, git_sha=req.run.git_sha, git_ref=req.run.git_ref,
        provider=req.provider.kind, pitr_at=_ts(req.at) if req.at else "latest",
        pitr_branch_id=ref.id if ref else None, pitr_window_earliest=_ts(window.earliest),
        compared_backup_id=manifest.id if manifest else None,
    )
    saved = None
    if req.store is not None and req.save:
        try:
            req.store.put_bytes(record_key(record.id), record.to_json().encode())
            saved = record_key(record.id)
        except PgdrillError as exc:
            warnings.append(f"the drill record could not be saved: {exc.message}")
    return DrillResult(record, trend(history_records, record, req.settings.trend), warnings, saved)


# -- table restore ----------------------------------------------------------------------------
Mode = Literal["replace", "missing"]


@dataclass(frozen=True)
class PitrTableRestoreRequest:
    provider: PitrProvider
    at: datetime | None
    tables: tuple[str, ...]
    target_url: DatabaseUrl
    confirm: str | None = None
    missing_only: bool = False
    branch_ttl: float = DEFAULT_BRANCH_TTL
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    delete_timeout: float = DEFAULT_DELETE_TIMEOUT
    lock_timeout: float = 30.0
    clock: Callable[[], datetime] = _utcnow


@dataclass(frozen=True)
class TableCopy:
    table: str
    branch_rows: int
    target_rows_before: int
    target_rows_after: int
    inserted: int

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "branch_rows": self.branch_rows, "target_rows_before": self.target_rows_before,
                "target_rows_after": self.target_rows_after, "inserted": self.inserted}


@dataclass(frozen=True)
class PitrTableRestoreResult:
    source: str
    point_in_time: datetime
    branch: str
    target: str  # redacted
    mode: Mode
    tables: list[TableCopy]
    cleanup: Cleanup
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "point_in_time": _ts(self.point_in_time), "branch": self.branch,
                "target": self.target, "mode": self.mode, "tables": [t.to_dict() for t in self.tables],
                "cleanup": {"ok": self.cleanup.ok, "detail": self.cleanup.detail}, "seconds": round(self.seconds, 3)}


def split_table(name: str) -> tuple[str, str]:
    schema, _, table = name.strip().rpartition(".")
    if not table:
        raise ConfigError(f"--table '{name}' names no table", "use schema.table, e.g. app.users")
    return (schema or "public", table)


def _qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


_COLUMNS = """
SELECT a.attname FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""

_FKS = """
SELECT cn.nspname, cc.relname, pn.nspname, pc.relname FROM pg_constraint k
JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE k.contype = 'f'
"""


def _columns(conn: Conn, schema: str, table: str) -> list[str]:
    return [str(r[0]) for r in conn.execute(_COLUMNS, (schema, table)).fetchall()]


def _count(conn: Conn, schema: str, table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_qualified(schema, table))).fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def _has_key(conn: Conn, schema: str, table: str) -> bool:
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s "
                       "AND (i.indisprimary OR i.indisunique))", (schema, table)).fetchone()
    return bool(row and row[0])


def fk_order(tables: Sequence[tuple[str, str]], edges: Sequence[tuple[tuple[str, str], tuple[str, str]]]
             ) -> list[tuple[str, str]]:
    """Referenced tables before the tables referencing them (among ``tables``), else the given order."""
    wanted = list(dict.fromkeys(tables))
    parents = {t: {p for c, p in edges if c == t and p in wanted and p != t} for t in wanted}
    out: list[tuple[str, str]] = []
    while len(out) < len(wanted):
        ready = [t for t in wanted if t not in out and parents[t] <= set(out)]
        if not ready:  # a cycle: keep the given order for the rest and let the database judge
            out += [t for t in wanted if t not in out]
            break
        out += ready
    return out


@dataclass(frozen=True)
class _TablePlan:
    schema: str
    table: str
    rows_before: int

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def _plan(req: PitrTableRestoreRequest) -> list[_TablePlan]:
    """Check the target before any branch is made: tables exist, and rows are not replaced unasked."""
    if req.confirm is not None and req.confirm != req.target_url.dbname:
        raise ConfigError(f"--confirm names '{req.confirm}' but the target database is '{req.target_url.dbname}'",
                          "pass --confirm with the target's exact database name")
    wanted = [split_table(t) for t in req.tables]
    plans = []
    with connect(req.target_url, role="target database") as conn:
        for schema, table in dict.fromkeys(wanted):
            if not _columns(conn, schema, table):
                raise ConfigError(f"table {schema}.{table} does not exist on the target {req.target_url.redacted}",
                                  "recreate it first (pgdrill restore ID --table … restores schema and rows)")
            if req.missing_only and not _has_key(conn, schema, table):
                raise ConfigError(f"--missing-only needs a primary key or unique index on {schema}.{table}",
                                  "without one every row would be added again; replace the rows with --confirm")
            plans.append(_TablePlan(schema, table, _count(conn, schema, table)))
    holding = [p for p in plans if p.rows_before]
    if holding and not req.missing_only and req.confirm != req.target_url.dbname:
        names = ", ".join(f"{p.name} ({p.rows_before} rows)" for p in holding)
        raise Refused(f"table(s) {names} on '{req.target_url.dbname}' hold rows that would be replaced",
                      f"pass --confirm {req.target_url.dbname} to replace them, or --missing-only to add back only "
                      "the rows whose key is missing")
    return plans


def _bump_sequences(dst: Conn, schema: str, table: str, columns: Sequence[str]) -> None:
    """Copied keys may lie beyond the target's sequence (rows made after the branch's instant were
    replaced, or ids were reused): move the sequence past them so the next INSERT does not collide."""
    for col in columns:
        row = dst.execute("SELECT pg_get_serial_sequence(%s, %s)",
                          (sql.Identifier(schema, table).as_string(dst), col)).fetchone()
        seq = row[0] if row else None
        if not seq:
            continue
        dst.execute(
            sql.SQL("SELECT setval(%s, m) FROM (SELECT max({}) AS m FROM {}) x, {} s "
                    "WHERE m IS NOT NULL AND m >= CASE WHEN s.is_called THEN s.last_value + 1 ELSE s.last_value END")
            .format(sql.Identifier(col), _qualified(schema, table), sql.SQL(str(seq))),
            (str(seq),),
        )


def _copy_table(src: Conn, dst: Conn, plan: _TablePlan, mode: Mode) -> TableCopy:
    cols = _columns(dst, plan.schema, plan.table)
    have = set(_columns(src, plan.schema, plan.table))
    if not have:
        raise ConfigError(f"table {plan.name} did not exist at the branch's instant",
                          "pick an --at when the table existed")
    cols = [c for c in cols if c in have]
    col_list = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    stage = sql.Identifier(f"pgdrill_stage_{pysecrets.token_hex(4)}")
    dst.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA")
                .format(stage, col_list, _qualified(plan.schema, plan.table)))
    with src.cursor().copy(sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT")
                           .format(col_list, _qualified(plan.schema, plan.table))) as out, \
            dst.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, col_list)) as into:
        for chunk in out:
            into.write(chunk)
    row = dst.execute(sql.SQL("SELECT count(*) FROM {}").format(stage)).fetchone()
    branch_rows = int(row[0]) if row else 0  # type: ignore[call-overload]
    conflict = sql.SQL(" ON CONFLICT DO NOTHING") if mode == "missing" else sql.SQL("")
    cur = dst.execute(sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}{}")
                      .format(_qualified(plan.schema, plan.table), col_list, col_list, stage, conflict))
    inserted = max(cur.rowcount, 0)
    _bump_sequences(dst, plan.schema, plan.table, cols)
    after = _count(dst, plan.schema, plan.table)
    return TableCopy(plan.name, branch_rows, plan.rows_before, after, inserted)


def _copy_all(ready: ReadyBranch, req: PitrTableRestoreRequest, plans: list[_TablePlan], mode: Mode,
              progress: Progress | None) -> list[TableCopy]:
    copies: list[TableCopy] = []
    with connect(ready.url, role="point-in-time branch") as src, \
            connect(req.target_url, role="target database") as dst:
        # One snapshot of the branch for every table, so rows that reference each other agree.
        src.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        edges = [((str(a), str(b)), (str(c), str(d))) for a, b, c, d in dst.execute(_FKS).fetchall()]
        by_key = {(p.schema, p.table): p for p in plans}
        order = fk_order(list(by_key), edges)
        try:
            with dst.transaction():
                dst.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(int(req.lock_timeout * 1000))))
                if mode == "replace":
                    dst.execute(sql.SQL("TRUNCATE {}").format(
                        sql.SQL(", ").join(_qualified(s, t) for s, t in order)))
                for key in order:
                    plan = by_key[key]
                    _say(progress, f"copying {plan.name} from the branch into {req.target_url.redacted}")
                    copies.append(_copy_table(src, dst, plan, mode))
        except psycopg.Error as exc:
            first = secrets.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            hint = "nothing was changed on the target (the copy ran in one transaction)"
            if "foreign key" in first:
                hint += "; name the referencing tables too, or use --missing-only"
            raise TargetError(f"copying rows into {req.target_url.redacted} failed: {first}", hint) from None
        finally:
            with contextlib.suppress(psycopg.Error):
                src.execute("ROLLBACK")
    return copies


def run_pitr_table_restore(req: PitrTableRestoreRequest, progress: Progress | None = None) -> PitrTableRestoreResult:
    """Copy ``req.tables`` as they were at ``req.at`` into the target, in one transaction. The branch
    is deleted afterwards whatever happens; a failed branch is infrastructure trouble (raised)."""
    if not req.tables:
        raise ConfigError("a point-in-time restore needs --table", "name the tables whose rows to copy back")
    if req.at is None:
        raise ConfigError("a point-in-time table restore needs --at", "pass the instant before the rows were lost, "
                                                                      "e.g. --at 2026-11-20T14:29:45Z")
    started = req.clock().astimezone(timezone.utc)
    check_window(req.at, req.provider.restore_window(started), started)
    plans = _plan(req)
    mode: Mode = "missing" if req.missing_only else "replace"
    branch = _Branch(req.provider, branch_name("restore", started))
    t0 = time.monotonic()
    try:
        try:
            ready = branch.make(req.at, started + timedelta(seconds=req.branch_ttl), req.ready_timeout, progress)
        except BranchFailed as exc:
            raise SourceError(f"the point-in-time branch could not be made: {secrets.scrub(exc.message)}",
                              "nothing was changed on the target") from None
        copies = _copy_all(ready, req, plans, mode, progress)
    finally:
        cleanup = branch.delete(req.delete_timeout, progress)
    assert cleanup is not None and branch.ref is not None
    return PitrTableRestoreResult(req.provider.describe(), ready.point_in_time, branch.ref.name,
                                  req.target_url.redacted, mode, copies, cleanup, time.monotonic() - t0)
