"""Pure renderers for backup, list, verify and restore results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgdrill.report.format import human_size, md_escape
from pgdrill.report.outcome import Outcome

if TYPE_CHECKING:
    from pgdrill.catalog import Catalog
    from pgdrill.manifest import Manifest
    from pgdrill.restore import RestoreResult
    from pgdrill.verify import VerifyResult


def backup_json(m: Manifest) -> dict[str, Any]:
    return m.summary()


def cluster_backup_json(ms: Sequence[Manifest]) -> dict[str, Any]:
    return {"run_id": ms[0].run_id if ms else None, "backups": [backup_json(m) for m in ms]}


def cluster_backup_text(ms: Sequence[Manifest]) -> str:
    head = f"run {ms[0].run_id}: {len(ms)} databases, roles taken once" if ms else "no databases"
    return "\n".join([head, *(backup_text(m) for m in ms)])


def _extras(m: Manifest) -> str:
    out = ""
    if m.roles is not None:
        out += f"\n  roles      {len(m.roles.needed)} needed, kept in {m.roles.object_key} (no passwords)"
    if m.scope is not None:
        left = m.scope.excluded_tables + [f"{t} (rows)" for t in m.scope.data_excluded_tables]
        given = [f"--{k.replace('_', '-').rstrip('-')} {' '.join(v)}" for k, v in m.scope.model_dump().items()
                 if k in ("schema_", "table", "exclude_schema", "exclude_table", "exclude_table_data") and v]
        out += f"\n  scope      {'; '.join(given)}" + (f" (left out: {', '.join(left)})" if left else "")
    return out


def backup_text(m: Manifest) -> str:
    enc = f", encrypted to {len(m.encryption.recipients)} recipient(s)" if m.encryption else ""
    tags = f" [{', '.join(m.tags)}]" if m.tags else ""
    return (
        f"backup {m.id}{tags}\n"
        f"  database   {m.database} on {m.host}:{m.port} (PostgreSQL {m.server_version}, pg_dump {m.pg_dump_version})\n"
        f"  stored     {human_size(m.size)} at {m.object_key}{enc}\n"
        f"  sha256     {m.sha256}\n"
        f"  tables     {len(m.tables)} tables, {m.total_rows} rows (exact, from the dump's snapshot)"
        f"{_extras(m)}\n"
        f"  took       {m.duration_seconds:.1f}s"
    )


def backup_markdown(m: Manifest) -> str:
    rows = [
        ("Backup", f"`{m.id}`"),
        ("Database", f"{md_escape(m.database)} on {md_escape(m.host)}:{m.port}"),
        ("Server / pg_dump", f"{m.server_version} / {m.pg_dump_version}"),
        ("Size", human_size(m.size)),
        ("SHA-256", f"`{m.sha256}`"),
        ("Tables / rows", f"{len(m.tables)} / {m.total_rows}"),
        ("Encrypted", "age, " + f"{len(m.encryption.recipients)} recipient(s)" if m.encryption else "no"),
        ("Tags", md_escape(", ".join(m.tags)) or "—"),
        ("Duration", f"{m.duration_seconds:.1f} s"),
    ]
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"### ✅ pgdrill backup\n\n| | |\n|---|---|\n{body}\n"


def list_json(cat: Catalog) -> dict[str, Any]:
    return {
        "backups": [backup_json(m) for m in cat.backups],
        "skipped": [{"id": p.backup_id, "reason": p.reason} for p in cat.problems],
        "incomplete": sorted(cat.pending),
    }


def list_text(cat: Catalog) -> str:
    if not cat.backups:
        return f"no backups in {cat.store}" if cat.store else "no backups"
    lines = [f"{'ID':<34} {'CREATED (UTC)':<20} {'SIZE':>10} {'TABLES':>6} {'ROWS':>10}  TAGS"]
    for m in cat.backups:
        # the databases of one --all-databases run are listed together, under their run id
        run = f"  run {m.run_id} ({m.database})" if m.run_id else ""
        lines.append(
            f"{m.id:<34} {m.created_at:%Y-%m-%d %H:%M:%S} {human_size(m.size):>10} {len(m.tables):>6} "
            f"{m.total_rows:>10}  {','.join(m.tags)}{' (age)' if m.encrypted else ''}{run}"
        )
    return "\n".join(lines)


def warnings_for(cat: Catalog) -> Sequence[str]:
    problems = [f"skipped backup {p.backup_id}: {p.reason}" for p in cat.problems]
    # Objects without a manifest are a failed upload or one still running: never restorable.
    return problems + [f"skipped backup {i}: it has no manifest (its upload failed, or is still running)"
                       for i in sorted(cat.pending)]


def verify_json(r: VerifyResult) -> dict[str, Any]:
    return {
        "id": r.manifest.id, "ok": True, "size": r.bytes_read, "sha256": r.sha256,
        "toc_entries": r.toc_entries, "pg_restore_version": r.pg_restore_version,
        "duration_seconds": r.duration_seconds,
    }


def verify_text(r: VerifyResult) -> str:
    return (f"backup {r.manifest.id} verified: {human_size(r.bytes_read)}, sha256 matches the manifest, "
            f"pg_restore {r.pg_restore_version} reads {r.toc_entries} TOC entries ({r.duration_seconds:.1f}s)")


def restore_json(r: RestoreResult) -> dict[str, Any]:
    return {
        "id": r.manifest.id, "ok": r.ok, "target": r.target, "target_server_version": r.target_server_version,
        "pg_restore_version": r.pg_restore_version, "duration_seconds": r.duration_seconds,
        "bytes_read": r.bytes_read, "error_count": r.error_count, "errors": r.errors,
        "tables": list(r.tables), "owners": not r.no_owner, "privileges": not r.no_privileges,
        "created_roles": list(r.created_roles), "database_settings": r.database_settings,
    }


def restore_run_json(results: Sequence[RestoreResult]) -> dict[str, Any]:
    return {"run_id": results[0].manifest.run_id if results else None, "ok": all(r.ok for r in results),
            "databases": [restore_json(r) for r in results]}


def restore_run_text(results: Sequence[RestoreResult]) -> str:
    return "\n".join(restore_text(r) for r in results)


def restore_text(r: RestoreResult) -> str:
    what = f"tables {', '.join(r.tables)} of " if r.tables else ""
    head = (f"restored {what}backup {r.manifest.id} into {r.target} "
            f"with pg_restore {r.pg_restore_version} in {r.duration_seconds:.1f}s")
    left_out = [w for w, off in (("owners", r.no_owner), ("grants", r.no_privileges)) if off]
    if left_out:
        head += f"\n  without {' and '.join(left_out)} (--no-owner/--no-privileges given)"
    if r.created_roles:
        head += f"\n  created role(s) {', '.join(r.created_roles)}: NOLOGIN, no password"
    if r.database_settings:
        head += f"\n  {r.database_settings} database-level setting(s) applied"
    if r.ok:
        return head
    errs = "\n".join(f"  {e}" for e in r.errors[:20])
    return f"{head}\n{r.error_count} pg_restore error(s):\n{errs}"


def backup_outcome(m: Manifest, databases: int = 1) -> Outcome:
    """One backup's outcome; for an --all-databases run, the last database's (with the run id)."""
    title = f"backup {m.id} of {m.database}: {human_size(m.size)}, {len(m.tables)} tables"
    outputs = {"backup-id": m.id, "backup-size": str(m.size), "backup-sha256": m.sha256}
    if m.run_id:
        title = f"run {m.run_id}: {databases} databases backed up (last: {m.database}, {m.id})"
        outputs["run-id"] = m.run_id
    return Outcome(
        job="backup", passed=True, environment=m.environment,
        title=title,
        markdown=backup_markdown(m),
        outputs=outputs,
        backup_id=m.id, run_url=m.run_url,
        details={"Backup": m.id, "Database": f"{m.database} on {m.host}", "Size": human_size(m.size)},
    )


def restore_markdown(r: RestoreResult) -> str:
    icon = "✅" if r.ok else "❌"
    rows = [
        ("Backup", f"`{r.manifest.id}`"),
        ("Target", md_escape(r.target)),
        ("pg_restore", r.pg_restore_version),
        ("Tables", md_escape(", ".join(r.tables)) or "all"),
        ("Owners / grants", f"{'no' if r.no_owner else 'yes'} / {'no' if r.no_privileges else 'yes'}"),
        ("Created roles", md_escape(", ".join(r.created_roles)) or "—"),
        ("Duration", f"{r.duration_seconds:.1f} s"),
        ("Errors", str(r.error_count)),
    ]
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    errors = "".join(f"\n- `{md_escape(e)}`" for e in r.errors[:20])
    return f"### {icon} pgdrill restore\n\n| | |\n|---|---|\n{body}\n{errors}\n"


def restore_outcome(r: RestoreResult) -> Outcome:
    return Outcome(
        job="restore", passed=r.ok,
        title=f"restore of {r.manifest.id} into {r.target}: {'ok' if r.ok else f'{r.error_count} error(s)'}",
        markdown=restore_markdown(r), outputs={"backup-id": r.manifest.id, "passed": str(r.ok).lower()},
        failures=r.errors[:50], backup_id=r.manifest.id,
    )
