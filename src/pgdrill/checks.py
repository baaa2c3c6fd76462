"""Checks run against a restored database: small objects with one ``run(ctx)`` each.

The runner needs nothing but a :class:`~pgdrill.pg.conn.DatabaseUrl` (and, for the comparisons with
the source, the backup's :class:`~pgdrill.manifest.Manifest`), so a store-based drill, a Neon
point-in-time branch or any other restored copy is checked the same way::

    results = run_checks(url, manifest, ChecksConfig(...))

Checks never raise for what they find: a mismatch is a ``fail`` result with a one-line detail. Only
an unreachable database raises (a :class:`~pgdrill.errors.SourceError`, infrastructure).

The ``checks:`` section of pgdrill.yml is :class:`ChecksConfig` (see docs/config.md).
"""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Annotated, Any, Literal
from urllib.parse import quote

import psycopg
from psycopg import sql
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from pgdrill import secrets
from pgdrill.config import Seconds
from pgdrill.manifest import Manifest
from pgdrill.pg import migrations, stats
from pgdrill.pg.conn import DatabaseUrl, connect

Status = Literal["pass", "fail", "warn", "skip"]
Severity = Literal["fail", "warn", "off"]
Conn = psycopg.Connection[tuple[object, ...]]
Progress = Callable[[str], None]

DETAIL_MAX = 240


# -- results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    """What one check found. ``items`` lists the specifics (tables that differ, pg_restore errors);
    ``output`` is the tail of a command's output."""

    name: str
    status: Status
    detail: str
    duration: float = 0.0
    items: tuple[str, ...] = ()
    output: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "status": self.status, "detail": self.detail,
                               "duration": round(self.duration, 3)}
        if self.items:
            doc["items"] = list(self.items)
        if self.output is not None:
            doc["output"] = self.output
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CheckResult:
        return cls(str(doc["name"]), doc["status"], str(doc.get("detail", "")), float(doc.get("duration", 0.0)),
                   tuple(str(i) for i in doc.get("items", ())), doc.get("output"))


def one_line(text: str, limit: int = DETAIL_MAX) -> str:
    """Details are one line: reports put them in table cells and annotations."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


@dataclass(frozen=True)
class RestoreOutcome:
    """How the restore went, for the restore check: pg_restore errors, or an archive that failed its
    integrity check (then nothing restored from it can be trusted)."""

    error_count: int = 0
    errors: tuple[str, ...] = ()
    integrity_error: str | None = None
    duration: float = 0.0

    @property
    def trusted(self) -> bool:
        return self.integrity_error is None


# -- configuration (the `checks:` section of pgdrill.yml) ----------------------------------------
Duration = Seconds


def _severity(value: Any) -> Any:
    if value is True or value is None:
        return "fail"
    if value is False:
        return "off"
    return value


SeverityField = Annotated[Severity, BeforeValidator(_severity)]


class MigrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: SeverityField = "fail"
    expected: str | None = Field(default=None, description="expected head; several heads comma-separated")
    expected_command: str | list[str] | None = Field(
        default=None, description="prints the expected head(s): first word of each non-empty line")
    timeout: Duration = 120.0

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # `migration: false` / `migration: warn` / `migration: "abc123"` (the expected head)
        if v is None or isinstance(v, bool) or v in ("fail", "warn", "off"):
            return {"severity": v}
        if isinstance(v, str | int):
            return {"expected": str(v)}
        return v


class SqlAssertion(BaseModel):
    """A read-only query and what it must return: ``expect`` (first column of the first row),
    ``min_rows`` or ``no_rows: true`` — exactly one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    sql: str = Field(min_length=1)
    expect: str | int | float | bool | None = None
    min_rows: int | None = Field(default=None, ge=1)
    no_rows: bool = False
    timeout: Duration = 60.0
    severity: SeverityField = "fail"

    @model_validator(mode="after")
    def _one_expectation(self) -> SqlAssertion:
        given = [k for k, on in (("expect", "expect" in self.model_fields_set), ("min_rows", self.min_rows is not None),
                                 ("no_rows", self.no_rows)) if on]
        if len(given) != 1:
            raise ValueError("give exactly one of expect, min_rows, no_rows"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class SmokeCommand(BaseModel):
    """A command run with DATABASE_URL and PG* pointing at the restored database."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    run: str | list[str] = Field(description="a shell command line (sh -c), or an argv list")
    timeout: Duration = 600.0
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    tail: int = Field(default=40, ge=1, le=1000, description="output lines kept for the report")
    severity: SeverityField = "fail"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"run": v} if isinstance(v, str) else v

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        text = self.run if isinstance(self.run, str) else " ".join(self.run)
        return one_line(text, 60)


def _listify(v: Any) -> Any:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


class ChecksConfig(BaseModel):
    """The `checks:` section. Built-in checks take true/false or fail/warn/off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    row_counts: SeverityField = "fail"
    schemas: SeverityField = "fail"
    extensions: SeverityField = "fail"
    sequences: SeverityField = "fail"
    migration: MigrationConfig = Field(default_factory=MigrationConfig)
    sql: Annotated[list[SqlAssertion], BeforeValidator(_listify)] = Field(default_factory=list)
    smoke: Annotated[list[SmokeCommand], BeforeValidator(_listify)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ChecksConfig:
        names = [a.name for a in self.sql]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sql assertion names must be unique: {', '.join(dupes)}")
        return self


# -- context ----------------------------------------------------------------------------------
def database_url_string(url: DatabaseUrl) -> str:
    """A postgresql:// URL with the password, for DATABASE_URL (a libpq key=value string is not what
    ORMs and frameworks expect there)."""
    p = url.params
    auth = ""
    if p.get("user"):
        auth = quote(p["user"], safe="")
        if p.get("password") is not None:
            auth += ":" + quote(p["password"], safe="")
        auth += "@"
    host = p.get("host") or p.get("hostaddr") or "localhost"
    query = {k: v for k, v in p.items() if k not in ("user", "password", "host", "port", "dbname")}
    netloc = host
    if host.startswith("/"):
        # A socket folder cannot sit in the authority part; libpq takes it as ?host=.
        query = {"host": host, **query}
        netloc = ""
    if p.get("port"):
        netloc += f":{p['port']}"
    text = f"postgresql://{auth}{netloc}/{quote(url.dbname, safe='')}"
    if query:
        text += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items()))
    return text


_PG_ENV = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
           "password": "PGPASSWORD", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
           "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "options": "PGOPTIONS",
           "connect_timeout": "PGCONNECT_TIMEOUT", "target_session_attrs": "PGTARGETSESSIONATTRS"}


def command_env(url: DatabaseUrl, base: Mapping[str, str] | None = None,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a command sees: the caller's, minus libpq variables that could point it at
    another database, plus DATABASE_URL and PG* for the restored one."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not (k.startswith("PG") and not k.startswith("PGDRILL_"))}
    env["DATABASE_URL"] = database_url_string(url)
    for key, var in _PG_ENV.items():
        if url.params.get(key) is not None:
            env[var] = url.params[key]
    env.setdefault("PGDATABASE", url.dbname)
    env.update(extra or {})
    return env


@dataclass
class CheckContext:
    """What a check may look at: the restored database and, when known, the source's manifest."""

    url: DatabaseUrl
    manifest: Manifest | None = None
    restore: RestoreOutcome | None = None
    env: Mapping[str, str] | None = None  # base environment for commands (default: os.environ)
    cwd: Path | None = None
    _conn: Conn | None = field(default=None, repr=False)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def conn(self) -> Conn:
        """One shared autocommit connection; reopened if a check's failure closed it."""
        if self._conn is None or self._conn.closed:
            self._conn = self._stack.enter_context(connect(self.url, role="restored database"))
        return self._conn

    def close(self) -> None:
        self._stack.close()
        self._conn = None


# -- command runner ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CommandResult:
    returncode: int | None  # None: timed out or could not start
    tail: str
    seconds: float
    timed_out: bool = False
    error: str | None = None


def _pump(stream: IO[bytes], lines: deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
    stream.close()


def run_command(command: str | Sequence[str], env: Mapping[str, str], timeout: float, tail: int = 40,
                cwd: str | Path | None = None) -> CommandResult:
    """Run a command in its own process group; keep only the last ``tail`` lines of its output, so a
    chatty test suite costs no memory; on timeout kill the whole group (an app it started, too)."""
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    lines: deque[str] = deque(maxlen=tail)
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=dict(env), cwd=cwd, start_new_session=True)
    except OSError as exc:
        return CommandResult(None, "", time.monotonic() - t0, error=f"cannot start {argv[0]}: {exc.strerror or exc}")
    assert proc.stdout is not None
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # Also on KeyboardInterrupt: leave nothing running against a database about to be dropped.
        if proc.poll() is None or timed_out:
            _kill_group(proc)
    # Background children may keep the pipe open; the output so far is enough.
    reader.join(5)
    text = secrets.scrub("\n".join(lines))
    return CommandResult(None if timed_out else proc.returncode, text, time.monotonic() - t0, timed_out)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


# -- the checks -------------------------------------------------------------------------------
class Check(abc.ABC):
    """One thing to verify. ``run`` returns a result; it raises only for unexpected trouble, which
    the runner turns into a failed result."""

    name: str = "check"
    severity: Severity = "fail"
    needs_trusted_restore = True  # skipped when the archive failed its integrity check

    @abc.abstractmethod
    def run(self, ctx: CheckContext) -> CheckResult: ...

    def result(self, status: Status, detail: str, items: Sequence[str] = (), output: str | None = None) -> CheckResult:
        return CheckResult(self.name, status, detail, 0.0, tuple(items), output)


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
            first = r.errors[0] if r.errors else "see pg_restore output"
            res = self.result("fail", f"pg_restore reported {r.error_count} error(s); first: {first}", r.errors)
        else:
            res = self.result("pass", "pg_restore finished with 0 errors")
        return replace(res, duration=r.duration)


class RowCountsCheck(Check):
    name = "row counts"

    def run(self, ctx: CheckContext) -> CheckResult:
        m = ctx.manifest
        if m is None:
            return self.result("skip", "no manifest to compare with")
        restored = stats.count_rows(ctx.conn())
        diffs = row_count_differences(m.tables, restored)
        if not diffs:
            return self.result("pass", f"{len(m.tables)} tables, {m.total_rows} rows, all equal to the manifest")
        detail = f"{len(diffs)} of {len(set(m.tables) | set(restored))} tables differ: " + "; ".join(diffs[:3])
        return self.result("fail", detail, diffs)


def row_count_differences(expected: Mapping[str, int], restored: Mapping[str, int]) -> list[str]:
    """One line per table whose count differs, with both numbers (a missing table says so)."""
    out = []
    for table in sorted(set(expected) | set(restored)):
        want, got = expected.get(table), restored.get(table)
        if want == got:
            continue
        want_s = "absent" if want is None else str(want)
        got_s = "absent" if got is None else str(got)
        out.append(f"{table}: manifest {want_s}, restored {got_s}")
    return out


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


class SchemasCheck(Check):
    name = "schemas"

    def run(self, ctx: CheckContext) -> CheckResult:
        if ctx.manifest is None:
            return self.result("skip", "no manifest to compare with")
        want = set(ctx.manifest.schemas)
        have = set(stats.schemas(ctx.conn()))
        missing = sorted(want - have)
        if missing:
            return self.result("fail", f"{len(missing)} schema(s) missing: {', '.join(missing)}", missing)
        return self.result("pass", f"{_n(len(want), 'schema')} present: {', '.join(sorted(want))}")


class ExtensionsCheck(Check):
    name = "extensions"

    def run(self, ctx: CheckContext) -> CheckResult:
        if ctx.manifest is None:
            return self.result("skip", "no manifest to compare with")
        want = ctx.manifest.extensions
        have = stats.extensions(ctx.conn())
        missing = sorted(set(want) - set(have))
        if missing:
            return self.result("fail", f"{len(missing)} extension(s) missing: {', '.join(missing)}", missing)
        # The target server installs its own default version; a difference is worth knowing, not fatal.
        changed = [f"{n}: source {want[n]}, restored {have[n]}" for n in sorted(want) if have[n] != want[n]]
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


def _heads(text: str) -> set[str]:
    return {h.strip() for h in text.split(",") if h.strip()}


class MigrationHeadCheck(Check):
    name = "migration head"

    def __init__(self, cfg: MigrationConfig) -> None:
        self.cfg = cfg
        self.severity = cfg.severity

    def expected(self, ctx: CheckContext) -> tuple[set[str] | None, str, str | None]:
        """(expected heads, where they came from, error running the command)."""
        if self.cfg.expected:
            return _heads(self.cfg.expected), "config", None
        if self.cfg.expected_command:
            r = run_command(self.cfg.expected_command, command_env(ctx.url, ctx.env), self.cfg.timeout, 50, ctx.cwd)
            if r.returncode != 0:
                why = r.error or ("timed out" if r.timed_out else f"exit {r.returncode}")
                return None, "command", f"expected_command failed ({why}): {one_line(r.tail[-200:])}"
            heads = {ln.split()[0] for ln in r.tail.splitlines() if ln.strip()}
            return heads, "expected_command", None
        return None, "", None

    def run(self, ctx: CheckContext) -> CheckResult:
        found = migrations.detect(ctx.conn())
        want, source, error = self.expected(ctx)
        if error:
            return self.result("fail", error)
        if found is None:
            if want is not None:
                return self.result("fail", f"no migration table found; expected head {', '.join(sorted(want))}")
            if ctx.manifest is not None and ctx.manifest.migration_head:
                return self.result("fail", f"no migration table found; the backup recorded head "
                                           f"{ctx.manifest.migration_head}")
            return self.result("skip", "no migration table found (alembic, prisma, flyway, django, knex, goose, "
                                       "schema_migrations)")
        head = found.head or "(empty)"
        what = f"{found.tool} head {head} in {found.table}"
        have = _heads(found.head or "")
        recorded = ctx.manifest.migration_head if ctx.manifest is not None else None
        if recorded is not None and _heads(recorded) != have:
            return self.result("fail", f"{what}, but the backup recorded {recorded}")
        if want is not None:
            if have != want:
                return self.result("fail", f"{what}, expected {', '.join(sorted(want))} (from {source})")
            return self.result("pass", f"{what}, as expected (from {source})")
        return self.result("pass", what + (", as in the backup" if recorded else ""))


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


class SmokeCommandCheck(Check):
    def __init__(self, cmd: SmokeCommand) -> None:
        self.cmd = cmd
        self.name = f"smoke: {cmd.label}"
        self.severity = cmd.severity

    def run(self, ctx: CheckContext) -> CheckResult:
        c = self.cmd
        env = command_env(ctx.url, ctx.env, c.env)
        cwd = c.cwd if c.cwd is None or ctx.cwd is None else str(ctx.cwd / c.cwd)
        r = run_command(c.run, env, c.timeout, c.tail, cwd or ctx.cwd)
        if r.error:
            return self.result("fail", r.error, output=r.tail)
        if r.timed_out:
            return self.result("fail", f"timed out after {c.timeout:g}s (process group killed)", output=r.tail)
        if r.returncode != 0:
            last = next((ln for ln in reversed(r.tail.splitlines()) if ln.strip()), "")
            return self.result("fail", f"exit {r.returncode}" + (f": {last}" if last else ""), output=r.tail)
        return self.result("pass", f"exit 0 in {r.seconds:.1f}s", output=r.tail)


# -- building and running ---------------------------------------------------------------------
def _with_severity(check: Check, severity: Severity) -> Check:
    check.severity = severity
    return check


def build_checks(cfg: ChecksConfig | None = None, *, restore: bool = False) -> list[Check]:
    """The checks in the order they run. Read-only checks come first: a smoke command (e.g.
    ``alembic upgrade head``) may change the migration head and the rows."""
    cfg = cfg or ChecksConfig()
    out: list[Check] = [RestoreErrorsCheck()] if restore else []
    for check, severity in ((SchemasCheck(), cfg.schemas), (ExtensionsCheck(), cfg.extensions),
                            (RowCountsCheck(), cfg.row_counts), (SequencesCheck(), cfg.sequences)):
        if severity != "off":
            out.append(_with_severity(check, severity))
    if cfg.migration.severity != "off":
        out.append(MigrationHeadCheck(cfg.migration))
    out += [SqlAssertionCheck(a) for a in cfg.sql if a.severity != "off"]
    out += [SmokeCommandCheck(c) for c in cfg.smoke if c.severity != "off"]
    return out


def _finish(check: Check, res: CheckResult, seconds: float) -> CheckResult:
    status = res.status
    detail = res.detail
    if status == "fail" and check.severity == "warn":
        status = "warn"
        detail = f"{detail} (severity: warn)"
    return replace(res, name=check.name, status=status, detail=secrets.scrub(one_line(detail)),
                   duration=round(res.duration or seconds, 3), items=tuple(secrets.scrub(i) for i in res.items))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def execute(checks: Sequence[Check], ctx: CheckContext, progress: Progress | None = None) -> list[CheckResult]:
    """Run ``checks`` in order, each timed; one check's error is its own failure, not the run's."""
    results = []
    for check in checks:
        t0 = time.monotonic()
        if check.needs_trusted_restore and ctx.restore is not None and not ctx.restore.trusted:
            res = check.result("skip", "not run: the archive failed its integrity check, its data is not trusted")
        else:
            try:
                res = check.run(ctx)
            except psycopg.Error as exc:
                res = check.result("fail", f"query failed: {_first_line(exc)}")
            except Exception as exc:
                msg = exc.message if hasattr(exc, "message") else _first_line(exc)
                res = check.result("fail", f"check crashed: {type(exc).__name__}: {msg}")
        res = _finish(check, res, time.monotonic() - t0)
        if progress:
            progress(f"check {res.name}: {res.status} — {res.detail}")
        results.append(res)
    return results


def run_checks(url: DatabaseUrl, manifest: Manifest | None = None, cfg: ChecksConfig | None = None, *,
               restore: RestoreOutcome | None = None, env: Mapping[str, str] | None = None,
               cwd: Path | None = None, progress: Progress | None = None) -> list[CheckResult]:
    """Check the database at ``url``: the entry point for drills of any kind.

    ``manifest`` enables the comparisons with the source (schemas, extensions, row counts, recorded
    migration head); ``restore`` adds the restore check first. Raises SourceError only when the
    database cannot be reached at all.
    """
    ctx = CheckContext(url, manifest, restore, env, cwd)
    try:
        ctx.conn()  # unreachable is infrastructure trouble, not a failed check
        return execute(build_checks(cfg, restore=restore is not None), ctx, progress)
    finally:
        ctx.close()


def failed(results: Sequence[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.status == "fail"]
