"""The restore pipeline: store → (age) → pg_restore, hashed on the way.

Safety rules: a database that holds user tables is never written to unless the caller passed
``clean`` and confirmed the target's exact name; a plain restore runs in one transaction so a
failure leaves the target as it was.

Owners and privileges are restored (pg_dump's own default). The roles they name must exist on the
target: before anything touches it, the roles the backup needs (its manifest lists them) are looked
up there, and missing ones stop the restore (:class:`MissingRoles`, exit 2) unless the caller asked
to create stand-ins (``create_roles``: NOLOGIN, no password) or not to restore owners/privileges
(``no_owner``/``no_privileges``, then recorded in the result). Database-level settings (``ALTER
DATABASE … SET``, ``ALTER ROLE … IN DATABASE … SET``), which pg_restore applies only with
``--create``, are read from the archive and applied to the target database under its own name.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

import psycopg
from psycopg import sql

from pgdrill.catalog import Catalog
from pgdrill.catalog import load as load_catalog
from pgdrill.errors import (
    ConfigError,
    CryptoError,
    IntegrityError,
    PgdrillError,
    Refused,
    TargetError,
)
from pgdrill.manifest import Manifest
from pgdrill.pg import binaries, compat, parallel, roles, stats
from pgdrill.pg.archive import HEADER_PEEK, ArchiveHeader, parse_header, read_toc
from pgdrill.pg.conn import DatabaseUrl, connect
from pgdrill.report.format import human_size
from pgdrill.secrets import Secret
from pgdrill.store.base import Readable, Store
from pgdrill.streams import CHUNK, DataProgress, HashingReader, Progress, StderrCollector

_ERROR_LINE = re.compile(r"^(?:pg_restore: (?:error|ERROR):|psql:[^:]*:\d+: (?:ERROR|FATAL):)", re.IGNORECASE)


def count_errors(rc: int, lines: list[str], tool: str) -> tuple[list[str], int]:
    """The error lines of a pg_restore or psql run and how many there were: pg_restore's own
    "errors ignored on restore: N" when it says so, else the lines that are errors; a failed run
    that printed none still counts one (its last line, or its exit status)."""
    errors = [ln for ln in lines if _ERROR_LINE.match(ln)]
    ignored = re.search(r"errors ignored on restore: (\d+)", "\n".join(lines))
    count = int(ignored.group(1)) if ignored else len(errors)
    if rc != 0 and count == 0:
        count = 1
        errors = errors or [ln for ln in lines if ln.strip()][-1:] or [f"{tool} exited {rc}"]
    return errors, count


@dataclass(frozen=True)
class RestoreRequest:
    store: Store
    backup: str
    target_url: DatabaseUrl
    clean: bool = False
    confirm: str | None = None
    tables: tuple[str, ...] = ()
    data_only: bool = False
    identities: tuple[Secret, ...] = ()
    no_owner: bool = False  # pg_restore --no-owner: objects belong to the restoring role
    no_privileges: bool = False  # pg_restore --no-privileges: no GRANT/REVOKE
    create_roles: bool = False  # create missing roles NOLOGIN (they stay: the caller asked for them)
    check_roles: bool = True  # False: the caller (a drill) made sure the roles exist
    verify_first: bool = True  # read and hash the archive before touching the target
    atomic: bool = True  # one transaction: all or nothing
    jobs: int = 1  # >1: pg_restore --jobs from a verified temp copy (needs atomic=False)

    def validate(self) -> None:
        """The combinations that could lose data are refused, whoever builds the request."""
        if self.jobs > 1 and self.clean:
            raise ConfigError("--jobs cannot be combined with --clean: a parallel restore is not one transaction, "
                              "so a failure would leave the database half replaced")
        if self.jobs > 1 and self.atomic:
            raise ConfigError("a parallel restore (--jobs) cannot run in one transaction",
                              "restore with --jobs 1, or without --single-transaction")
        if self.data_only and not self.tables:
            raise ConfigError("--data-only needs --table", "name the tables whose rows to restore")


@dataclass
class RestoreResult:
    manifest: Manifest
    target: str
    target_server_version: str
    pg_restore_version: str
    duration_seconds: float
    bytes_read: int
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    tables: tuple[str, ...] = ()
    no_owner: bool = False
    no_privileges: bool = False
    created_roles: list[str] = field(default_factory=list)
    database_settings: int = 0  # ALTER DATABASE/ROLE … SET statements applied to the target

    @property
    def ok(self) -> bool:
        return self.error_count == 0


class MissingRoles(Refused):
    """The target lacks roles the backup's owners and grants name."""

    def __init__(self, backup_id: str, target: str, missing: Sequence[roles.Role]) -> None:
        names = [f"{r.name} ({', '.join(r.reasons) or 'member'})" for r in missing]
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        super().__init__(
            f"backup {backup_id} needs roles that {target} lacks: {shown}",
            "create them first (the backup's roles.sql has them, without passwords), or pass --create-roles "
            "to create them NOLOGIN without passwords, or --no-owner/--no-privileges to restore without "
            "owners/grants (policies and per-role settings still need their roles)",
        )
        self.names = [r.name for r in missing]


class _PeekReader:
    """Lets the header be parsed before the stream goes on to pg_restore."""

    def __init__(self, source: Readable) -> None:
        self.source = source
        self.buffer = b""

    def peek(self, n: int) -> bytes:
        while len(self.buffer) < n:
            data = self.source.read(n - len(self.buffer))
            if not data:
                break
            self.buffer += data
        return self.buffer[:n]

    def read(self, size: int = -1) -> bytes:
        if self.buffer:
            data, self.buffer = self.buffer, b""
            return data
        return self.source.read(size)


@contextlib.contextmanager
def open_archive(store: Store, m: Manifest, identities: Sequence[Secret], progress: Progress | None = None,
                 describe: Callable[[int, float], str] | None = None) -> Iterator[tuple[HashingReader, _PeekReader]]:
    """Stream a backup's plain archive; the HashingReader sees the stored (possibly encrypted) bytes."""
    raw: BinaryIO = store.open(m.object_key)
    plain: Readable | None = None
    try:
        stored = HashingReader(raw, progress, "read", describe=describe)
        plain = stored
        if m.encrypted:
            from pgdrill import crypto

            plain = crypto.decrypting_reader(stored, list(identities))
        yield stored, _PeekReader(plain)
    except (CryptoError, IntegrityError) as exc:
        # Key and decryption errors know nothing of the backup they were reading: name it.
        if m.id in exc.message:
            raise
        raise type(exc)(f"backup {m.id}: {exc.message}", exc.hint) from None
    finally:
        close = getattr(plain, "close", None) if plain is not stored else None
        if close is not None:
            close()  # stops the decrypting thread when the consumer stopped early
        raw.close()


def check_stored(m: Manifest, stored: HashingReader) -> None:
    if stored.count != m.size or stored.hexdigest != m.sha256:
        raise IntegrityError(
            f"backup {m.id} is corrupt: read {stored.count} bytes with sha256 {stored.hexdigest[:12]}…, "
            f"manifest says {m.size} bytes, {m.sha256[:12]}…",
            "restore an older backup (`pgdrill list`)",
        )


def read_header(peek: _PeekReader, m: Manifest) -> ArchiveHeader:
    try:
        return parse_header(peek.peek(HEADER_PEEK))
    except IntegrityError as exc:
        raise IntegrityError(f"backup {m.id} is not a readable archive: {exc.message}") from None


def table_data(peek: _PeekReader, header: ArchiveHeader) -> list[str] | None:
    """The tables whose rows the archive holds, from its TOC (None when it cannot be read: then
    progress says bytes only, and pg_restore reports the damage)."""
    try:
        toc = read_toc(peek.peek(HEADER_PEEK), header, peek.source.read)
    except IntegrityError:
        return None
    return [f"{e.namespace}.{e.tag}" for e in toc if e.desc == "TABLE DATA"]


def drain(reader: Readable) -> None:
    while reader.read(CHUNK):
        pass


def target_state(url: DatabaseUrl) -> tuple[int, str, int]:
    """(user table count, server version, major) of the target."""
    with connect(url, role="target database") as conn:
        row = conn.execute("SHOW server_version").fetchone()
        version = str(row[0]).split()[0] if row else "?"
        return stats.user_table_count(conn), version, conn.info.server_version // 10000


def guard_target(url: DatabaseUrl, clean: bool, confirm: str | None, user_tables: int) -> None:
    """Refuse to write into a non-empty database unless told exactly which one to overwrite."""
    if confirm is not None and confirm != url.dbname:
        raise ConfigError(
            f"--confirm names '{confirm}' but the target database is '{url.dbname}'",
            "pass --confirm with the target's exact database name",
        )
    if user_tables and not (clean and confirm == url.dbname):
        raise Refused(
            f"target database '{url.dbname}' is not empty ({user_tables} tables)",
            f"restore into an empty database, or overwrite it with --clean --confirm {url.dbname}",
        )


def _restore_command(client: binaries.Client, req: RestoreRequest, list_file: str | None,
                     verbose: bool = False) -> list[str]:
    cmd = [client.tool("pg_restore"), "--no-password", f"--dbname={req.target_url.conninfo_without_password()}"]
    if verbose:
        cmd.append("--verbose")  # its "processing data for table" lines are the progress
    if req.no_owner:
        cmd.append("--no-owner")
    if req.no_privileges:
        cmd.append("--no-privileges")
    if req.clean and not req.data_only:
        cmd += ["--clean", "--if-exists"]
    if req.data_only:
        cmd.append("--data-only")
    if req.atomic:
        cmd += ["--single-transaction", "--exit-on-error"]
    if list_file:
        cmd.append(f"--use-list={list_file}")
    return cmd


def _split_table(name: str) -> tuple[str, str]:
    schema, _, table = name.rpartition(".")
    return (schema or "public", table)


def _pg_restore_output(store: Store, m: Manifest, identities: Sequence[Secret], client: binaries.Client,
                       args: Sequence[str]) -> str:
    """Feed the archive to ``pg_restore ARGS`` (writing to stdout) and return what it prints. It stops
    reading after the TOC for a listing or the database entries: the download stops with it."""
    with open_archive(store, m, identities) as (_, peek):
        proc = subprocess.Popen([client.tool("pg_restore"), *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        errs = StderrCollector(proc.stderr)
        stdin = proc.stdin

        def feed() -> None:
            # pg_restore --list stops reading after the TOC; a broken pipe then is expected.
            with contextlib.suppress(BrokenPipeError, ValueError):
                while chunk := peek.read(CHUNK):
                    stdin.write(chunk)
            with contextlib.suppress(BrokenPipeError, ValueError):
                stdin.close()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            out = proc.stdout.read()
            proc.wait()
            feeder.join()
        finally:
            if proc.poll() is None:
                proc.kill()
        err = "\n".join(errs.join(10)).encode()
    if proc.returncode != 0:
        raise IntegrityError(f"pg_restore {args[0]} cannot read backup {m.id}: {err.decode(errors='replace')[-300:]}")
    return out.decode("utf-8", "replace")


#: TOC entry kinds that belong to a table, for ``restore --table`` (data only: its rows alone).
#: Longest first: a kind may start with another ("TABLE DATA" and "TABLE", "SEQUENCE SET" and
#: "SEQUENCE"), and the first that fits a line must be the whole kind.
_TABLE_KINDS = sorted(("TABLE", "TABLE DATA", "SEQUENCE SET", "DEFAULT", "CONSTRAINT", "INDEX", "TRIGGER",
                       "SEQUENCE", "SEQUENCE OWNED BY", "FK CONSTRAINT", "ACL", "COMMENT", "POLICY",
                       "ROW SECURITY", "RULE"), key=len, reverse=True)
#: kinds whose line names the object's type before its name ("ACL public TABLE orders owner")
_ABOUT_ANOTHER = ("ACL", "COMMENT")


def toc_entry(line: str) -> tuple[str, str, str] | None:
    """(kind, schema, table) of one ``pg_restore --list`` line about a table, or None.

    A line is ``<id>; <oid> <oid> <KIND> <schema> <name> <owner>``; an ACL or a comment names what
    it is about (``ACL public TABLE orders owner``, ``ACL public COLUMN orders.total owner``)."""
    if not line or line.startswith(";") or "; " not in line:
        return None
    parts = line.split("; ", 1)[1].split(" ", 2)
    if len(parts) < 3:
        return None
    rest = parts[2]
    kind = next((k for k in _TABLE_KINDS if rest.startswith(k + " ")), None)
    if kind is None:
        return None
    words = rest[len(kind) + 1:].split()
    if kind in _ABOUT_ANOTHER:
        if len(words) < 3 or words[1] not in ("TABLE", "COLUMN"):
            return None
        return kind, words[0], words[2].split(".", 1)[0] if words[1] == "COLUMN" else words[2]
    return (kind, words[0], words[1]) if len(words) >= 2 else None


def _toc_for_tables(store: Store, m: Manifest, req: RestoreRequest, client: binaries.Client) -> tuple[str, set[str]]:
    """Write a pg_restore --use-list file selecting the wanted tables (schema-qualified, unlike -t):
    their definition, rows, defaults, constraints, indexes, triggers, policies, grants and comments
    (``--data-only``: the rows alone); also return the owners its entries name."""
    wanted = {_split_table(t) for t in req.tables}
    lines = _pg_restore_output(store, m, req.identities, client, ["--list"]).splitlines()
    selected: list[str] = []
    found: set[tuple[str, str]] = set()
    for line in lines:
        entry = toc_entry(line)
        if entry is None:
            continue
        kind, schema, table = entry
        if req.data_only and kind != "TABLE DATA":
            continue
        if (schema, table) in wanted:
            selected.append(line)
            found.add((schema, table))
    missing = sorted(f"{s}.{t}" for s, t in wanted - found)
    if missing:
        raise ConfigError(f"backup {m.id} has no table {', '.join(missing)}", "see the tables in `pgdrill list --json`")
    if not req.data_only:
        # The TOC names a table's sequences (serial and identity columns) and indexes by their own
        # names, so they are found from the SQL of the defaults, identities and indexes.
        sequences, indexes = _named_apart(store, m, req, client, lines, wanted)
        chosen = set(selected)
        # in the archive's order: dependencies first
        selected = [ln for ln in lines if ln in chosen or (
            (e := toc_entry(ln)) is not None and (
                (e[0] in ("SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET") and (e[1], e[2]) in sequences)
                or (e[0] == "INDEX" and (e[1], e[2]) in indexes)))]
    return _list_file(selected), {ln.split()[-1] for ln in selected if not req.data_only}


def _list_file(lines: Sequence[str]) -> str:
    fd, path = tempfile.mkstemp(prefix="pgdrill-toc-", suffix=".list")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')+)'::regclass\)")
_INDEX = re.compile(r"^CREATE (?:UNIQUE )?INDEX (?P<index>\S+) ON (?:ONLY )?(?P<table>\S+)", re.MULTILINE)
_IDENTITY = re.compile(r"ALTER TABLE (?:ONLY )?(?P<table>\S+) ALTER COLUMN \S+ ADD GENERATED .*?SEQUENCE NAME "
                       r"(?P<seq>\S+)", re.DOTALL)


def _qualified(text: str) -> tuple[str, str]:
    """``schema.name`` as pg_dump writes it (either part may be double-quoted) → (schema, name)."""
    parts = re.findall(r'"((?:[^"]|"")*)"|([^."]+)', text)
    names = [q.replace('""', '"') if q else u for q, u in parts]
    return (names[0], names[1]) if len(names) >= 2 else ("public", names[0] if names else text)


def _named_apart(store: Store, m: Manifest, req: RestoreRequest, client: binaries.Client, lines: Sequence[str],
                 wanted: set[tuple[str, str]]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(sequences, indexes) of the wanted tables, whose TOC entries carry their own names: the
    sequences of ``nextval('…')`` in the tables' DEFAULT entries and of ``ADD GENERATED … SEQUENCE
    NAME …`` (identity columns, in SEQUENCE entries), and the indexes ``CREATE INDEX … ON`` them."""
    about = [ln for ln in lines if (e := toc_entry(ln)) is not None
             and ((e[0] == "DEFAULT" and (e[1], e[2]) in wanted) or e[0] in ("SEQUENCE", "INDEX"))]
    if not about:
        return set(), set()
    path = _list_file(about)
    try:
        script = _pg_restore_output(store, m, req.identities, client, [f"--use-list={path}", "--file=-"])
    finally:
        os.unlink(path)
    sequences = {_qualified(name.replace("''", "'")) for name in _NEXTVAL.findall(script)}
    sequences |= {_qualified(x["seq"].rstrip(";")) for x in _IDENTITY.finditer(script)
                  if _qualified(x["table"]) in wanted}
    indexes = set()
    for x in _INDEX.finditer(script):
        schema, table = _qualified(x["table"])
        if (schema, table) in wanted:
            indexes.add((schema, _qualified(f'"{schema}".' + x["index"])[1]))
    return sequences, indexes


def toc_owners(store: Store, m: Manifest, identities: Sequence[Secret], client: binaries.Client) -> set[str]:
    """Owners named by the archive's TOC (for backups whose manifest predates the roles section)."""
    out = _pg_restore_output(store, m, identities, client, ["--list"])
    return {ln.split()[-1] for ln in out.splitlines() if ln and not ln.startswith(";") and len(ln.split()) >= 6}


# -- database-level settings ----------------------------------------------------------------------
_IDENT = r'(?:"(?:[^"]|"")+"|[^\s"]+)'
_ALTER_DB = re.compile(rf"^ALTER DATABASE (?P<db>{_IDENT}) SET (?P<rest>.*)$", re.DOTALL)
_ALTER_ROLE_IN_DB = re.compile(rf"^ALTER ROLE (?P<role>{_IDENT}) IN DATABASE (?P<db>{_IDENT}) SET (?P<rest>.*)$",
                               re.DOTALL)


def database_settings(script: str, target_db: str) -> list[sql.Composed]:
    """The ALTER DATABASE/ROLE … SET statements of pg_restore --create's script, renamed to
    ``target_db``. pg_dump writes each as one statement starting a line (a quoted value may carry
    newlines, so a statement runs to the line that ends it)."""
    statements: list[str] = []
    pending: str | None = None
    for line in script.splitlines():
        if pending is not None:
            pending += "\n" + line
        elif line.startswith(("ALTER DATABASE ", "ALTER ROLE ")):
            pending = line
        else:
            continue
        if pending.endswith(";") and pending.count("'") % 2 == 0:
            statements.append(pending)
            pending = None
    target = sql.Identifier(target_db)
    out: list[sql.Composed] = []
    for stmt in statements:
        if db := _ALTER_DB.match(stmt):
            out.append(sql.SQL("ALTER DATABASE {} SET ").format(target) + sql.SQL(db.group("rest")))
        elif role := _ALTER_ROLE_IN_DB.match(stmt):
            out.append(sql.SQL("ALTER ROLE ") + sql.SQL(role.group("role"))
                       + sql.SQL(" IN DATABASE {} SET ").format(target) + sql.SQL(role.group("rest")))
    return out


def _apply_database_settings(req: RestoreRequest, m: Manifest, client: binaries.Client,
                             progress: Progress | None) -> tuple[int, list[str]]:
    if m.roles is not None and not m.roles.database_settings and not any(r.database_settings for r in m.roles.needed):
        return 0, []
    with tempfile.TemporaryDirectory(prefix="pgdrill-dbprops-") as tmp:
        empty = os.path.join(tmp, "none.list")
        open(empty, "w").close()  # an empty list: pg_restore --create still writes the database entries
        script = _pg_restore_output(req.store, m, req.identities, client, ["--create", f"--use-list={empty}",
                                                                           "--file=-"])
    statements = database_settings(script, req.target_url.dbname)
    errors = []
    applied = 0
    with connect(req.target_url, role="target database") as conn:
        for stmt in statements:
            try:
                conn.execute(stmt)
                applied += 1
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                errors.append(f"database setting not applied ({stmt.as_string(conn)[:120]}): {first}")
    if progress and applied:
        progress(f"applied {applied} database-level setting(s) to {req.target_url.dbname}")
    return applied, errors


# -- roles ----------------------------------------------------------------------------------------
def needed_roles(m: Manifest) -> list[roles.Role] | None:
    """The roles the manifest says the backup needs (None: a manifest from before roles were kept)."""
    if m.roles is None:
        return None
    return [roles.Role(r.name, tuple(r.reasons), tuple(r.attributes), tuple(r.member_of), tuple(r.settings),
                       tuple(r.database_settings)) for r in m.roles.needed]


def wanted_roles(store: Store, m: Manifest, identities: Sequence[Secret], client: binaries.Client | None = None,
                 owners: set[str] | None = None) -> list[roles.Role]:
    """The roles a restore of ``m`` needs: from its manifest, or (a backup from before the manifest
    listed them) the owners its archive's TOC names. ``owners`` narrows them to a table restore's."""
    wanted = needed_roles(m)
    if owners is not None:
        return [r for r in wanted if r.name in owners] if wanted is not None else \
            [roles.Role(o, ("owner",)) for o in sorted(owners)]
    if wanted is None:
        if client is None:
            with open_archive(store, m, identities) as (_, peek):
                header = read_header(peek, m)
            client = binaries.for_restore(header.pg_dump_major, None)
        wanted = [roles.Role(o, ("owner",)) for o in sorted(toc_owners(store, m, identities, client))]
    return wanted


def missing_roles(req: RestoreRequest, m: Manifest, client: binaries.Client,
                  owners: set[str] | None = None) -> list[roles.Role]:
    """The roles this restore needs that the target server lacks (given --no-owner/--no-privileges)."""
    wanted = wanted_roles(req.store, m, req.identities, client, owners)
    with connect(req.target_url, role="target database") as conn:
        return roles.missing(conn, wanted, owners=not req.no_owner, privileges=not req.no_privileges)


def kept_comment(what: str) -> str:
    """The comment on roles `restore --create-roles` makes: they stay, and no sweep ever drops them."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return (f"created by pgdrill restore --create-roles for backup {what} at {stamp}: NOLOGIN, no password; "
            "a stand-in for the source's role")


def provide_roles(store: Store, m: Manifest, identities: Sequence[Secret], url: DatabaseUrl, comment: str,
                  progress: Progress | None = None) -> list[str]:
    """For a drill's copy: give ``url``'s server the roles the backup needs that it lacks, as NOLOGIN
    stand-ins commented with ``comment`` (the copy's marker; drop them with :func:`drop_stand_ins`)."""
    wanted = wanted_roles(store, m, identities)
    with connect(url, role="scratch server") as conn:
        lacking = roles.missing(conn, wanted)
    return create_missing_roles(url, lacking, comment, progress)


def drop_stand_ins(url: DatabaseUrl, names: Sequence[str], comment: str) -> tuple[list[str], list[str]]:
    """Drop the stand-ins created with ``comment`` (after the database that used them): (problems,
    roles still used by another database). Never raises."""
    if not names:
        return [], []
    try:
        with connect(url, role="scratch server") as conn:
            return roles.drop(conn, names, comment)
    except PgdrillError as exc:
        return [f"{', '.join(names)}: {exc.message}"], []


def create_missing_roles(url: DatabaseUrl, missing: Sequence[roles.Role], comment: str,
                         progress: Progress | None = None) -> list[str]:
    """Create stand-ins for ``missing`` on ``url``'s server: NOLOGIN, no password, with ``comment``."""
    if not missing:
        return []
    try:
        with connect(url, role="target server") as conn:
            created = roles.create(conn, missing, comment)
    except psycopg.errors.InsufficientPrivilege:
        raise ConfigError(f"the role of {url.redacted} cannot create the roles the backup needs "
                          f"({', '.join(r.name for r in missing)})",
                          "connect as a role with CREATEROLE, or create them yourself") from None
    if progress and created:
        progress(f"created role(s) {', '.join(created)} on {url.host}:{url.port}: NOLOGIN, no password "
                 "(stand-ins for the backup's roles; give them LOGIN and a password yourself if needed)")
    return created


def _prepare_tables(req: RestoreRequest) -> None:
    """Data-only table restores need empty tables; with --clean --confirm, empty them in one go."""
    with connect(req.target_url, role="target database") as conn:
        nonempty = []
        for name in req.tables:
            schema, table = _split_table(name)
            ident = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            try:
                row = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(ident)).fetchone()
            except Exception as exc:
                raise TargetError(f"table {name} cannot be read on the target: {str(exc).splitlines()[0]}") from None
            if row and row[0]:
                nonempty.append((name, ident))
        if not nonempty:
            return
        if not (req.clean and req.confirm == req.target_url.dbname):
            names = ", ".join(n for n, _ in nonempty)
            raise Refused(
                f"table(s) {names} on '{req.target_url.dbname}' still hold rows",
                f"pass --clean --confirm {req.target_url.dbname} to replace them",
            )
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(i for _, i in nonempty)))


def run_restore(req: RestoreRequest, progress: Progress | None = None,
                manifest: Manifest | None = None) -> RestoreResult:
    req.validate()
    m = manifest or load_catalog(req.store).find(req.backup)
    user_tables, target_version, target_major = target_state(req.target_url)
    if req.data_only and req.tables:
        if req.confirm is not None and req.confirm != req.target_url.dbname:
            guard_target(req.target_url, req.clean, req.confirm, user_tables)
    else:
        guard_target(req.target_url, req.clean, req.confirm, user_tables)
    t0 = time.monotonic()
    # Choose pg_restore from the archive's own header; count the tables of its TOC for the progress.
    with open_archive(req.store, m, req.identities) as (_, peek):
        header = read_header(peek, m)
        tables = table_data(peek, header) if progress else None
    client = binaries.for_restore(header.pg_dump_major, target_major)
    table_count = len(req.tables) if req.tables else len(tables or []) or None
    follow = DataProgress(progress, "restoring", "pg_restore", total_bytes=m.size, table_count=table_count) \
        if progress else None
    list_file, toc_owner_names = _toc_for_tables(req.store, m, req, client) if req.tables else (None, None)
    created: list[str] = []
    try:
        if req.check_roles and not req.data_only:
            lacking = missing_roles(req, m, client, toc_owner_names)
            if lacking and not req.create_roles:
                raise MissingRoles(m.id, req.target_url.redacted, lacking)
            created = create_missing_roles(req.target_url, lacking, kept_comment(m.id), progress)
    except BaseException:
        if list_file:
            os.unlink(list_file)
        raise
    # The read-through protects what the target holds. An empty target restored in one transaction
    # needs none: the held-back last chunk (below) means a corrupt archive is never committed, and a
    # second full read (a second download from S3) cost ~15% of a 1 GB restore (bench/run).
    if req.verify_first and (user_tables or req.tables or not req.atomic):
        if progress:
            progress(f"verifying backup {m.id} ({human_size(m.size)}) before restoring")
        with open_archive(req.store, m, req.identities) as (stored, _):
            drain(stored)
        check_stored(m, stored)

    try:
        if req.data_only and req.tables:
            _prepare_tables(req)
        if progress:
            progress(f"restoring {m.id} into {req.target_url.redacted} with pg_restore {client.version}")
        env = {**os.environ, **req.target_url.subprocess_env()}
        with open_archive(req.store, m, req.identities, progress,
                          follow.describe if follow else None) as (stored, peek):
            proc: subprocess.Popen[bytes] | compat.ScriptRestore | parallel.ParallelRestore
            errs: StderrCollector | compat.ScriptRestore | parallel.ParallelRestore
            if compat.needs_script_restore(client.major, target_major):
                if progress:
                    progress(f"pg_restore {client.version} is newer than the PostgreSQL {target_version} target: "
                             "restoring its SQL script with psql, minus its SET transaction_timeout")
                proc = errs = compat.ScriptRestore.from_command(
                    client, _restore_command(client, req, list_file), req.atomic, env)
            elif req.jobs > 1 and not req.atomic:
                # Spooled to a temp file, checked, then restored with N jobs (see pg/parallel.py).
                proc = errs = parallel.ParallelRestore(
                    _restore_command(client, req, list_file, follow is not None), req.jobs, env,
                    before_start=lambda: check_stored(m, stored), on_line=follow.on_line if follow else None,
                    on_start=(lambda: progress(f"archive read and checked ({human_size(stored.count)}); pg_restore "
                                               f"--jobs {req.jobs} starts")) if progress else None)
            else:
                proc = subprocess.Popen(_restore_command(client, req, list_file, follow is not None),
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        env=env)
                assert proc.stdin is not None and proc.stderr is not None
                errs = StderrCollector(proc.stderr, on_line=follow.on_line if follow else None)
            assert proc.stdin is not None
            try:
                try:
                    # The last chunk is held back until the whole archive has been hashed: pg_restore
                    # cannot finish (and --single-transaction cannot commit) without it, so an archive
                    # that fails its checksum is never committed, even with --no-verify or when the
                    # object changed after the read-through.
                    held = b""
                    while chunk := peek.read(CHUNK):
                        if held:
                            proc.stdin.write(held)
                        held = chunk
                    if req.atomic and not req.tables:
                        check_stored(m, stored)
                    proc.stdin.write(held)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass  # pg_restore stopped early; its exit code and stderr say why
                rc = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            lines = errs.join(10)
            if stored.count and not req.tables:
                drain(peek)
    finally:
        if list_file:
            os.unlink(list_file)
    errors, count = count_errors(rc, lines, "pg_restore")
    if not req.tables:
        check_stored(m, stored)
    if follow is not None and progress:
        n = follow.table_count
        progress(f"restored {human_size(stored.count)}" + (f", table data of {min(len(follow.done), n)} of {n} "
                                                           "tables" if n else ""))
    applied = 0
    if not req.tables and (rc == 0 or not req.atomic):
        applied, setting_errors = _apply_database_settings(req, m, client, progress)
        errors += setting_errors
        count += len(setting_errors)
    return RestoreResult(
        manifest=m,
        target=req.target_url.redacted,
        target_server_version=target_version,
        pg_restore_version=client.version,
        duration_seconds=round(time.monotonic() - t0, 3),
        bytes_read=stored.count,
        errors=errors,
        error_count=count,
        tables=req.tables,
        no_owner=req.no_owner,
        no_privileges=req.no_privileges,
        created_roles=created,
        database_settings=applied,
    )


# -- a whole-cluster run -------------------------------------------------------------------------
def run_restore_run(req: RestoreRequest, cat: Catalog, progress: Progress | None = None) -> list[RestoreResult]:
    """Restore every database of an --all-databases run into a database of the same name on the
    server of ``req.target_url``. Everything is checked before anything is written: the run is
    complete, every target database is absent or empty, the roles exist (or are created once)."""
    req.validate()
    members = cat.run(req.backup)
    server = req.target_url
    targets: list[tuple[Manifest, DatabaseUrl, bool]] = []
    with connect(server, role="target server") as conn:
        have = {str(r[0]) for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
    for m in members:
        url = server.with_dbname(m.database)
        exists = m.database in have
        if exists:
            user_tables, _, _ = target_state(url)
            guard_target(url, False, None, user_tables)
        targets.append((m, url, exists))
    wanted: dict[str, roles.Role] = {}
    for m in members:
        for role in needed_roles(m) or []:
            wanted.setdefault(role.name, role)
    with connect(server, role="target server") as conn:
        lacking = roles.missing(conn, wanted.values(), owners=not req.no_owner, privileges=not req.no_privileges)
    if lacking and not req.create_roles:
        raise MissingRoles(f"run {members[0].run_id}", f"{server.host}:{server.port}", lacking)
    created = create_missing_roles(server, lacking, kept_comment(f"run {members[0].run_id}"), progress)
    results = []
    for m, url, exists in targets:
        if not exists:
            with connect(server, role="target server") as conn:
                try:
                    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(m.database)))
                except psycopg.Error as exc:
                    raise TargetError(f"cannot create database {m.database} on {server.redacted}: "
                                      f"{str(exc).strip().splitlines()[0]}") from None
            if progress:
                progress(f"created database {m.database} on {server.host}:{server.port}")
        r = run_restore(replace(req, backup=m.id, target_url=url, check_roles=False), progress, m)
        if m is members[0]:
            r.created_roles = created
        results.append(r)
    return results
