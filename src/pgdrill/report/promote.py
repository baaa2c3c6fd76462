"""Pure renderers for a Neon promotion (:mod:`pgdrill.promote`): what became the default, what was
kept, and how to undo it."""

from __future__ import annotations

from pgdrill.promote import PromoteResult
from pgdrill.report.format import fence, iso, md_escape, when
from pgdrill.report.outcome import Outcome


def promote_text(r: PromoteResult) -> str:
    lines = [f"promoted Neon project {r.project_id} to {when(r.point_in_time)}: branch {r.promoted_id} is now the "
             f"default, named {r.promoted_name} (PostgreSQL {r.server_version})",
             f"  kept       the previous default {r.previous_id}, renamed {r.previous_name} (not deleted)",
             "  undo       run, in order:"]
    lines += [f"               {step}" for step in r.undo]
    return "\n".join(lines)


def promote_markdown(r: PromoteResult) -> str:
    return (f"### ✅ pgdrill promote: Neon project `{md_escape(r.project_id)}` recovered to {when(r.point_in_time)}\n\n"
            f"Branch `{md_escape(r.promoted_id)}` is the default now, named `{md_escape(r.promoted_name)}`. The "
            f"previous default `{md_escape(r.previous_id)}` is kept as `{md_escape(r.previous_name)}`.\n\n"
            f"To undo, run in order:\n\n{fence(chr(10).join(r.undo), 'sh')}\n")


def promote_outcome(r: PromoteResult) -> Outcome:
    at = iso(r.point_in_time)
    return Outcome(job="restore", passed=True, title=f"Neon project {r.project_id} promoted to {at}",
                   markdown=promote_markdown(r),
                   outputs={"passed": "true", "point-in-time": at, "promoted-branch-id": r.promoted_id,
                            "previous-branch-name": r.previous_name},
                   details={"Project": r.project_id, "Point in time": at, "Default now": r.promoted_id,
                            "Kept as": r.previous_name})
