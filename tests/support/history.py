"""Crafted store histories for retention, prune and monitor tests: backups with chosen times, sizes,
tags and row counts, failed attempts, and drill records, written the way the real jobs write them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from pgdrill.manifest import ATTEMPTS, DRILLS, Manifest, archive_key, manifest_key
from pgdrill.store.base import Store

UTC = timezone.utc


def backup_id(t: datetime, n: int = 0) -> str:
    t = t.astimezone(UTC)
    return t.strftime("%Y%m%dT%H%M%S") + f"{t.microsecond // 1000:03d}Z-{n:012x}"


def make_manifest(created_at: datetime, *, size: int = 1000, tags: list[str] | None = None,
                  tables: dict[str, int] | None = None, n: int = 0, duration: float = 12.5,
                  migration_head: str | None = None) -> Manifest:
    bid = backup_id(created_at, n)
    return Manifest(
        id=bid, created_at=created_at, finished_at=created_at + timedelta(seconds=duration), database="app",
        host="db.internal", port=5432, size=size, sha256="ab" * 32, archive_size=size,
        object_key=archive_key(bid, False), tables=tables if tables is not None else {"public.orders": 1000},
        server_version="16.4", pg_dump_version="16.4", pgdrill_version="0.1.0", tags=sorted(tags or []),
        duration_seconds=duration, migration_head=migration_head,
    )


def write_backup(store: Store, created_at: datetime, **kw: Any) -> Manifest:
    """Archive first, manifest last: exactly the commit order of the backup job."""
    m = make_manifest(created_at, **kw)
    store.put_bytes(m.object_key, b"\0" * m.size)
    store.put_bytes(manifest_key(m.id), m.to_json().encode())
    return m


def write_attempt(store: Store, started_at: datetime, error: str = "pg_dump failed (exit 1)", n: int = 0) -> str:
    aid = backup_id(started_at, n)
    doc = {"id": aid, "started_at": started_at.isoformat(), "status": "failed", "error": error}
    store.put_bytes(f"{ATTEMPTS}{aid}.json", json.dumps(doc).encode())
    return aid


def write_drill(store: Store, finished_at: datetime, *, passed: bool = True, backup: str = "b", n: int = 0,
                **extra: Any) -> str:
    did = "drill-" + backup_id(finished_at, n)
    doc = {"id": did, "backup_id": backup, "started_at": (finished_at - timedelta(minutes=4)).isoformat(),
           "finished_at": finished_at.isoformat(), "passed": passed, **extra}
    store.put_bytes(f"{DRILLS}{did}.json", json.dumps(doc).encode())
    return did
