"""Pure renderers for ``list``, ``verify`` and ``restore`` over an archive set."""

from __future__ import annotations

from typing import Any

from pgdrill.archives.commands import ArchiveRestoreResult, VerifyReport
from pgdrill.archives.listing import Archive, ArchiveSet
from pgdrill.report.format import human_size, iso, md_escape
from pgdrill.report.outcome import Outcome


def _archive_json(a: Archive) -> dict[str, Any]:
    return {"name": a.name, "url": a.url, "time": iso(a.time), "time_from": a.time_source, "size": a.size,
            "modified": iso(a.modified), "directory": a.directory}


def list_json(aset: ArchiveSet) -> dict[str, Any]:
    latest = aset.latest
    return {"archives_pattern": aset.text, "archives": [_archive_json(a) for a in aset.archives],
            "latest": latest.name if latest else None}


def list_text(aset: ArchiveSet) -> str:
    if not aset.archives:
        return f"no archive matches {aset.text}"
    width = min(max(len(a.name) for a in aset.archives), 70)
    lines = [f"{'NAME':<{width}} {'MADE (UTC)':<19} {'FROM':<13} {'SIZE':>10}  MODIFIED (UTC)"]
    for a in aset.archives:
        lines.append(f"{a.name + ('/' if a.directory else ''):<{width}} {a.time:%Y-%m-%d %H:%M:%S} "
                     f"{a.time_source:<13} {human_size(a.size):>10}  {a.modified:%Y-%m-%d %H:%M:%S}")
    lines.append(f"{len(aset.archives)} archive(s) in {aset.text}; latest: {aset.archives[-1].name} "
                 "(FROM: where the time came from — the name, the name's day and the modification time, or the "
                 "modification time alone)")
    return "\n".join(lines)


def verify_json(r: VerifyReport) -> dict[str, Any]:
    o = r.outcome
    return {"archive": o.archive.name, "url": o.archive.url, "ok": True, "format": o.sniffed.format,
            "compression": o.sniffed.compression, "pg_dump_version": o.sniffed.pg_dump_version or None,
            "server_version": o.sniffed.server_version or None, "size": o.size, "sha256": o.sha256,
            "tables_with_data": o.toc.data_tables, "schemas": o.toc.schemas, "extensions": o.toc.extensions,
            "tool": o.tool or None, "duration_seconds": o.seconds, "warnings": r.warnings}


def verify_text(r: VerifyReport) -> str:
    o = r.outcome
    how = f"{o.tool} reads it to the end" if o.tool else "read to the end as SQL"
    return (f"archive {o.archive.url} verified: {o.sniffed.describe()}, {human_size(o.size)}, sha256 {o.sha256}; "
            f"{how}: {len(o.toc.data_tables)} tables with data, {len(o.toc.schemas)} schema(s), "
            f"{len(o.toc.extensions)} extension(s) ({o.seconds:.1f}s)")


def restore_json(r: ArchiveRestoreResult) -> dict[str, Any]:
    o = r.outcome
    return {"archive": r.archive.name, "url": r.archive.url, "ok": r.ok, "target": r.target,
            "target_server_version": r.target_server_version, "tool": f"{o.tool} {o.tool_version}".strip(),
            "format": o.sniffed.format if o.sniffed else None, "size": o.size, "sha256": o.sha256,
            "duration_seconds": o.seconds, "error_count": o.error_count, "errors": o.errors,
            "integrity_error": o.integrity_error, "notes": o.notes}


def restore_text(r: ArchiveRestoreResult) -> str:
    o = r.outcome
    head = (f"restored archive {r.archive.url} into {r.target} with {o.tool} {o.tool_version} in {o.seconds:.1f}s"
            if r.ok else f"restore of archive {r.archive.url} into {r.target} FAILED")
    lines = [head, *(f"  note: {n}" for n in o.notes)]
    if o.integrity_error:
        lines.append(f"  archive unreadable: {o.integrity_error}")
    if o.error_count:
        lines.append(f"  {o.error_count} {o.tool} error(s):")
        lines += [f"  {e}" for e in o.errors[:20]]
    return "\n".join(lines)


def restore_outcome(r: ArchiveRestoreResult) -> Outcome:
    o = r.outcome
    rows = [("Archive", f"`{md_escape(r.archive.url)}`"), ("Target", md_escape(r.target)),
            ("Restored with", md_escape(f"{o.tool} {o.tool_version}")), ("Duration", f"{o.seconds:.1f} s"),
            ("Errors", str(o.error_count))]
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    problems = ([f"archive unreadable: {o.integrity_error}"] if o.integrity_error else []) + o.errors[:50]
    errors = "".join(f"\n- `{md_escape(e)}`" for e in problems[:20])
    markdown = f"### {'✅' if r.ok else '❌'} pgdrill restore\n\n| | |\n|---|---|\n{body}\n{errors}\n"
    return Outcome(job="restore", passed=r.ok,
                   title=f"restore of {r.archive.url} into {r.target}: "
                         + ("ok" if r.ok else f"{len(problems)} problem(s)"),
                   markdown=markdown, outputs={"backup-id": r.archive.url, "passed": str(r.ok).lower()},
                   failures=problems, backup_id=r.archive.url)
