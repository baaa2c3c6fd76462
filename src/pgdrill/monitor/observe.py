"""What monitor reads from a store: manifests, failed attempts and drill records."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pgdrill import catalog as catalog_mod
from pgdrill.catalog import Attempt
from pgdrill.errors import PgdrillError
from pgdrill.manifest import Manifest
from pgdrill.monitor.pitr import ReplicaLag
from pgdrill.sources.base import PitrWindow
from pgdrill.store.base import Store


@dataclass(frozen=True)
class DrillSummary:
    """The part of a drill record monitor needs; read defensively (older or newer record versions)."""

    id: str
    backup_id: str | None
    started_at: datetime
    finished_at: datetime
    passed: bool
    failures: tuple[str, ...] = ()
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    environment: str | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> DrillSummary:
        """Raises ValueError/KeyError/TypeError for a record without the essentials."""
        started = _aware(doc["started_at"])
        finished = _aware(doc.get("finished_at") or doc["started_at"])
        passed = doc.get("passed")
        if not isinstance(passed, bool):
            status = str(doc.get("status", "")).lower()
            if status not in ("pass", "passed", "ok", "fail", "failed"):
                raise ValueError("no 'passed' verdict")
            passed = status in ("pass", "passed", "ok")
        failures = doc.get("failures") or ()
        return cls(
            id=str(doc["id"]),
            backup_id=str(doc["backup_id"]) if doc.get("backup_id") is not None else None,
            started_at=started,
            finished_at=finished,
            passed=passed,
            failures=tuple(str(f) for f in failures) if isinstance(failures, list | tuple) else (str(failures),),
            rto_seconds=_measured(doc.get("rto")) if "rto" in doc else _number(doc.get("rto_seconds")),
            rpo_seconds=_measured(doc.get("rpo")) if "rpo" in doc else _number(doc.get("rpo_seconds")),
            environment=str(doc["environment"]) if doc.get("environment") else None,
        )


def _aware(value: Any) -> datetime:
    t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t).astimezone(timezone.utc)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _measured(value: Any) -> float | None:
    if isinstance(value, Mapping):
        return _number(value.get("measured"))
    return _number(value)


@dataclass
class Observed:
    store: str
    backups: list[Manifest] = field(default_factory=list)  # oldest first
    attempts: list[Attempt] = field(default_factory=list)  # failed attempts, oldest first
    drills: list[DrillSummary] = field(default_factory=list)  # oldest first
    problems: list[str] = field(default_factory=list)  # unreadable manifests and drill records
    contents_known: bool = True  # False: the backups' tables and rows are unknown (dumps of other tools)
    store_watched: bool = True  # False: no store, only a point-in-time source and/or replicas
    pitr: PitrWindow | None = None  # a point-in-time source's window, when one is watched
    replicas: list[ReplicaLag] | None = None  # the primary's standbys, when watched


def observe(store: Store) -> Observed:
    cat = catalog_mod.load(store)
    obs = Observed(store.url, list(cat.backups), catalog_mod.failed_attempts(store))
    obs.problems += [f"backup {p.backup_id}: {p.reason}" for p in cat.problems]
    read_drills(store, obs)
    return obs


def read_drills(store: Store, obs: Observed, keep: Callable[[dict[str, Any]], bool] = lambda doc: True) -> None:
    """Add the store's drill records that ``keep`` accepts to ``obs`` (oldest first); a record that
    cannot be read is a problem of the observation, never a silent gap."""
    for key in catalog_mod.drill_keys(store):
        try:
            doc = json.loads(store.get_bytes(key))
            if not isinstance(doc, dict):
                raise TypeError("not a JSON object")
            if keep(doc):
                obs.drills.append(DrillSummary.from_doc(doc))
        except PgdrillError as exc:
            obs.problems.append(f"drill record {key}: unreadable: {exc.message}")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            obs.problems.append(f"drill record {key}: {type(exc).__name__}: {exc}")
    obs.drills.sort(key=lambda d: (d.finished_at, d.id))


