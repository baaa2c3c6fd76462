"""Parallel restores: ``pg_restore --jobs=N`` needs a seekable archive, not a pipe.

The streaming pipeline writes the archive into ``ParallelRestore.stdin`` exactly as it would into
pg_restore's stdin (hashing it on the way); here the bytes go to a temporary file instead. Closing
``stdin`` runs ``before_start`` — the checksum check, so a corrupt archive never reaches the
target — and only then starts ``pg_restore --jobs=N FILE``. Not one transaction: PostgreSQL does
not combine --jobs with --single-transaction, so callers only use it when a partial restore on
failure is acceptable (a scratch database, an empty target).

Measured by bench/run (1 GB database, 2 cores): pg_restore -j2 takes ~0.6x the time of a
single-job restore — tables load and indexes build side by side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from typing import IO

from pgdrill.report.format import human_size
from pgdrill.streams import StderrCollector

#: room left beside the archive's temporary copy (pg_restore and the system need some too)
SPARE = 256 << 20
MAX_AUTO_JOBS = 16


def cores() -> int:
    """The CPUs this process may run on (a container's limit, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def auto_jobs(archive_size: int, tmpdir: str | None = None) -> tuple[int, str]:
    """``--jobs auto``: the runner's cores when the archive's temporary copy fits in the free space of
    the temp folder, else 1 — and the sentence the report says about it. pg_restore --jobs needs that
    copy (it seeks), and on 2 cores it restores in ~0.8x the time of one job (bench/run)."""
    n = min(cores(), MAX_AUTO_JOBS)
    if n == 1:
        return 1, "restored with 1 job: one CPU core"
    where = tmpdir or tempfile.gettempdir()
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return 1, f"restored with 1 job: the free space of {where} is unknown"
    need = archive_size + archive_size // 10 + SPARE
    if free < need:
        return 1, (f"restored with 1 job: the archive's temporary copy ({human_size(archive_size)}) does not fit in "
                   f"the {human_size(free)} free in {where} (set TMPDIR to a bigger disk for a parallel restore)")
    return n, f"restored with {n} parallel jobs ({n} cores; the archive's copy fits in {where})"


class _Spool:
    """The write end: a temp file; close() hands over to the restore."""

    def __init__(self, file: IO[bytes], on_close: Callable[[], None]) -> None:
        self.file = file
        self.on_close = on_close
        self.closed = False

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.file.close()
            self.on_close()


class ParallelRestore:
    """Stands in for the pg_restore Popen (and its StderrCollector) of the streaming pipeline."""

    def __init__(self, command: Sequence[str], jobs: int, env: dict[str, str],
                 before_start: Callable[[], None] = lambda: None, on_line: Callable[[str], bool] | None = None,
                 on_start: Callable[[], None] | None = None) -> None:
        if any(a in ("--single-transaction", "-1") for a in command):
            raise ValueError("pg_restore --jobs cannot run in a single transaction")
        self._dir = tempfile.mkdtemp(prefix="pgdrill-restore-")
        self._path = os.path.join(self._dir, "archive.pgdump")
        self._command = [*command, f"--jobs={jobs}", self._path]
        self._env = env
        self._before_start = before_start
        self._on_line = on_line
        self._on_start = on_start
        self._proc: subprocess.Popen[bytes] | None = None
        self._errs: StderrCollector | None = None
        self._rc: int | None = None
        self.stdin = _Spool(open(self._path, "wb"), self._start)  # noqa: SIM115 - closed by _Spool.close

    def _start(self) -> None:
        try:
            self._before_start()
            if self._on_start is not None:
                self._on_start()
            self._proc = subprocess.Popen(self._command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, env=self._env)
        except BaseException:
            self._cleanup()
            raise
        assert self._proc.stderr is not None
        self._errs = StderrCollector(self._proc.stderr, on_line=self._on_line)

    def _cleanup(self) -> None:
        if not self.stdin.file.closed:
            self.stdin.file.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def wait(self) -> int:
        if self._proc is None:  # never started: the archive did not arrive whole
            self._cleanup()
            self._rc = 1 if self._rc is None else self._rc
            return self._rc
        self._rc = self._proc.wait()
        self._cleanup()
        return self._rc

    def poll(self) -> int | None:
        if self._proc is None or self._proc.poll() is not None:
            return self.wait()
        return None

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def join(self, timeout: float | None = None) -> list[str]:
        return self._errs.join(timeout) if self._errs is not None else []
