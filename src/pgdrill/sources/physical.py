"""Physical backups recovered to a point in time: a base backup restored by its own tool into a fresh
data directory, WAL replayed up to ``--at``, the server promoted, checked like any copy, destroyed.

:class:`PhysicalRecoverySource` is what pgBackRest (:mod:`pgdrill.sources.pgbackrest`) and
barman-cloud (:mod:`pgdrill.sources.barman`) share; a subclass says what its repository holds
(:meth:`PhysicalRecoverySource._inspect`) and how its tool fills a data directory
(:meth:`PhysicalRecoverySource._restore_files`). Everything else is here, once:

- **the window**, checked before anything is restored: a target before the oldest base backup's end
  is refused (PostgreSQL itself would stop at the first commit after the backup and look
  successful), and so is one after the newest archived WAL;
- **the private server**: started on a free loopback port with its socket in the copy's own folder,
  on our own ``pg_hba.conf`` (trust on that private socket only, and a password role pgdrill creates
  for the checks over 127.0.0.1 — no production password is ever needed or learnt);
- **no writes into production's backups**: the restored configuration still carries the live
  ``archive_command``; the server is started with archiving off (command-line settings win over
  every configuration file), and with no standby or synchronous-replication settings;
- **waiting for recovery** to reach the target and promote, reading the server's log when it dies;
- **the recovery and point-in-time checks**: the copy really is at the requested instant (newest
  replayed commit not after the target, and recovery stopped at the first commit after it, or at
  most ``tolerance`` before it), and a ``latest`` recovery replayed every archived segment — a
  missing WAL segment fails the drill instead of passing with less.

Times: PostgreSQL rejects ``…T…Z`` in ``recovery_target_time`` and pgBackRest 2.45 a trailing ``Z``
in ``--target``; both take :func:`pg_time` (``2026-11-20 14:29:45.000000+00``).
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import pwd
import re
import secrets as pysecrets
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from pgdrill import secrets
from pgdrill.checks import CheckResult, one_line
from pgdrill.config import Seconds
from pgdrill.errors import ConfigError, SourceError, StoreError, ToolMissing
from pgdrill.pg.cluster import LocalCluster, cluster_user, run_as_prefix, server_bin_for
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.report.format import fmt_seconds, iso
from pgdrill.sources.base import Origin, PitrWindow, RestoredCopy, RpoMeasure
from pgdrill.sources.instants import CLOCK_SKEW
from pgdrill.sources.markers import process_alive
from pgdrill.sources.private import DataDirectorySource

if TYPE_CHECKING:
    from pgdrill.settings import Settings
from pgdrill.streams import Progress

DEFAULT_RECOVERY_TIMEOUT = 6 * 3600.0
TOOL_TIMEOUT = 24 * 3600.0
WAL_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})")


class PitrSettings(BaseModel):
    """The ``pitr:`` section of pgdrill.yml: how physical copies are recovered and judged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tolerance: Seconds = Field(default=300.0, description="newest commit may be this far before the target")
    marker_query: str | None = Field(default=None, description="SELECT giving the newest business timestamp")
    recovery_timeout: Seconds = DEFAULT_RECOVERY_TIMEOUT
    role: str | None = Field(default=None, description="a superuser of the backed-up cluster (default postgres)")
    database: str | None = Field(default=None, description="database the checks run on")
    server_settings: dict[str, str] = Field(default_factory=dict,
                                            description="extra settings for the copy, e.g. shared_buffers")


@dataclass(frozen=True)
class PhysicalOptions:
    """What every physical source reads from the settings besides its own repository's address."""

    at: datetime | None  # the instant to recover to (None: the end of the WAL)
    settings: PitrSettings
    production_databases: tuple[str, ...]
    target_url: DatabaseUrl | None


def physical_options(s: Settings, purpose: str, tool: str) -> PhysicalOptions:
    """``--at``, the ``pitr:`` section (with ``--pitr-database``), the production names and, for a
    drill, ``--target-url``; a drill's ``--scratch-url`` is refused (the copy is a private server)."""
    from pgdrill.sources.instants import parse_at

    if purpose == "drill" and s.given_now("scratch_url"):
        raise ConfigError(f"--scratch-url does not apply to a {tool} drill",
                          "the copy is a private server the drill starts and removes")
    settings = s.section("pitr", PitrSettings)
    database = s.text("pitr_database")
    if database:
        settings = settings.model_copy(update={"database": database})
    return PhysicalOptions(parse_at(s.text("at")), settings, tuple(s.get("production_databases") or ()),
                           s.url("target_url") if purpose == "drill" and s.given_now("target_url") else None)


def pg_time(t: datetime) -> str:
    """A timestamp both PostgreSQL (``recovery_target_time``) and pgBackRest (``--target``) accept."""
    if t.tzinfo is None:
        raise ValueError("timestamp must include a timezone")
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def conf_quote(value: str) -> str:
    """A postgresql.conf string value."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def segment_number(name: str, segment_size: int = 16 << 20) -> int | None:
    """The position of a WAL segment file name (timeline ignored), None for other names."""
    m = WAL_SEGMENT.match(name)
    if not m:
        return None
    per_log = 0x100000000 // segment_size
    return int(m.group(2), 16) * per_log + int(m.group(3), 16)


@dataclass(frozen=True)
class BaseBackup:
    id: str  # the tool's label or backup id
    started_at: datetime
    stopped_at: datetime  # the earliest instant it can be recovered to
    major: int
    size: int = 0
    tablespaces: tuple[tuple[str, str], ...] = ()  # (name, location) in production


@dataclass(frozen=True)
class ArchivedWal:
    segment: str  # 000000010000000000000003
    archived_at: datetime  # when it reached the repository


@dataclass(frozen=True)
class Repository:
    """What a repository holds, as far as the drill needs it."""

    backups: tuple[BaseBackup, ...]  # oldest first
    newest_wal: ArchivedWal | None
    what: str  # "pgBackRest stanza main"

    @property
    def earliest(self) -> datetime | None:
        return self.backups[0].stopped_at if self.backups else None

    def window(self) -> PitrWindow:
        return PitrWindow(self.earliest, self.newest_wal.archived_at if self.newest_wal else None, self.what)

    def pick(self, at: datetime | None) -> BaseBackup:
        """The newest base backup that ended by ``at`` (None: the newest)."""
        usable = [b for b in self.backups if at is None or b.stopped_at <= at]
        if not usable:
            raise AssertionError("checked by check_target")
        return usable[-1]

    def check_target(self, at: datetime | None, now: datetime) -> None:
        """Refuse a target the repository cannot recover to, before anything is restored."""
        if not self.backups:
            raise ConfigError(f"{self.what} holds no complete base backup", "take a backup first")
        if at is None:
            return
        if at > now + CLOCK_SKEW:
            raise ConfigError(f"--at {iso(at)} is in the future (now is {iso(now)})", "pick a past instant, or latest")
        earliest = self.backups[0].stopped_at
        if at < earliest:
            raise ConfigError(
                f"--at {iso(at)} is before the oldest base backup of {self.what}, which ended at {iso(earliest)}: "
                "nothing can be recovered to that instant",
                f"pick an instant after {iso(earliest)}")
        # Repositories keep file times to the second (floored): allow that second.
        if self.newest_wal is not None and at >= self.newest_wal.archived_at + timedelta(seconds=1):
            raise ConfigError(
                f"--at {iso(at)} is after the newest archived WAL of {self.what} (segment "
                f"{self.newest_wal.segment}, archived {iso(self.newest_wal.archived_at)}): the archive holds nothing "
                "beyond it",
                "pick an earlier instant or latest, and check that WAL archiving is running")


@dataclass(frozen=True)
class ToolRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def error_line(self) -> str:
        """The tool's own error, on one line, without secrets."""
        lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "ERROR" in ln or "error" in ln.lower()]
        text = (errors or lines or [f"exit code {self.returncode}"])[0]
        return one_line(secrets.scrub(text))

    def json(self, failed: str, garbled: str, hint: str | None = None) -> Any:
        """What the tool printed as JSON: a StoreError ``<failed>: <its error>`` (with ``hint``) when
        it exited non-zero, ``garbled`` when its output is not JSON."""
        if self.returncode != 0:
            raise StoreError(f"{failed}: {self.error_line()}", hint)
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise StoreError(garbled) from None


def run_tool(args: Sequence[str], *, as_cluster_user: bool = True, cwd: Path | None = None,
             timeout: float = TOOL_TIMEOUT, env: dict[str, str] | None = None) -> ToolRun:
    """Run a backup tool (as the cluster user when pgdrill is root, so the files it writes are the
    server's). It runs in a process group of its own: an interrupt or a timeout kills the tool itself,
    not only ``runuser``, so nothing keeps writing into a copy that is being deleted."""
    cmd = [*(run_as_prefix() if as_cluster_user else []), *args]
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    except FileNotFoundError:
        raise ToolMissing(f"{args[0]} is not installed") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise SourceError(f"{Path(args[0]).name} did not finish within {fmt_seconds(timeout)}") from None
    except BaseException:
        _kill_group(proc)
        raise
    return ToolRun(proc.returncode, out, err, time.monotonic() - t0)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.communicate(timeout=30)


def _chown_to_cluster_user(*paths: Path) -> None:
    prefix = run_as_prefix()
    if not prefix:
        return
    owner = pwd.getpwnam(prefix[2])
    for p in paths:
        os.chown(p, owner.pw_uid, owner.pw_gid)


@dataclass(frozen=True)
class RecoveryOutcome:
    """What the server's recovery did, read from the promoted copy and its log."""

    replayed_commit: datetime | None  # pg_last_xact_replay_timestamp(): the newest commit replayed
    replay_lsn: str | None
    segment_size: int
    timeline: int | None
    stopped_before: datetime | None  # "recovery stopping before commit …, time T": the first commit after the target
    last_restored: str | None  # the last WAL segment restored from the archive


@dataclass
class PhysicalRecoverySource(DataDirectorySource):
    """A base backup plus archived WAL, recovered to ``at`` (None: as far as the archive goes)."""

    at: datetime | None = None
    settings: PitrSettings = field(default_factory=PitrSettings)
    _repo: Repository | None = field(default=None, init=False, repr=False)
    _backup: BaseBackup | None = field(default=None, init=False, repr=False)
    _server_version: str = field(default="", init=False, repr=False)
    _point: datetime | None = field(default=None, init=False, repr=False)
    _database: str = field(default="", init=False, repr=False)
    _started_at: float = field(default=0.0, init=False, repr=False)
    _tool_version: str | None = field(default=None, init=False, repr=False)

    # -- for subclasses -----------------------------------------------------------------------
    @abc.abstractmethod
    def _inspect(self) -> Repository:
        """Read the repository: its base backups and newest archived WAL. Raises ConfigError for a
        stanza/server that is not there, another PgdrillError (exit 3) for an unreadable one."""

    @abc.abstractmethod
    def _restore_files(self, copy: RestoredCopy, backup: BaseBackup, data_dir: Path) -> ToolRun:
        """Fill ``data_dir`` from ``backup`` with the tool's own restore command, leaving recovery
        configured for ``self.at`` (restore_command, target, promote)."""

    def _check_tools(self) -> None:
        """Fail before anything is made when the tools cannot run (default: nothing to check)."""
        return None

    # -- Source hooks -------------------------------------------------------------------------
    def prepare(self, now: datetime) -> list[str]:
        self.refuse_target()
        self._check_tools()
        self._repo = repo = self._inspect()
        repo.check_target(self.at, now)
        self._backup = repo.pick(self.at)
        if self.bin_dir is None:
            self.bin_dir = server_bin_for(self._backup.major)
        self._check_major(self.bin_dir, self._backup.major)
        return []

    def pitr_window(self, now: datetime) -> PitrWindow:
        return self._inspect().window()

    def _check_major(self, bin_dir: Path, major: int) -> None:
        out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False)
        m = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", out.stdout)
        if not m:
            raise ToolMissing(f"{bin_dir / 'postgres'} does not run: {one_line(out.stderr) or 'no version'}")
        if int(m.group(1)) != major:
            raise ConfigError(f"the backup is PostgreSQL {major} but the server binaries in {bin_dir} are "
                              f"PostgreSQL {m.group(1)}", f"use PostgreSQL {major} server binaries (PGDRILL_PG_BIN)")
        self._server_version = f"{m.group(1)}.{m.group(2) or 0}"

    def _server_bin(self) -> Path:
        assert self.bin_dir is not None, "prepare() first"
        return self.bin_dir

    def _b(self) -> BaseBackup:
        assert self._backup is not None, "prepare() first"
        return self._backup

    def origin(self) -> Origin:
        b = self._b()
        point = self._point or self.at or b.stopped_at
        return Origin(id=f"{self.kind}:{b.id}@{iso(self.at) if self.at else 'latest'}", created_at=b.stopped_at,
                      point_in_time=point, requested=iso(self.at) if self.at else "latest",
                      database=self._database, host=self.describe(), server_version=self._server_version,
                      size=b.size, window_earliest=self._repo.earliest if self._repo else None)

    def rpo(self, now: datetime) -> RpoMeasure:
        """What a recovery made now would lose: from the newest archived WAL to the target (or now)."""
        repo = self._repo
        wal = repo.newest_wal if repo else None
        window = repo.window().seconds(now) if repo else None
        reference = self.at or now
        if wal is None:
            return RpoMeasure(0.0, 0.0, window or 0.0, "no archived WAL seen")
        age = max(0.0, (reference - wal.archived_at).total_seconds())
        what = "the target" if self.at else "the drill's start"
        if age == 0:
            return RpoMeasure(0.0, 0.0, window or 0.0,
                              f"newest archived WAL {wal.segment} at {iso(wal.archived_at)} is past {what}")
        return RpoMeasure(round(age, 3), 0.0, window or 0.0,
                          f"newest archived WAL {wal.segment} at {iso(wal.archived_at)}, {fmt_seconds(age)} before "
                          f"{what}")

    # -- the copy -----------------------------------------------------------------------------
    def _populate(self, copy: RestoredCopy, cluster: LocalCluster, progress: Progress | None) -> None:
        folder = cluster.base
        _chown_to_cluster_user(folder)
        os.chmod(folder, 0o700)  # the copy holds production's data: only its server (and root) may enter
        cluster.data_dir.mkdir(mode=0o700)
        cluster.socket_dir.mkdir(mode=0o700)
        _chown_to_cluster_user(cluster.data_dir, cluster.socket_dir)
        backup = self._b()
        if progress:
            progress(f"restoring base backup {backup.id} of {self.describe()} into {cluster.data_dir}")
        run = self._restore_files(copy, backup, cluster.data_dir)
        copy.fetch_seconds = run.seconds
        copy.tool, _, version = (self._tool_version or self.kind).partition(" ")  # "pgBackRest 2.45"
        copy.tool_version = version or None
        if run.returncode != 0:
            raise SourceError(f"{self.kind} restore of backup {backup.id} failed: {run.error_line()}",
                              "nothing was started; the data directory is deleted")
        conf = cluster.data_dir / "postgresql.conf"
        if not conf.exists():  # Debian-style clusters keep it outside the data directory
            conf.write_text("# written by pgdrill: the backup holds no postgresql.conf\n", encoding="utf-8")
            _chown_to_cluster_user(conf)
        self._write_access(cluster)

    def _role(self) -> str:
        return f"pgdrill_check_{pysecrets.token_hex(4)}"

    def _write_access(self, cluster: LocalCluster) -> None:
        """Our own pg_hba.conf: trust on the private socket (only the server's user and root can reach
        it), and only pgdrill's check role, with a password, over loopback."""
        cluster.user = self._role()
        cluster.password = "pw-" + pysecrets.token_urlsafe(18)
        secrets.register(cluster.password)
        hba = cluster.base / "pg_hba.conf"
        hba.write_text("# pgdrill's own access rules for this throwaway copy\n"
                       "local all all trust\n"
                       f"host all {cluster.user} 127.0.0.1/32 scram-sha-256\n", encoding="utf-8")
        ident = cluster.base / "pg_ident.conf"
        ident.write_text("", encoding="utf-8")
        _chown_to_cluster_user(hba, ident)

    def _server_options(self, cluster: LocalCluster) -> list[str]:
        settings: dict[str, str] = {
            "port": str(cluster.port), "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(cluster.socket_dir), "unix_socket_permissions": "0700",
            "hba_file": str(cluster.base / "pg_hba.conf"), "ident_file": str(cluster.base / "pg_ident.conf"),
            # The copy must never write into production's backups: its restored configuration still
            # carries the live archive_command (barman-cloud-wal-archive would push its new timeline).
            "archive_mode": "off", "archive_command": "",
            # Nor reach production in any other way, nor wait for production's standbys.
            "primary_conninfo": "", "primary_slot_name": "", "synchronous_standby_names": "",
            "ssl": "off", "logging_collector": "off", "log_destination": "stderr", "log_statement": "none",
            "hot_standby": "on",
            # A throwaway copy needs no durability: without fsync, neither the start of recovery
            # (which syncs the whole restored data directory) nor the checkpoint after promotion
            # waits for the disk, and stopping the copy is not held up by a checkpoint in flight.
            "fsync": "off", "synchronous_commit": "off",
        }
        if self._b().major >= 15:
            settings["archive_library"] = ""
        settings.update(self.settings.server_settings)
        return [f"-c {name}={shlex.quote(value)}" for name, value in settings.items()]

    def _start(self, cluster: LocalCluster) -> None:
        log = cluster.base / "server.log"
        out = subprocess.run(
            [*run_as_prefix(), str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-l", str(log),
             "-o", " ".join(self._server_options(cluster)), "-W", "start"],
            capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SourceError(f"the recovered server did not start: {one_line(out.stderr or out.stdout)}")
        cluster.started = True
        self._started_at = time.monotonic()

    def _started(self, copy: RestoredCopy, cluster: LocalCluster, progress: Progress | None) -> None:
        """Wait until recovery reached the target and the server promoted; then the checks' role."""
        copy.url = None  # not connectable until recovery is done and the check role exists
        failure = self._wait_promoted(cluster, progress)
        copy.replay_seconds = time.monotonic() - self._started_at
        if failure is not None:
            copy.checks.append(CheckResult("recovery", "fail", one_line(failure), round(copy.replay_seconds, 3)))
            return
        outcome = self._prepare_copy(cluster)
        copy.server_version = self._server_version
        copy.origin = self.origin()
        recovery = self._recovery_check(outcome, copy.replay_seconds)
        copy.checks.append(recovery)
        copy.checks.append(self._point_in_time_check(outcome, cluster))
        copy.origin = self.origin()
        if recovery.status == "pass":
            copy.url = DatabaseUrl.parse(
                f"postgresql://{cluster.user}:{cluster.password}@127.0.0.1:{cluster.port}/{self._database}")

    # -- waiting ------------------------------------------------------------------------------
    def _log(self, cluster: LocalCluster) -> str:
        try:
            return (cluster.base / "server.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def _postmaster_pid(self, cluster: LocalCluster) -> int | None:
        try:
            return int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _admin_conn(self, cluster: LocalCluster, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """A superuser connection over the private socket (trust there); production's superuser role
        is ``pitr.role``, else postgres, else the cluster's system user."""
        candidates = list(dict.fromkeys(r for r in (self.settings.role, "postgres", cluster_user()) if r))
        last: Exception | None = None
        for role in candidates:
            try:
                return psycopg.connect(host=str(cluster.socket_dir), port=cluster.port, user=role, dbname=dbname,
                                       autocommit=True, connect_timeout=5, application_name="pgdrill")
            except psycopg.OperationalError as exc:
                last = exc
                if f'role "{role}" does not exist' not in str(exc):
                    raise
        raise ConfigError(f"none of the roles {', '.join(candidates)} exists in the recovered cluster",
                          "set pitr.role in pgdrill.yml to a superuser of the backed-up cluster") from last

    def _wait_promoted(self, cluster: LocalCluster, progress: Progress | None) -> str | None:
        """None once the server left recovery; otherwise why it did not (from its log)."""
        deadline = time.monotonic() + self.settings.recovery_timeout
        seen_pid = False
        said = 0.0
        while True:
            pid = self._postmaster_pid(cluster)
            if pid is not None:
                seen_pid = True
            if (pid is None and seen_pid) or (pid is not None and not process_alive(pid)):
                return self._died(cluster)
            if pid is None and time.monotonic() - self._started_at > 30:
                return self._died(cluster)
            with contextlib.suppress(psycopg.OperationalError):
                if pid is not None:
                    with self._admin_conn(cluster) as conn:
                        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                        if row is not None and not row[0]:
                            return None
            if time.monotonic() > deadline:
                return (f"recovery did not finish within {fmt_seconds(self.settings.recovery_timeout)} "
                        f"(pitr.recovery_timeout); last WAL segment restored: {_last_restored(self._log(cluster))}")
            restored = _last_restored(self._log(cluster))
            if progress and restored and time.monotonic() - said > 10:
                said = time.monotonic()
                progress(f"replaying WAL: restored segment {restored}")
            # Promotion is what the RTO waits for: poll often at first, then back off.
            time.sleep(0.05 if time.monotonic() - self._started_at < 60 else 0.5)

    def _died(self, cluster: LocalCluster) -> str:
        log = self._log(cluster)
        fatal = [ln for ln in log.splitlines() if "FATAL:" in ln or "PANIC:" in ln]
        fatal = [ln for ln in fatal if "the database system is starting up" not in ln
                 and "not yet accepting connections" not in ln]
        why = fatal[-1].split("FATAL:", 1)[-1].split("PANIC:", 1)[-1].strip() if fatal else "no reason in its log"
        restored = _last_restored(log)
        hint = ""
        if "recovery ended before configured recovery target was reached" in why:
            hint = (f"; the last WAL segment restored was {restored or 'none'}: the next one is missing from the "
                    "archive, or no transaction committed after the target was archived yet")
        return secrets.scrub(f"recovery failed, the server stopped: {why}{hint}")

    # -- after promotion ----------------------------------------------------------------------
    def _prepare_copy(self, cluster: LocalCluster) -> RecoveryOutcome:
        """Create the checks' role, pick the database, read where recovery ended."""
        with self._admin_conn(cluster) as conn:
            conn.execute("SET default_transaction_read_only = off")
            conn.execute("SET password_encryption = 'scram-sha-256'")  # production may still say md5
            conn.execute(sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
                sql.Identifier(cluster.user), sql.Literal(cluster.password)))
            row = conn.execute("SELECT pg_last_xact_replay_timestamp(), pg_last_wal_replay_lsn()::text, "
                               "current_setting('wal_segment_size'), (SELECT timeline_id FROM pg_control_checkpoint()),"
                               " current_setting('server_version')").fetchone()
            names = [str(r[0]) for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> 'postgres' "
                "ORDER BY datname").fetchall()]
        assert row is not None
        self._database = self.settings.database or (names[0] if len(names) == 1 else "postgres")
        if self.settings.database and self.settings.database not in (*names, "postgres"):
            raise ConfigError(f"the recovered cluster has no database '{self.settings.database}' "
                              f"(databases: {', '.join(names) or 'only postgres'})",
                              "fix pitr.database / --pitr-database")
        self._server_version = str(row[4]).split()[0]
        log = self._log(cluster)
        replayed = row[0] if isinstance(row[0], datetime) else None
        self._point = self.at or replayed or self._b().stopped_at
        return RecoveryOutcome(replayed, str(row[1]) if row[1] else None, _size(str(row[2])),
                               int(str(row[3])) if row[3] is not None else None, _stopped_before(log),
                               _last_restored(log))

    def _recovery_check(self, r: RecoveryOutcome, seconds: float) -> CheckResult:
        """Recovery replayed what it had to: up to the target, or every archived segment for latest."""
        where = f"replayed to {r.replay_lsn or '?'}" + (f" (last segment from the archive {r.last_restored})"
                                                        if r.last_restored else "")
        newest = self._repo.newest_wal if self._repo else None
        if self.at is None and newest is not None and r.replay_lsn:
            want = segment_number(newest.segment, r.segment_size)
            got = _lsn_segment(r.replay_lsn, r.segment_size)
            if want is not None and got < want:
                return CheckResult("recovery", "fail", one_line(
                    f"recovery stopped early, {where}, but the archive holds WAL up to segment {newest.segment}: a "
                    "segment in between is missing or unreadable, so the copy lacks data the archive should "
                    "restore"), round(seconds, 3))
        target = f"to {iso(self.at)}" if self.at else "to the end of the archived WAL"
        tl = f", promoted on timeline {r.timeline}" if r.timeline else ", promoted"
        return CheckResult("recovery", "pass", one_line(
            f"base backup {self._b().id} recovered {target} in {fmt_seconds(seconds)}: {where}{tl}"), round(seconds, 3))

    def _point_in_time_check(self, r: RecoveryOutcome, cluster: LocalCluster) -> CheckResult:
        """The copy is at the requested instant: its newest commit is not after the target, and not
        more than ``tolerance`` before it unless recovery proved it stopped at the first commit after."""
        t0 = time.monotonic()
        tol = self.settings.tolerance
        newest = r.replayed_commit
        label = "newest replayed commit"
        marker: datetime | None = None
        if self.settings.marker_query:
            try:
                marker = self._marker(cluster)
            except psycopg.Error as exc:
                return CheckResult("point-in-time", "fail", one_line(secrets.scrub(
                    f"pitr.marker_query failed on the copy: {str(exc).strip().splitlines()[0]}")),
                    round(time.monotonic() - t0, 3))
        if self.at is None:
            if newest is None:
                return CheckResult("point-in-time", "warn", "no commit was replayed from the archived WAL "
                                   f"(the copy is at the base backup {self._b().id})", round(time.monotonic() - t0, 3))
            extra = f"; marker {iso(marker)}" if marker else ""
            return CheckResult("point-in-time", "pass", f"latest: {label} at {iso(newest)}{extra}",
                               round(time.monotonic() - t0, 3))
        at = self.at
        problems: list[str] = []
        for what, value, proved in ((label, newest, r.stopped_before is not None and r.stopped_before > at),
                                    ("marker query", marker, False)):
            if value is None:
                continue
            if value > at:
                problems.append(f"{what} {_exact(value)} is after the target {_exact(at)}: recovery overshot")
            elif (at - value).total_seconds() > tol and not proved:
                problems.append(f"{what} {_exact(value)} is {fmt_seconds((at - value).total_seconds())} before the "
                                f"target {_exact(at)} (tolerance {fmt_seconds(tol)}): recovery stopped early")
        if problems:
            return CheckResult("point-in-time", "fail", one_line("; ".join(problems)), round(time.monotonic() - t0, 3),
                               tuple(problems))
        parts = [f"at {_exact(at)}: {label} {_exact(newest) if newest else 'none (none since the backup)'}"]
        if r.stopped_before is not None:
            parts.append(f"recovery stopped before the next commit at {_exact(r.stopped_before)}")
        if marker is not None:
            parts.append(f"marker {_exact(marker)}")
        return CheckResult("point-in-time", "pass", one_line(", ".join(parts)), round(time.monotonic() - t0, 3))

    def _marker(self, cluster: LocalCluster) -> datetime | None:
        assert self.settings.marker_query is not None
        with self._admin_conn(cluster, self._database) as conn:
            row = conn.execute(self.settings.marker_query).fetchone()
        value = row[0] if row else None
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise psycopg.DataError(f"it returned {type(value).__name__}, not a timestamp")
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _exact(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _size(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*(kB|MB|GB)?", text.strip())
    if not m:
        return 16 << 20
    return int(m.group(1)) * {None: 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[m.group(2)]


def _lsn_segment(lsn: str, segment_size: int) -> int:
    hi, _, lo = lsn.partition("/")
    return ((int(hi, 16) << 32) + int(lo or "0", 16)) // segment_size


_RESTORED = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
_STOPPING = re.compile(r"recovery stopping before (?:commit|abort) of transaction \d+, time (.+?)\s*$")


def _last_restored(log: str) -> str | None:
    found = _RESTORED.findall(log)
    return found[-1] if found else None


def _stopped_before(log: str) -> datetime | None:
    for line in reversed(log.splitlines()):
        m = _STOPPING.search(line)
        if m:
            text = m.group(1).strip()
            text = re.sub(r"([+-]\d\d)$", r"\1:00", text)
            with contextlib.suppress(ValueError):
                t = datetime.fromisoformat(text)
                return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return None


def newest_segment(names: Sequence[str]) -> str | None:
    """The newest WAL segment among file names in an archive (history, backup and partial files are not)."""
    segments = sorted(n[:24] for n in names if WAL_SEGMENT.match(n) and len(n) >= 24
                      and not n[24:].startswith((".backup", ".partial", ".history")))
    return segments[-1] if segments else None
