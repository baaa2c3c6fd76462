"""The prune job: apply the retention plan to a store, and clear out uploads that never finished.

Safety rules, in the order they apply:

* prune refuses (CheckFailed, exit 1) when the newest backup attempt failed, or when the newest
  complete backup is older than ``max_age`` — a broken backup job must not rotate the good backups
  away — unless ``force``;
* the newest complete backup is never removed (the plan guarantees it; this module checks again);
* a backup is removed manifest FIRST, then its archive: if prune dies half way, what is left has no
  manifest, is never listed as a backup, and is cleaned up as an incomplete upload by a later run;
* incomplete uploads (the store's unfinished uploads, and backup folders without a manifest) are
  removed only once they are older than a day, so a backup still uploading is never touched.

A dry run computes the same plan and touches nothing. The job returns a :class:`PruneResult`;
:mod:`pgdrill.report.prune` turns it into text, JSON or Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from pgdrill import catalog as catalog_mod
from pgdrill.catalog import Attempt, Catalog, Problem
from pgdrill.errors import CheckFailed, PgdrillError
from pgdrill.manifest import BACKUPS, Manifest, manifest_key
from pgdrill.retention import Decision, Policy, plan, utc
from pgdrill.store.base import Store

DEFAULT_INCOMPLETE_AGE = timedelta(days=1)


@dataclass(frozen=True)
class PruneRequest:
    store: Store
    policy: Policy
    max_age: timedelta | None = None  # refuse when the newest complete backup is older than this
    force: bool = False
    dry_run: bool = False
    incomplete_age: timedelta = DEFAULT_INCOMPLETE_AGE
    now: datetime | None = None


@dataclass(frozen=True)
class Leftover:
    """Something in the store that is not a backup: an unfinished upload, or a backup folder whose
    manifest was never written (or was removed by an interrupted prune)."""

    kind: Literal["upload", "no-manifest"]
    key: str
    since: datetime
    size: int | None
    remove: bool  # old enough to be removed (a dry run only reports it)


@dataclass
class PruneResult:
    store: str
    policy: Policy
    now: datetime
    dry_run: bool
    decisions: list[Decision[Manifest]] = field(default_factory=list)  # oldest first
    deleted: list[str] = field(default_factory=list)  # backup ids actually deleted
    leftovers: list[Leftover] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # unreadable manifests: left alone
    blocked: str | None = None  # why a real run would refuse (set on dry runs)
    forced: str | None = None  # the refusal that force overrode

    @property
    def to_remove(self) -> list[Manifest]:
        return [d.backup for d in self.decisions if not d.keep]

    @property
    def to_keep(self) -> list[Manifest]:
        return [d.backup for d in self.decisions if d.keep]

    @property
    def freed_bytes(self) -> int:
        return sum(m.size for m in self.to_remove)


def refusal(cat: Catalog, attempts: Sequence[Attempt], now: datetime, max_age: timedelta | None) -> str | None:
    """Why pruning now could rotate good backups away, or None. Pure."""
    newest = cat.latest
    failed = [a for a in attempts if a.status != "ok"]
    if failed:
        last = max(failed, key=lambda a: utc(a.started_at))
        if newest is None or utc(last.started_at) > newest.created_at:
            after = f" after the newest complete backup {newest.id}" if newest else ""
            return (f"the newest backup attempt failed ({last.id} at {utc(last.started_at):%Y-%m-%d %H:%M} UTC"
                    f"{after}: {last.error or 'no error recorded'})")
    if newest is not None and max_age is not None:
        age = utc(now) - newest.created_at
        if age > max_age:
            return (f"the newest complete backup {newest.id} is {_hours(age)} old, older than the max age "
                    f"{_hours(max_age)}")
    return None


def _hours(d: timedelta) -> str:
    h = d.total_seconds() / 3600
    return f"{h / 24:.1f}d" if h >= 48 else f"{h:.1f}h"


def leftovers(store: Store, cat: Catalog, now: datetime, min_age: timedelta) -> list[Leftover]:
    cutoff = utc(now) - min_age
    out: list[Leftover] = []
    for up in store.incomplete():
        started = utc(up.started)
        out.append(Leftover("upload", up.key, started, None, started < cutoff))
    for backup_id, objects in sorted(cat.pending.items()):
        if not objects:
            continue
        # The youngest object decides: an archive whose manifest is about to be written is fresh.
        since = max(utc(o.modified) for o in objects)
        out.append(Leftover("no-manifest", f"{BACKUPS}{backup_id}/", since, sum(o.size for o in objects),
                            since < cutoff))
    return out


def delete_backup(store: Store, backup_id: str) -> None:
    """Manifest first: from that moment the backup is no longer listed, whatever happens next."""
    store.delete(manifest_key(backup_id))
    for obj in list(store.list(f"{BACKUPS}{backup_id}/")):
        store.delete(obj.key)


def run_prune(req: PruneRequest) -> PruneResult:
    now = utc(req.now or datetime.now(timezone.utc))
    cat = catalog_mod.load(req.store)
    attempts = catalog_mod.failed_attempts(req.store)
    result = PruneResult(req.store.url, req.policy, now, req.dry_run, problems=list(cat.problems))
    result.decisions = plan(cat.backups, req.policy, now)
    result.leftovers = leftovers(req.store, cat, now, req.incomplete_age)

    why = refusal(cat, attempts, now, req.max_age)
    if why and req.force:
        result.forced = why
    elif why and req.dry_run:
        result.blocked = why
    elif why:
        raise CheckFailed(f"prune refused: {why}",
                          "fix the backup job first; --force prunes anyway (--dry-run shows the plan)")

    newest = cat.latest
    doomed = result.to_remove
    if newest is not None and any(m.id == newest.id for m in doomed):
        # The plan guarantees this cannot happen; a bug here must not cost the last good backup.
        raise PgdrillError(f"internal error: the retention plan would remove the newest backup {newest.id}")
    if req.dry_run:
        return result

    for m in doomed:
        delete_backup(req.store, m.id)
        result.deleted.append(m.id)
    for up in list(req.store.incomplete()):
        if utc(up.started) < now - req.incomplete_age:
            req.store.discard(up)
    for lo in result.leftovers:
        if lo.kind == "no-manifest" and lo.remove:
            for obj in list(req.store.list(lo.key)):
                req.store.delete(obj.key)
    return result
