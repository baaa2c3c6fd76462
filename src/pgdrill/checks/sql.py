"""The user's SQL assertions: read-only queries and what they must return."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from psycopg import sql

from pgdrill.checks.base import Check, CheckContext
from pgdrill.checks.config import SqlAssertion
from pgdrill.checks.results import CheckResult, one_line

_TRUTH = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}


def _same(actual: object, expected: object) -> bool:
    """Compare a query's value with the YAML one: NULL with null, booleans with booleans, numbers by
    value (42 == 42.0 == Decimal('42.00')), anything else as text."""
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        a, e = _TRUTH.get(str(actual).lower()), _TRUTH.get(str(expected).lower())
        return a is not None and a == e
    if isinstance(expected, int | float) or isinstance(actual, int | float | Decimal):
        try:
            return Decimal(str(actual)) == Decimal(str(expected))
        except InvalidOperation:
            return False
    return str(actual) == str(expected)


def _show(value: object) -> str:
    return "NULL" if value is None else one_line(repr(value) if isinstance(value, str) else str(value), 80)


class SqlAssertionCheck(Check):
    def __init__(self, a: SqlAssertion) -> None:
        self.a = a
        self.name = f"sql: {a.name}"
        self.severity = a.severity

    def run(self, ctx: CheckContext) -> CheckResult:
        a = self.a
        conn = ctx.conn()
        # Read-only: an assertion must not change what the next check (or a kept database) sees.
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(int(a.timeout * 1000))))
            cur = conn.execute(a.sql)
            if cur.description is None:
                return self.result("fail", "the statement returned no result set")
            if a.no_rows:
                rows = cur.fetchmany(1)
                if rows:
                    return self.result("fail", f"expected no rows, got at least one: {_show(tuple(rows[0]))}")
                return self.result("pass", "no rows, as expected")
            if a.min_rows is not None:
                rows = cur.fetchmany(a.min_rows)
                if len(rows) < a.min_rows:
                    return self.result("fail", f"expected at least {a.min_rows} row(s), got {len(rows)}")
                return self.result("pass", f"at least {a.min_rows} row(s), as expected")
            row = cur.fetchone()
            if row is None:
                return self.result("fail", f"expected {_show(a.expect)}, got no rows")
            if not _same(row[0], a.expect):
                return self.result("fail", f"expected {_show(a.expect)}, got {_show(row[0])}")
            return self.result("pass", f"returned {_show(row[0])}, as expected")


