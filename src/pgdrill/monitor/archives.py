"""What monitor reads from an archive set: object names and times alone, no download.

Each archive becomes a backup for :func:`~pgdrill.monitor.evaluate.evaluate`, which judges it with
the usual thresholds and alert names: ``BackupTooOld`` (the newest archive's age, from the time in
its name or its modification time), ``BackupSizeAnomaly`` (its size against the median of the
previous ones), ``ScheduleGap`` (missing runs of the schedule, configured or inferred) — and, from
the drill records of the same set in ``--store``, ``NoDrill``/``DrillTooOld``/``DrillFailed``. Row
counts are not known without reading the dumps: the drill compares them (the row-drop check).
"""

from __future__ import annotations

from datetime import datetime, timezone

from pgdrill.archives.listing import Archive, ArchiveSet
from pgdrill.manifest import Manifest
from pgdrill.monitor.evaluate import Health, evaluate
from pgdrill.monitor.observe import Observed, read_drills
from pgdrill.monitor.thresholds import Thresholds
from pgdrill.store.base import Store


def as_backup(a: Archive) -> Manifest:
    """An archive as the backup monitor judges: its name, time and size (nothing is known of its
    contents, so no checksum, tables or rows)."""
    return Manifest.model_construct(
        id=a.name, created_at=a.time, finished_at=a.modified, database="", host="", port=0, size=a.size,
        sha256="", object_key=a.url, format="", compression="", tables={}, schemas=[], extensions={},
        server_version="", pg_dump_version="", pgdrill_version="", tags=[], encryption=None, duration_seconds=0.0)


def observe_archives(aset: ArchiveSet, records: Store | None = None) -> Observed:
    from pgdrill.sources.archives import KIND

    obs = Observed(aset.text, [as_backup(a) for a in aset.archives], contents_known=False)
    if records is None:
        return obs
    # only this set's drills: not another set's, nor drills of the store's own backups
    read_drills(records, obs, lambda doc: doc.get("source_kind") == KIND and doc.get("source_host") == aset.text)
    return obs


def run_archive_monitor(aset: ArchiveSet, records: Store | None, thresholds: Thresholds,
                        now: datetime | None = None) -> Health:
    return evaluate(observe_archives(aset, records), thresholds, now or datetime.now(timezone.utc))
