"""Database URLs that keep their password to themselves, and connections made from them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgdrill import secrets
from pgdrill.errors import ConfigError, DatabaseMissing, PgdrillError, SourceError

# Poolers break pg_export_snapshot/--snapshot and session state; a backup needs the direct host.
_POOLER_HOST = re.compile(r"(-pooler\.|pooler\.supabase\.com$|pgbouncer)", re.IGNORECASE)
_POOLER_PORTS = {6543}

_URL_SCHEMES = ("postgres://", "postgresql://")


@dataclass(frozen=True)
class DatabaseUrl:
    """A libpq connection string or URL. ``str()`` and ``repr()`` never show the password."""

    params: dict[str, str] = field(repr=False)

    @classmethod
    def parse(cls, text: str, what: str = "database URL") -> DatabaseUrl:
        text = (text or "").strip()
        if not text:
            raise ConfigError(f"{what} is empty", "pass a URL like postgresql://user:pass@host:5432/dbname")
        if "://" in text and not text.startswith(_URL_SCHEMES):
            scheme = text.split("://", 1)[0]
            raise ConfigError(
                f"{what} has scheme '{scheme}://'", "use postgresql://user:pass@host:5432/dbname"
            )
        try:
            raw = conninfo_to_dict(text)
        except psycopg.ProgrammingError as exc:
            msg = secrets.scrub(str(exc).splitlines()[0]) if str(exc) else "cannot be parsed"
            # libpq echoes the offending text, which may contain the password: keep only the reason.
            msg = re.sub(r'"[^"]*"', '"…"', msg)
            raise ConfigError(
                f"{what} is malformed ({msg})", "use postgresql://user:pass@host:5432/dbname"
            ) from None
        params = {k: str(v) for k, v in raw.items() if v is not None}
        if "password" in params:
            secrets.register(params["password"])
            secrets.register(quote(params["password"], safe=""))
        secrets.register(text) if "password" in params else None
        if "port" in params and not params["port"].isdigit():
            raise ConfigError(f"{what} has a non-numeric port", "use host:5432")
        return cls(params)

    # -- parts --------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.params.get("host") or self.params.get("hostaddr") or "localhost"

    @property
    def port(self) -> int:
        return int(self.params.get("port") or 5432)

    @property
    def dbname(self) -> str:
        return self.params.get("dbname") or self.params.get("user") or "postgres"

    @property
    def user(self) -> str | None:
        return self.params.get("user")

    @property
    def password(self) -> str | None:
        return self.params.get("password")

    def with_dbname(self, dbname: str) -> DatabaseUrl:
        return DatabaseUrl({**self.params, "dbname": dbname})

    # -- renderings ---------------------------------------------------------------------------
    @property
    def redacted(self) -> str:
        user = f"{self.params['user']}@" if self.params.get("user") else ""
        host = self.host if not self.host.startswith("/") else "localhost"
        return f"postgresql://{user}{host}:{self.port}/{self.dbname}"

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.redacted!r})"

    def conninfo(self) -> str:
        """Full connection string including the password: hand it to libpq only."""
        return make_conninfo(**self.params)

    def conninfo_without_password(self) -> str:
        return make_conninfo(**{k: v for k, v in self.params.items() if k != "password"})

    def subprocess_env(self) -> dict[str, str]:
        """Env for client binaries: the password travels in PGPASSWORD, never on the command line."""
        env = {"PGCONNECT_TIMEOUT": self.params.get("connect_timeout", "15")}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def is_pooler(self) -> bool:
        return bool(_POOLER_HOST.search(self.host)) or self.port in _POOLER_PORTS

    def require_direct(self) -> None:
        if self.is_pooler():
            raise ConfigError(
                f"{self.redacted} looks like a connection pooler (PgBouncer/Supavisor/Neon -pooler)",
                "use the direct connection URL (Neon: drop '-pooler' from the host; Supabase: port 5432)",
            )


def _infra_error(url: DatabaseUrl, exc: Exception, role: str) -> PgdrillError:
    first = secrets.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    hint = "check the URL, the network and that the server is up"
    if "password authentication failed" in first:
        hint = "check the user and password in the URL"
    elif re.search(r'(database|role) "[^"]*" does not exist', first):
        # The server answered: the name in the URL is wrong (or the database is still to be created).
        what = "database" if 'database "' in first else "role"
        fix = "create it first (CREATE DATABASE), or fix the URL" if what == "database" else "fix the user in the URL"
        return DatabaseMissing(f"cannot connect to {role} {url.redacted}: {first}",
                               f"check the {what} name in the URL: {fix}")
    return SourceError(f"cannot connect to {role} {url.redacted}: {first}", hint)


@contextmanager
def connect(
    url: DatabaseUrl, *, autocommit: bool = True, role: str = "database"
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    try:
        conn = psycopg.connect(
            url.conninfo(),
            autocommit=autocommit,
            connect_timeout=int(url.params.get("connect_timeout", "15")),
            application_name="pgdrill",
        )
    except psycopg.Error as exc:
        raise _infra_error(url, exc, role) from None
    try:
        yield conn
    finally:
        conn.close()


def server_major(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    return conn.info.server_version // 10000


def server_version_string(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else str(conn.info.server_version)
