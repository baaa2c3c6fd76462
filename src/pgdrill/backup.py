"""The backup pipeline: pg_dump → (age) → store, hashed on the way; the manifest last.

Row counts come from the very snapshot pg_dump uses: this process opens a REPEATABLE READ
transaction, exports its snapshot, hands it to ``pg_dump --snapshot`` and counts rows in the same
transaction while the dump streams — so the manifest and the archive always agree.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psycopg

from pgdrill import __version__
from pgdrill.ci import RunInfo
from pgdrill.errors import AccessDenied, IntegrityError, PgdrillError, SourceError, StoreError
from pgdrill.layout import ATTEMPTS, archive_key, manifest_key, new_id
from pgdrill.pg import binaries, migrations, stats
from pgdrill.pg.conn import DatabaseUrl, connect, server_version_string
from pgdrill.report.format import human_size
from pgdrill.store.base import Store
from pgdrill.streams import DataProgress, HashingReader, Progress, StderrCollector, widen_pipe

if TYPE_CHECKING:
    from pgdrill.manifest import Manifest


@dataclass(frozen=True)
class BackupRequest:
    database_url: DatabaseUrl
    store: Store
    tags: tuple[str, ...] = ()
    environment: str | None = None
    encrypt_to: tuple[str, ...] = ()
    compress: str | None = None  # pg_dump --compress (e.g. "6", "zstd:3" on PG16+); None: default_compress()
    run: RunInfo = field(default_factory=RunInfo.from_env)


def _say(progress: Progress | None, msg: str) -> None:
    if progress:
        progress(msg)


class _Counter(threading.Thread):
    """Counts rows in the exporting transaction while pg_dump streams."""

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        super().__init__(daemon=True, name="pgdrill-rowcount")
        self.conn = conn
        self.counts: dict[str, int] = {}
        self.schemas: list[str] = []
        self.extensions: dict[str, str] = {}
        self.head: str | None = None
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self.schemas = stats.schemas(self.conn)
            self.extensions = stats.extensions(self.conn)
            found = migrations.detect(self.conn)
            self.head = found.head if found else None
            self.counts = stats.count_rows(self.conn, should_stop=self.stop.is_set)
        except BaseException as exc:
            self.error = exc


def _dump_command(client: binaries.Client, url: DatabaseUrl, snapshot: str, compress: str | None,
                  verbose: bool = False) -> list[str]:
    cmd = [
        client.tool("pg_dump"),
        "--format=custom",
        f"--snapshot={snapshot}",
        "--no-password",
        f"--dbname={url.conninfo_without_password()}",
    ]
    if verbose:
        cmd.append("--verbose")  # its "dumping contents of table" lines are the progress
    if compress:
        cmd.append(f"--compress={compress}")
    return cmd


def default_compress(pg_dump_major: int) -> str | None:
    """zstd (level 3) where pg_dump has it (16+); pg_dump's own default (gzip level 6) before that.

    Compression is most of pg_dump's CPU time: on bench/run's database zstd dumps ~2.5x faster than
    gzip and the archive is ~10% smaller. pg_restore 16+ (the only one that reads 16+ archives) reads zstd.
    """
    return "zstd" if pg_dump_major >= 16 else None


def _compression_label(compress: str | None) -> str:
    if not compress:
        return "gzip"
    if compress.isdigit():
        return "none" if compress == "0" else f"gzip:{compress}"
    return compress


def _record_failed_attempt(store: Store, backup_id: str, started: datetime, error: str) -> None:
    doc = {"id": backup_id, "started_at": started.isoformat(), "status": "failed", "error": error}
    with contextlib.suppress(Exception):
        store.put_bytes(f"{ATTEMPTS}{backup_id}.json", json.dumps(doc).encode())


#: the advice on every failed backup: nothing was replaced, so the fix is to remove the cause and rerun
_RETRY = "earlier backups are untouched; fix the cause, then run the backup again"


def _first_error(lines: Sequence[str]) -> str:
    errors = [ln for ln in lines if "error:" in ln]
    return (errors or list(lines) or ["no error output"])[-1].strip()


def run_backup(req: BackupRequest, progress: Progress | None = None) -> Manifest:
    """Take one backup. Returns its manifest; raises a PgdrillError, leaving no manifest, on failure."""
    url = req.database_url
    url.require_direct()
    req.store.check_writable()
    started = datetime.now(timezone.utc)
    backup_id = new_id(started)
    encrypted = bool(req.encrypt_to)
    key = archive_key(backup_id, encrypted)
    t0 = time.monotonic()
    uploaded = False
    try:
        with connect(url, autocommit=False, role="source database") as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            row = conn.execute("SELECT pg_export_snapshot(), current_database()").fetchone()
            assert row is not None
            snapshot, dbname = str(row[0]), str(row[1])
            server_version = server_version_string(conn)
            major = conn.info.server_version // 10000
            db_size = stats.database_size(conn)
            client = binaries.for_dump(major)
            compress = req.compress or default_compress(client.major)
            _say(progress, f"dumping {url.redacted} (PostgreSQL {server_version}, {human_size(db_size)} on disk) "
                           f"with pg_dump {client.version} → {req.store.url}")
            follow = DataProgress(progress, "dumping", "pg_dump", tables=stats.table_sizes(conn)) if progress \
                else None
            counter = _Counter(conn)
            counter.start()
            env = {**os.environ, **url.subprocess_env()}
            proc = subprocess.Popen(
                _dump_command(client, url, snapshot, compress, follow is not None),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            )
            assert proc.stdout is not None and proc.stderr is not None
            widen_pipe(proc.stdout)
            errs = StderrCollector(proc.stderr, on_line=follow.on_line if follow else None)

            def check_dump_exit() -> None:
                rc = proc.wait()
                if rc != 0:
                    raise SourceError(f"pg_dump failed (exit {rc}): {_first_error(errs.join(10))}", _RETRY)

            plain = HashingReader(proc.stdout, progress, "dumped", on_eof=check_dump_exit,
                                  describe=follow.describe if follow else None)
            # The manifest's model (pydantic) is needed only at the end: load it while pg_dump works.
            preload = threading.Thread(target=importlib.import_module, args=("pgdrill.manifest",), daemon=True,
                                       name="pgdrill-preload")
            preload.start()
            stream = None
            try:
                if encrypted:
                    from pgdrill import crypto

                    stream = crypto.encrypting_reader(plain, list(req.encrypt_to))
                    stored = HashingReader(stream, None)
                else:
                    stored = plain
                size = req.store.put(key, stored, expected_size=db_size)
                uploaded = True
                if not plain.at_eof:
                    # A store that stopped reading early must not turn half a dump into a backup.
                    raise IntegrityError("the store stopped reading before pg_dump finished", _RETRY)
            finally:
                if encrypted and stream is not None:
                    stream.close()  # stops the encrypting thread if the upload gave up early
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                counter.stop.set() if not uploaded else None
            counter.join()
            if counter.error is not None:
                raise SourceError(f"row counts failed: {counter.error}", _RETRY) from None
            conn.rollback()
        try:
            info = req.store.stat(key)
            read_back = True
        except AccessDenied:
            # Write-only credentials (the recommended backup role) cannot read back: the bytes the
            # store acknowledged were counted on the way, and S3 checksums every part it accepts.
            info, read_back = None, False
        if (read_back and (info is None or info.size != size)) or size != stored.count:
            raise IntegrityError(
                f"stored archive {key} is {info.size if info else 'missing'}, expected {stored.count} bytes"
            )
        if plain.count == 0:
            raise IntegrityError("pg_dump produced an empty archive", _RETRY)
        finished = datetime.now(timezone.utc)
        from pgdrill.manifest import Encryption, Manifest

        manifest = Manifest(
            id=backup_id,
            created_at=started,
            finished_at=finished,
            database=dbname,
            host=url.host,
            port=url.port,
            size=size,
            sha256=stored.hexdigest,
            archive_size=plain.count,
            archive_sha256=plain.hexdigest,
            object_key=key,
            compression=_compression_label(compress),
            tables=counter.counts,
            schemas=counter.schemas,
            extensions=counter.extensions,
            migration_head=counter.head,
            server_version=server_version,
            pg_dump_version=client.version,
            pgdrill_version=__version__,
            tags=sorted(set(req.tags)),
            encryption=Encryption(recipients=list(req.encrypt_to)) if encrypted else None,
            duration_seconds=round(time.monotonic() - t0, 3),
            git_sha=req.run.git_sha,
            git_ref=req.run.git_ref,
            run_url=req.run.run_url,
            environment=req.environment,
            database_size=db_size,
        )
        # The manifest is the commit point: written last, only after the archive is verified stored.
        req.store.put_bytes(manifest_key(backup_id), manifest.to_json().encode())
        _say(progress, f"backup {backup_id} complete: {human_size(size)}, {len(manifest.tables)} tables, "
                       f"{manifest.total_rows} rows in {manifest.duration_seconds:.1f}s")
        return manifest
    except BaseException as exc:
        if uploaded:
            with contextlib.suppress(Exception):
                req.store.delete(key)
        reason = exc.one_line() if isinstance(exc, PgdrillError) else type(exc).__name__
        _record_failed_attempt(req.store, backup_id, started, reason)
        if isinstance(exc, psycopg.Error):
            raise SourceError(f"backup of {url.redacted} failed: {str(exc).strip().splitlines()[0]}",
                              _RETRY) from None
        if isinstance(exc, OSError) and not isinstance(exc, PgdrillError):
            raise StoreError(f"backup failed: {exc}", _RETRY) from None
        raise
