"""Monitoring: is the backup history still trustworthy? Alerts from what the store holds.

``thresholds`` is the ``monitor:`` section; :func:`observe` (``observe``) reads the store (manifests,
failed attempts, drill records); :func:`evaluate` (``evaluate``) is pure — (observations, thresholds,
now) → :class:`Health` with its alerts. The renderers (JSON shaped like a ``GET /health/backup``
endpoint, Prometheus text, Markdown, text) are in :mod:`pgdrill.report.monitor`. Any alert makes
``pgdrill monitor`` exit 1.

The alerts (names follow the runbooks' alarms where one exists):

==================  ========  ====================================================================
NoBackup            critical  the store holds no complete backup
BackupTooOld        critical  newest backup older than ``max_age``
BackupFailed        critical  a backup attempt failed after the newest complete backup
BackupSizeAnomaly   warning   newest size off the median of the previous ``size_window`` by more than
                              ``size_deviation``
RowCountDrop        critical  a table lost more than ``row_drop`` of its rows between the last two backups
ScheduleGap         warning   scheduled backups missing within ``gap_window`` (interval from ``schedule``
                              or inferred from the history)
BackupUnreadable    warning   manifests in the store that cannot be read
NoDrill             warning   no drill record at all (``max_drill_age`` set)
DrillTooOld         warning   last drill older than ``max_drill_age``
DrillFailed         critical  last drill failed
==================  ========  ====================================================================

pgdrill.yml section: ``monitor`` (:class:`Thresholds`).
"""

from pgdrill.monitor.evaluate import ALERTS, Alert, Gap, Health, RowDrop, Severity, evaluate, run_monitor
from pgdrill.monitor.observe import DrillSummary, Observed, observe
from pgdrill.monitor.thresholds import Thresholds, parse_fraction, thresholds_from_options

__all__ = [
    "ALERTS",
    "Alert",
    "DrillSummary",
    "Gap",
    "Health",
    "Observed",
    "RowDrop",
    "Severity",
    "Thresholds",
    "evaluate",
    "observe",
    "parse_fraction",
    "run_monitor",
    "thresholds_from_options",
]
