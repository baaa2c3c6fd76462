"""The backup pipeline: pg_dump → (age) → store, hashed on the way; the manifest last.

Row counts come from the very snapshot pg_dump uses: this process opens a REPEATABLE READ
transaction, exports its snapshot, hands it to ``pg_dump --snapshot`` and counts rows in the same
transaction while the dump streams — so the manifest and the archive always agree. Owners and
ACLs, the roles the database needs and the migration heads are read in that transaction too;
sequence states just before pg_dump starts (sequences are not transactional: read first, the
recorded state is never ahead of the dumped one).

The roles themselves are cluster-wide: ``pg_dumpall --roles-only --no-role-passwords`` of the
server's major writes them (it reads pg_roles, not pg_authid, so it works on managed services and
never sees a password) into ``roles.sql`` next to the archive, encrypted like it. The manifest is
written last, after both objects are stored and checked: a backup exists only when it does.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psycopg

from pgdrill import __version__
from pgdrill.ci import RunInfo
from pgdrill.errors import AccessDenied, ConfigError, IntegrityError, PgdrillError, SourceError, StoreError
from pgdrill.layout import ATTEMPTS, archive_key, manifest_key, new_id, roles_key
from pgdrill.pg import binaries, migrations, privileges, roles, stats
from pgdrill.pg.conn import DatabaseUrl, connect, server_version_string
from pgdrill.pg.scope import Resolved, Scope, resolve
from pgdrill.report.format import human_size
from pgdrill.store.base import Store
from pgdrill.streams import DataProgress, HashingReader, Progress, StderrCollector, widen_pipe

if TYPE_CHECKING:
    # The manifest's models (pydantic) are loaded while pg_dump works: see run_backup.
    from pgdrill.manifest import Manifest, RoleInfo
    from pgdrill.manifest import Scope as ScopeRecord


@dataclass(frozen=True)
class BackupRequest:
    database_url: DatabaseUrl
    store: Store
    tags: tuple[str, ...] = ()
    environment: str | None = None
    encrypt_to: tuple[str, ...] = ()
    compress: str | None = None  # pg_dump --compress (e.g. "6", "zstd:3" on PG16+); None: default_compress()
    run: RunInfo = field(default_factory=RunInfo.from_env)
    scope: Scope = field(default_factory=Scope)


@dataclass(frozen=True)
class _ClusterRun:
    """One database of a ``backup --all-databases`` run: the run's id, all its databases, and the
    roles file taken once for the whole run."""

    run_id: str
    databases: tuple[str, ...]
    roles_sql: bytes
    roles_tool: str


def _say(progress: Progress | None, msg: str) -> None:
    if progress:
        progress(msg)


class _Counter(threading.Thread):
    """Counts rows in the exporting transaction while pg_dump streams."""

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]], scope: Resolved) -> None:
        super().__init__(daemon=True, name="pgdrill-rowcount")
        self.conn = conn
        self.scope = scope
        self.counts: dict[str, int] = {}
        self.matviews: dict[str, int] = {}
        self.schemas: list[str] = []
        self.extensions: dict[str, str] = {}
        self.heads: list[migrations.MigrationHead] = []
        self.privileges: dict[str, privileges.ObjectPrivileges] = {}
        self.roles: list[roles.Role] = []
        self.database_settings: list[str] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            sc = self.scope
            self.schemas = [n for n in stats.schemas(self.conn) if sc.keeps_schema(n)]
            # pg_dump writes extensions only when it dumps the whole database (no --schema/--table).
            self.extensions = stats.extensions(self.conn) if sc.scope.everything else {}
            self.heads = migrations.detect_all(self.conn, sc.keeps_data)
            self.privileges = privileges.snapshot(self.conn, sc.keeps_object)
            self.roles = roles.needed(self.conn)
            self.database_settings = roles.database_setting_names(self.conn)
            self.counts = stats.count_rows(self.conn, stats.user_tables(self.conn, sc.keeps_data),
                                           should_stop=self.stop.is_set)
            self.matviews = stats.count_rows(self.conn, stats.materialized_views(self.conn, sc.keeps_relation),
                                             should_stop=self.stop.is_set)
        except BaseException as exc:
            self.error = exc


def _dump_command(client: binaries.Client, url: DatabaseUrl, snapshot: str, compress: str | None,
                  scope: Scope | None = None, verbose: bool = False) -> list[str]:
    cmd = [
        client.tool("pg_dump"),
        "--format=custom",
        f"--snapshot={snapshot}",
        "--no-password",
        f"--dbname={url.conninfo_without_password()}",
    ]
    if compress:
        cmd.append(f"--compress={compress}")
    if scope is not None:
        cmd += scope.dump_args()
    if verbose:
        cmd.append("--verbose")  # its "dumping contents of table" lines are the progress
    return cmd


def dump_roles(client: binaries.Client, url: DatabaseUrl) -> tuple[bytes, str]:
    """The cluster's roles as SQL, without passwords: (script, what wrote it)."""
    cmd = [client.tool("pg_dumpall"), "--roles-only", "--no-role-passwords", "--no-password",
           f"--dbname={url.conninfo_without_password()}", f"--database={url.dbname}"]
    env = {**os.environ, **url.subprocess_env()}
    try:
        out = subprocess.run(cmd, capture_output=True, env=env, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise SourceError("pg_dumpall --roles-only timed out after 600s", _RETRY) from None
    if out.returncode != 0:
        lines = out.stderr.decode("utf-8", "replace").splitlines()
        raise SourceError(f"pg_dumpall --roles-only failed (exit {out.returncode}): {_first_error(lines)}", _RETRY)
    return out.stdout, f"pg_dumpall {client.version} --roles-only --no-role-passwords"


def _put_small(store: Store, key: str, data: bytes, recipients: Sequence[str]) -> tuple[int, str]:
    """Store a small object (encrypted when there are recipients); (stored size, sha256 of the stored bytes)."""
    source: io.BytesIO = io.BytesIO(data)
    stream = None
    if recipients:
        from pgdrill import crypto

        stream = crypto.encrypting_reader(source, list(recipients))
        reader = HashingReader(stream, None)
    else:
        reader = HashingReader(source, None)
    try:
        size = store.put(key, reader, expected_size=len(data))
    finally:
        if stream is not None:
            stream.close()
    try:
        info = store.stat(key)
    except AccessDenied:
        info = None  # write-only credentials: the store acknowledged what was counted
    else:
        if info is None or info.size != size:
            raise IntegrityError(f"stored {key} is {info.size if info else 'missing'}, expected {size} bytes")
    if size != reader.count:
        raise IntegrityError(f"stored {key}: the store took {size} of {reader.count} bytes")
    return size, reader.hexdigest


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


def run_backup(req: BackupRequest, progress: Progress | None = None, cluster: _ClusterRun | None = None) -> Manifest:
    """Take one backup. Returns its manifest; raises a PgdrillError, leaving no manifest, on failure."""
    url = req.database_url
    url.require_direct()
    req.scope.validate()
    req.store.check_writable()
    started = datetime.now(timezone.utc)
    backup_id = new_id(started)
    encrypted = bool(req.encrypt_to)
    key = archive_key(backup_id, encrypted)
    rkey = roles_key(backup_id, encrypted)
    t0 = time.monotonic()
    uploaded = False
    roles_written = False
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
            scope = resolve(conn, req.scope)
            sequences = stats.sequences(conn, scope.keeps_relation)  # before pg_dump reads them
            follow = DataProgress(progress, "dumping", "pg_dump", tables=stats.table_sizes(conn)) if progress \
                else None
            counter = _Counter(conn, scope)
            counter.start()
            env = {**os.environ, **url.subprocess_env()}
            proc = subprocess.Popen(
                _dump_command(client, url, snapshot, compress, req.scope, follow is not None),
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
            # The manifest's models (pydantic) are needed only at the end: load them while pg_dump works.
            threading.Thread(target=importlib.import_module, args=("pgdrill.manifest",), daemon=True,
                             name="pgdrill-preload").start()
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
        roles_sql, roles_tool = (cluster.roles_sql, cluster.roles_tool) if cluster else dump_roles(client, url)
        roles_written = True  # before the upload: a partial object must be removed too
        roles_size, roles_sha = _put_small(req.store, rkey, roles_sql, req.encrypt_to)
        owner, count, listed = privileges.compact(counter.privileges)
        heads = {h.table: h.head for h in counter.heads}
        single = migrations.pick(counter.heads)
        finished = datetime.now(timezone.utc)
        from pgdrill.manifest import Encryption, Manifest, Privileges, Roles

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
            materialized_views=counter.matviews,
            schemas=counter.schemas,
            extensions=counter.extensions,
            # several migration tables: no single head is recorded, each table's is (never one picked)
            migration_head=single.head if single is not None and len(counter.heads) == 1 else None,
            migration_heads=heads,
            sequences=sequences,
            privileges=Privileges(owner=owner, count=count, objects=listed),
            roles=Roles(object_key=rkey, size=roles_size, sha256=roles_sha, tool=roles_tool,
                        needed=[_role_info(r) for r in counter.roles], database_settings=counter.database_settings),
            scope=None if req.scope.whole else _scope_record(req.scope, scope),
            run_id=cluster.run_id if cluster else None,
            run_databases=list(cluster.databases) if cluster else [],
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
        if roles_written:
            with contextlib.suppress(Exception):
                req.store.delete(rkey)
        reason = exc.one_line() if isinstance(exc, PgdrillError) else type(exc).__name__
        _record_failed_attempt(req.store, backup_id, started, reason)
        if isinstance(exc, psycopg.Error):
            raise SourceError(f"backup of {url.redacted} failed: {str(exc).strip().splitlines()[0]}",
                              _RETRY) from None
        if isinstance(exc, OSError) and not isinstance(exc, PgdrillError):
            raise StoreError(f"backup failed: {exc}", _RETRY) from None
        raise


def _role_info(r: roles.Role) -> RoleInfo:
    from pgdrill.manifest import RoleInfo

    return RoleInfo(name=r.name, reasons=list(r.reasons), attributes=list(r.attributes), member_of=list(r.member_of),
                    settings=list(r.settings), database_settings=list(r.database_settings))


def _scope_record(given: Scope, resolved: Resolved) -> ScopeRecord:
    from pgdrill.manifest import Scope as ScopeRecord

    return ScopeRecord(schema=list(given.schemas), table=list(given.tables), exclude_schema=list(given.exclude_schemas),
                       exclude_table=list(given.exclude_tables), exclude_table_data=list(given.exclude_table_data),
                       excluded_tables=sorted(resolved.excluded_relations),
                       data_excluded_tables=sorted(resolved.data_excluded - resolved.excluded_relations))


def connectable_databases(url: DatabaseUrl) -> list[str]:
    """The databases a whole-cluster backup takes: every one that accepts connections from this role
    (template0/template1 never hold user data; pg_dumpall skips template0 too)."""
    with connect(url, role="source server") as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                            "AND has_database_privilege(datname, 'CONNECT') ORDER BY datname").fetchall()
    return [str(r[0]) for r in rows]


def run_cluster_backup(req: BackupRequest, progress: Progress | None = None) -> list[Manifest]:
    """``backup --all-databases``: the roles once, then every connectable database as its own
    backup, all with one run id. A database that fails stops the run (the ones before it stay
    complete backups; `restore` refuses the run as incomplete)."""
    url = req.database_url
    url.require_direct()
    if not req.scope.whole:
        raise ConfigError("--all-databases cannot be combined with --schema/--table/--exclude-*",
                          "back up the one database with scope options, or the whole cluster without them")
    req.store.check_writable()
    try:
        databases = connectable_databases(url)
        with connect(url, role="source server") as conn:
            major = conn.info.server_version // 10000
    except psycopg.Error as exc:
        raise SourceError(f"cannot list the databases of {url.redacted}: {str(exc).strip().splitlines()[0]}",
                          _RETRY) from None
    if not databases:
        raise SourceError(f"{url.redacted} has no database this role can connect to", _RETRY)
    client = binaries.for_dump(major)
    roles_sql, tool = dump_roles(client, url)
    run = _ClusterRun(new_id(), tuple(databases), roles_sql, tool)
    _say(progress, f"backing up {len(databases)} databases of {url.host}:{url.port} as run {run.run_id}: "
                   f"{', '.join(databases)}")
    done: list[Manifest] = []
    for name in databases:
        try:
            done.append(run_backup(replace(req, database_url=url.with_dbname(name)), progress, run))
        except PgdrillError as exc:
            finished = ", ".join(m.database for m in done) or "none"
            raise type(exc)(f"run {run.run_id}: database {name}: {exc.message} (backed up before it: {finished}; "
                            "the run is incomplete)", exc.hint) from None
    return done
