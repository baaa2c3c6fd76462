"""Table restore from a point in time: copy chosen tables' rows from a restored copy (a Neon branch,
later a recovered physical backup — any :class:`~pgdrill.sources.Source`) into a live database, in
one transaction. The accidental ``DELETE`` case.

It refuses to replace rows without ``confirm`` naming the target database; ``missing_only`` inserts
just the rows whose key the target lacks. The target is checked before any copy is made, and the copy
is destroyed afterwards whatever happens.
"""

from __future__ import annotations

import contextlib
import secrets as pysecrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql

from pgdrill import secrets
from pgdrill.checks import CheckResult
from pgdrill.ci import RunInfo
from pgdrill.errors import ConfigError, Refused, SourceError, TargetError
from pgdrill.pg.conn import DatabaseUrl, connect
from pgdrill.report.format import iso
from pgdrill.sources.base import CopyOptions, Source, utcnow
from pgdrill.streams import Progress

Conn = psycopg.Connection[tuple[object, ...]]
Mode = Literal["replace", "missing"]


def _say(progress: Progress | None, msg: str) -> None:
    if progress:
        progress(msg)


@dataclass(frozen=True)
class TableRestoreRequest:
    tables: tuple[str, ...]
    target_url: DatabaseUrl
    confirm: str | None = None
    missing_only: bool = False
    lock_timeout: float = 30.0
    run: RunInfo = field(default_factory=RunInfo.from_env)
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True)
class TableCopy:
    table: str
    branch_rows: int  # rows the copy held
    target_rows_before: int
    target_rows_after: int
    inserted: int

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "branch_rows": self.branch_rows, "target_rows_before": self.target_rows_before,
                "target_rows_after": self.target_rows_after, "inserted": self.inserted}


@dataclass(frozen=True)
class TableRestoreResult:
    source: str
    point_in_time: datetime
    branch: str  # the copy's name
    target: str  # redacted
    mode: Mode
    tables: list[TableCopy]
    cleanup: CheckResult
    seconds: float

    @property
    def cleaned_up(self) -> bool:
        return self.cleanup.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "point_in_time": iso(self.point_in_time), "branch": self.branch,
                "target": self.target, "mode": self.mode, "tables": [t.to_dict() for t in self.tables],
                "cleanup": {"ok": self.cleaned_up, "detail": self.cleanup.detail}, "seconds": round(self.seconds, 3)}


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


def _plan(req: TableRestoreRequest) -> list[_TablePlan]:
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


def _copy_all(source_url: DatabaseUrl, req: TableRestoreRequest, plans: list[_TablePlan], mode: Mode,
              progress: Progress | None) -> list[TableCopy]:
    copies: list[TableCopy] = []
    with connect(source_url, role="point-in-time copy") as src, \
            connect(req.target_url, role="target database") as dst:
        # One snapshot of the copy for every table, so rows that reference each other agree.
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
                    _say(progress, f"copying {plan.name} from the copy into {req.target_url.redacted}")
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


def run_table_restore(source: Source, req: TableRestoreRequest,
                      progress: Progress | None = None) -> TableRestoreResult:
    """Copy ``req.tables`` as they were at the source's instant into the target, in one transaction.
    The copy is destroyed afterwards whatever happens; a copy that could not be made is infrastructure
    trouble (raised), and nothing was changed on the target."""
    if not req.tables:
        raise ConfigError("a point-in-time restore needs --table", "name the tables whose rows to copy back")
    started = req.clock()
    source.attach(progress)
    source.prepare(started)
    if source.origin().requested == "latest":
        raise ConfigError("a point-in-time table restore needs --at", "pass the instant before the rows were lost, "
                                                                      "e.g. --at 2026-11-20T14:29:45Z")
    plans = _plan(req)
    mode: Mode = "missing" if req.missing_only else "replace"
    t0 = time.monotonic()
    with source.restored(CopyOptions(purpose="restore", run=req.run, clock=req.clock), progress) as copy:
        if not copy.usable or copy.url is None:
            failed = next((c for c in copy.checks if c.status == "fail"), None)
            why = secrets.scrub(failed.detail) if failed else "it cannot be reached"
            raise SourceError(f"the point-in-time copy could not be made: {why}", "nothing was changed on the target")
        copies = _copy_all(copy.url, req, plans, mode, progress)
    assert copy.cleanup is not None
    point = copy.origin.point_in_time or copy.origin.created_at
    return TableRestoreResult(source.describe(), point, copy.name, req.target_url.redacted, mode, copies,
                              copy.cleanup, time.monotonic() - t0)
