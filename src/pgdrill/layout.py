"""Where things live in a store, and backup ids — apart from the manifest's model so that a backup can
start pg_dump before the model code (pydantic) is loaded.

    backups/<id>/archive.pgdump[.age]   the pg_dump custom-format archive (age-encrypted when .age)
    backups/<id>/manifest.json          the manifest, written last
    attempts/<id>.json                  a backup attempt that failed (for monitor and prune)
    drills/<id>.json                    drill records
"""

from __future__ import annotations

import secrets as pysecrets
from datetime import datetime, timezone

BACKUPS = "backups/"
ATTEMPTS = "attempts/"
DRILLS = "drills/"


def new_id(now: datetime | None = None) -> str:
    """Time-sortable and collision-free: UTC to the millisecond plus 48 random bits."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-" + pysecrets.token_hex(6)


def manifest_key(backup_id: str) -> str:
    return f"{BACKUPS}{backup_id}/manifest.json"


def archive_key(backup_id: str, encrypted: bool) -> str:
    return f"{BACKUPS}{backup_id}/archive.pgdump" + (".age" if encrypted else "")


def roles_key(backup_id: str, encrypted: bool) -> str:
    return f"{BACKUPS}{backup_id}/roles.sql" + (".age" if encrypted else "")
