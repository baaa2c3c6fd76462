"""The machinery every check shares: what a check may look at (:class:`CheckContext`, with the
source's :class:`Expected` contents), the :class:`Check` base class, and :func:`execute`, which runs
checks in order and turns a crash into that check's own failure.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from pgdrill import secrets
from pgdrill.checks.config import Severity
from pgdrill.checks.results import CheckResult, RestoreOutcome, Status, one_line
from pgdrill.pg.conn import DatabaseUrl, connect

if TYPE_CHECKING:
    from pgdrill.manifest import Manifest

Conn = psycopg.Connection[tuple[object, ...]]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExpectedPrivileges:
    """Owners and ACLs in the compact form of pgdrill.pg.privileges.compact."""

    owner: str | None
    count: int
    objects: Mapping[str, list[str | None]]


@dataclass(frozen=True)
class Expected:
    """What the restored copy should hold, as far as its source knows. A stored backup knows all of
    it (its manifest); a point-in-time copy may know nothing. A check whose expectation is ``None``
    compares nothing (it skips, or checks only the copy itself).

    ``same_instant`` is False when the expectations describe another moment than the copy (a Neon
    branch compared with the newest backup's manifest): row counts then differ by design, unless a
    ``tolerance`` says by how much they may (a read replica counted while the drill runs).

    A dump made by other tools knows its tables but not their counts: ``listed_tables`` must exist and
    are counted. ``previous`` holds the counts an earlier copy of the same source had, so a table
    whose rows dropped sharply since then is flagged.
    """

    tables: Mapping[str, int] | None = None  # schema.table → row count
    schemas: Sequence[str] | None = None
    extensions: Mapping[str, str] | None = None  # name → version ("" when only the name is known)
    migration_head: str | None = None
    same_instant: bool = True
    label: str = "manifest"  # how details name where the expectations came from
    taken_at: datetime | None = None  # the instant the expectations describe
    listed_tables: Sequence[str] | None = None  # tables that must exist, counts unknown (an archive's TOC)
    tolerance: float = 0.0  # relative difference allowed per table in ``tables``
    previous: Baseline | None = None
    materialized_views: Mapping[str, int] | None = None  # populated ones: row counts
    data_excluded: Sequence[str] = ()  # tables dumped without their rows on purpose (--exclude-table-data)
    left_out: Sequence[str] = ()  # tables left out on purpose (--exclude-table), for the details
    migration_heads: Mapping[str, str | None] | None = None  # schema.table → head, every migration table
    sequences: Mapping[str, int | None] | None = None  # schema.sequence → last_value (None: not called)
    privileges: ExpectedPrivileges | None = None

    @classmethod
    def from_manifest(cls, m: Manifest, *, same_instant: bool = True) -> Expected:
        p = m.privileges
        return cls(tables=dict(m.tables), schemas=list(m.schemas), extensions=dict(m.extensions),
                   migration_head=m.migration_head, same_instant=same_instant, taken_at=m.created_at,
                   materialized_views=dict(m.materialized_views),
                   data_excluded=list(m.scope.data_excluded_tables) if m.scope else [],
                   left_out=list(m.scope.excluded_tables) if m.scope else [],
                   migration_heads=dict(m.migration_heads) or None,
                   sequences=None if m.sequences is None else dict(m.sequences),
                   privileges=None if p is None else ExpectedPrivileges(p.owner, p.count, dict(p.objects)))

    @property
    def total_rows(self) -> int:
        return sum((self.tables or {}).values())


@dataclass(frozen=True)
class Baseline:
    """Row counts an earlier copy of the same source held (``label`` names it), and how far a table
    may fall since then: more than ``drop`` (a fraction) of at least ``min_rows`` rows is flagged."""

    tables: Mapping[str, int]
    label: str
    drop: float = 0.2
    min_rows: int = 100
    ignore: Sequence[str] = ()


@dataclass
class CheckContext:
    """What a check may look at: the restored database and, when known, what it should hold."""

    url: DatabaseUrl
    expected: Expected | None = None
    restore: RestoreOutcome | None = None
    env: Mapping[str, str] | None = None  # base environment for commands (default: os.environ)
    cwd: Path | None = None
    _conn: Conn | None = field(default=None, repr=False)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    counted: dict[str, int] | None = None  # exact counts of the copy's tables, once a check counted them

    def row_counts(self) -> dict[str, int]:
        """Exact ``count(*)`` of every table, counted once per run (the drill record keeps them)."""
        if self.counted is None:
            from pgdrill.pg import stats

            self.counted = stats.count_rows(self.conn())
        return self.counted

    def conn(self) -> Conn:
        """One shared autocommit connection; reopened if a check's failure closed it."""
        if self._conn is None or self._conn.closed:
            self._conn = self._stack.enter_context(connect(self.url, role="restored database"))
        return self._conn

    def close(self) -> None:
        self._stack.close()
        self._conn = None


class Check(abc.ABC):
    """One thing to verify. ``run`` returns a result; it raises only for unexpected trouble, which
    the runner turns into a failed result."""

    name: str = "check"
    severity: Severity = "fail"
    needs_trusted_restore = True  # skipped when the archive failed its integrity check

    @abc.abstractmethod
    def run(self, ctx: CheckContext) -> CheckResult: ...

    def result(self, status: Status, detail: str, items: Sequence[str] = (), output: str | None = None) -> CheckResult:
        return CheckResult(self.name, status, detail, 0.0, tuple(items), output)


def _finish(check: Check, res: CheckResult, seconds: float) -> CheckResult:
    status = res.status
    detail = res.detail
    if status == "fail" and check.severity == "warn":
        status = "warn"
        detail = f"{detail} (severity: warn)"
    return replace(res, name=check.name, status=status, detail=secrets.scrub(one_line(detail)),
                   duration=round(res.duration or seconds, 3), items=tuple(secrets.scrub(i) for i in res.items))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def execute(checks: Sequence[Check], ctx: CheckContext, progress: Progress | None = None) -> list[CheckResult]:
    """Run ``checks`` in order, each timed; one check's error is its own failure, not the run's."""
    results = []
    for n, check in enumerate(checks, 1):
        # What is running, not its result: the report shows each result once.
        if progress:
            progress(f"check {n} of {len(checks)}: {check.name}")
        t0 = time.monotonic()
        if check.needs_trusted_restore and ctx.restore is not None and not ctx.restore.trusted:
            res = check.result("skip", "not run: the archive failed its integrity check, its data is not trusted")
        else:
            try:
                res = check.run(ctx)
            except psycopg.Error as exc:
                res = check.result("fail", f"query failed: {_first_line(exc)}")
            except Exception as exc:
                msg = exc.message if hasattr(exc, "message") else _first_line(exc)
                res = check.result("fail", f"check crashed: {type(exc).__name__}: {msg}")
        res = _finish(check, res, time.monotonic() - t0)
        results.append(res)
    return results


