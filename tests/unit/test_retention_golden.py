"""Golden retention plans: each tests/golden/retention/<case>.json (backups, policy, now) has its
expected plan in <case>.plan.txt. PGDRILL_UPDATE_GOLDEN=1 rewrites the .plan.txt files (review the
diff before committing) and fails the run so a rewrite never passes silently."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pgdrill.config import parse_duration
from pgdrill.retention import Policy, plan

GOLDEN = Path(__file__).parents[1] / "golden" / "retention"
CASES = sorted(p.stem for p in GOLDEN.glob("*.json"))


@dataclass(frozen=True)
class B:
    id: str
    created_at: datetime
    tags: tuple[str, ...] = ()


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _id(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def load_case(name: str) -> tuple[list[B], Policy, datetime]:
    doc: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text())
    backups: list[B] = []
    for item in doc["backups"]:
        tags = tuple(item.get("tags", ()))
        if "series" in item:
            s = item["series"]
            t, end, step = _t(s["start"]), _t(s["end"]), timedelta(seconds=parse_duration(s["step"]))
            while t <= end:
                backups.append(B(_id(t), t, tags))
                t += step
        else:
            t = _t(item["at"])
            backups.append(B(item.get("id", _id(t)), t, tags))
    return backups, Policy.model_validate(doc["policy"]), _t(doc["now"])


def render(backups: list[B], policy: Policy, now: datetime) -> str:
    lines = [f"# {policy.describe()}; now {now.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"]
    for d in plan(backups, policy, now):
        b = d.backup
        when = b.created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        tags = f" [{','.join(b.tags)}]" if b.tags else ""
        lines.append(f"{d.action:<6} {when} {b.id}{tags}  {'; '.join(d.reasons)}")
    return "\n".join(lines) + "\n"


def test_cases_exist() -> None:
    assert len(CASES) >= 10


@pytest.mark.parametrize("case", CASES)
def test_golden_plan(case: str) -> None:
    backups, policy, now = load_case(case)
    got = render(backups, policy, now)
    path = GOLDEN / f"{case}.plan.txt"
    if os.environ.get("PGDRILL_UPDATE_GOLDEN") == "1":
        path.write_text(got)
        pytest.fail(f"rewrote {path.name}; review the diff, then run again without PGDRILL_UPDATE_GOLDEN")
    assert path.exists(), f"missing {path}; run with PGDRILL_UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text()


@pytest.mark.parametrize("case", CASES)
def test_golden_plan_ignores_input_order(case: str) -> None:
    backups, policy, now = load_case(case)
    assert render(list(reversed(backups)), policy, now) == render(backups, policy, now)
