"""Reading an archive of a set: sniff it, list its TOC, verify it to the end, restore it into a database.

Every byte read is hashed on the way (a directory-format dump: each file, then the list of them), so
a drill or a verify records the archive's sha256 and size and the next one can tell it changed.

- custom and tar dumps stream into ``pg_restore`` (the client chosen from the archive's header, as for
  pgdrill's own backups; a newer pg_restore than the server goes through :mod:`pgdrill.pg.compat`);
  ``--jobs`` spools a custom archive to a temp file first (:mod:`pgdrill.pg.parallel`);
- a directory-format dump is restored from its folder (an S3 prefix is downloaded to a temp folder,
  removed afterwards);
- plain SQL is decompressed and filtered (:mod:`pgdrill.archives.script`) into ``psql`` with
  ``ON_ERROR_STOP``, in one transaction when the script allows it: a script with a statement that
  cannot run in a transaction block (``CREATE INDEX CONCURRENTLY``…) is run again without one, into
  the database the rolled-back attempt left empty.

The last chunk is held back until the archive was read (and decompressed, and, for a pg_dump script,
seen to end as pg_dump ends it): a truncated archive never lets a one-transaction restore commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from pgdrill.archives.listing import TOC, Archive, ArchiveSet
from pgdrill.archives.readers import Decompressed
from pgdrill.archives.script import ScriptReader
from pgdrill.archives.sniff import Sniffed, sniff, sniff_directory
from pgdrill.archives.toc import Toc
from pgdrill.errors import IntegrityError, PgdrillError
from pgdrill.pg import binaries, compat, parallel
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.report.format import human_size
from pgdrill.restore import count_errors
from pgdrill.store.base import Readable
from pgdrill.streams import CHUNK, HashingReader, Progress, StderrCollector

_ERROR_LINE = re.compile(r"^(?:pg_restore: (?:error|ERROR):|psql:[^:]*:\d+: (?:ERROR|FATAL):)", re.IGNORECASE)
_NO_TRANSACTION = "cannot run inside a transaction block"


def _say(progress: Progress | None, msg: str) -> None:
    if progress:
        progress(msg)


def _drain(reader: Readable) -> None:
    while reader.read(CHUNK):
        pass


# -- sniffing -----------------------------------------------------------------------------------
def inspect(aset: ArchiveSet, archive: Archive) -> Sniffed:
    """What the archive is, from its first bytes (raises IntegrityError for anything pgdrill cannot read)."""
    if archive.directory:
        toc_rel = f"{archive.name}/{TOC}"
        with contextlib.closing(aset.open(archive, toc_rel)) as f:
            return sniff_directory(f.read(4096), archive.url)
    with contextlib.closing(aset.open(archive)) as f:
        return sniff(f, archive.url)


# -- directory-format dumps ---------------------------------------------------------------------
@dataclass
class Folder:
    """A directory-format dump on this machine, with the digest of its files."""

    path: Path
    size: int
    sha256: str
    temporary: bool

    def cleanup(self) -> None:
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("".join(lines).encode()).hexdigest()


@contextlib.contextmanager
def folder(aset: ArchiveSet, archive: Archive, progress: Progress | None = None) -> Iterator[Folder]:
    """The dump's folder (a local one in place; an S3 prefix downloaded to a temp folder), hashed:
    sha256 of "name size sha256" lines of its files in name order."""
    local = aset.location.local_path(archive.name)
    tmp = None if local is not None else Path(tempfile.mkdtemp(prefix="pgdrill-archive-"))
    lines: list[str] = []
    total = 0
    try:
        for member in archive.members:
            rel = member.key[len(archive.name) + 1:]
            out: IO[bytes] | None = open(tmp / rel, "wb") if tmp is not None else None  # noqa: SIM115
            try:
                with contextlib.closing(aset.open(archive, member.key)) as f:
                    h = HashingReader(f, progress, f"read {rel}")
                    while chunk := h.read(CHUNK):
                        if out is not None:
                            out.write(chunk)
            finally:
                if out is not None:
                    out.close()
            lines.append(f"{rel} {h.count} {h.hexdigest}\n")
            total += h.count
        path = local if local is not None else tmp
        assert path is not None
        yield Folder(path, total, _digest(lines), tmp is not None)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# -- TOC ------------------------------------------------------------------------------------------
def _list(client: binaries.Client, source: Readable | Path) -> Toc:
    """``pg_restore --list`` of a stream (it stops reading after the TOC) or of a folder."""
    if isinstance(source, Path):
        proc = subprocess.run([client.tool("pg_restore"), "--list", str(source)], capture_output=True, check=False)
        out, err, rc = proc.stdout, proc.stderr, proc.returncode
    else:
        p = subprocess.Popen([client.tool("pg_restore"), "--list"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        assert p.stdin is not None and p.stdout is not None and p.stderr is not None
        errs = StderrCollector(p.stderr)
        chunks: list[bytes] = []
        stdout = p.stdout
        reader = threading.Thread(target=lambda: chunks.append(stdout.read()), daemon=True)
        reader.start()
        try:
            with contextlib.suppress(BrokenPipeError, ValueError):
                while chunk := source.read(CHUNK):
                    p.stdin.write(chunk)
            with contextlib.suppress(BrokenPipeError, ValueError):
                p.stdin.close()
            rc = p.wait()
            reader.join()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out, err = b"".join(chunks), "\n".join(errs.join(10)).encode()
    if rc != 0:
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {rc}"]
        raise IntegrityError(f"pg_restore --list cannot read the archive's TOC: {last[0]}")
    return Toc.from_listing(out.decode("utf-8", "replace"))


def read_toc(aset: ArchiveSet, archive: Archive, s: Sniffed, client: binaries.Client) -> Toc:
    """The TOC of a custom or tar archive (reads only its head)."""
    with contextlib.closing(aset.open(archive)) as raw:
        plain = Decompressed(raw, s.compression, archive.url)
        try:
            return _list(client, plain)
        except IntegrityError as exc:
            raise IntegrityError(f"{archive.url}: {exc.message}", "the archive is damaged; drill an older one") \
                from None


# -- verify -------------------------------------------------------------------------------------------
@dataclass
class VerifyOutcome:
    archive: Archive
    sniffed: Sniffed
    size: int
    sha256: str
    toc: Toc
    tool: str  # "pg_restore 17.2", or "" for plain SQL (read by pgdrill itself)
    seconds: float


def _pg_restore_to_null(client: binaries.Client, source: Readable | Path) -> tuple[int, list[str]]:
    """Read the whole archive as pg_restore would restore it (every data block decompressed), into
    /dev/null: what `pg_restore --list` alone never reads."""
    cmd = [client.tool("pg_restore"), "--file=/dev/null"]
    if isinstance(source, Path):
        p = subprocess.run([*cmd, str(source)], capture_output=True, check=False)
        return p.returncode, p.stderr.decode("utf-8", "replace").splitlines()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    errs = StderrCollector(proc.stderr)
    try:
        with contextlib.suppress(BrokenPipeError):
            while chunk := source.read(CHUNK):
                proc.stdin.write(chunk)
            proc.stdin.close()
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rc, errs.join(10)


def verify(aset: ArchiveSet, archive: Archive, progress: Progress | None = None) -> VerifyOutcome:
    """Read the archive to its end: decompressed, and through ``pg_restore`` (custom, tar, directory)
    or pgdrill's own script reader (plain SQL). Raises IntegrityError naming the archive."""
    t0 = time.monotonic()
    s = inspect(aset, archive)
    _say(progress, f"verifying {archive.url}: {s.describe()}, {human_size(archive.size)}")
    if s.format == "directory":
        assert s.header is not None
        client = binaries.for_restore(s.header.pg_dump_major, None)
        with folder(aset, archive, progress) as f:
            toc = _list(client, f.path)
            rc, lines = _pg_restore_to_null(client, f.path)
            size, digest = f.size, f.sha256
        _raise_unreadable(archive, rc, lines)
        return VerifyOutcome(archive, s, size, digest, toc, f"pg_restore {client.version}",
                             round(time.monotonic() - t0, 3))
    if s.format in ("custom", "tar"):
        assert s.header is not None
        client = binaries.for_restore(s.header.pg_dump_major, None)
        toc = read_toc(aset, archive, s, client)
        with contextlib.closing(aset.open(archive)) as raw:
            stored = HashingReader(raw, progress, "read")
            plain = Decompressed(stored, s.compression, archive.url)
            rc, lines = _pg_restore_to_null(client, plain)
            _drain(stored)
        _raise_unreadable(archive, rc, lines)
        return VerifyOutcome(archive, s, stored.count, stored.hexdigest, toc, f"pg_restore {client.version}",
                             round(time.monotonic() - t0, 3))
    with contextlib.closing(aset.open(archive)) as raw:
        stored = HashingReader(raw, progress, "read")
        script = ScriptReader(Decompressed(stored, s.compression, archive.url), archive.url,
                              pg_dump_script=s.pg_dump_script, keep_owners=True)
        _drain(script)
    return VerifyOutcome(archive, s, stored.count, stored.hexdigest, Toc.from_script(script.facts), "",
                         round(time.monotonic() - t0, 3))


def _raise_unreadable(archive: Archive, rc: int, lines: list[str]) -> None:
    if rc != 0:
        errors = [ln for ln in lines if ln.strip()]
        first = next((ln for ln in errors if _ERROR_LINE.match(ln)), errors[-1] if errors else f"exit {rc}")
        raise IntegrityError(f"{archive.url} cannot be read to its end: {first}",
                             "the archive is damaged or truncated; drill an older one")


# -- restore ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadOptions:
    # restore owners and grants (default: --no-owner --no-privileges — unlike pgdrill's own backups, a
    # dump made by another tool says nothing of the roles it needs)
    keep_owners: bool = False
    atomic: bool = False  # pg_restore: one transaction, stop at the first error (plain SQL always stops)
    clean: bool = False  # pg_restore --clean --if-exists (custom, tar, directory only)
    jobs: int = 1
    #: read the whole archive before a restore that is not one transaction (a plain script that cannot
    #: run in one): what a target holds must not be half restored from a broken archive
    verify_first: bool = False


@dataclass
class LoadOutcome:
    """How a restore went. ``integrity_error``: the archive could not be read whole (nothing restored
    from it is trusted); ``errors``: what the restoring tool reported."""

    sniffed: Sniffed | None = None
    size: int = 0
    sha256: str = ""
    toc: Toc = field(default_factory=Toc)
    tool: str = "pg_restore"
    tool_version: str = ""
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    integrity_error: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and self.integrity_error is None



def _pg_restore_args(url: DatabaseUrl, client: binaries.Client, opts: LoadOptions) -> list[str]:
    cmd = [client.tool("pg_restore"), "--no-password", f"--dbname={url.conninfo_without_password()}"]
    if not opts.keep_owners:
        cmd += ["--no-owner", "--no-privileges"]
    if opts.clean:
        cmd += ["--clean", "--if-exists"]
    if opts.atomic:
        cmd += ["--single-transaction", "--exit-on-error"]
    return cmd


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def close(self) -> None: ...


def _feed(proc_stdin: _Sink, reader: Readable) -> None:
    """Copy ``reader`` into a restoring process, holding the last chunk back until the reader ended
    cleanly (its end is where truncation and bad checksums show)."""
    held = b""
    try:
        while chunk := reader.read(CHUNK):
            if held:
                proc_stdin.write(held)
            held = chunk
        if held:
            proc_stdin.write(held)
        proc_stdin.close()
    except (BrokenPipeError, ValueError):
        pass  # the tool stopped early; its exit code and stderr say why


def load(aset: ArchiveSet, archive: Archive, url: DatabaseUrl, target_major: int, opts: LoadOptions,
         progress: Progress | None = None, sniffed: Sniffed | None = None) -> LoadOutcome:
    """Restore ``archive`` into the database at ``url``. Never raises for the archive's own trouble:
    that is the outcome's ``integrity_error`` or ``errors``; infrastructure trouble raises."""
    t0 = time.monotonic()
    out = LoadOutcome()
    try:
        s = sniffed or inspect(aset, archive)
    except IntegrityError as exc:
        out.integrity_error = exc.message
        out.seconds = round(time.monotonic() - t0, 3)
        return out
    out.sniffed = s
    try:
        if s.format == "plain":
            _load_plain(aset, archive, s, url, target_major, opts, progress, out)
        else:
            _load_pg_restore(aset, archive, s, url, target_major, opts, progress, out)
    except IntegrityError as exc:
        out.integrity_error = exc.message
    out.seconds = round(time.monotonic() - t0, 3)
    return out


def _load_pg_restore(aset: ArchiveSet, archive: Archive, s: Sniffed, url: DatabaseUrl, target_major: int,
                     opts: LoadOptions, progress: Progress | None, out: LoadOutcome) -> None:
    assert s.header is not None
    client = binaries.for_restore(s.header.pg_dump_major, target_major)
    out.tool, out.tool_version = "pg_restore", client.version
    env = {**os.environ, **url.subprocess_env()}
    cmd = _pg_restore_args(url, client, opts)
    script = compat.needs_script_restore(client.major, target_major)
    if script:
        _say(progress, f"pg_restore {client.version} is newer than the PostgreSQL {target_major} server: restoring "
                       "its SQL script with psql, minus its SET transaction_timeout")
    if s.format == "directory":
        with folder(aset, archive, progress) as f:
            out.size, out.sha256 = f.size, f.sha256
            out.toc = _list(client, f.path)
            _say(progress, f"restoring {archive.url} ({s.describe()}) with pg_restore {client.version}")
            jobs = [f"--jobs={opts.jobs}"] if opts.jobs > 1 and not opts.atomic and not script else []
            if script:
                proc = compat.ScriptRestore.from_command(client, [*cmd, str(f.path)], opts.atomic, env)
                proc.stdin.close()
                rc = proc.wait()
                lines = proc.join(10)
            else:
                done = subprocess.run([*cmd, *jobs, str(f.path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, env=env, check=False)
                rc, lines = done.returncode, done.stderr.decode("utf-8", "replace").splitlines()
        out.errors, out.error_count = count_errors(rc, lines, "pg_restore")
        return
    out.toc = read_toc(aset, archive, s, client)
    _say(progress, f"restoring {archive.url} ({s.describe()}, {human_size(archive.size)}) into {url.redacted} with "
                   f"pg_restore {client.version}")
    with contextlib.closing(aset.open(archive)) as raw:
        stored = HashingReader(raw, progress, "read")
        plain = Decompressed(stored, s.compression, archive.url)
        proc_any: subprocess.Popen[bytes] | compat.ScriptRestore | parallel.ParallelRestore
        if script:
            proc_any = compat.ScriptRestore.from_command(client, cmd, opts.atomic, env)
            errs: StderrCollector | compat.ScriptRestore | parallel.ParallelRestore = proc_any
        elif opts.jobs > 1 and not opts.atomic and s.format == "custom":
            proc_any = errs = parallel.ParallelRestore(cmd, opts.jobs, env)
        else:
            popen = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env)
            assert popen.stderr is not None
            proc_any, errs = popen, StderrCollector(popen.stderr)
        assert proc_any.stdin is not None
        failure: IntegrityError | None = None
        try:
            _feed(proc_any.stdin, plain)
        except IntegrityError as exc:
            failure = exc  # a broken stream: stop the restore before it can commit
            proc_any.kill()
        except BaseException:
            proc_any.kill()  # Ctrl-C, SIGTERM: never wait for a restore still reading its input
            proc_any.wait()
            raise
        rc = proc_any.wait()
        lines = errs.join(10)
        with contextlib.suppress(PgdrillError):
            _drain(stored)  # the rest still counts for the sha256 the record keeps
        out.size, out.sha256 = stored.count, stored.hexdigest
    if failure is not None:
        raise failure
    out.errors, out.error_count = count_errors(rc, lines, "pg_restore")


def _psql(client: binaries.Client, url: DatabaseUrl, single: bool, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # --file=- (not plain stdin) makes psql prefix errors with "psql:<stdin>:LINE:".
    cmd = [client.tool("psql"), "--no-psqlrc", "--quiet", "--no-password", "--file=-", "-v", "ON_ERROR_STOP=1",
           f"--dbname={url.conninfo_without_password()}"]
    if single:
        cmd.append("--single-transaction")
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _load_plain(aset: ArchiveSet, archive: Archive, s: Sniffed, url: DatabaseUrl, target_major: int,
                opts: LoadOptions, progress: Progress | None, out: LoadOutcome) -> None:
    client = binaries.for_restore(s.dump_major or target_major, target_major)
    out.tool, out.tool_version = "psql", client.version
    env = {**os.environ, **url.subprocess_env()}
    drop_timeout = compat.needs_script_restore(s.dump_major, target_major)
    for single in (True, False):
        if not single and opts.verify_first:
            verify(aset, archive, progress)
        how = "in one transaction" if single else "statement by statement (the script cannot run in one transaction)"
        _say(progress, f"restoring {archive.url} ({s.describe()}, {human_size(archive.size)}) into {url.redacted} "
                       f"with psql {client.version}, ON_ERROR_STOP, {how}")
        with contextlib.closing(aset.open(archive)) as raw:
            stored = HashingReader(raw, progress, "read")
            script = ScriptReader(Decompressed(stored, s.compression, archive.url), archive.url,
                                  keep_owners=opts.keep_owners, drop_transaction_timeout=drop_timeout,
                                  pg_dump_script=s.pg_dump_script)
            proc = _psql(client, url, single, env)
            assert proc.stdin is not None and proc.stderr is not None
            errs = StderrCollector(proc.stderr)
            failure: IntegrityError | None = None
            try:
                _feed(proc.stdin, script)
                _drain(script)  # psql stopped at an error: read on, for the TOC, the hash and truncation
            except IntegrityError as exc:
                failure = exc
                proc.kill()  # never let psql reach the end of its input: that would commit
            except BaseException:
                proc.kill()  # Ctrl-C, SIGTERM: the open transaction dies with psql
                proc.wait()
                raise
            rc = proc.wait()
            lines = errs.join(10)
            with contextlib.suppress(PgdrillError):
                _drain(stored)
        out.size, out.sha256 = stored.count, stored.hexdigest
        out.toc = Toc.from_script(script.facts)
        if failure is not None:
            raise failure
        if single and rc != 0 and any(_NO_TRANSACTION in ln for ln in lines):
            out.notes.append(f"{archive.basename} cannot run in one transaction ("
                             f"{next(ln for ln in lines if _NO_TRANSACTION in ln).split('ERROR:', 1)[-1].strip()}): "
                             "restored statement by statement")
            continue
        out.errors, out.error_count = count_errors(rc, lines, "psql")
        if script.facts.dropped:
            _say(progress, f"{script.facts.dropped} ownership, privilege or database-level statement(s) left out, "
                           "as pg_restore --no-owner --no-privileges does")
        return
