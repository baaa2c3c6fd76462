"""Running the user's commands against a restored copy: smoke commands, ``expected_command``, the
pre-deploy release check and migration rehearsal all go through :func:`run_command`, with the
environment from :func:`command_env` (``DATABASE_URL`` and ``PG*`` pointing at the copy).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

from pgdrill import secrets
from pgdrill.pg.conn import DatabaseUrl


def database_url_string(url: DatabaseUrl) -> str:
    """A postgresql:// URL with the password, for DATABASE_URL (a libpq key=value string is not what
    ORMs and frameworks expect there)."""
    p = url.params
    auth = ""
    if p.get("user"):
        auth = quote(p["user"], safe="")
        if p.get("password") is not None:
            auth += ":" + quote(p["password"], safe="")
        auth += "@"
    host = p.get("host") or p.get("hostaddr") or "localhost"
    query = {k: v for k, v in p.items() if k not in ("user", "password", "host", "port", "dbname")}
    netloc = host
    if host.startswith("/"):
        # A socket folder cannot sit in the authority part; libpq takes it as ?host=.
        query = {"host": host, **query}
        netloc = ""
    if p.get("port"):
        netloc += f":{p['port']}"
    text = f"postgresql://{auth}{netloc}/{quote(url.dbname, safe='')}"
    if query:
        text += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items()))
    return text


_PG_ENV = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
           "password": "PGPASSWORD", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
           "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "options": "PGOPTIONS",
           "connect_timeout": "PGCONNECT_TIMEOUT", "target_session_attrs": "PGTARGETSESSIONATTRS"}


def command_env(url: DatabaseUrl, base: Mapping[str, str] | None = None,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a command sees: the caller's, minus libpq variables that could point it at
    another database, plus DATABASE_URL and PG* for the restored one."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not (k.startswith("PG") and not k.startswith("PGDRILL_"))}
    env["DATABASE_URL"] = database_url_string(url)
    for key, var in _PG_ENV.items():
        if url.params.get(key) is not None:
            env[var] = url.params[key]
    env.setdefault("PGDATABASE", url.dbname)
    env.update(extra or {})
    return env




@dataclass(frozen=True)
class CommandResult:
    returncode: int | None  # None: timed out or could not start
    tail: str
    seconds: float
    timed_out: bool = False
    error: str | None = None
    timeout: float = 0.0
    stderr_tail: str = ""  # only with merge_stderr=False (else stderr is part of tail)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and self.error is None

    @property
    def error_line(self) -> str:
        """The line that says why a failed command failed: its error line, not whatever it printed
        last (SQLAlchemy ends with "(Background on this error at: …)")."""
        return error_line("\n".join(t for t in (self.tail, self.stderr_tail) if t))

    def reason(self) -> str:
        """One line saying how the command ended, for a check's detail."""
        if self.error:
            return self.error
        if self.timed_out:
            return f"timed out after {self.timeout:g}s (process group killed)"
        if self.returncode != 0:
            why = self.error_line
            return f"exit {self.returncode}" + (f": {why}" if why else "")
        return f"exit 0 in {self.seconds:.1f}s"


# Lines that state an error: Python's "pkg.SomeError: …" (also "(psycopg.errors.CheckViolation) …"),
# "ERROR:"/"FATAL:" from PostgreSQL and psql, "error:"/"Error:" from most CLIs, npm's "npm ERR!".
_ERROR_LINES = (
    re.compile(r"^\s*(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Violation|Failure|Fault|Exit)\b:"),
    re.compile(r"\b(?:ERROR|FATAL|PANIC):"),
    re.compile(r"(?:^|\s)(?:[Ee]rror|npm ERR!)(?::|\s)"),
)


def error_line(output: str) -> str:
    """The last line of ``output`` that states an error, else its last non-empty line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for pattern in _ERROR_LINES:
        hits = [ln for ln in lines if pattern.search(ln)]
        if hits:
            return hits[-1]
    return lines[-1] if lines else ""


def _pump(stream: IO[bytes], lines: deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
    stream.close()


def run_command(command: str | Sequence[str], env: Mapping[str, str], timeout: float, tail: int = 40,
                cwd: str | Path | None = None, merge_stderr: bool = True) -> CommandResult:
    """Run a command in its own process group; keep only the last ``tail`` lines of its output, so a
    chatty test suite costs no memory; on timeout kill the whole group (an app it started, too).
    ``merge_stderr=False`` keeps stdout alone in ``tail`` (a command whose output is parsed, where
    log lines on stderr must not count) and stderr in ``stderr_tail``."""
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    lines: deque[str] = deque(maxlen=tail)
    err_lines: deque[str] = deque(maxlen=tail)
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                                env=dict(env), cwd=cwd, start_new_session=True)
    except OSError as exc:
        return CommandResult(None, "", time.monotonic() - t0, error=f"cannot start {argv[0]}: {exc.strerror or exc}",
                             timeout=timeout)
    assert proc.stdout is not None
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    err_reader = None
    if proc.stderr is not None:
        err_reader = threading.Thread(target=_pump, args=(proc.stderr, err_lines), daemon=True)
        err_reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # Also on KeyboardInterrupt: leave nothing running against a database about to be dropped.
        if proc.poll() is None or timed_out:
            _kill_group(proc)
    # Background children may keep the pipe open; the output so far is enough.
    reader.join(5)
    if err_reader is not None:
        err_reader.join(5)
    text = secrets.scrub("\n".join(lines))
    return CommandResult(None if timed_out else proc.returncode, text, time.monotonic() - t0, timed_out,
                         timeout=timeout, stderr_tail=secrets.scrub("\n".join(err_lines)))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue

