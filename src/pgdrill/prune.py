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

A dry run computes the same plan and touches nothing. The job returns a :class:`PruneResult`; the
render_* functions turn it into text, JSON or Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pgdrill import catalog as catalog_mod
from pgdrill.catalog import Attempt, Catalog, Problem
from pgdrill.errors import CheckFailed, PgdrillError
from pgdrill.manifest import BACKUPS, Manifest, manifest_key
from pgdrill.report.backups import md_escape as _md
from pgdrill.report.outcome import Outcome
from pgdrill.retention import Decision, Policy, plan, utc
from pgdrill.store.base import Store
from pgdrill.streams import human_size

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


# -- renderers (pure) -------------------------------------------------------------------------
def _iso(t: datetime) -> str:
    return utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_json(r: PruneResult) -> dict[str, Any]:
    return {
        "store": r.store,
        "dry_run": r.dry_run,
        "now": _iso(r.now),
        "policy": r.policy.model_dump(),
        "policy_text": r.policy.describe(),
        "blocked": r.blocked,
        "forced": r.forced,
        "backups": [
            {"id": d.backup.id, "created_at": _iso(d.backup.created_at), "size": d.backup.size,
             "tags": list(d.backup.tags), "action": d.action, "reasons": list(d.reasons)}
            for d in r.decisions
        ],
        "keep": len(r.to_keep),
        "remove": len(r.to_remove),
        "removed": list(r.deleted),
        "freed_bytes": r.freed_bytes if not r.dry_run else 0,
        "would_free_bytes": r.freed_bytes if r.dry_run else 0,
        "incomplete": [
            {"kind": lo.kind, "key": lo.key, "since": _iso(lo.since), "size": lo.size,
             "action": "remove" if lo.remove else "keep (younger than a day)"}
            for lo in r.leftovers
        ],
        "skipped": [{"id": p.backup_id, "reason": p.reason} for p in r.problems],
    }


def _verb(r: PruneResult) -> str:
    return "would remove" if r.dry_run else "removed"


def render_text(r: PruneResult) -> str:
    lines = [f"{'plan (dry run)' if r.dry_run else 'prune'} for {r.store}: {r.policy.describe()}"]
    if r.blocked:
        lines.append(f"REFUSED without --force: {r.blocked}")
    if r.forced:
        lines.append(f"forced despite: {r.forced}")
    if not r.decisions:
        lines.append("no backups")
    else:
        lines.append(f"{'ACTION':<7} {'ID':<34} {'CREATED (UTC)':<19} {'SIZE':>10}  WHY")
        for d in r.decisions:
            m = d.backup
            lines.append(f"{d.action:<7} {m.id:<34} {m.created_at:%Y-%m-%d %H:%M:%S} {human_size(m.size):>10}  "
                         f"{', '.join(d.reasons)}")
    lines.append(f"{len(r.to_keep)} kept, {len(r.to_remove)} {_verb(r)} ({human_size(r.freed_bytes)})")
    for lo in r.leftovers:
        state = _verb(r) if lo.remove else "left alone (younger than a day)"
        size = f", {human_size(lo.size)}" if lo.size is not None else ""
        lines.append(f"incomplete {lo.kind} {lo.key} since {_iso(lo.since)}{size}: {state}")
    for p in r.problems:
        lines.append(f"skipped {p.backup_id}: {p.reason} (not touched)")
    return "\n".join(lines)



def render_markdown(r: PruneResult) -> str:
    icon = "🛑" if r.blocked else "🧹"
    title = "pgdrill prune plan (dry run)" if r.dry_run else "pgdrill prune"
    out = [f"### {icon} {title}", "", f"Policy: {_md(r.policy.describe())}", ""]
    if r.blocked:
        out += [f"> **Refused without `--force`:** {_md(r.blocked)}", ""]
    if r.forced:
        out += [f"> **Forced** despite: {_md(r.forced)}", ""]
    if r.decisions:
        out += ["| Action | Backup | Created (UTC) | Size | Why |", "|---|---|---|---:|---|"]
        for d in r.decisions:
            m = d.backup
            action = "✅ keep" if d.keep else "🗑️ remove"
            out.append(f"| {action} | `{m.id}` | {m.created_at:%Y-%m-%d %H:%M} | {human_size(m.size)} | "
                       f"{_md(', '.join(d.reasons))} |")
        out.append("")
    out.append(f"**{len(r.to_keep)}** kept, **{len(r.to_remove)}** {_verb(r)} ({human_size(r.freed_bytes)}).")
    gone = [lo for lo in r.leftovers if lo.remove]
    if gone:
        out.append(f"Incomplete uploads {_verb(r)}: {', '.join(f'`{lo.key}`' for lo in gone)}.")
    return "\n".join(out) + "\n"


def to_outcome(r: PruneResult, environment: str | None = None) -> Outcome:
    """What the GitHub publisher sees. A refusal never gets here: it is raised, and reported as an error."""
    verb = "would remove" if r.dry_run else "removed"
    return Outcome(
        job="prune", passed=True, environment=environment,
        title=f"prune{' (dry run)' if r.dry_run else ''} of {r.store}: {len(r.to_keep)} kept, "
              f"{len(r.to_remove)} {verb}",
        markdown=render_markdown(r),
        outputs={"passed": "true", "dry-run": str(r.dry_run).lower(), "kept": str(len(r.to_keep)),
                 "removed": str(len(r.deleted)), "would-remove": str(len(r.to_remove) if r.dry_run else 0)},
        warnings=[w for w in (r.blocked and f"a real run would refuse: {r.blocked}",
                              r.forced and f"forced although {r.forced}") if w]
                 + [f"skipped {p.backup_id}: {p.reason}" for p in r.problems],
        details={"Policy": r.policy.describe(), "Kept": str(len(r.to_keep)),
                 verb.capitalize(): f"{len(r.to_remove)} ({human_size(r.freed_bytes)})"},
    )
