"""Pure renderers for the pre-deploy gate: text, JSON, Markdown (with the rollback command), and the
Outcome for the publishers."""

from __future__ import annotations

from typing import Any

from pgdrill.predeploy import PredeployResult
from pgdrill.report.format import ICON, fence, human_size
from pgdrill.report.format import md_escape as _md
from pgdrill.report.outcome import Outcome


def render_json(r: PredeployResult) -> dict[str, Any]:
    m = r.manifest
    return {
        "passed": r.passed,
        "backup_id": m.id,
        "rollback_command": r.rollback_command,
        "store": r.store,
        "backup": {"id": m.id, "created_at": m.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "size": m.size,
                   "sha256": m.sha256, "tags": list(m.tags), "database": m.database,
                   "migration_head": m.migration_head, "git_sha": m.git_sha, "git_ref": m.git_ref,
                   "run_url": m.run_url, "encrypted": m.encrypted},
        "checks": [c.to_dict() for c in r.checks],
        "failures": r.failures,
        "rehearsal": None if r.rehearsal is None else {
            "scratch_database": r.rehearsal.scratch_database, "restore_seconds": r.rehearsal.restore_seconds,
            "migrate_seconds": r.rehearsal.migrate_seconds, "tool": r.rehearsal.tool,
            "head_before": r.rehearsal.head_before, "head_after": r.rehearsal.head_after},
        "duration_seconds": r.duration_seconds,
    }


def render_text(r: PredeployResult) -> str:
    m = r.manifest
    verdict = "PASSED: deploy may proceed" if r.passed else "FAILED: do not deploy"
    lines = [f"predeploy {verdict}",
             f"  backup     {m.id} ({human_size(m.size)}, tags {', '.join(m.tags)}"
             + (f", git {m.git_sha[:12]}" if m.git_sha else "") + ")"]
    for c in r.checks:
        lines.append(f"  {c.status.upper():<5} {c.name}: {c.detail}")
        if c.status == "fail" and c.output:
            lines += [f"        | {ln}" for ln in c.output.splitlines()[-10:]]
    lines.append("rollback:")
    lines.append(f"  {r.rollback_command}")
    return "\n".join(lines)



def render_markdown(r: PredeployResult) -> str:
    m = r.manifest
    head = "✅ pgdrill predeploy: deploy may proceed" if r.passed else "❌ pgdrill predeploy: do not deploy"
    out = [f"### {head}", "",
           f"Backup `{m.id}` ({human_size(m.size)}, tags {_md(', '.join(m.tags))}"
           + (f", commit `{m.git_sha[:12]}`" if m.git_sha else "") + ").", "",
           "| | Check | Detail |", "|---|---|---|"]
    out += [f"| {ICON.get(c.status, c.status)} | {_md(c.name)} | {_md(c.detail)} |" for c in r.checks]
    for c in r.checks:
        if c.status == "fail" and c.output:
            out += ["", f"<details><summary>{_md(c.name)} output</summary>", "", fence(c.output), "", "</details>"]
    out += ["", "Rollback:", "", "```sh", r.rollback_command, "```"]
    return "\n".join(out) + "\n"


def to_outcome(r: PredeployResult, environment: str | None = None) -> Outcome:
    m = r.manifest
    verdict = "deploy may proceed" if r.passed else "do not deploy"
    return Outcome(
        job="predeploy", passed=r.passed, environment=environment or m.environment,
        title=f"predeploy of {m.database}: {verdict} (backup {m.id})",
        markdown=render_markdown(r),
        outputs={"passed": str(r.passed).lower(), "backup-id": m.id, "rollback-command": r.rollback_command},
        failures=r.failures, warnings=[f"{c.name}: {c.detail}" for c in r.checks if c.status == "warn"],
        backup_id=m.id, run_url=m.run_url,
        details={"Backup": m.id, "Database": m.database, "Rollback": r.rollback_command},
    )
