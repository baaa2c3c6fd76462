"""Pure renderers for ``pgdrill check``: one line per item (text), JSON, Markdown."""

from __future__ import annotations

from typing import Any

from pgdrill.preflight import PreflightResult
from pgdrill.report.format import md_escape
from pgdrill.report.outcome import Outcome

WORD = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}
ICON = {"ok": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️"}


def _line(detail: str, hint: str | None) -> str:
    return f"{detail} — {hint}" if hint else detail


def render_text(r: PreflightResult) -> str:
    width = max((len(i.name) for i in r.items), default=8)
    lines = [f"{WORD[i.status]:<4}  {i.name:<{width}}  {_line(i.detail, i.hint)}" for i in r.items]
    n_fail, n_warn = len(r.failures), sum(1 for i in r.items if i.status == "warn")
    if n_fail:
        lines.append(f"{n_fail} problem(s) to fix, {n_warn} warning(s)")
    else:
        lines.append("ready" + (f", {n_warn} warning(s)" if n_warn else ""))
    return "\n".join(lines)


def render_json(r: PreflightResult) -> dict[str, Any]:
    return {
        "passed": not r.failures,
        "exit_code": r.exit_code,
        "items": [{"name": i.name, "status": i.status, "detail": i.detail, "hint": i.hint} for i in r.items],
    }


def render_markdown(r: PreflightResult) -> str:
    head = "✅ pgdrill check: ready" if not r.failures else f"❌ pgdrill check: {len(r.failures)} problem(s)"
    rows = [f"| {ICON[i.status]} | {md_escape(i.name)} | {md_escape(_line(i.detail, i.hint))} |" for i in r.items]
    return f"### {head}\n\n| | Item | Detail |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def to_outcome(r: PreflightResult, environment: str | None = None) -> Outcome:
    return Outcome(
        job="check", passed=not r.failures, environment=environment,
        title="check: ready" if not r.failures else f"check: {len(r.failures)} problem(s): "
              + ", ".join(dict.fromkeys(i.name for i in r.failures)),
        markdown=render_markdown(r), outputs={"passed": str(not r.failures).lower()},
        failures=[f"{i.name}: {_line(i.detail, i.hint)}" for i in r.failures],
        warnings=[f"{i.name}: {_line(i.detail, i.hint)}" for i in r.items if i.status == "warn"],
    )
