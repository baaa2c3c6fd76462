"""Pure renderers for a table restore from a point in time (:mod:`pgdrill.table_restore`)."""

from __future__ import annotations

from pgdrill.report.format import iso, md_escape, when
from pgdrill.report.outcome import Outcome
from pgdrill.table_restore import TableRestoreResult


def _what(r: TableRestoreResult) -> str:
    return "missing rows added back" if r.mode == "missing" else "rows replaced"


def restore_text(r: TableRestoreResult) -> str:
    lines = [f"restored {len(r.tables)} table(s) into {r.target} from {r.source} at "
             f"{when(r.point_in_time)} ({_what(r)}, one transaction)"]
    width = max((len(t.table) for t in r.tables), default=10)
    for t in r.tables:
        lines.append(f"  {t.table:<{width}}  {t.target_rows_before} → {t.target_rows_after} rows "
                     f"({t.inserted} copied from the copy's {t.branch_rows})")
    lines.append(f"  copy       {r.branch}: {r.cleanup.detail}")
    return "\n".join(lines)


def restore_markdown(r: TableRestoreResult) -> str:
    rows = "\n".join(f"| `{md_escape(t.table)}` | {t.target_rows_before} | {t.target_rows_after} | {t.inserted} |"
                     for t in r.tables)
    return (f"### ✅ pgdrill restore from a point in time\n\n"
            f"{md_escape(r.source)} at {when(r.point_in_time)} into {md_escape(r.target)} "
            f"({_what(r)}, one transaction). Copy `{md_escape(r.branch)}`: {md_escape(r.cleanup.detail)}\n\n"
            f"| Table | Rows before | Rows after | Copied |\n|---|---|---|---|\n{rows}\n")


def restore_outcome(r: TableRestoreResult) -> Outcome:
    at = iso(r.point_in_time)
    return Outcome(
        job="restore", passed=True, title=f"{len(r.tables)} table(s) restored into {r.target} as of {at}",
        markdown=restore_markdown(r), outputs={"passed": "true", "point-in-time": at},
        warnings=() if r.cleaned_up else (r.cleanup.detail, *r.cleanup.items),
        details={"Source": r.source, "Point in time": at, "Target": r.target, "Copy": r.cleanup.detail},
    )
