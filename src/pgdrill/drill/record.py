"""The drill record: one per drill, kept in the store at ``drills/<id>.json`` whatever the source, and
the history read back from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pgdrill import __version__
from pgdrill.catalog import drill_keys
from pgdrill.checks import CheckResult
from pgdrill.drill.measures import TargetRecord
from pgdrill.errors import IntegrityError, PgdrillError, StoreMissing, invalid_document
from pgdrill.manifest import DRILLS
from pgdrill.store.base import Store

RECORD_VERSION = 1
DAY = 86400.0

#: fields of records written before they were declared (Neon drills), and what they are called now
_LEGACY = {"provider": "source_kind", "pitr_at": "requested_at", "pitr_branch_id": "copy_id",
           "pitr_window_earliest": "window_earliest"}


class DrillRecord(BaseModel):
    """One drill, as kept in the store. Never holds a secret.

    Every field is declared; unknown fields (from a newer pgdrill) are ignored on reading.
    ``backup_*`` and ``source_*`` describe what was restored (for a point-in-time source, ``backup_id``
    names it, e.g. ``neon:main@2026-11-20T14:29:45Z``); ``point_in_time`` is the instant the copy held.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    record_version: int = RECORD_VERSION
    id: str
    passed: bool
    failures: list[str] = Field(default_factory=list)
    started_at: datetime
    finished_at: datetime
    environment: str | None = None
    source_kind: str = "backup"  # backup, neon, … (the Source that made the copy)
    backup_id: str
    backup_created_at: datetime
    requested_at: str | None = None  # what was asked: "latest", an id, an instant
    point_in_time: datetime | None = None  # the instant the restored copy represents
    backup_size: int = 0
    backup_sha256: str = ""
    backup_tags: list[str] = Field(default_factory=list)
    backup_encrypted: bool = False
    source_database: str = ""
    source_host: str = ""
    source_port: int = 0
    source_server_version: str = ""
    pg_dump_version: str = ""
    tables: int = 0
    rows: int = 0
    #: the restored copy's exact per-table row counts, as the checks counted them before any smoke
    #: command ran (schema.table → rows); the next drill of the same source compares with them
    table_rows: dict[str, int] = Field(default_factory=dict)
    compared_backup_id: str | None = None  # a stored backup the copy was compared with (not restored)
    window_earliest: datetime | None = None  # the earliest instant the source could restore
    target: str = ""  # redacted URL
    target_kind: Literal["scratch", "target", "private"] = "scratch"  # private: a server of its own
    scratch_database: str | None = None  # the copy's name: scratch database, branch, data directory
    copy_id: str | None = None  # the provider's id of the copy (a Neon branch id)
    cleanup: str = ""
    target_server_version: str | None = None
    pg_restore_version: str | None = None
    restore_tool: str | None = None  # the tool that made the copy and its version, when not pg_restore
    restore_jobs: int | None = None  # pg_restore --jobs of the copy (None: not restored by pg_restore)
    pgdrill_version: str = __version__
    fetch_seconds: float = 0.0
    restore_seconds: float = 0.0
    replay_seconds: float = 0.0  # WAL replay up to the target (physical recovery)
    checks_seconds: float = 0.0
    rto: TargetRecord
    rpo: TargetRecord
    backup_age_seconds: float = 0.0
    worst_gap_seconds: float = 0.0
    rpo_window_seconds: float = 30 * DAY
    rpo_detail: str | None = None  # how the RPO was measured, when not from stored backups' ages
    checks: list[CheckResult] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list)
    run_url: str | None = None
    git_sha: str | None = None
    git_ref: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in _LEGACY):
            data = dict(data)
            for old, new in _LEGACY.items():
                if old in data:
                    data.setdefault(new, data.pop(old))
        return data

    @field_validator("started_at", "finished_at", "backup_created_at", "point_in_time", "window_earliest")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        if v.tzinfo is None:
            raise ValueError("timestamp must include a timezone")
        return v.astimezone(timezone.utc)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def record_key(drill_id: str) -> str:
    return f"{DRILLS}{drill_id}.json"


def parse_record(data: bytes, where: str) -> DrillRecord:
    try:
        return DrillRecord.model_validate_json(data)
    except ValidationError as exc:
        raise invalid_document(f"drill record {where}", exc) from None


@dataclass
class History:
    records: list[DrillRecord] = field(default_factory=list)  # oldest first
    problems: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)

    @property
    def latest(self) -> DrillRecord | None:
        return self.records[-1] if self.records else None


def load_history(store: Store, *, missing_ok: bool = False) -> History:
    """Every readable drill record, oldest first; unreadable ones are listed, not fatal.
    ``missing_ok``: a store no drill has written to yet holds no history (the store a drill of a
    point-in-time source or an archive set keeps its records in, started by its first record);
    otherwise a store that does not exist is StoreMissing, as everywhere."""
    h = History()
    try:
        keys = drill_keys(store)
    except StoreMissing:
        if missing_ok:
            return h
        raise
    for key in keys:
        try:
            h.records.append(parse_record(store.get_bytes(key), key))
        except IntegrityError as exc:
            h.problems.append((key, exc.message))
        except PgdrillError as exc:
            h.problems.append((key, f"unreadable: {exc.message}"))
    h.records.sort(key=lambda r: (r.started_at, r.id))
    return h


def trend(history: Sequence[DrillRecord], current: DrillRecord | None, n: int) -> list[DrillRecord]:
    """The last ``n`` drills, oldest first, ending with ``current``."""
    past = [r for r in history if current is None or r.id != current.id]
    rows = [*past, current] if current is not None else past
    rows.sort(key=lambda r: (r.started_at, r.id))
    return rows[-n:]
