"""Where each database of a fleet stands, read from its store: the row of the summary table, the JSON
document and the Prometheus samples of the fleet's summary job, and the fleet page of the dashboard.

A store that cannot be read is a row of its own ("unreadable", with the reason) — one database's
broken credentials or missing bucket must never hide the others, nor pass for "no alerts".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pgdrill.drill.record import DrillRecord
    from pgdrill.manifest import Manifest
    from pgdrill.monitor import Alert
    from pgdrill.overview import StoreView

Verdict = Literal["ok", "warning", "failed", "unreadable"]


@dataclass(frozen=True)
class DatabaseStatus:
    name: str
    environment: str | None
    store: str
    view: StoreView | None
    error: str | None = None  # why the store could not be read

    @property
    def verdict(self) -> Verdict:
        """failed: an alert that fails monitor fires (a failed backup, a stale one, a failed drill…);
        warning: only alerts that do not; unreadable: the store could not be read at all."""
        if self.view is None:
            return "unreadable"
        if self.view.health.failing:
            return "failed"
        return "warning" if self.view.health.alerts else "ok"

    @property
    def alerts(self) -> list[Alert]:
        return list(self.view.health.alerts) if self.view is not None else []

    @property
    def last_backup(self) -> Manifest | None:
        return self.view.health.last_backup if self.view is not None else None

    @property
    def backup_age_seconds(self) -> float | None:
        return self.view.health.backup_age_seconds if self.view is not None else None

    @property
    def last_drill(self) -> DrillRecord | None:
        return self.view.drills[-1].record if self.view is not None and self.view.drills else None

    @property
    def failed_attempt(self) -> tuple[str, datetime, str] | None:
        """(id, start, error) of a backup attempt that failed after the newest complete backup."""
        a = self.view.health.failed_attempt if self.view is not None else None
        return (a.id, a.started_at, a.error or "failed") if a is not None else None


def counts(statuses: list[DatabaseStatus]) -> dict[str, int]:
    out = {"ok": 0, "warning": 0, "failed": 0, "unreadable": 0}
    for s in statuses:
        out[s.verdict] += 1
    return out
