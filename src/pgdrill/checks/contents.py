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
    """Exact row counts of every table against the source's. Tables dumped without rows on purpose
    (--exclude-table-data) must come back empty; populated materialized views are compared too, but
    pg_restore refreshes them, so one that was stale at backup time differs by design: a warning."""

    name = "row counts"

    def run(self, ctx: CheckContext) -> CheckResult:
        e = ctx.expected
        restored = ctx.row_counts()  # counted even with nothing to compare: the drill record keeps them
        if e is None or (e.tables is None and e.listed_tables is None):
            return self.result("skip", "no manifest to compare with")
        if e.tables is None or set(e.listed_tables or ()) - set(restored):
            return self._listed(e.listed_tables or (), restored)
        want = {**e.tables, **{t: 0 for t in e.data_excluded}}
        diffs = row_count_differences(want, restored, e.label, e.tolerance)
        views: list[str] = []
        if e.materialized_views is not None:
            conn = ctx.conn()
            views = row_count_differences(e.materialized_views, stats.count_rows(conn, stats.materialized_views(conn)),
                                          e.label)
            views = [f"materialized view {v}" for v in views]
        on_purpose = ""
        if e.data_excluded or e.left_out:
            parts = ([f"{_n(len(e.data_excluded), 'table')} without rows"] if e.data_excluded else []) + \
                    ([f"{_n(len(e.left_out), 'table')} left out"] if e.left_out else [])
            on_purpose = f" ({' and '.join(parts)} on purpose)"
        if diffs:
            detail = f"{len(diffs)} of {len(set(want) | set(restored))} tables differ: " + "; ".join(diffs[:3])
            return self.result("fail", detail, diffs + views)
        within = f" within {e.tolerance:.0%} of" if e.tolerance else ", all equal to"
        summary = (f"{len(e.tables)} tables, {sum(restored.get(t, 0) for t in e.tables)} rows{within} the "
                   f"{e.label}{on_purpose}")
        mv = e.materialized_views or {}
        if views:
            return self.result("warn", f"{summary}; {len(views)} of {len(mv)} materialized views differ (pg_restore "
                                       f"refreshes them: stale at backup time?): {'; '.join(views[:2])}", views)
        if mv:
            summary += f"; {_n(len(mv), 'materialized view')} equal too"
        return self.result("pass", summary)

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

_ALL_SEQUENCES = """
SELECT ps.schemaname || '.' || ps.sequencename, s.seqstart, s.seqincrement, ps.last_value
FROM pg_sequences ps
JOIN pg_namespace n ON n.nspname = ps.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = ps.sequencename
JOIN pg_sequence s ON s.seqrelid = c.oid
"""


def next_value(start: int, increment: int, last_value: int | None) -> int:
    """What nextval() hands out next (last_value is NULL before the first nextval: the start)."""
    return start if last_value is None else last_value + increment


def sequence_behind(start: int, increment: int, last_value: int | None, extreme: int | None) -> bool:
    """Would nextval() hand out a value the column already holds?"""
    if extreme is None:
        return False
    nxt = next_value(start, increment, last_value)
    return nxt <= extreme if increment > 0 else nxt >= extreme


def behind_source(start: int, increment: int, restored: int | None, source: int | None) -> bool:
    """Is the restored sequence behind where the source's was at backup time?"""
    mine, theirs = next_value(start, increment, restored), next_value(start, increment, source)
    return mine < theirs if increment > 0 else mine > theirs


def _shown(v: int | None) -> str:
    return "unset" if v is None else str(v)


class SequencesCheck(Check):
    """A sequence behind its column makes the first INSERT after a restore fail with a duplicate key
    — the classic silent restore bug (data-only restores, hand-copied tables). With the source's
    states (recorded in the backup's snapshot) the check fails only when the restored sequence is
    behind where the source's was; one the source itself had behind its column is a warning that
    says so — the restore was faithful, the source has the bug."""

    name = "sequences"

    def run(self, ctx: CheckContext) -> CheckResult:
        conn = ctx.conn()
        e = ctx.expected
        source = e.sequences if e is not None and e.same_instant else None
        label = e.label if e is not None else "manifest"
        failures: dict[str, str] = {}
        inherited: list[str] = []
        compared = 0
        if source is not None:
            for key, start, inc, last in conn.execute(_ALL_SEQUENCES).fetchall():
                if str(key) not in source:
                    continue
                compared += 1
                restored_v = None if last is None else int(last)  # type: ignore[call-overload]
                if behind_source(int(start), int(inc), restored_v, source[str(key)]):  # type: ignore[call-overload]
                    failures[str(key)] = (f"{key}: restored last_value {_shown(restored_v)}, "
                                          f"the source's was {_shown(source[str(key)])} ({label})")
        rows = conn.execute(_SEQUENCES).fetchall()
        for seq_schema, seq, schema, table, column, start, inc, last in rows:
            agg = "max" if int(inc) > 0 else "min"  # type: ignore[call-overload]
            query = sql.SQL("SELECT {}({}) FROM {}.{}").format(
                sql.SQL(agg), sql.Identifier(str(column)), sql.Identifier(str(schema)), sql.Identifier(str(table)))
            row = conn.execute(query).fetchone()
            extreme = None if row is None or row[0] is None else int(row[0])  # type: ignore[call-overload]
            last_v = None if last is None else int(last)  # type: ignore[call-overload]
            key = f"{seq_schema}.{seq}"
            if not sequence_behind(int(start), int(inc), last_v, extreme):  # type: ignore[call-overload]
                continue
            column_fact = f"{agg}({schema}.{table}.{column}) = {extreme}"
            if key in failures:
                failures[key] += f"; {column_fact}"
            elif source is not None and key in source:
                inherited.append(f"{key}: last_value {_shown(last_v)}, {column_fact}, as in the source")
            else:
                failures[key] = f"{key}: last_value {_shown(last_v)}, {column_fact}"
        if failures:
            lines = [failures[k] for k in sorted(failures)]
            return self.result("fail", f"{len(lines)} sequence(s) behind: {' | '.join(lines[:2])}",
                               lines + inherited)
        if inherited:
            return self.result("warn", f"{len(inherited)} sequence(s) already behind their column in the source "
                                       f"(restored as they were; the next INSERT there would fail too): "
                                       f"{'; '.join(inherited[:2])}", inherited)
        if source is not None:
            return self.result("pass", f"{_n(compared, 'sequence')} where the source's were, {len(rows)} "
                                       "serial/identity sequences ahead of their columns")
        return self.result("pass", f"{len(rows)} serial/identity sequences ahead of their columns")
