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
NoDrill             warning   no drill record at all, and the oldest backup is older than ``max_drill_age``
DrillTooOld         warning   last drill older than ``max_drill_age``
DrillFailed         critical  last drill failed
WalArchiveStale     critical  a point-in-time source's newest archived WAL older than ``max_wal_age``
PitrWindowShort     warning   its point-in-time window shorter than ``min_pitr_window`` (1 day)
ReplicaLagging      warning   a standby replays more than ``max_replica_lag`` behind the primary, or
                              none streams (``--database-url`` and ``--max-replica-lag`` given)
==================  ========  ====================================================================

With ``--pgbackrest-stanza``, ``--barman-cloud-url`` or ``--neon-project`` monitor also watches that
source's window (:mod:`pgdrill.monitor.pitr`); with ``--database-url`` a primary's replicas. The store
is then optional.

pgdrill.yml section: ``monitor`` (:class:`Thresholds`).
"""

from pgdrill.monitor.evaluate import ALERTS, Alert, Gap, Health, RowDrop, Severity, evaluate, run_monitor
from pgdrill.monitor.observe import DrillSummary, Observed, observe
from pgdrill.monitor.pitr import ReplicaLag, observe_replicas
from pgdrill.monitor.thresholds import Thresholds, parse_fraction, thresholds_from_options

__all__ = [
    "ALERTS",
    "Alert",
    "DrillSummary",
    "Gap",
    "Health",
    "Observed",
    "ReplicaLag",
    "RowDrop",
    "Severity",
    "Thresholds",
    "evaluate",
    "observe",
    "observe_replicas",
    "parse_fraction",
    "run_monitor",
    "thresholds_from_options",
]
