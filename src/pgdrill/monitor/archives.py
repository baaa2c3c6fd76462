"""What monitor reads from an archive set: object names and times alone, no download.

Each archive becomes a backup for :func:`~pgdrill.monitor.evaluate.evaluate`, which judges it with
the usual thresholds and alert names: ``BackupTooOld`` (the newest archive's age, from the time in
its name or its modification time), ``BackupSizeAnomaly`` (its size against the median of the
previous ones), ``ScheduleGap`` (missing runs of the schedule, configured or inferred) — and, from
the drill records of the same set in ``--store``, ``NoDrill``/``DrillTooOld``/``DrillFailed``. Row
counts are not known without reading the dumps: the drill compares them (the row-drop check).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from pgdrill.archives.listing import Archive, ArchiveSet
from pgdrill.catalog import drill_keys
from pgdrill.errors import PgdrillError
from pgdrill.manifest import Manifest
from pgdrill.monitor.evaluate import Health, evaluate
from pgdrill.monitor.observe import DrillSummary, Observed
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
    for key in drill_keys(records):
        try:
            doc = json.loads(records.get_bytes(key))
            if not isinstance(doc, dict):
                raise TypeError("not a JSON object")
            if doc.get("source_kind") != KIND or doc.get("source_host") != aset.text:
                continue  # another set's drill, or a drill of the store's own backups
            obs.drills.append(DrillSummary.from_doc(doc))
        except PgdrillError as exc:
            obs.problems.append(f"drill record {key}: unreadable: {exc.message}")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            obs.problems.append(f"drill record {key}: {type(exc).__name__}: {exc}")
    obs.drills.sort(key=lambda d: (d.finished_at, d.id))
    return obs


def run_archive_monitor(aset: ArchiveSet, records: Store | None, thresholds: Thresholds,
                        now: datetime | None = None) -> Health:
    return evaluate(observe_archives(aset, records), thresholds, now or datetime.now(timezone.utc))
