"""Small streaming pieces shared by the pipelines: hashing, byte counting, progress."""

from __future__ import annotations

import hashlib
import re
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


def progress_every(default: float = 5.0) -> float:
    """Seconds between progress lines: PGDRILL_PROGRESS_SECONDS (e.g. 30 for quieter CI logs), else 5."""
    import os

    try:
        value = float(os.environ.get("PGDRILL_PROGRESS_SECONDS", default))
    except ValueError:
        return default
    return value if value >= 0 else default


class HashingReader:
    """Wraps a reader: sha256 and byte count of everything read, progress every few seconds."""

    def __init__(self, source: Readable, progress: Progress | None = None, label: str = "",
                 every: float | None = None, on_eof: Callable[[], None] | None = None,
                 describe: Callable[[int, float], str] | None = None) -> None:
        self.source = source
        #: the progress line for (bytes so far, bytes per second); default: "<label> 12.3 MiB (4.5 MiB/s)"
        self.describe = describe
        self.sha = hashlib.sha256()
        self.count = 0
        self.progress = progress or _quiet
        self.label = label
        self.every = progress_every() if every is None else every
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
                self.progress(self.describe(self.count, rate) if self.describe else
                              f"{self.label} {human_size(self.count)} ({human_size(rate)}/s)")
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
    """Drains a subprocess's stderr in a thread so a chatty child never blocks on a full pipe.
    ``on_line`` sees every line first and may take it (return True): progress messages of a
    ``--verbose`` client are followed, not kept with the errors."""

    def __init__(self, stream: IO[bytes], limit: int = 1 << 20,
                 on_line: Callable[[str], bool] | None = None) -> None:
        self.on_line = on_line
        self.lines: list[str] = []
        self._size = 0
        self._limit = limit
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self.on_line is not None and self.on_line(line):
                continue
            if self._size < self._limit:
                self.lines.append(line)
                self._size += len(line)
        stream.close()

    def join(self, timeout: float | None = None) -> list[str]:
        self._thread.join(timeout)
        return self.lines


def verbose_info(tool: str) -> Callable[[str], str | None]:
    """For the stderr of ``tool --verbose``: the message of an information line ("pg_dump: dumping
    contents of table …"), None for anything else — errors, warnings and their details stay errors."""
    prefix = f"{tool}: "
    kept = ("error:", "warning:", "detail:", "hint:", "while ", "from TOC entry")

    def info(line: str) -> str | None:
        if not line.startswith(prefix):
            return None
        message = line[len(prefix):]
        return None if message.startswith(kept) else message

    return info


class DataProgress:
    """Progress of a dump or restore through its tables' data, said every few seconds: bytes of the
    total, tables of the TOC, and the table at work — from the client's ``--verbose`` lines."""

    def __init__(self, progress: Progress, verb: str, tool: str, *, total_bytes: int | None = None,
                 tables: dict[str, int] | None = None, table_count: int | None = None) -> None:
        self.progress = progress
        self.verb = verb
        self.info = verbose_info(tool)
        self.tool_prefix = f"{tool}: "
        self.total_bytes = total_bytes
        self.sizes = tables or {}  # schema.table → its size in the database (backup)
        self.table_count = table_count if table_count is not None else (len(self.sizes) or None)
        self.done: list[str] = []
        self._lock = threading.Lock()

    #: the verbose lines that name a table whose data starts; searched anywhere in a line because
    #: the workers of a parallel pg_restore share one stderr and their lines can run into each other
    _TABLE = re.compile(r'(?:processing data for table|dumping contents of table) "([^"]+)"')

    def on_line(self, line: str) -> bool:
        """Follow one stderr line; True when it was information (taken), False for anything else
        (errors, warnings, their details: kept for the error report)."""
        message = self.info(line)
        # an information line, or the tail of one that another worker's line broke into
        if message is not None or not line.startswith(self.tool_prefix):
            found = self._TABLE.findall(line)
            if found:
                with self._lock:
                    self.done.extend(t for t in found if t not in self.done)
        return message is not None

    def describe(self, count: int, rate: float) -> str:
        with self._lock:
            done = list(self.done)
        parts: list[str] = []
        if self.sizes:
            total = sum(self.sizes.values()) or 1
            # the tables before the one at work are finished
            finished = sum(self.sizes.get(t, 0) for t in done[:-1])
            parts.append(f"{100 * finished / total:.0f}% of {human_size(total)} of table data")
        elif self.total_bytes:
            parts.append(f"{human_size(count)} of {human_size(self.total_bytes)} "
                         f"({100 * count / self.total_bytes:.0f}%)")
        else:
            parts.append(human_size(count))
        if self.table_count:
            parts.append(f"table {min(len(done), self.table_count)} of {self.table_count}"
                         + (f" ({done[-1]})" if done else ""))
        if self.sizes:
            parts.append(f"{human_size(count)} written")
        return f"{self.verb}: " + ", ".join([*parts, f"{human_size(rate)}/s"])
