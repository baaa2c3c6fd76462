"""Pure judgements of a drill: a measurement against its target, and the verdict's reasons.

RTO is the time from asking for the copy to the checks being done: fetching the backup, restoring it
(or making the branch, replaying WAL) and running the checks. RPO comes from the source
(:meth:`pgdrill.sources.Source.rpo`): for stored backups, the age of the restored backup at the
drill's start plus the worst gap between consecutive backups over the last 30 days (the data a
disaster at the worst moment of that window would have lost on top).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pgdrill.checks import CheckResult
from pgdrill.report.format import fmt_seconds, fmt_target

TargetStatus = Literal["pass", "fail", "none"]


class TargetRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    measured: float
    target: float | None = None
    status: TargetStatus = "none"


def evaluate(measured: float, target: float | None) -> TargetRecord:
    """Met when measured ≤ target; no target, no judgement."""
    if target is None:
        return TargetRecord(measured=round(measured, 3), target=None, status="none")
    return TargetRecord(measured=round(measured, 3), target=target, status="pass" if measured <= target else "fail")


def failure_reasons(checks: Sequence[CheckResult], rto: TargetRecord, rpo: TargetRecord) -> list[str]:
    """Why a drill failed; empty means it passed. Warnings and skips never fail a drill."""
    out = [f"check '{c.name}' failed" for c in checks if c.status == "fail"]
    for name, t in (("RTO", rto), ("RPO", rpo)):
        if t.status == "fail":
            out.append(f"{name} {fmt_seconds(t.measured)} over target {fmt_target(t.target)}")
    return out
