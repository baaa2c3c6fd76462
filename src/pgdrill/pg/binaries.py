"""Find PostgreSQL client binaries by major version — never "whatever pg_dump is on PATH"."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pgdrill.errors import ToolMissing

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")

# Hook for on-demand installation (pgdrill.pg.install registers itself here).
Installer = Callable[[int], Path | None]
_installers: list[Installer] = []


def register_installer(installer: Installer) -> None:
    _installers.append(installer)


@dataclass(frozen=True)
class Client:
    """One PostgreSQL bin directory of a known major version."""

    bin_dir: Path
    major: int
    version: str

    def tool(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.exists():
            raise ToolMissing(f"{name} {self.major} is missing from {self.bin_dir}")
        return str(path)


def cache_dir() -> Path:
    """PGDRILL_CACHE_DIR, else /var/cache/pgdrill for root (clusters started as root run as the
    postgres user, who cannot enter /root), else $XDG_CACHE_HOME/pgdrill or ~/.cache/pgdrill."""
    explicit = os.environ.get("PGDRILL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/cache/pgdrill")
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "pgdrill"


def candidate_dirs() -> list[Path]:
    """Where clients live, most specific first."""
    dirs: list[str] = []
    for entry in (os.environ.get("PGDRILL_PG_BIN") or "").split(os.pathsep):
        if entry:
            dirs.append(entry)
            dirs.extend(sorted(glob.glob(os.path.join(entry, "*", "bin"))))
    dirs.extend(sorted(glob.glob(str(cache_dir() / "postgresql" / "*" / "bin"))))
    patterns = [
        "/usr/lib/postgresql/*/bin",  # Debian/Ubuntu
        "/usr/pgsql-*/bin",  # RHEL/PGDG
        "/opt/homebrew/opt/postgresql@*/bin",
        "/usr/local/opt/postgresql@*/bin",
        "/Applications/Postgres.app/Contents/Versions/*/bin",
        "/usr/local/pgsql/bin",
    ]
    for pattern in patterns:
        dirs.extend(sorted(glob.glob(pattern)))
    dirs.extend(p for p in (os.environ.get("PATH") or "").split(os.pathsep) if p)
    seen: set[str] = set()
    out: list[Path] = []
    for d in dirs:
        real = os.path.realpath(d)
        if real not in seen:
            seen.add(real)
            out.append(Path(d))
    return out


@cache
def _probe(bin_dir: str) -> Client | None:
    exe = os.path.join(bin_dir, "pg_dump")
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION.search(out.stdout)
    if not m:
        return None
    real_dir = Path(os.path.realpath(exe)).parent
    version = f"{m.group(1)}.{m.group(2) or 0}"
    return Client(real_dir, int(m.group(1)), version)


def available(dirs: Iterable[Path] | None = None) -> list[Client]:
    found: dict[Path, Client] = {}
    for d in dirs if dirs is not None else candidate_dirs():
        client = _probe(str(d))
        if client and client.bin_dir not in found:
            found[client.bin_dir] = client
    return list(found.values())


# Install folders that name their major: …/postgresql/17/bin (Debian, pgdrill's cache), /usr/pgsql-16/bin,
# postgresql@15/bin (Homebrew), Postgres.app's Versions/16/bin.
_NAMED_MAJOR = re.compile(r"(?:postgresql/|postgresql@|pgsql-|Versions/)(\d+)/bin/?$")


def _first_of_major(major: int) -> Client | None:
    """The first client of ``major`` in candidate order. Folders named for another major are not run
    (each probe is a process start: ~30 ms, and a machine with the cache filled holds 5 majors)."""
    for d in candidate_dirs():
        named = _NAMED_MAJOR.search(str(d))
        if named and int(named.group(1)) != major:
            continue
        client = _probe(str(d))
        if client and client.major == major:
            return client
    return None


def clear_cache() -> None:
    _probe.cache_clear()


def _missing(major: int, purpose: str) -> ToolMissing:
    return ToolMissing(
        f"no PostgreSQL {major} client found for {purpose}",
        f"install postgresql-client-{major} (apt, PGDG), point PGDRILL_PG_BIN at its bin folder, "
        "or allow pgdrill to download it (PGDRILL_ALLOW_DOWNLOAD=1, the default)",
    )


def _install(major: int) -> Client | None:
    if not _installers:
        from pgdrill.pg import install  # noqa: F401 - registers the PyPI installer on import
    for installer in _installers:
        bin_dir = installer(major)
        if bin_dir is not None:
            clear_cache()
            client = _probe(str(bin_dir))
            if client and client.major == major:
                return client
    return None


def installed_for_dump(server_major: int) -> Client | None:
    """The pg_dump :func:`for_dump` would run without installing anything (None: it would install one)."""
    return _first_of_major(server_major) or next((c for c in available() if c.major == server_major), None)


def for_dump(server_major: int) -> Client:
    """pg_dump must be the server's major: older refuses, newer emits syntax older servers reject."""
    exact = installed_for_dump(server_major)
    if exact:
        return exact
    installed = _install(server_major)
    if installed:
        return installed
    raise _missing(server_major, f"pg_dump against a PostgreSQL {server_major} server")


def for_restore(archive_major: int, target_major: int | None) -> Client:
    """A pg_restore that can read the archive (>= its pg_dump major), as close to the target as possible."""
    want = max(archive_major, target_major or archive_major)
    exact = _first_of_major(want)
    if exact:
        return exact
    clients = [c for c in available() if c.major >= archive_major]
    exact = next((c for c in clients if c.major == want), None)
    if exact:
        return exact
    installed = _install(want)
    if installed:
        return installed
    if clients:
        return min(clients, key=lambda c: (abs(c.major - want), -c.major))
    raise _missing(want, f"pg_restore of an archive written by pg_dump {archive_major}")


def which(name: str) -> str | None:
    return shutil.which(name)
