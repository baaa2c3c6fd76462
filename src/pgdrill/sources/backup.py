"""A backup pgdrill made, restored from its store into a scratch database (or ``--target-url``).

The archive is read once: hashed on the way into pg_restore, its errors counted rather than aborting
(a drill wants to see them all). A corrupt archive is a failed restore check, not an exception. The
backup's manifest is what the copy is checked against.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pgdrill.catalog import Catalog
from pgdrill.catalog import load as load_catalog
from pgdrill.checks import Expected, RestoreOutcome
from pgdrill.errors import ConfigError, IntegrityError, PgdrillError
from pgdrill.manifest import Manifest
from pgdrill.pg.conn import DatabaseUrl, connect, server_version_string
from pgdrill.restore import RestoreRequest, provide_roles, run_restore
from pgdrill.secrets import Secret
from pgdrill.settings import Settings
from pgdrill.sources.base import DAY, Origin, RestoredCopy, RpoMeasure, measure_rpo
from pgdrill.sources.scratch import DatabaseCopySource
from pgdrill.store.base import Store
from pgdrill.streams import Progress


@dataclass
class StoredBackupSource(DatabaseCopySource):
    """``backup`` (an id, a unique prefix of one, or ``latest``) from ``store``."""

    store: Store | None = None
    backup: str = "latest"
    identities: tuple[Secret, ...] = ()
    jobs: int | Literal["auto"] = 1  # pg_restore --jobs (parallel, from a verified temp copy); "auto": pg/parallel
    rpo_window: float = 30 * DAY
    manifest: Manifest | None = None  # resolved by prepare(), or given (the backup predeploy just made)
    kind: str = field(default="backup", init=False)
    _catalog: Catalog | None = field(default=None, init=False, repr=False)

    def describe(self) -> str:
        where = self.store.url if self.store is not None else "?"
        return f"backup {self.manifest.id if self.manifest else self.backup} in {where}"

    def prepare(self, now: datetime) -> list[str]:
        assert self.store is not None, "a stored-backup source needs a store"
        self.check_target()
        self._catalog = load_catalog(self.store)
        if self.manifest is None:
            self.manifest = self._catalog.find(self.backup)
        if self.backup not in ("latest", ""):
            return []
        return self._catalog.skipped_newer(self.manifest)

    def _m(self) -> Manifest:
        assert self.manifest is not None, "prepare() first"
        return self.manifest

    def origin(self) -> Origin:
        m = self._m()
        return Origin(id=m.id, created_at=m.created_at, point_in_time=m.created_at, requested=self.backup or "latest",
                      database=m.database, host=m.host, port=m.port, server_version=m.server_version,
                      dump_version=m.pg_dump_version, size=m.size, sha256=m.sha256, tags=tuple(m.tags),
                      encrypted=m.encrypted, tables=len(m.tables), rows=m.total_rows)

    def rpo(self, now: datetime) -> RpoMeasure:
        m = self._m()
        times = [b.created_at for b in self._catalog.backups] if self._catalog else [m.created_at]
        return measure_rpo(m.created_at, times, now, self.rpo_window)

    def _load(self, copy: RestoredCopy, url: DatabaseUrl, progress: Progress | None) -> None:
        assert self.store is not None
        m = self._m()
        copy.url = url
        copy.expected = Expected.from_manifest(m)
        t0 = time.monotonic()
        jobs = self.jobs
        if jobs == "auto":
            from pgdrill.pg.parallel import auto_jobs

            jobs, why = auto_jobs(m.archive_size or m.size)
            if jobs == 1:
                copy.notes.append(why)  # the report says why the restore was not parallel
            if progress:
                progress(why.replace("restored with", "restoring with", 1))
        copy.jobs = jobs
        # Owners and grants come back as they were: the server gets NOLOGIN stand-ins for the roles it
        # lacks, marked like the copy (dropped with it; a --target-url copy keeps them, its objects are theirs).
        copy.stand_in_roles = provide_roles(self.store, m, self.identities, url, copy.marker.to_text(), progress)
        if copy.stand_in_roles and copy.target_kind == "target":
            copy.notes.append(f"stand-in role(s) {', '.join(copy.stand_in_roles)} (NOLOGIN, no password) stay on "
                              f"{url.host}:{url.port}: the restored objects in {url.dbname} belong to them")
        # One pass over the archive: hashed on the way into pg_restore, errors counted rather than aborting.
        req = RestoreRequest(self.store, m.id, url, identities=self.identities, verify_first=False, atomic=False,
                             jobs=jobs, check_roles=False)
        try:
            r = run_restore(req, progress, m)
        except IntegrityError as exc:
            # A corrupt archive is a failed drill with a record, not a crash.
            copy.restore_seconds = time.monotonic() - t0
            copy.restore = RestoreOutcome(integrity_error=exc.message, duration=copy.restore_seconds)
            copy.server_version = _server_version(url)
            return
        copy.restore_seconds = time.monotonic() - t0
        copy.restore = RestoreOutcome(r.error_count, tuple(r.errors), None, copy.restore_seconds)
        copy.server_version = r.target_server_version
        copy.tool_version = r.pg_restore_version


def _server_version(url: DatabaseUrl) -> str | None:
    try:
        with connect(url, role="restored database") as conn:
            return server_version_string(conn)
    except PgdrillError:
        return None


def placement(s: Settings) -> tuple[DatabaseUrl | None, DatabaseUrl | None]:
    """--scratch-url or --target-url. A flag given now wins over the other one's pgdrill.yml default,
    so a config made for `restore` (target_url:) does not block `drill --scratch-url`."""
    scratch, target = s.get("scratch_url"), s.get("target_url")
    if scratch and target:
        if s.given_now("scratch_url") and not s.given_now("target_url"):
            target = None
        elif s.given_now("target_url") and not s.given_now("scratch_url"):
            scratch = None
    if not scratch and not target:
        raise ConfigError("missing --scratch-url (a server to create a scratch database on) or --target-url")
    if scratch and target:
        raise ConfigError("give --scratch-url or --target-url, not both")
    return (s.url("scratch_url") if scratch else None, s.url("target_url") if target else None)


def from_settings(s: Settings, purpose: str) -> StoredBackupSource:
    """The stored-backup source of a drill: ``--store``, ``--backup``, a scratch server or a target."""
    from pgdrill.drill import DrillSettings
    from pgdrill.settings import jobs

    scratch, target = placement(s)
    settings = s.section("drill", DrillSettings)
    return StoredBackupSource(
        scratch_url=scratch, target_url=target, prefix=settings.scratch_prefix,
        production_databases=tuple(s.get("production_databases") or ()), store=jobs.store(s),
        backup=str(s.get("backup_ref", "latest") or "latest"), identities=jobs.identities(s),
        jobs=_jobs(s.get("jobs", 1)), rpo_window=settings.rpo_window,
    )


def _jobs(value: object) -> int | Literal["auto"]:
    """--jobs: a number, or ``auto`` (the drill's default: see pgdrill.pg.parallel.auto_jobs)."""
    if value in (None, ""):
        return 1
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        n = int(str(value))
    except ValueError:
        raise ConfigError(f"--jobs '{value}' is not a number or auto", "e.g. --jobs 2, or --jobs auto") from None
    if not 1 <= n <= 64:
        raise ConfigError(f"--jobs {n} is not between 1 and 64")
    return n
