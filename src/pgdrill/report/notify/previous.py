"""What the previous run of a job concluded, read from the store before this run writes to it: a
notification of a pass is a *recovery* when the run before it failed.

backup: the newest of the store's complete backups (``backups/<id>/manifest.json``) and failed attempts
(``attempts/<id>.json``) — ids start with their time, so the newest is the greatest. drill: the newest
drill record's verdict. monitor keeps nothing in the store; its previous verdict comes from the
post-mortem issue (see :mod:`pgdrill.report.notify.send`). Anything unreadable — a store that does
not exist yet, write-only credentials — means "not known", never a failure of the job.
"""

from __future__ import annotations

import json

from pgdrill.errors import PgdrillError
from pgdrill.store.base import Store

BACKUPS, ATTEMPTS, DRILLS = "backups/", "attempts/", "drills/"


def _newest(store: Store, prefix: str, suffix: str) -> tuple[str, str] | None:
    """(id, key) of the newest object under ``prefix`` whose key ends with ``suffix``."""
    best: tuple[str, str] | None = None
    for obj in store.list(prefix):
        if not obj.key.endswith(suffix):
            continue
        ident = obj.key[len(prefix):].split("/", 1)[0].removesuffix(".json")
        if best is None or ident > best[0]:
            best = (ident, obj.key)
    return best


def previous_verdict(job: str, store: Store | None) -> bool | None:
    if store is None:
        return None
    try:
        if job == "backup":
            done = _newest(store, BACKUPS, "/manifest.json")
            failed = _newest(store, ATTEMPTS, ".json")
            if done is None and failed is None:
                return None
            return failed is None or (done is not None and done[0] > failed[0])
        if job == "drill":
            last = _newest(store, DRILLS, ".json")
            if last is None:
                return None
            doc = json.loads(store.get_bytes(last[1]))
            passed = doc.get("passed") if isinstance(doc, dict) else None
            return passed if isinstance(passed, bool) else None
    except (PgdrillError, ValueError, OSError):
        return None
    return None
