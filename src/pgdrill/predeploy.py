"""The pre-deploy gate: a verified backup and a passing release check before any migration runs.

1. a backup tagged ``pre-deploy`` (with the git SHA, ref and run URL from the CI environment);
2. verified by reading it back: size and sha256 against its manifest, and ``pg_restore --list``;
3. the release check: built-in checks (backup verified, database reachable, migration head recorded)
   and the user's command (e.g. ``npm run release:check``) with a timeout;
4. optionally, a rehearsal: the new backup restored into a scratch database created from the
   ``--scratch-url`` admin connection, the migration command run with ``DATABASE_URL``/``PG*``
   pointing at that copy — a migration that breaks on production data fails here — and the scratch
   database dropped, always;
5. the result: the backup id and the exact rollback command.

Everything after the backup is a check: a failure is recorded, never raised, so the result always
carries the backup id and the rollback command. The job never prints; :mod:`pgdrill.report.predeploy`
does the output.

pgdrill.yml section: ``predeploy`` (:class:`PredeploySettings`); ``release_check``, ``migrate_command``
and ``scratch_url`` are flag defaults (top level or per environment).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pgdrill.backup import BackupRequest, run_backup
from pgdrill.checks import CheckResult, Status, one_line
from pgdrill.ci import RunInfo
from pgdrill.config import Seconds
from pgdrill.errors import ConfigError, IntegrityError, PgdrillError
from pgdrill.manifest import Manifest
from pgdrill.pg import migrations
from pgdrill.pg.conn import DatabaseUrl, connect, server_version_string
from pgdrill.process import command_env, database_url_string, run_command
from pgdrill.report.format import human_size
from pgdrill.secrets import Secret
from pgdrill.sources.backup import StoredBackupSource
from pgdrill.sources.base import CopyOptions
from pgdrill.store.base import Store
from pgdrill.streams import CHUNK, Progress
from pgdrill.verify import run_verify

PRE_DEPLOY = "pre-deploy"




class PredeploySettings(BaseModel):
    """The ``predeploy`` section of pgdrill.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    release_check_timeout: Seconds = 600.0
    migrate_timeout: Seconds = 1800.0
    tail: int = Field(default=40, ge=1, le=1000, description="command output lines kept for the report")
    scratch_prefix: str = Field(default="pgdrill_rehearsal", pattern=r"^[a-z][a-z0-9_]{0,29}$")


@dataclass(frozen=True)
class PredeployRequest:
    database_url: DatabaseUrl
    store: Store
    release_check: str | None = None
    rehearse: bool = False
    scratch_url: DatabaseUrl | None = None  # admin connection with CREATEDB, for the rehearsal
    migrate_command: str | None = None
    settings: PredeploySettings = field(default_factory=PredeploySettings)
    tags: tuple[str, ...] = ()  # besides pre-deploy
    environment: str | None = None
    encrypt_to: tuple[str, ...] = ()
    identities: tuple[Secret, ...] = ()  # to read an encrypted backup back
    compress: str | None = None
    run: RunInfo = field(default_factory=RunInfo.from_env)
    cwd: Path | None = None
    env: Mapping[str, str] | None = None  # base environment of the commands (default: os.environ)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class Rehearsal:
    scratch_database: str
    restore_seconds: float | None = None
    migrate_seconds: float | None = None
    tool: str | None = None
    head_before: str | None = None
    head_after: str | None = None


@dataclass
class PredeployResult:
    manifest: Manifest
    store: str
    rollback_command: str
    checks: list[CheckResult] = field(default_factory=list)
    rehearsal: Rehearsal | None = None
    duration_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if c.status == "fail"]


def validate(req: PredeployRequest) -> None:
    if req.rehearse:
        if req.scratch_url is None:
            raise ConfigError("--rehearse needs --scratch-url",
                              "an admin connection (role with CREATEDB) where a scratch copy can be created")
        if not (req.migrate_command or "").strip():
            raise ConfigError("--rehearse needs --migrate-command", "e.g. --migrate-command 'alembic upgrade head'")
    if req.release_check is not None and not req.release_check.strip():
        raise ConfigError("--release-check is empty")


def rollback_command(m: Manifest, store: Store, url: DatabaseUrl) -> str:
    """The restore that undoes the deploy. The password stays out: libpq takes it from PGPASSWORD."""
    target = DatabaseUrl({k: v for k, v in url.params.items() if k != "password"})
    argv = ["pgdrill", "restore", m.id, "--store", store.url, "--target-url", database_url_string(target),
            "--clean", "--confirm", url.dbname]
    if m.encrypted:
        argv += ["--age-identity-file", "FILE"]
    return " ".join(shlex.quote(a) for a in argv)


def _say(progress: Progress | None, msg: str) -> None:
    if progress:
        progress(msg)


def _timed(name: str, status: Status, detail: str, t0: float, output: str | None = None) -> CheckResult:
    return CheckResult(name, status, one_line(detail), round(time.monotonic() - t0, 3), output=output)


def _read_back(store: Store, m: Manifest) -> int:
    """Hash the stored bytes: all that can be checked of an encrypted backup without its identity."""
    sha = hashlib.sha256()
    count = 0
    with store.open(m.object_key) as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            count += len(chunk)
    if count != m.size or sha.hexdigest() != m.sha256:
        raise IntegrityError(f"read back {count} bytes with sha256 {sha.hexdigest()[:12]}…, the manifest says "
                             f"{m.size} bytes, {m.sha256[:12]}…")
    return count


def check_backup(store: Store, m: Manifest, identities: Sequence[Secret]) -> CheckResult:
    t0 = time.monotonic()
    try:
        if m.encrypted and not identities:
            n = _read_back(store, m)
            return _timed("backup verified", "pass", f"read back {human_size(n)}, sha256 matches the manifest "
                          "(encrypted: give an age identity to also list the archive)", t0)
        v = run_verify(store, m.id, identities, manifest=m)
    except PgdrillError as exc:
        return _timed("backup verified", "fail", exc.message, t0)
    return _timed("backup verified", "pass", f"read back {human_size(v.bytes_read)}, sha256 matches, pg_restore "
                  f"{v.pg_restore_version} lists {v.toc_entries} entries", t0)


def check_reachable(url: DatabaseUrl) -> CheckResult:
    t0 = time.monotonic()
    try:
        with connect(url, role="database") as conn:
            conn.execute("SELECT 1")
            version = server_version_string(conn)
    except PgdrillError as exc:
        return _timed("database reachable", "fail", exc.message, t0)
    return _timed("database reachable", "pass", f"{url.redacted} answers (PostgreSQL {version})", t0)


def check_head(m: Manifest) -> CheckResult:
    if m.migration_head:
        return CheckResult("migration head recorded", "pass", one_line(f"head {m.migration_head} recorded in "
                                                                        f"backup {m.id}"))
    return CheckResult("migration head recorded", "skip", "no migration table found in the database (alembic, "
                       "prisma, flyway, django, knex, goose, schema_migrations)")


def _command_check(name: str, command: str, env: Mapping[str, str], timeout: float, tail: int,
                   cwd: Path | None) -> CheckResult:
    r = run_command(command, env, timeout, tail, cwd)
    return CheckResult(name, "pass" if r.ok else "fail", one_line(r.reason()), round(r.seconds, 3), output=r.tail)


def _head(url: DatabaseUrl) -> migrations.MigrationHead | None:
    try:
        with connect(url, role="scratch database") as conn:
            return migrations.detect(conn)
    except PgdrillError:
        return None


def rehearse(req: PredeployRequest, m: Manifest, progress: Progress | None = None,
             base_env: Mapping[str, str] | None = None) -> tuple[list[CheckResult], Rehearsal]:
    """Restore ``m`` into a scratch database (the drill's stored-backup source), run the migration
    command on it, drop it — always."""
    assert req.scratch_url is not None and req.migrate_command
    source = StoredBackupSource(scratch_url=req.scratch_url, prefix=req.settings.scratch_prefix, store=req.store,
                                backup=m.id, identities=req.identities, manifest=m)
    results: list[CheckResult] = []
    info = Rehearsal("")
    t0 = time.monotonic()
    try:
        source.prepare(req.clock())
        with source.restored(CopyOptions(purpose="rehearsal", run=req.run, clock=req.clock), progress) as copy:
            info = Rehearsal(copy.name)
            r = copy.restore
            assert r is not None and copy.url is not None
            if r.integrity_error or r.error_count:
                why = r.integrity_error or f"{r.error_count} pg_restore error(s): {'; '.join(r.errors[:3])}"
                results.append(_timed("rehearsal restore", "fail", why, t0))
                return results, info
            results.append(_timed("rehearsal restore", "pass", f"restored into {copy.name} in "
                                  f"{copy.restore_seconds:.1f}s (pg_restore {copy.tool_version})", t0))
            target = copy.url
            before = _head(target)
            info = Rehearsal(copy.name, round(copy.restore_seconds, 3), tool=before.tool if before else None,
                             head_before=before.head if before else None)
            _say(progress, f"rehearsal: running {req.migrate_command!r} against the scratch copy")
            res = _command_check("rehearsal migration", req.migrate_command, command_env(target, base_env),
                                 req.settings.migrate_timeout, req.settings.tail, req.cwd)
            after = _head(target)
            info = Rehearsal(copy.name, info.restore_seconds, res.duration, after.tool if after else info.tool,
                             info.head_before, after.head if after else None)
            if res.status == "pass" and (info.head_before or info.head_after):
                res = CheckResult(res.name, res.status, one_line(f"{res.detail}; {info.tool or 'migration'} head "
                                  f"{info.head_before or '(none)'} → {info.head_after or '(none)'}"), res.duration,
                                  output=res.output)
            results.append(res)
            return results, info
    except PgdrillError as exc:
        results.append(_timed("rehearsal restore", "fail", exc.message, t0))
        return results, info
    finally:
        last = source.last
        if last is not None and last.cleanup is not None:
            results.append(last.cleanup)


def run_predeploy(req: PredeployRequest, progress: Progress | None = None) -> PredeployResult:
    """Back up, verify, check, optionally rehearse. Raises only when the backup itself fails (no
    backup, no deploy) or for configuration errors; every later failure is a failed check."""
    validate(req)
    t0 = time.monotonic()
    tags = tuple(sorted({PRE_DEPLOY, *req.tags}))
    m = run_backup(BackupRequest(req.database_url, req.store, tags=tags, environment=req.environment,
                                 encrypt_to=req.encrypt_to, compress=req.compress, run=req.run), progress)
    result = PredeployResult(m, req.store.url, rollback_command(m, req.store, req.database_url))

    _say(progress, f"verifying backup {m.id} by reading it back")
    verified = check_backup(req.store, m, req.identities)
    result.checks += [verified, check_reachable(req.database_url), check_head(m)]

    base = dict(os.environ if req.env is None else req.env)
    base.update({"PGDRILL_BACKUP_ID": m.id, "PGDRILL_ROLLBACK_COMMAND": result.rollback_command})
    if req.release_check:
        _say(progress, f"release check: {req.release_check}")
        result.checks.append(_command_check("release check", req.release_check, base,
                                            req.settings.release_check_timeout, req.settings.tail, req.cwd))
    if req.rehearse:
        if verified.status == "fail":
            result.checks.append(CheckResult("rehearsal", "skip", "not run: the backup did not verify"))
        else:
            checks, result.rehearsal = rehearse(req, m, progress, base)
            result.checks += checks
    result.duration_seconds = round(time.monotonic() - t0, 3)
    return result
