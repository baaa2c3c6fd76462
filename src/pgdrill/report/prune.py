"""Pure renderers for a prune run: the retention plan with keep/remove and why, as text, JSON and
Markdown, and the Outcome for the publishers."""

from __future__ import annotations

from typing import Any

from pgdrill.prune import PruneResult
from pgdrill.report.format import human_size, iso
from pgdrill.report.format import md_escape as _md
from pgdrill.report.outcome import Outcome


def render_json(r: PruneResult) -> dict[str, Any]:
    return {
        "store": r.store,
        "dry_run": r.dry_run,
        "now": iso(r.now),
        "policy": r.policy.model_dump(),
        "policy_text": r.policy.describe(),
        "blocked": r.blocked,
        "forced": r.forced,
        "backups": [
            {"id": d.backup.id, "created_at": iso(d.backup.created_at), "size": d.backup.size,
             "tags": list(d.backup.tags), "action": d.action, "reasons": list(d.reasons)}
            for d in r.decisions
        ],
        "keep": len(r.to_keep),
        "remove": len(r.to_remove),
        "removed": list(r.deleted),
        "freed_bytes": r.freed_bytes if not r.dry_run else 0,
        "would_free_bytes": r.freed_bytes if r.dry_run else 0,
        "incomplete": [
            {"kind": lo.kind, "key": lo.key, "since": iso(lo.since), "size": lo.size,
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
        lines.append(f"incomplete {lo.kind} {lo.key} since {iso(lo.since)}{size}: {state}")
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
