"""What every source of a restored copy promises, and the machinery they all share.

A :class:`Source` turns something restorable — a stored backup, a Neon branch at an instant, later a
pgBackRest or barman-cloud repository or a folder of dumps — into a **restored copy**: a database
pgdrill can connect to and check. Drills, the pre-deploy rehearsal and table restores all use one::

    source.prepare(now)                      # resolve and validate; raises before anything is made
    with source.restored(CopyOptions()) as copy:
        ...copy.url...                       # checks, migrations, row copies
    copy.cleanup                             # how it was destroyed (or kept): a check result

The contract, checked for every source by tests/contract/test_source_contract.py:

- :meth:`Source.prepare` raises for anything the user must fix (unknown backup, instant outside the
  window, a production database as target) *before* anything is created;
- :meth:`Source.restored` yields a :class:`RestoredCopy` whose ``url`` connects (unless one of the
  source's own checks in ``copy.checks`` failed: then ``usable`` is False and the failure is the
  drill's verdict, not an exception);
- the copy is destroyed when the ``with`` block ends — after success, a failing check, an exception,
  Ctrl-C or SIGTERM (cleanup runs with those signals held) — unless ``keep``; ``copy.cleanup`` then
  says what happened, as the drill's ``cleanup`` check;
- every copy carries a :class:`~pgdrill.sources.markers.Marker`, and ``restored`` first removes the
  copies of earlier runs whose maker is gone (a SIGKILLed run), saying so in ``copy.notes``; kept
  copies are never removed, only listed;
- ``copy.origin`` says what the copy was restored from and the point in time it represents.

A subclass implements the hooks (``prepare``, ``origin``, ``rpo``, ``_new_copy``, ``_make``,
``_destroy``, ``_leftovers``); it never re-implements the lifecycle.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from pgdrill.checks import CheckResult, Expected, RestoreOutcome, one_line
from pgdrill.ci import RunInfo
from pgdrill.errors import PgdrillError, Refused
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.sources.markers import DEFAULT_GRACE, DEFAULT_TTL, Marker, signals_deferred
from pgdrill.streams import Progress

DAY = 86400.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class CopyOptions:
    """How the caller wants its copy. ``purpose`` names copies (``pgdrill_drill_…``, ``…rehearsal…``)."""

    keep: bool = False
    purpose: str = "drill"
    run: RunInfo = field(default_factory=RunInfo.from_env)
    grace: float = DEFAULT_GRACE  # leftovers younger than this are never swept
    ttl: float = DEFAULT_TTL  # how long this run may live; copies from other hosts are swept after it
    clock: Callable[[], datetime] = utcnow

    def marker(self, now: datetime) -> Marker:
        m = Marker.new(now, ttl=self.ttl, run=self.run.run_url, purpose=self.purpose)
        return m.kept() if self.keep else m


@dataclass(frozen=True)
class Origin:
    """What a copy was restored from, as drill records keep it. Never holds a secret."""

    id: str  # a backup id, or e.g. "neon:main@2026-11-20T14:29:45Z"
    created_at: datetime  # when the backup was taken / the instant the copy holds
    point_in_time: datetime | None = None  # the instant the copy represents (for a backup: its snapshot)
    requested: str = "latest"  # what was asked for: an id, "latest", or an instant
    database: str = ""
    host: str = ""
    port: int = 0
    server_version: str = ""
    dump_version: str = ""
    size: int = 0
    sha256: str = ""
    tags: tuple[str, ...] = ()
    encrypted: bool = False
    tables: int = 0
    rows: int = 0
    compared_backup_id: str | None = None  # a stored backup the copy is compared with (not restored)
    window_earliest: datetime | None = None  # the earliest instant the source could have restored


@dataclass(frozen=True)
class RpoMeasure:
    """The data a disaster would lose: ``age`` of what the copy holds at the drill's start, plus the
    worst gap between consecutive restore points within ``window`` (the loss at the worst moment)."""

    age: float
    worst_gap: float
    window: float
    detail: str | None = None  # how a source other than stored backups measured it, for the report

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


@dataclass(frozen=True)
class PitrWindow:
    """The instants a point-in-time source can restore to, as monitor watches them: from ``earliest``
    (the oldest base backup's end, or the start of a provider's history) to ``newest_wal`` (the
    newest archived WAL; None for a provider that keeps history continuously, such as Neon)."""

    earliest: datetime | None
    newest_wal: datetime | None
    what: str  # "pgBackRest stanza main", "Neon project x (history retention 7 days)"
    continuous: bool = False  # history up to now by construction (Neon): no archive to go stale

    def seconds(self, now: datetime) -> float | None:
        """The window's length: earliest to the newest recoverable instant."""
        if self.earliest is None:
            return None
        end = now if self.continuous else self.newest_wal
        return max(0.0, (end - self.earliest).total_seconds()) if end is not None else None

    def wal_age(self, now: datetime) -> float | None:
        if self.continuous or self.newest_wal is None:
            return None
        return max(0.0, (now - self.newest_wal).total_seconds())


@dataclass
class RestoredCopy:
    """One restored copy: where it is and what is known of it, filled in by its source while it is
    made. ``cleanup`` is set when the copy is destroyed or kept."""

    source_kind: str
    name: str  # the scratch database, branch or data directory
    origin: Origin
    marker: Marker
    url: DatabaseUrl | None = None  # carries the password; str()/repr() never show it
    #: made for this run (a scratch database, or a private server of its own), or given by the user
    target_kind: Literal["scratch", "target", "private"] = "scratch"
    server_version: str | None = None
    tool: str = "pg_restore"  # the tool that made the copy: pg_restore, pgbackrest, barman-cloud-restore, …
    tool_version: str | None = None  # its version, e.g. "17.2"
    expected: Expected | None = None
    restore: RestoreOutcome | None = None  # how the restore went, for the restore check
    checks: list[CheckResult] = field(default_factory=list)  # the source's own checks (branch ready, …)
    fetch_seconds: float = 0.0  # bringing the backup to where it is restored
    restore_seconds: float = 0.0  # making the copy from it
    replay_seconds: float = 0.0  # replaying WAL up to the target instant (physical recovery)
    copy_id: str | None = None  # the provider's id for it (a Neon branch id)
    created: bool = False  # something exists that cleanup must remove
    stand_in_roles: list[str] = field(default_factory=list)  # roles made for it on its server (NOLOGIN)
    cleanup: CheckResult | None = None
    notes: list[str] = field(default_factory=list)  # warnings for the report (swept or kept copies)
    jobs: int | None = None  # parallel restore jobs, when the copy was made by pg_restore

    @property
    def usable(self) -> bool:
        """Connectable, and none of the source's own checks failed: worth running the checks on."""
        return self.url is not None and not any(c.status == "fail" for c in self.checks)


@dataclass(frozen=True)
class Leftover:
    """A copy found from an earlier run: its name, its marker (None when it has none), and how to remove it."""

    name: str
    marker: Marker | None
    remove: Callable[[], str]  # removes it; returns what was done (raises PgdrillError on failure)
    created_at: datetime | None = None  # from the name, when there is no marker
    hint: str = ""  # how to remove it by hand (for kept copies)


class Source(abc.ABC):
    """Something a restored copy can be made from. Subclasses implement the hooks below; the lifecycle
    (sweep, make, yield, destroy or keep, report) is :meth:`restored`'s and is the same for all."""

    #: short name for records and reports: "backup", "neon", …
    kind: str = "source"
    #: the copy made by the latest :meth:`restored`, also when making it failed (its ``cleanup`` then
    #: says what became of it)
    last: RestoredCopy | None = None

    # -- hooks --------------------------------------------------------------------------------
    @abc.abstractmethod
    def describe(self) -> str:
        """One line naming the source, without secrets: "backup latest in s3://acme/prod"."""

    @abc.abstractmethod
    def prepare(self, now: datetime) -> list[str]:
        """Resolve what will be restored and validate every input; return warnings. Raises (a
        :class:`~pgdrill.errors.PgdrillError`) before anything is created."""

    @abc.abstractmethod
    def origin(self) -> Origin:
        """What the copy is (or will be) restored from; complete once :meth:`restored` yielded."""

    @abc.abstractmethod
    def rpo(self, now: datetime) -> RpoMeasure:
        """The recovery point of a copy made now (see :class:`RpoMeasure`)."""

    @abc.abstractmethod
    def _new_copy(self, opts: CopyOptions, now: datetime) -> RestoredCopy:
        """The copy's name and marker, before anything exists."""

    @abc.abstractmethod
    def _make(self, copy: RestoredCopy, opts: CopyOptions, progress: Progress | None) -> None:
        """Create the copy and restore into it. Set ``copy.created`` *before* asking for anything that
        will need removing (an interrupt may arrive while the request is in flight). A restore that
        fails is recorded on the copy (``restore``, ``checks``), not raised; infrastructure trouble
        raises, after which the copy is still destroyed."""

    @abc.abstractmethod
    def _destroy(self, copy: RestoredCopy) -> CheckResult:
        """Remove the copy and everything made for it. Never raises: the result says what happened."""

    @abc.abstractmethod
    def _leftovers(self, opts: CopyOptions) -> Sequence[Leftover]:
        """Copies of this source's kind made by earlier runs (marked as pgdrill's)."""

    def _kept(self, copy: RestoredCopy) -> str:
        """What to tell the user about a copy kept with ``keep`` (where it is, how to remove it)."""
        return f"{copy.name} kept (--keep)"

    def attach(self, progress: Progress | None) -> None:
        """Where the source may report long waits (retries of an API, recovery progress)."""
        return None

    def pitr_window(self, now: datetime) -> PitrWindow | None:
        """What a point-in-time source can restore to right now (for monitor); None: not one."""
        return None

    # -- the lifecycle ------------------------------------------------------------------------
    @staticmethod
    def refuse_production(target: DatabaseUrl | None, production_databases: Sequence[str]) -> None:
        """No source ever restores into a database listed as production."""
        if target is not None and target.dbname in production_databases:
            raise Refused(f"target database '{target.dbname}' is listed in production_databases",
                          "drill into a scratch database (--scratch-url) or another target")

    def sweep(self, opts: CopyOptions, progress: Progress | None = None) -> list[str]:
        """Remove copies left by runs whose owner is gone; list kept ones. Never raises."""
        now = opts.clock().astimezone(timezone.utc)
        notes: list[str] = []
        try:
            leftovers = list(self._leftovers(opts))
        except PgdrillError as exc:
            return [f"could not look for copies left by earlier runs: {exc.message}"]
        for lo in leftovers:
            m = lo.marker
            if m is None:
                # No readable marker (killed between creating and marking it): judge by the name's time.
                if lo.created_at is None or (now - lo.created_at).total_seconds() < opts.ttl + opts.grace:
                    continue
                why = f"unmarked, made {lo.created_at:%Y-%m-%d %H:%M} UTC"
            elif m.keep:
                notes.append(f"kept copy {lo.name} ({m.describe()}) left in place" + (f": {lo.hint}" if lo.hint
                                                                                      else ""))
                continue
            elif not m.orphaned(now, opts.grace):
                continue
            else:
                why = m.describe() + ", whose run is gone"
            try:
                with signals_deferred():
                    done = lo.remove()
            except PgdrillError as exc:
                notes.append(f"could not remove copy {lo.name} left by an earlier run ({why}): {exc.message}")
                continue
            note = f"removed copy {lo.name} left by an earlier run ({why}): {done}"
            notes.append(note)
            if progress:
                progress(note)
        return notes

    @contextlib.contextmanager
    def restored(self, opts: CopyOptions | None = None, progress: Progress | None = None) -> Iterator[RestoredCopy]:
        """Make a copy, yield it, destroy it (or keep it): see the module's contract."""
        opts = opts or CopyOptions()
        notes = self.sweep(opts, progress)
        copy = self._new_copy(opts, opts.clock().astimezone(timezone.utc))
        copy.notes += notes
        self.last = copy
        try:
            self._make(copy, opts, progress)
            yield copy
        finally:
            if copy.created:
                if opts.keep:
                    copy.cleanup = CheckResult("cleanup", "skip", one_line(self._kept(copy)))
                else:
                    if progress:  # the outcome is the report's cleanup line
                        progress(f"destroying the copy {copy.name}")
                    t0 = time.monotonic()
                    with signals_deferred():
                        result = self._destroy(copy)
                    copy.cleanup = CheckResult(result.name, result.status, one_line(result.detail),
                                               round(result.duration or time.monotonic() - t0, 3), result.items)
