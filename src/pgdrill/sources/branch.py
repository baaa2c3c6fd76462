"""A point-in-time branch from a provider (Neon today): the source as it was at ``at`` (or its latest
state), made as a short-lived branch, checked, and deleted.

The branch is asked for with an expiry (``expires_at``), so should pgdrill itself die the provider
deletes it; and its name carries the maker's host and pid (``pgdrill-drill-<time>-h<host>-p<pid>-…``),
so the next run on the same host can remove it at once. A stored backup can lend its manifest for the
comparison (``compare_store``): taken at another instant than the branch, its row counts are compared
as warnings unless pgdrill.yml says otherwise.
"""

from __future__ import annotations

import secrets as pysecrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pgdrill import secrets
from pgdrill.catalog import load as load_catalog
from pgdrill.checks import CheckResult, Expected, one_line
from pgdrill.errors import ConfigError, PgdrillError
from pgdrill.manifest import Manifest
from pgdrill.pg import stats
from pgdrill.pg.conn import DatabaseUrl, connect, server_version_string
from pgdrill.providers.base import BranchFailed, BranchRef, PitrProvider, RestoreWindow
from pgdrill.report.format import fmt_seconds, iso
from pgdrill.sources.base import CopyOptions, Leftover, Origin, PitrWindow, RestoredCopy, RpoMeasure, Source
from pgdrill.sources.instants import check_window
from pgdrill.sources.markers import Marker, parse_name_tag
from pgdrill.store.base import Store
from pgdrill.streams import Progress

DEFAULT_BRANCH_TTL = 6 * 3600.0  # a GitHub-hosted job runs at most 6 hours
DEFAULT_READY_TIMEOUT = 600.0
DEFAULT_DELETE_TIMEOUT = 180.0
PREFIX = "pgdrill-"


def branch_name(purpose: str, now: datetime, marker: Marker | None = None) -> str:
    tag = f"-{marker.name_tag()}" + ("-keep" if marker.keep else "") if marker else ""
    return f"{PREFIX}{purpose}-{now:%Y%m%d-%H%M%S}{tag}-{pysecrets.token_hex(3)}"


@dataclass
class BranchSource(Source):
    provider: PitrProvider
    at: datetime | None = None  # None: the source's latest state
    compare_store: Store | None = None  # a store whose backup's manifest the branch is compared with
    compare_backup: str = "latest"
    branch_ttl: float = DEFAULT_BRANCH_TTL
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    delete_timeout: float = DEFAULT_DELETE_TIMEOUT
    production_databases: tuple[str, ...] = ()
    target_url: DatabaseUrl | None = None  # never accepted: the branch is the copy
    kind: str = field(default="", init=False)
    _window: RestoreWindow | None = field(default=None, init=False, repr=False)
    _manifest: Manifest | None = field(default=None, init=False, repr=False)
    _started: datetime | None = field(default=None, init=False, repr=False)
    _ref: BranchRef | None = field(default=None, init=False, repr=False)
    _point: datetime | None = field(default=None, init=False, repr=False)
    _database: str = field(default="", init=False, repr=False)
    _tables: int = field(default=0, init=False, repr=False)
    _version: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        self.kind = self.provider.kind

    def describe(self) -> str:
        return self.provider.describe()

    def attach(self, progress: Progress | None) -> None:
        self.provider.attach(progress)

    def pitr_window(self, now: datetime) -> PitrWindow:
        """The provider keeps history continuously: the window ends now and no archive goes stale."""
        w = self.provider.restore_window(now)
        return PitrWindow(w.earliest, None, w.what, continuous=True)

    def prepare(self, now: datetime) -> list[str]:
        self.refuse_production(self.target_url, self.production_databases)
        if self.target_url is not None:
            raise ConfigError(f"--target-url does not apply to a {self.kind} drill",
                              "the branch made at --at is the scratch database")
        self._started = now
        self._window = self.provider.restore_window(now)
        if self.at is not None:
            check_window(self.at, self._window, now)
        warnings: list[str] = []
        if self.compare_store is not None:
            cat = load_catalog(self.compare_store)
            self._manifest = cat.find(self.compare_backup) if cat.backups else None
            if self._manifest is None:
                warnings.append("the store holds no backup: row counts are not compared with a manifest")
        return warnings

    def _point_in_time(self) -> datetime:
        return self._point or self.at or self._started or datetime.now().astimezone()

    def origin(self) -> Origin:
        point = self._point_in_time()
        m = self._manifest
        return Origin(
            id=f"{self.provider.kind}:{self.provider.source_name()}@{iso(point) if self.at else 'latest'}",
            created_at=point, point_in_time=point, requested=iso(self.at) if self.at else "latest",
            database=self._database, host=self.provider.describe(), server_version=self._version,
            tables=len(m.tables) if m else self._tables, rows=m.total_rows if m else 0,
            compared_backup_id=m.id if m else None,
            window_earliest=self._window.earliest if self._window else None,
        )

    def rpo(self, now: datetime) -> RpoMeasure:
        window = self._window.retention_seconds if self._window else 0.0
        return RpoMeasure(round(max(0.0, (now - self._point_in_time()).total_seconds()), 3), 0.0, window)

    # -- the copy -----------------------------------------------------------------------------
    def _new_copy(self, opts: CopyOptions, now: datetime) -> RestoredCopy:
        marker = opts.marker(now)
        return RestoredCopy(self.kind, branch_name(opts.purpose, now, marker), self.origin(), marker)

    def _make(self, copy: RestoredCopy, opts: CopyOptions, progress: Progress | None) -> None:
        when = iso(self.at) if self.at else "its latest state"
        if progress:
            progress(f"creating branch {copy.name} of {self.provider.describe()} at {when}")
        t0 = time.monotonic()
        expires_at = copy.marker.created_at + timedelta(seconds=self.branch_ttl)
        copy.created = True  # before the request: an interrupt while it is in flight must still look it up
        try:
            self._ref = self.provider.create_branch(copy.name, self.at, expires_at)
            copy.copy_id = self._ref.id
            if progress:
                progress(f"branch {self._ref.name} ({self._ref.id}) accepted; waiting for it to be ready")
            ready = self.provider.wait_ready(self._ref, self.ready_timeout, progress)
        except BranchFailed as exc:
            copy.restore_seconds = time.monotonic() - t0
            copy.checks.append(CheckResult("branch", "fail", one_line(secrets.scrub(exc.message)),
                                           round(copy.restore_seconds, 3)))
            return
        copy.restore_seconds = time.monotonic() - t0
        if progress:
            progress(f"branch ready at {ready.url.redacted}")
        self._point, self._database = ready.point_in_time, ready.database
        check = self._branch_check(ready.url, self._ref, ready.point_in_time, copy.restore_seconds)
        copy.checks.append(check)
        copy.server_version = self._version or None
        copy.origin = self.origin()
        if check.status == "pass":
            copy.url = ready.url
            if self._manifest is not None:
                copy.expected = Expected.from_manifest(self._manifest, same_instant=False)

    def _branch_check(self, url: DatabaseUrl, ref: BranchRef, point: datetime, seconds: float) -> CheckResult:
        """The branch's own check: it exists and accepts connections."""
        try:
            with connect(url, role="point-in-time branch") as conn:
                self._version = server_version_string(conn)
                self._tables = stats.user_table_count(conn)
        except PgdrillError as exc:
            return CheckResult("branch", "fail", one_line(f"branch {ref.name} was made but is not reachable: "
                                                          f"{exc.message}"), round(seconds, 3))
        detail = (f"branch {ref.name} of {self.provider.describe()} at {iso(point)} ready in {fmt_seconds(seconds)}: "
                  f"PostgreSQL {self._version}, {self._tables} tables")
        return CheckResult("branch", "pass", one_line(detail), round(seconds, 3))

    def _destroy(self, copy: RestoredCopy) -> CheckResult:
        cleanup = self.provider.delete_branch(self._ref, copy.name, self.delete_timeout)
        return CheckResult("cleanup", "pass" if cleanup.ok else "fail", one_line(cleanup.detail), items=cleanup.items)

    def _kept(self, copy: RestoredCopy) -> str:
        expiry = copy.marker.created_at + timedelta(seconds=self.branch_ttl)
        return (f"branch {copy.name} kept (--keep) until {iso(expiry)}, when {self.provider.kind} deletes it by "
                f"itself")

    def _leftovers(self, opts: CopyOptions) -> Sequence[Leftover]:
        out = []
        for ref in self.provider.list_branches(PREFIX):
            tag = parse_name_tag(ref.name)
            if tag is None:
                continue  # not a name this pgdrill makes: never touched
            host, pid = tag
            expires = ref.expires_at or ref.created_at + timedelta(seconds=DEFAULT_BRANCH_TTL)
            marker = Marker(host, pid, ref.created_at, expires, keep="-keep-" in ref.name)
            out.append(Leftover(ref.name, marker, _BranchDelete(self.provider, ref, self.delete_timeout)))
        return out


@dataclass(frozen=True)
class _BranchDelete:
    provider: PitrProvider
    ref: BranchRef
    timeout: float

    def __call__(self) -> str:
        cleanup = self.provider.delete_branch(self.ref, self.ref.name, self.timeout)
        if not cleanup.ok:
            raise PgdrillError("; ".join((cleanup.detail, *cleanup.items)))
        return "deleted"

