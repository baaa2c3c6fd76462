"""Restoring with a newer pg_restore into an older server (a PG17 dump into a PG16 scratch server).

pg_restore must be at least the archive's pg_dump major, so this case cannot be avoided by picking
an older client. pg_restore 17+ opens every session with ``SET transaction_timeout = 0``, a
parameter servers before 17 do not know; the error is fatal with ``--single-transaction``, and
without it the restore "succeeds" with exit 1 — indistinguishable from a real failure.

What pgdrill does (decided, not a workaround that hides errors): pg_restore writes the SQL script
(``--file=-``), this module drops exactly that one ``SET transaction_timeout = 0;`` line, and only
where pg_restore itself writes it — in a session preamble, the leading run of ``SET``/``SELECT
pg_catalog.set_config``/comment/meta-command lines, never inside object definitions or COPY data —
and psql of the same newer client runs the script against the target with ``ON_ERROR_STOP`` in
one transaction (when the restore is atomic). Every other statement reaches the server unchanged,
so anything the older server really cannot take (new syntax, new functions, new object kinds)
still fails the restore, with psql's error line, and the transaction rolls back.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Sequence
from typing import IO

from pgdrill.pg.binaries import Client
from pgdrill.streams import StderrCollector

#: the first client major that sets transaction_timeout at session start
FIRST_SETTING_MAJOR = 17
DROPPED = b"SET transaction_timeout = 0;"

_PREAMBLE_PREFIXES = (b"SET ", b"SELECT pg_catalog.set_config(", b"--", b"\\")


def needs_script_restore(client_major: int, target_major: int | None) -> bool:
    return target_major is not None and client_major >= FIRST_SETTING_MAJOR and target_major < FIRST_SETTING_MAJOR


class ScriptFilter:
    """Streaming line filter; bytes in, bytes out, preamble-aware (see the module docstring)."""

    def __init__(self) -> None:
        self.preamble = True
        self.dropped = 0

    def line(self, raw: bytes) -> bytes:
        text = raw.rstrip(b"\r\n")
        if text.startswith(b"\\connect"):
            self.preamble = True  # pg_restore repeats its session set-up after a reconnect
            return raw
        if self.preamble:
            if text == DROPPED:
                self.dropped += 1
                return b""
            if text and not text.startswith(_PREAMBLE_PREFIXES):
                self.preamble = False
        return raw


class ScriptRestore:
    """pg_restore --file=- | filter | psql, with the parts of subprocess.Popen the pipeline uses."""

    @classmethod
    def from_command(cls, client: Client, command: Sequence[str], atomic: bool, env: dict[str, str]) -> ScriptRestore:
        """Build from the direct pg_restore command line the pipeline would have run."""
        conninfo = next(a.split("=", 1)[1] for a in command if a.startswith("--dbname="))
        skip = ("--no-password", "--single-transaction", "--exit-on-error", "--verbose")
        args = [a for a in command[1:] if not a.startswith("--dbname=") and a not in skip]
        return cls(client, args, conninfo, atomic, env)

    def __init__(self, client: Client, restore_args: Sequence[str], conninfo: str, atomic: bool,
                 env: dict[str, str]) -> None:
        self.filter = ScriptFilter()
        self.restore = subprocess.Popen(
            [client.tool("pg_restore"), "--file=-", *restore_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )
        # --file=- (not plain stdin) makes psql prefix errors with "psql:<stdin>:LINE:".
        psql = [client.tool("psql"), "--no-psqlrc", "--quiet", "--no-password", "--file=-", "-v",
                f"ON_ERROR_STOP={1 if atomic else 0}", f"--dbname={conninfo}"]
        if atomic:
            psql.append("--single-transaction")
        self.psql = subprocess.Popen(psql, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        assert self.restore.stdin and self.restore.stdout and self.restore.stderr and self.psql.stderr
        self.stdin: IO[bytes] = self.restore.stdin
        self._restore_errs = StderrCollector(self.restore.stderr)
        self._psql_errs = StderrCollector(self.psql.stderr)
        self._pump = threading.Thread(target=self._copy, args=(self.restore.stdout,), daemon=True,
                                      name="pgdrill-script-restore")
        self._pump.start()

    def _copy(self, script: IO[bytes]) -> None:
        assert self.psql.stdin is not None
        sink = self.psql.stdin
        try:
            for raw in iter(script.readline, b""):
                out = self.filter.line(raw)
                if out:
                    sink.write(out)
        except (BrokenPipeError, ValueError):
            pass  # psql stopped (ON_ERROR_STOP); its exit code and stderr say why
        finally:
            with contextlib.suppress(BrokenPipeError, ValueError):
                sink.close()
            script.close()

    def wait(self) -> int:
        rc_restore = self.restore.wait()
        self._pump.join()
        rc_psql = self.psql.wait()
        # psql stopping first makes pg_restore die of a broken pipe: psql's code is the real one.
        return rc_psql or rc_restore

    def poll(self) -> int | None:
        if self.restore.poll() is None or self.psql.poll() is None:
            return None
        return self.wait()

    def kill(self) -> None:
        for proc in (self.restore, self.psql):
            if proc.poll() is None:
                proc.kill()

    def join(self, timeout: float | None = None) -> list[str]:
        """stderr of psql then pg_restore (named like StderrCollector.join, so it stands in for it)."""
        psql_lines = self._psql_errs.join(timeout)
        restore_lines = self._restore_errs.join(timeout)
        if any(" ERROR: " in ln or "ERROR:  " in ln for ln in psql_lines):
            # pg_restore's own complaint is then only the broken pipe psql caused.
            restore_lines = [ln for ln in restore_lines if "could not write" not in ln and "Broken pipe" not in ln]
        return psql_lines + restore_lines
