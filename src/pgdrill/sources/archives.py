"""Dumps a team already makes with its own scripts, restored into a scratch database (or ``--target-url``).

    pgdrill drill --archives 's3://acme-backups/db/*/*/app-*.dump' --scratch-url ADMIN_URL [--archive NAME]

The set (:mod:`pgdrill.archives`) is only ever read. The archive — ``latest`` by the time in its name,
else its modification time — is sniffed, read once (hashed on the way into pg_restore or psql) and
checked without a manifest: its TOC says which tables hold data (each must exist; every table's rows
are counted and kept in the drill record), which schemas and extensions it creates. With ``--store``,
the drill records of the same set tell the previous archive's counts (a table whose rows dropped
sharply is flagged: the row-drop check) and this object's last sha256 (a dump that changed after it
was drilled is reported). ``--compare-url`` (a read replica) checks the counts within a tolerance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from pgdrill.archives.listing import Archive, ArchiveSet, Location
from pgdrill.archives.load import LoadOptions, LoadOutcome, load
from pgdrill.archives.pattern import parse
from pgdrill.archives.sniff import Sniffed
from pgdrill.checks import Baseline, CheckResult, Expected, RestoreOutcome, one_line
from pgdrill.drill.record import DrillRecord, load_history
from pgdrill.errors import ConfigError, IntegrityError
from pgdrill.pg import stats
from pgdrill.pg.conn import DatabaseUrl, connect
from pgdrill.report.format import human_size, when_minute
from pgdrill.settings import Settings
from pgdrill.sources.base import DAY, Origin, RestoredCopy, RpoMeasure, measure_rpo
from pgdrill.sources.scratch import DatabaseCopySource
from pgdrill.store.base import Store
from pgdrill.streams import Progress

KIND = "archive"
DEFAULT_TOLERANCE = 0.1


def same_set(r: DrillRecord, pattern: str) -> bool:
    """Drill records of one archive set: its kind and the pattern it was drilled with."""
    return r.source_kind == KIND and r.source_host == pattern


def previous_drills(records: Store | None, pattern: str) -> list[DrillRecord]:
    if records is None:
        return []
    return [r for r in load_history(records).records if same_set(r, pattern)]


def last_seen(history: list[DrillRecord], url: str) -> DrillRecord | None:
    """The latest drill of the object at ``url`` that recorded its sha256."""
    seen = [r for r in history if r.backup_id == url and r.backup_sha256]
    return seen[-1] if seen else None


def change_note(history: list[DrillRecord], archive: Archive, size: int, sha256: str) -> str | None:
    """What changed in an object since a drill read it (None: unchanged, or never read before)."""
    before = last_seen(history, archive.url)
    if before is None or (before.backup_sha256 == sha256 and before.backup_size == size):
        return None
    return (f"{archive.url} changed since drill {before.id} ({when_minute(before.started_at)}) read it: "
            f"sha256 {before.backup_sha256[:12]}… → {sha256[:12]}…, {human_size(before.backup_size)} → "
            f"{human_size(size)}; a dump is not expected to change once written")


@dataclass
class ArchiveSource(DatabaseCopySource):
    """``archive`` (a name, ``latest``) of the set ``archives`` (a pattern), restored into a database."""

    archives: str = ""
    archive: str = "latest"
    records: Store | None = None  # drill records: the previous archive's counts, this object's last sha256
    compare_url: DatabaseUrl | None = None  # a read replica (or the primary) to compare counts with
    compare_tolerance: float = DEFAULT_TOLERANCE
    jobs: int = 1
    keep_owners: bool = False
    rpo_window: float = 30 * DAY
    row_drop: float = 0.2
    row_drop_min_rows: int = 100
    row_drop_ignore: tuple[str, ...] = ()
    location: Location | None = None  # where the set is (tests); None: from the pattern
    kind: str = field(default=KIND, init=False)
    _set: ArchiveSet | None = field(default=None, init=False, repr=False)
    _archive: Archive | None = field(default=None, init=False, repr=False)
    _sniffed: Sniffed | None = field(default=None, init=False, repr=False)
    _unreadable: str | None = field(default=None, init=False, repr=False)
    _history: list[DrillRecord] = field(default_factory=list, init=False, repr=False)
    _loaded: LoadOutcome | None = field(default=None, init=False, repr=False)

    def describe(self) -> str:
        which = self._archive.name if self._archive else self.archive or "latest"
        return f"archive {which} of {self.archives}"

    def prepare(self, now: datetime) -> list[str]:
        from pgdrill.archives.load import inspect

        parse(self.archives)  # a malformed pattern is a usage error before anything is looked at
        self.check_target()
        self._set = ArchiveSet.load(self.archives, self.location)
        self._archive = self._set.find(self.archive)
        try:
            self._sniffed = inspect(self._set, self._archive)
        except IntegrityError as exc:
            self._unreadable = exc.message  # the drill fails on it, with a record
        self._history = previous_drills(self.records, self.archives)
        if self.compare_url is not None:
            with connect(self.compare_url, role="comparison database (--compare-url)"):
                pass  # unreachable: say so before a long restore
        return []

    def _a(self) -> Archive:
        assert self._archive is not None, "prepare() first"
        return self._archive

    def origin(self) -> Origin:
        a, s, done = self._a(), self._sniffed, self._loaded
        return Origin(
            id=a.url, created_at=a.time, point_in_time=a.time, requested=self.archive or "latest",
            database=s.database if s else "", host=self.archives, server_version=s.server_version if s else "",
            dump_version=s.pg_dump_version if s else "", size=done.size if done and done.size else a.size,
            sha256=done.sha256 if done else "", tables=len(done.toc.data_tables) if done else 0,
        )

    def rpo(self, now: datetime) -> RpoMeasure:
        a = self._a()
        times = [x.time for x in self._set.archives] if self._set else [a.time]
        return measure_rpo(a.time, times, now, self.rpo_window)

    def _previous(self, a: Archive) -> DrillRecord | None:
        """The latest drill of an older archive of this set that counted its tables."""
        older = [r for r in self._history if r.table_rows and r.backup_created_at < a.time and r.backup_id != a.url]
        return max(older, key=lambda r: (r.backup_created_at, r.started_at)) if older else None

    def _load(self, copy: RestoredCopy, url: DatabaseUrl, progress: Progress | None) -> None:
        from pgdrill.restore import target_state

        assert self._set is not None
        a = self._a()
        copy.url = url
        _, version, major = target_state(url)
        copy.server_version = version
        t0 = time.monotonic()
        if self._unreadable is not None:
            copy.restore = RestoreOutcome(integrity_error=self._unreadable, duration=0.0)
            return
        done = load(self._set, a, url, major, LoadOptions(keep_owners=self.keep_owners, jobs=self.jobs), progress,
                    self._sniffed)
        self._loaded = done
        copy.restore_seconds = time.monotonic() - t0
        copy.restore = RestoreOutcome(done.error_count, tuple(done.errors), done.integrity_error,
                                      round(copy.restore_seconds, 3), done.tool)
        copy.tool, copy.tool_version = done.tool, done.tool_version
        copy.notes += done.notes
        copy.origin = self.origin()
        if done.integrity_error is not None:
            return
        copy.expected = self._expected(done, a)
        copy.checks.append(self._archive_check(done, a))

    def _expected(self, done: LoadOutcome, a: Archive) -> Expected:
        toc = done.toc
        counts: dict[str, int] | None = None
        label = "archive"
        if self.compare_url is not None:
            with connect(self.compare_url, role="comparison database (--compare-url)") as conn:
                present = {f"{s}.{t}": (s, t) for s, t in stats.user_tables(conn)}
                counts = stats.count_rows(conn, [present[t] for t in toc.data_tables if t in present])
            label = f"comparison database {self.compare_url.host}/{self.compare_url.dbname}"
        prev = self._previous(a)
        baseline = None
        if prev is not None:
            baseline = Baseline(prev.table_rows, f"the previous archive {prev.backup_id} (drill {prev.id})",
                                self.row_drop, self.row_drop_min_rows, self.row_drop_ignore)
        return Expected(tables=counts, schemas=list(toc.schemas), extensions=dict.fromkeys(toc.extensions, ""),
                        same_instant=counts is None, label=label, taken_at=a.time,
                        listed_tables=list(toc.data_tables), tolerance=self.compare_tolerance if counts else 0.0,
                        previous=baseline)

    def _archive_check(self, done: LoadOutcome, a: Archive) -> CheckResult:
        s = done.sniffed
        what = s.describe() if s else "archive"
        changed = change_note(self._history, a, done.size, done.sha256)
        if changed:
            return CheckResult("archive", "warn", one_line(changed))
        return CheckResult("archive", "pass", one_line(
            f"{a.name}: {what}, {human_size(done.size)}, sha256 {done.sha256[:12]}…, read to the end; "
            f"made {when_minute(a.time)} (time from its {a.time_source.replace('+', ' and ')})"))


def from_settings(s: Settings, purpose: str) -> ArchiveSource:
    """The archive-set source of a drill: ``--archives``, ``--archive``, a scratch server or a target."""
    from pgdrill.drill import DrillSettings
    from pgdrill.monitor.thresholds import Thresholds, parse_fraction
    from pgdrill.settings import jobs
    from pgdrill.sources.backup import placement

    if purpose != "drill":
        raise ConfigError("--table with --archives is not supported",
                          "restore the whole archive into an empty database (`pgdrill restore --archives …`), then "
                          "copy the rows you need")
    if s.given_now("backup_ref") and s.get("backup_ref") not in ("", "latest"):
        raise ConfigError("--backup names a backup in a store; with --archives, pick the archive with --archive NAME")
    scratch, target = placement(s)
    settings = s.section("drill", DrillSettings)
    limits = s.section("monitor", Thresholds)
    tolerance = s.get("compare_tolerance")
    return ArchiveSource(
        scratch_url=scratch, target_url=target, prefix=settings.scratch_prefix,
        production_databases=tuple(s.get("production_databases") or ()), archives=str(s.require("archives")),
        archive=s.text("archive") or "latest", records=jobs.store(s, required=False),
        compare_url=s.url("compare_url"),
        compare_tolerance=parse_fraction(str(tolerance), s.where("compare_tolerance")) if tolerance not in (None, "")
        else DEFAULT_TOLERANCE,
        jobs=int(s.get("jobs", 1) or 1), keep_owners=bool(s.get("keep_owners")), rpo_window=settings.rpo_window,
        row_drop=limits.row_drop, row_drop_min_rows=limits.row_drop_min_rows,
        row_drop_ignore=tuple(limits.row_drop_ignore),
    )
