"""Checks that compare the restored copy's contents with what its source expected: the restore
itself, schemas, extensions, row counts, and sequences that would hand out used keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from psycopg import sql

from pgdrill.checks.base import Check, CheckContext
from pgdrill.checks.results import CheckResult
from pgdrill.pg import stats


class RestoreErrorsCheck(Check):
    name = "restore"
    needs_trusted_restore = False

    def run(self, ctx: CheckContext) -> CheckResult:
        r = ctx.restore
        if r is None:
            return self.result("skip", "no restore in this run")
        # The restore's own time, so the checks table shows where the RTO went.
        if r.integrity_error:
            res = self.result("fail", f"archive failed its integrity check: {r.integrity_error}")
        elif r.error_count:
            first = r.errors[0] if r.errors else f"see {r.tool} output"
            res = self.result("fail", f"{r.tool} reported {r.error_count} error(s); first: {first}", r.errors)
        else:
            res = self.result("pass", f"{r.tool} finished with 0 errors")
        return replace(res, duration=r.duration)


class RowCountsCheck(Check):
    name = "row counts"

    def run(self, ctx: CheckContext) -> CheckResult:
        e = ctx.expected
        restored = ctx.row_counts()  # counted even with nothing to compare: the drill record keeps them
        if e is None or (e.tables is None and e.listed_tables is None):
            return self.result("skip", "no manifest to compare with")
        if e.tables is None or set(e.listed_tables or ()) - set(restored):
            return self._listed(e.listed_tables or (), restored)
        diffs = row_count_differences(e.tables, restored, e.label, e.tolerance)
        within = f" within {e.tolerance:.0%} of" if e.tolerance else ", all equal to"
        if not diffs:
            return self.result("pass", f"{len(e.tables)} tables, {sum(restored.get(t, 0) for t in e.tables)} rows"
                                       f"{within} the {e.label}")
        detail = f"{len(diffs)} of {len(set(e.tables) | set(restored))} tables differ: " + "; ".join(diffs[:3])
        return self.result("fail", detail, diffs)

    def _listed(self, listed: Sequence[str], restored: Mapping[str, int]) -> CheckResult:
        """Tables a dump lists with data (its TOC): each must exist; its rows are counted."""
        missing = sorted(set(listed) - set(restored))
        if missing:
            return self.result("fail", f"{len(missing)} of {len(listed)} tables with data in the dump are "
                                       f"missing: {', '.join(missing[:5])}", missing)
        rows = sum(restored[t] for t in listed)
        return self.result("pass", f"{len(listed)} tables with data in the dump restored, {rows} rows counted")


def row_count_differences(expected: Mapping[str, int], restored: Mapping[str, int],
                          label: str = "manifest", tolerance: float = 0.0) -> list[str]:
    """One line per table whose count differs (by more than ``tolerance``, a fraction of the expected
    count), with both numbers (a missing table says so)."""
    out = []
    for table in sorted(set(expected) | set(restored) if not tolerance else set(expected)):
        want, got = expected.get(table), restored.get(table)
        if want == got:
            continue
        if tolerance and want is not None and got is not None and abs(got - want) <= tolerance * want:
            continue
        want_s = "absent" if want is None else str(want)
        got_s = "absent" if got is None else str(got)
        out.append(f"{table}: {label} {want_s}, restored {got_s}")
    return out


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


class SchemasCheck(Check):
    name = "schemas"

    def run(self, ctx: CheckContext) -> CheckResult:
        if ctx.expected is None or ctx.expected.schemas is None:
            return self.result("skip", "no manifest to compare with")
        want = set(ctx.expected.schemas)
        have = set(stats.schemas(ctx.conn()))
        missing = sorted(want - have)
        if missing:
            return self.result("fail", f"{len(missing)} schema(s) missing: {', '.join(missing)}", missing)
        return self.result("pass", f"{_n(len(want), 'schema')} present: {', '.join(sorted(want))}")


class ExtensionsCheck(Check):
    name = "extensions"

    def run(self, ctx: CheckContext) -> CheckResult:
        if ctx.expected is None or ctx.expected.extensions is None:
            return self.result("skip", "no manifest to compare with")
        want = ctx.expected.extensions
        have = stats.extensions(ctx.conn())
        missing = sorted(set(want) - set(have))
        if missing:
            return self.result("fail", f"{len(missing)} extension(s) missing: {', '.join(missing)}", missing)
        # The target server installs its own default version; a difference is worth knowing, not fatal.
        changed = [f"{n}: source {want[n]}, restored {have[n]}" for n in sorted(want)
                   if want[n] and have[n] != want[n]]
        if changed:
            return self.result("warn", f"versions differ: {'; '.join(changed)}", changed)
        return self.result("pass", f"{_n(len(want), 'extension')} present: {', '.join(sorted(want))}")


_SEQUENCES = """
SELECT sn.nspname, sc.relname, tn.nspname, tc.relname, a.attname,
       s.seqstart, s.seqincrement, ps.last_value
FROM pg_depend d
JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = sc.relnamespace
JOIN pg_sequence s ON s.seqrelid = sc.oid
JOIN pg_class tc ON tc.oid = d.refobjid AND tc.relkind IN ('r', 'p')
JOIN pg_namespace tn ON tn.oid = tc.relnamespace
JOIN pg_attribute a ON a.attrelid = tc.oid AND a.attnum = d.refobjsubid
LEFT JOIN pg_sequences ps ON ps.schemaname = sn.nspname AND ps.sequencename = sc.relname
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.deptype IN ('a', 'i')
  AND tn.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 3, 4, 5
"""


def sequence_behind(start: int, increment: int, last_value: int | None, extreme: int | None) -> bool:
    """Would nextval() hand out a value the column already holds? (last_value is NULL before the
    first nextval, when the next value is the start.)"""
    if extreme is None:
        return False
    nxt = start if last_value is None else last_value + increment
    return nxt <= extreme if increment > 0 else nxt >= extreme


class SequencesCheck(Check):
    """A sequence left behind its column makes the first INSERT after a restore fail with a duplicate
    key — the classic silent restore bug (data-only restores, hand-copied tables)."""

    name = "sequences"

    def run(self, ctx: CheckContext) -> CheckResult:
        conn = ctx.conn()
        rows = conn.execute(_SEQUENCES).fetchall()
        behind = []
        for seq_schema, seq, schema, table, column, start, inc, last in rows:
            agg = "max" if int(inc) > 0 else "min"  # type: ignore[call-overload]
            query = sql.SQL("SELECT {}({}) FROM {}.{}").format(
                sql.SQL(agg), sql.Identifier(str(column)), sql.Identifier(str(schema)), sql.Identifier(str(table)))
            row = conn.execute(query).fetchone()
            extreme = None if row is None or row[0] is None else int(row[0])  # type: ignore[call-overload]
            last_v = None if last is None else int(last)  # type: ignore[call-overload]
            if sequence_behind(int(start), int(inc), last_v, extreme):  # type: ignore[call-overload]
                behind.append(f"{seq_schema}.{seq}: last_value {last_v if last_v is not None else 'unset'}, "
                              f"{agg}({schema}.{table}.{column}) = {extreme}")
        if behind:
            return self.result("fail", f"{len(behind)} sequence(s) behind their column: {'; '.join(behind[:2])}",
                               behind)
        return self.result("pass", f"{len(rows)} serial/identity sequences ahead of their columns")


