"""The report job: read a store once into a :class:`StoreView` — backups, failed attempts, drill
records (with the sha256 of each record as stored), monitor's evaluation with the configured
thresholds and the retention plan with its reasons — for the dashboard and the evidence report.

Reading is all this module does: the views are plain data, and every page, table and chart is drawn
from them by pure renderers (:mod:`pgdrill.report.dashboard`, :mod:`pgdrill.report.evidence`).
Renderers take a list of (database name, view) pairs, so one store and a fleet of them are drawn the
same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pgdrill import catalog as catalog_mod
from pgdrill.catalog import Attempt
from pgdrill.drill.record import DrillRecord, parse_record
from pgdrill.errors import ConfigError, IntegrityError, PgdrillError
from pgdrill.manifest import Manifest
from pgdrill.monitor import DrillSummary, Health, Observed, Thresholds, evaluate
from pgdrill.retention import Decision, Policy, plan
from pgdrill.store.base import Store

if TYPE_CHECKING:
    from pgdrill.evidence import Evidence
    from pgdrill.fleet.status import DatabaseStatus


@dataclass(frozen=True)
class StoredDrill:
    """A drill record and the sha256 of its bytes in the store (what an attestation names)."""

    record: DrillRecord
    key: str
    sha256: str


@dataclass(frozen=True)
class Window:
    """A point-in-time window a drill saw: its source could restore any instant from ``earliest``
    up to the drill (``observed_at``); the copy held ``restored``."""

    source_kind: str
    earliest: datetime
    observed_at: datetime
    restored: datetime | None
    drill_id: str

    @property
    def seconds(self) -> float:
        return max(0.0, (self.observed_at - self.earliest).total_seconds())


@dataclass
class StoreView:
    """Everything the dashboard and the evidence report show about one store, read at ``read_at``."""

    store: str
    read_at: datetime
    policy: Policy
    health: Health
    backups: list[Manifest] = field(default_factory=list)  # oldest first
    attempts: list[Attempt] = field(default_factory=list)  # failed attempts, oldest first
    drills: list[StoredDrill] = field(default_factory=list)  # oldest first
    retention: list[Decision[Manifest]] = field(default_factory=list)  # oldest first
    problems: list[str] = field(default_factory=list)

    @property
    def windows(self) -> list[Window]:
        """The windows point-in-time drills recorded, oldest first."""
        return [Window(d.record.source_kind, d.record.window_earliest, d.record.started_at, d.record.point_in_time,
                       d.record.id) for d in self.drills if d.record.window_earliest is not None]

    @property
    def thresholds(self) -> Thresholds:
        return self.health.thresholds


@dataclass(frozen=True)
class ReportTarget:
    """One database to report on: its store, with the retention policy and monitor thresholds
    pgdrill.yml gives it (a name of None: called after its backups' database)."""

    name: str | None
    store: Store
    policy: Policy
    thresholds: Thresholds
    environment: str | None = None


@dataclass(frozen=True)
class ReportRequest:
    """``pgdrill report``: the dashboard into ``html_dir``, the evidence for ``period``, or (neither)
    the status table in ``fmt``, over one database or a fleet. ``fleet``: a store that cannot be
    read becomes an "unreadable" row instead of stopping the report."""

    databases: tuple[ReportTarget, ...]
    html_dir: Path | None = None
    period: str | None = None
    fmt: str = "md"
    output: Path | None = None
    now: datetime | None = None
    fleet: bool = False

    @property
    def status(self) -> bool:
        """The status table is what is reported when neither the dashboard nor the evidence is."""
        return self.html_dir is None and self.period is None


@dataclass
class ReportResult:
    views: list[tuple[str, StoreView]]
    evidence: list[Evidence] = field(default_factory=list)  # when a period was asked for
    statuses: list[DatabaseStatus] = field(default_factory=list)  # every database, readable or not
    read_at: datetime | None = None


def _drills(store: Store, problems: list[str]) -> tuple[list[StoredDrill], list[DrillSummary]]:
    full: list[StoredDrill] = []
    summaries: list[DrillSummary] = []
    for key in catalog_mod.drill_keys(store):
        try:
            data = store.get_bytes(key)
        except PgdrillError as exc:
            problems.append(f"drill record {key}: unreadable: {exc.message}")
            continue
        # Monitor judges every record it can read at all; the dashboard lists the complete ones.
        try:
            doc = json.loads(data)
            if isinstance(doc, dict):
                summaries.append(DrillSummary.from_doc(doc))
        except (ValueError, KeyError, TypeError, RecursionError):
            pass
        try:
            record = parse_record(data, key)
        except IntegrityError as exc:
            problems.append(exc.message)
            continue
        full.append(StoredDrill(record, key, hashlib.sha256(data).hexdigest()))
    full.sort(key=lambda d: (d.record.started_at, d.record.id))
    summaries.sort(key=lambda d: (d.finished_at, d.id))
    return full, summaries


def read_view(store: Store, policy: Policy, thresholds: Thresholds, now: datetime | None = None) -> StoreView:
    """Read ``store`` once; evaluate it as ``pgdrill monitor`` would and plan retention as
    ``pgdrill prune --dry-run`` would, both at ``now``."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    cat = catalog_mod.load(store)
    attempts = catalog_mod.failed_attempts(store)
    problems = [f"backup {p.backup_id}: {p.reason}" for p in cat.problems]
    drills, summaries = _drills(store, problems)
    health = evaluate(Observed(store.url, list(cat.backups), attempts, summaries, list(problems)), thresholds, now)
    return StoreView(store.url, now, policy, health, list(cat.backups), [a for a in attempts if a.status != "ok"],
                     drills, plan(cat.backups, policy, now), problems)


def database_name(view: StoreView, given: str | None = None) -> str:
    """What a page calls the database: the name given, else the database of its newest backup, else
    the store."""
    if given:
        return given
    if view.backups:
        return view.backups[-1].database
    if view.drills:
        return view.drills[-1].record.source_database or view.store
    return view.store


def write_site(directory: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write the rendered files into ``directory`` (created when missing); each file is replaced
    atomically, so a web server never serves half a page."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--html {directory} is a file", "give a folder for the dashboard's pages")
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            target = directory / name
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
            data = content.encode("utf-8") if isinstance(content, str) else content
            try:
                tmp.write_bytes(data)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(target)
    except OSError as exc:
        raise ConfigError(f"cannot write the dashboard into {directory}: {exc.strerror or exc}") from None
    return written


def write_output(path: Path, text: str) -> None:
    """``--output FILE``, replaced atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write --output {path}: {exc.strerror or exc}") from None


def views(entries: Sequence[tuple[str | None, Store]], policy: Policy, thresholds: Thresholds,
          now: datetime | None = None) -> list[tuple[str, StoreView]]:
    """(name, store) pairs → (name, view) pairs, all read at the same instant with one policy and
    one set of thresholds; a store that cannot be read stops it."""
    at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    found = statuses([ReportTarget(name, store, policy, thresholds) for name, store in entries], at, tolerate=False)
    return [(st.name, st.view) for st in found if st.view is not None]


def statuses(targets: Sequence[ReportTarget], now: datetime, *, tolerate: bool,
             progress: Callable[[str], None] | None = None) -> list[DatabaseStatus]:
    """Read every target's store at ``now``. ``tolerate``: a store that cannot be read is a status
    with its error (a fleet); otherwise the error stops the report (one store)."""
    from pgdrill.fleet.status import DatabaseStatus

    out = []
    for i, t in enumerate(targets, 1):
        if progress and len(targets) > 1:
            progress(f"reading {t.name or t.store.url} ({i}/{len(targets)})")
        try:
            view = read_view(t.store, t.policy, t.thresholds, now)
        except PgdrillError as exc:
            if not tolerate:
                raise
            out.append(DatabaseStatus(t.name or t.store.url, t.environment, t.store.url, None, exc.one_line()))
            continue
        out.append(DatabaseStatus(database_name(view, t.name), t.environment, t.store.url, view))
    return out


def run_report(req: ReportRequest, progress: Callable[[str], None] | None = None) -> ReportResult:
    """Read every store (at one instant) and, for a period, collect its evidence. Renders nothing."""
    from pgdrill.evidence import collect, parse_period

    at = (req.now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    found = statuses(req.databases, at, tolerate=req.fleet, progress=progress)
    result = ReportResult([(st.name, st.view) for st in found if st.view is not None], statuses=found, read_at=at)
    if req.period:
        period = parse_period(req.period)
        result.evidence = [collect(name, view, period) for name, view in result.views]
    return result
