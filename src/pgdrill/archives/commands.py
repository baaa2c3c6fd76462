"""``verify`` and ``restore`` over an archive set (``list`` is :meth:`ArchiveSet.load`; ``drill`` is the
archive source, :mod:`pgdrill.sources.archives`; ``monitor`` is :mod:`pgdrill.monitor.archives`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgdrill.archives.listing import Archive, ArchiveSet, Location
from pgdrill.archives.load import LoadOptions, LoadOutcome, VerifyOutcome, inspect, load, verify
from pgdrill.errors import ConfigError
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store.base import Store
from pgdrill.streams import Progress


@dataclass
class VerifyReport:
    pattern: str
    outcome: VerifyOutcome
    warnings: list[str] = field(default_factory=list)


def run_verify(pattern: str, ref: str, records: Store | None = None, progress: Progress | None = None,
               location: Location | None = None) -> VerifyReport:
    """Read one archive of the set to its end (IntegrityError when it cannot be); with ``records``
    (a store of drill records), say when the object changed since a drill read it."""
    from pgdrill.sources.archives import change_note, previous_drills

    aset = ArchiveSet.load(pattern, location)
    archive = aset.find(ref)
    outcome = verify(aset, archive, progress)
    warnings = []
    note = change_note(previous_drills(records, aset.text), archive, outcome.size, outcome.sha256)
    if note:
        warnings.append(note)
    return VerifyReport(aset.text, outcome, warnings)


@dataclass(frozen=True)
class ArchiveRestoreRequest:
    pattern: str
    archive: str  # latest, or a name
    target_url: DatabaseUrl
    clean: bool = False
    confirm: str | None = None
    keep_owners: bool = False
    verify_first: bool = True  # read the archive through before a restore that could leave a half
    jobs: int = 1
    location: Location | None = None


@dataclass
class ArchiveRestoreResult:
    pattern: str
    archive: Archive
    target: str  # redacted
    target_server_version: str
    outcome: LoadOutcome

    @property
    def ok(self) -> bool:
        return self.outcome.ok


def run_restore(req: ArchiveRestoreRequest, progress: Progress | None = None) -> ArchiveRestoreResult:
    """Restore an archive of the set into ``target_url``: refused into a database that holds tables
    unless ``clean`` and ``confirm`` name it; one transaction unless ``jobs`` > 1."""
    from pgdrill.restore import guard_target, target_state

    if req.jobs > 1 and req.clean:
        raise ConfigError("--jobs cannot be combined with --clean: a parallel restore is not one transaction, "
                          "so a failure would leave the database half replaced")
    aset = ArchiveSet.load(req.pattern, req.location)
    archive = aset.find(req.archive)
    user_tables, version, major = target_state(req.target_url)
    guard_target(req.target_url, req.clean, req.confirm, user_tables)
    sniffed = inspect(aset, archive)
    if sniffed.format == "plain" and req.clean:
        raise ConfigError(f"{archive.url} is plain SQL, which cannot replace what a database holds",
                          "restore it into an empty database instead of using --clean")
    atomic = req.jobs == 1
    if req.verify_first and (user_tables or not atomic):
        if progress:
            progress(f"reading {archive.url} to its end before restoring")
        verify(aset, archive, progress)
    opts = LoadOptions(keep_owners=req.keep_owners, atomic=atomic, clean=req.clean, jobs=req.jobs,
                       verify_first=req.verify_first)
    outcome = load(aset, archive, req.target_url, major, opts, progress, sniffed)
    return ArchiveRestoreResult(aset.text, archive, req.target_url.redacted, version, outcome)
