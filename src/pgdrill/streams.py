"""Small streaming pieces shared by the pipelines: hashing, byte counting, progress."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import IO

from pgdrill.report.format import human_size
from pgdrill.store.base import Readable

CHUNK = 1 << 20
PIPE_SIZE = 1 << 20  # Linux's default /proc/sys/fs/pipe-max-size: allowed without privileges

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class HashingReader:
    """Wraps a reader: sha256 and byte count of everything read, progress every few seconds."""

    def __init__(self, source: Readable, progress: Progress | None = None, label: str = "",
                 every: float = 5.0, on_eof: Callable[[], None] | None = None) -> None:
        self.source = source
        self.sha = hashlib.sha256()
        self.count = 0
        self.progress = progress or _quiet
        self.label = label
        self.every = every
        self.on_eof = on_eof
        self._started = time.monotonic()
        self._last = self._started
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(CHUNK if size is None or size < 0 else size)
        if data:
            self.sha.update(data)
            self.count += len(data)
            now = time.monotonic()
            if now - self._last >= self.every:
                self._last = now
                rate = self.count / max(now - self._started, 1e-6)
                self.progress(f"{self.label} {human_size(self.count)} ({human_size(rate)}/s)")
        elif not self._eof:
            self._eof = True
            # Lets the producer veto EOF (e.g. pg_dump exited non-zero) before the store commits.
            if self.on_eof:
                self.on_eof()
        return data

    @property
    def at_eof(self) -> bool:
        return self._eof

    @property
    def hexdigest(self) -> str:
        return self.sha.hexdigest()


def widen_pipe(pipe: IO[bytes], size: int = PIPE_SIZE) -> None:
    """Grow a pipe to ``size`` bytes (Linux; elsewhere, or if not allowed, it stays as it is).

    Linux pipes hold 64 KiB: pg_dump then sleeps every time pgdrill's reader falls 64 KiB behind,
    and the two wake each other thousands of times per second. With 1 MiB, bench/run's 1 GB
    backup went from 1.22x to 1.03x the time of a bare pg_dump -f (5 interleaved runs, 2 cores).
    """
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, size)  # type: ignore[attr-defined, unused-ignore]
    except (ImportError, AttributeError, OSError):
        pass


class StderrCollector:
    """Drains a subprocess's stderr in a thread so a chatty child never blocks on a full pipe."""

    def __init__(self, stream: IO[bytes], limit: int = 1 << 20) -> None:
        self.lines: list[str] = []
        self._size = 0
        self._limit = limit
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self._size < self._limit:
                self.lines.append(line)
                self._size += len(line)
        stream.close()

    def join(self, timeout: float | None = None) -> list[str]:
        self._thread.join(timeout)
        return self.lines
