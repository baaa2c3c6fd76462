"""The row-drop check: a table that lost more than a fraction of its rows since an earlier copy of
the same source (the previous archive of a set, as its drill record counted it) — what monitor's
``RowCountDrop`` alert says between two of pgdrill's own backups, for dumps that come without a
manifest."""

from __future__ import annotations

import fnmatch

from pgdrill.checks.base import Check, CheckContext
from pgdrill.checks.results import CheckResult


class RowDropCheck(Check):
    name = "row drop"

    def run(self, ctx: CheckContext) -> CheckResult:
        base = ctx.expected.previous if ctx.expected is not None else None
        if base is None:
            return self.result("skip", "no earlier copy to compare with")
        now = ctx.row_counts()
        drops = []
        judged = 0
        for table, before in sorted(base.tables.items()):
            if before < max(base.min_rows, 1) or any(fnmatch.fnmatchcase(table, p) for p in base.ignore):
                continue
            judged += 1
            after = now.get(table)
            fraction = 1.0 - (after or 0) / before
            if fraction > base.drop:
                drops.append((fraction, table, before, after))
        if not drops:
            return self.result("pass", f"no table lost more than {base.drop:.0%} of its rows since {base.label} "
                                       f"({judged} tables of {base.min_rows}+ rows compared)")
        drops.sort(key=lambda d: (-d[0], d[1]))
        items = [f"{t}: {b} → {'gone' if a is None else a} ({-f:+.0%})" for f, t, b, a in drops]
        return self.result("fail", f"{len(drops)} table(s) lost more than {base.drop:.0%} of their rows since "
                                   f"{base.label}: {'; '.join(items[:3])}", items)
