"""The restore pipeline: store → (age) → pg_restore, hashed on the way.

Safety rules: a database that holds user tables is never written to unless the caller passed
``clean`` and confirmed the target's exact name; a plain restore runs in one transaction so a
failure leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from psycopg import sql

from pgdrill.catalog import load as load_catalog
from pgdrill.errors import (
    ConfigError,
    CryptoError,
    IntegrityError,
    Refused,
    TargetError,
)
from pgdrill.manifest import Manifest
from pgdrill.pg import binaries, compat, parallel, stats
from pgdrill.pg.archive import HEADER_PEEK, ArchiveHeader, parse_header
from pgdrill.pg.conn import DatabaseUrl, connect
from pgdrill.report.format import human_size
from pgdrill.secrets import Secret
from pgdrill.store.base import Readable, Store
from pgdrill.streams import CHUNK, HashingReader, Progress, StderrCollector

_ERROR_LINE = re.compile(r"^(?:pg_restore: (?:error|ERROR):|psql:[^:]*:\d+: (?:ERROR|FATAL):)", re.IGNORECASE)


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
    keep_owners: bool = False
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

    @property
    def ok(self) -> bool:
        return self.error_count == 0


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
def open_archive(store: Store, m: Manifest, identities: Sequence[Secret],
                 progress: Progress | None = None) -> Iterator[tuple[HashingReader, _PeekReader]]:
    """Stream a backup's plain archive; the HashingReader sees the stored (possibly encrypted) bytes."""
    raw: BinaryIO = store.open(m.object_key)
    plain: Readable | None = None
    try:
        stored = HashingReader(raw, progress, "read")
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


def _restore_command(client: binaries.Client, req: RestoreRequest, list_file: str | None) -> list[str]:
    cmd = [client.tool("pg_restore"), "--no-password", f"--dbname={req.target_url.conninfo_without_password()}"]
    if not req.keep_owners:
        # Roles of the source rarely exist on the target (scratch DBs, other clusters).
        cmd += ["--no-owner", "--no-privileges"]
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


def _toc_for_tables(store: Store, m: Manifest, req: RestoreRequest, client: binaries.Client) -> str:
    """Write a pg_restore --use-list file selecting the wanted tables (schema-qualified, unlike -t)."""
    wanted = {_split_table(t) for t in req.tables}
    with open_archive(store, m, req.identities) as (_, peek):
        proc = subprocess.Popen([client.tool("pg_restore"), "--list"], stdin=subprocess.PIPE,
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
        raise IntegrityError(f"pg_restore --list cannot read backup {m.id}: {err.decode(errors='replace')[-300:]}")
    kinds = {"TABLE DATA"} if req.data_only else {"TABLE", "TABLE DATA", "SEQUENCE SET", "DEFAULT",
                                                    "CONSTRAINT", "INDEX", "TRIGGER", "SEQUENCE",
                                                    "SEQUENCE OWNED BY", "FK CONSTRAINT"}
    selected: list[str] = []
    found: set[tuple[str, str]] = set()
    for line in out.decode("utf-8", "replace").splitlines():
        if not line or line.startswith(";"):
            continue
        # "<id>; <oid> <oid> <KIND> <schema> <name> <owner>"
        for kind in kinds:
            marker = f" {kind} "
            if marker in line:
                rest = line.split(marker, 1)[1].split()
                if len(rest) >= 2 and (rest[0], rest[1]) in wanted:
                    selected.append(line)
                    found.add((rest[0], rest[1]))
                break
    missing = sorted(f"{s}.{t}" for s, t in wanted - found)
    if missing:
        raise ConfigError(f"backup {m.id} has no table {', '.join(missing)}", "see the tables in `pgdrill list --json`")
    fd, path = tempfile.mkstemp(prefix="pgdrill-toc-", suffix=".list")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(selected) + "\n")
    return path


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
    # The read-through protects what the target holds. An empty target restored in one transaction
    # needs none: the held-back last chunk (below) means a corrupt archive is never committed, and a
    # second full read (a second download from S3) cost ~15% of a 1 GB restore (bench/run).
    if req.verify_first and (user_tables or req.tables or not req.atomic):
        if progress:
            progress(f"verifying backup {m.id} ({human_size(m.size)}) before restoring")
        with open_archive(req.store, m, req.identities) as (stored, _):
            drain(stored)
        check_stored(m, stored)

    # Choose pg_restore from the archive's own header.
    with open_archive(req.store, m, req.identities) as (_, peek):
        header = read_header(peek, m)
    client = binaries.for_restore(header.pg_dump_major, target_major)

    list_file = _toc_for_tables(req.store, m, req, client) if req.tables else None
    try:
        if req.data_only and req.tables:
            _prepare_tables(req)
        if progress:
            progress(f"restoring {m.id} into {req.target_url.redacted} with pg_restore {client.version}")
        env = {**os.environ, **req.target_url.subprocess_env()}
        with open_archive(req.store, m, req.identities, progress) as (stored, peek):
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
                proc = errs = parallel.ParallelRestore(_restore_command(client, req, list_file), req.jobs, env,
                                                       before_start=lambda: check_stored(m, stored))
            else:
                proc = subprocess.Popen(_restore_command(client, req, list_file), stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
                assert proc.stdin is not None and proc.stderr is not None
                errs = StderrCollector(proc.stderr)
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
    errors = [ln for ln in lines if _ERROR_LINE.match(ln)]
    ignored = re.search(r"errors ignored on restore: (\d+)", "\n".join(lines))
    count = int(ignored.group(1)) if ignored else len(errors)
    if rc != 0 and count == 0:
        count = 1
        errors = errors or [ln for ln in lines if ln.strip()][-1:] or [f"pg_restore exited {rc}"]
    if not req.tables:
        check_stored(m, stored)
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
    )
