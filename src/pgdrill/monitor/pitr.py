"""The rest of the recovery posture: the point-in-time window and the replicas.

- the **PITR window** of a point-in-time source (pgBackRest, barman-cloud, Neon's history retention):
  earliest recoverable instant, newest archived WAL and its age, the window in days — read through
  :meth:`pgdrill.sources.Source.pitr_window`, so monitor knows no tool;
- **replica lag** on a primary (``--database-url``): ``pg_stat_replication``, one row per standby.

Observation only; the judgement is in :mod:`pgdrill.monitor.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgdrill.pg.conn import DatabaseUrl, connect

_REPLICATION = """
SELECT coalesce(nullif(application_name, ''), client_addr::text, 'local') AS name, state,
       extract(epoch FROM replay_lag)::float8,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint
FROM pg_stat_replication ORDER BY 1
"""


@dataclass(frozen=True)
class ReplicaLag:
    """One standby as the primary sees it."""

    name: str  # application_name (CloudNativePG and Patroni set it), else the client address
    state: str  # streaming, catchup, …
    lag_seconds: float | None  # replay_lag; None when the primary reports none (caught up and idle: 0)
    lag_bytes: int | None  # WAL the standby has not replayed yet


def observe_replicas(primary: DatabaseUrl) -> list[ReplicaLag]:
    """The standbys streaming from ``primary`` and how far behind each one replays."""
    with connect(primary, role="primary database") as conn:
        rows = conn.execute(_REPLICATION).fetchall()
    out = []
    for name, state, seconds, lag_bytes in rows:
        behind = int(str(lag_bytes)) if lag_bytes is not None else None
        lag = float(str(seconds)) if seconds is not None else (0.0 if behind == 0 else None)
        out.append(ReplicaLag(str(name), str(state), lag, behind))
    return out
