"""Copies that are databases: a scratch database created on a server for the run (``--scratch-url``,
an admin connection with CREATEDB) and dropped afterwards, or an existing empty database the user
names (``--target-url``), which is left in place.

:class:`DatabaseCopySource` owns that placement for every source that restores *into a database*
(a stored backup today; dumps made by other tools later): it creates, marks, drops and sweeps scratch
databases, and refuses a target that is listed as production or already holds tables. Subclasses only
say how the data gets in (:meth:`DatabaseCopySource._load`).

A scratch database is named ``<prefix>_<UTC time>_<random>`` and carries its marker as a database
comment, so a later run can tell whether its maker is gone.
"""

from __future__ import annotations

import abc
import re
import secrets as pysecrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import psycopg
from psycopg import sql

from pgdrill.checks import CheckResult, one_line
from pgdrill.errors import ConfigError, PgdrillError, TargetError
from pgdrill.pg.conn import DatabaseUrl, connect
from pgdrill.sources.base import CopyOptions, Leftover, RestoredCopy, Source
from pgdrill.sources.markers import PREFIX, Marker
from pgdrill.streams import Progress


def scratch_name(prefix: str, at: datetime) -> str:
    return f"{prefix}_{at:%Y%m%d_%H%M%S}_{pysecrets.token_hex(3)}"


def _name_time(prefix: str, name: str) -> datetime | None:
    m = re.fullmatch(re.escape(prefix) + r"_(\d{8}_\d{6})_[0-9a-f]{6}", name)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y%m%d_%H%M%S").replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class ScratchServer:
    """Scratch databases on one server, reached through an admin connection."""

    admin: DatabaseUrl
    prefix: str

    def create(self, name: str, marker: Marker) -> None:
        with connect(self.admin, role="scratch server") as conn:
            try:
                # template0: objects someone added to template1 would clash with the restore.
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
            except psycopg.errors.InsufficientPrivilege:
                raise ConfigError(f"the --scratch-url role cannot create databases on {self.admin.redacted}",
                                  "use a role with CREATEDB (the service container's superuser works)") from None
            except psycopg.Error as exc:
                raise TargetError(f"cannot create scratch database {name}: {_first(exc)}") from None
            conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name),
                                                                      sql.Literal(marker.to_text())))

    def drop(self, name: str) -> CheckResult:
        """Drop the scratch database, ending any session still in it (an app a smoke command started).
        Never raises: the outcome is the drill's cleanup check."""
        t0 = time.monotonic()
        try:
            self._drop(name)
        except (PgdrillError, psycopg.Error) as exc:
            msg = exc.message if isinstance(exc, PgdrillError) else _first(exc)
            return CheckResult("cleanup", "fail", one_line(f"could not drop scratch database {name}: {msg}"),
                               round(time.monotonic() - t0, 3))
        return CheckResult("cleanup", "pass", f"scratch database {name} dropped with everything restored into it",
                           round(time.monotonic() - t0, 3))

    def _drop(self, name: str) -> None:
        ident = sql.Identifier(name)
        with connect(self.admin, role="scratch server") as conn:
            if conn.info.server_version >= 130000:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            else:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))
            still = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if still:
            raise TargetError("it still exists after DROP DATABASE")

    def leftovers(self) -> list[Leftover]:
        """Databases with this prefix and pgdrill's name pattern, with their markers."""
        with connect(self.admin, role="scratch server") as conn:
            rows = conn.execute(
                "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE starts_with(datname, %s)", (self.prefix + "_",)).fetchall()
        out = []
        for name, comment in rows:
            name = str(name)
            when = _name_time(self.prefix, name)
            if when is None:
                continue  # not a name pgdrill makes: never touched
            marker = Marker.from_text(str(comment) if comment is not None else None)
            out.append(Leftover(name, marker, self._remover(name), when, f'DROP DATABASE "{name}"'))
        return out

    def _remover(self, name: str) -> ScratchDrop:
        return ScratchDrop(self, name)

    def leftover_roles(self) -> list[Leftover]:
        """Stand-in roles made for copies on this server (their comment is the copy's marker). Listed
        after the databases, so a sweep drops a killed run's database before the roles it used."""
        from pgdrill.pg import roles

        with connect(self.admin, role="scratch server") as conn:
            found = roles.commented(conn, PREFIX)
        return [Leftover(f"role {name}", Marker.from_text(comment), RoleDrop(self.admin, name, comment), None,
                         f'DROP ROLE "{name}"') for name, comment in found]


@dataclass(frozen=True)
class RoleDrop:
    admin: DatabaseUrl
    name: str
    comment: str

    def __call__(self) -> str:
        from pgdrill.restore import drop_stand_ins

        problems, in_use = drop_stand_ins(self.admin, [self.name], self.comment)
        if problems:
            raise TargetError(problems[0])
        if in_use:
            raise TargetError("still used by objects in another database (a live copy)")
        return "dropped"


@dataclass(frozen=True)
class ScratchDrop:
    server: ScratchServer
    name: str

    def __call__(self) -> str:
        try:
            self.server._drop(self.name)
        except psycopg.Error as exc:
            raise TargetError(_first(exc)) from None
        return "dropped"


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def target_user_tables(url: DatabaseUrl) -> int:
    from pgdrill.pg import stats

    with connect(url, role="target database") as conn:
        return stats.user_table_count(conn)


@dataclass
class DatabaseCopySource(Source):
    """A source whose copy is a database: a scratch one made on ``scratch_url``, or ``target_url``."""

    scratch_url: DatabaseUrl | None = None  # admin connection with CREATEDB
    target_url: DatabaseUrl | None = None  # an existing, empty database
    prefix: str = "pgdrill_drill"
    production_databases: tuple[str, ...] = ()
    _server: ScratchServer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.scratch_url is not None:
            self._server = ScratchServer(self.scratch_url, self.prefix)

    # -- for subclasses -----------------------------------------------------------------------
    @abc.abstractmethod
    def _load(self, copy: RestoredCopy, url: DatabaseUrl, progress: Progress | None) -> None:
        """Restore into the (empty) database at ``url``; fill ``copy`` (restore outcome, expected,
        versions, restore_seconds)."""

    def check_placement(self) -> None:
        """Exactly one of scratch and target, and a target that is not listed as production (pure)."""
        if (self.scratch_url is None) == (self.target_url is None):
            raise ConfigError("a drill needs exactly one of --scratch-url and --target-url",
                              "--scratch-url postgresql://postgres:…@localhost:5432/postgres creates a scratch "
                              "database")
        self.refuse_production(self.target_url, self.production_databases)

    def check_target(self) -> None:
        """The placement is valid and a given target holds no tables (it is looked at)."""
        self.check_placement()
        if self.target_url is not None:
            from pgdrill.restore import guard_target

            guard_target(self.target_url, False, None, target_user_tables(self.target_url))

    # -- Source hooks -------------------------------------------------------------------------
    def _new_copy(self, opts: CopyOptions, now: datetime) -> RestoredCopy:
        if self.target_url is not None:
            return RestoredCopy(self.kind, self.target_url.dbname, self.origin(), opts.marker(now),
                                target_kind="target")
        return RestoredCopy(self.kind, scratch_name(self.prefix, now), self.origin(), opts.marker(now))

    def _make(self, copy: RestoredCopy, opts: CopyOptions, progress: Progress | None) -> None:
        if self.target_url is not None:
            self._load(copy, self.target_url, progress)
            return
        assert self._server is not None and self.scratch_url is not None
        copy.created = True  # before CREATE: an interrupt right after it must still drop it
        self._server.create(copy.name, copy.marker)
        if progress:
            progress(f"created scratch database {copy.name} on {self.scratch_url.redacted}")
        self._load(copy, self.scratch_url.with_dbname(copy.name), progress)

    def _destroy(self, copy: RestoredCopy) -> CheckResult:
        assert self._server is not None and self.scratch_url is not None
        result = self._server.drop(copy.name)
        if not copy.stand_in_roles:
            return result
        names = ", ".join(copy.stand_in_roles)
        if result.status == "fail":
            # Still used by the database that could not be dropped: the next run's sweep takes both.
            return replace(result, detail=f"{result.detail}; stand-in roles {names} left with it")
        from pgdrill.restore import drop_stand_ins

        problems, in_use = drop_stand_ins(self.scratch_url, copy.stand_in_roles, copy.marker.to_text())
        if problems:
            return replace(result, status="fail", detail=f"{result.detail}; stand-in roles left: {'; '.join(problems)}",
                           items=tuple(problems))
        dropped = [n for n in copy.stand_in_roles if n not in in_use]
        detail = f"{result.detail}; stand-in role(s) {', '.join(dropped) or 'none'} dropped"
        if in_use:
            # Another run's copy on this server uses them too (it found them and made none): swept later.
            detail += f"; {', '.join(in_use)} still used by another copy, left for a later sweep"
        return replace(result, detail=detail)

    def _kept(self, copy: RestoredCopy) -> str:
        roles = f"; stand-in roles {', '.join(copy.stand_in_roles)} kept with it" if copy.stand_in_roles else ""
        return f'scratch database {copy.name} kept (--keep); drop it with: DROP DATABASE "{copy.name}"{roles}'

    def _leftovers(self, opts: CopyOptions) -> Sequence[Leftover]:
        if self._server is None:
            return []
        return [*self._server.leftovers(), *self._server.leftover_roles()]
