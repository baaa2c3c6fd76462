"""Who made a copy, and whether they are still around: the marker every restored copy carries.

A run killed outright (SIGKILL, the OOM killer, a runner cancelled past its grace period) cannot clean
up after itself. So every copy is marked when it is made — a scratch database by its name prefix and a
``COMMENT ON DATABASE``, a Neon branch by its name and ``expires_at``, a data directory by a marker
file — and the next run of the same source removes the copies whose owner is gone.

"Gone" is decided conservatively, because removing a copy that another run is still checking would
fail that run:

- a copy made on this host belongs to a process (pid and its start time, so a reused pid does not
  count): gone when that process no longer exists;
- a copy made elsewhere (another CI runner on a shared scratch server) cannot be checked: gone only
  once it has outlived ``expires_at`` — its maker's longest possible life (a GitHub-hosted job runs
  at most 6 hours);
- and either way only when older than a grace period, and never when kept on purpose (``--keep``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PREFIX = "pgdrill-copy:"
DEFAULT_TTL = 6 * 3600.0  # a GitHub-hosted job runs at most 6 hours
DEFAULT_GRACE = 300.0


def host_tag() -> str:
    """A short, stable name for this machine: the hostname's hash (names can be long or private)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def process_start(pid: int) -> int:
    """The process's start time in clock ticks since boot (Linux), 0 where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 overall
    except (IndexError, ValueError):
        return 0


def process_alive(pid: int, started: int = 0) -> bool:
    """Does process ``pid`` exist, and is it the one that started at ``started`` (when known)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return not started or process_start(pid) in (0, started)


@dataclass(frozen=True)
class Marker:
    """What a copy records about its maker."""

    host: str
    pid: int
    created_at: datetime
    expires_at: datetime
    started: int = 0  # the maker's process start time (ticks since boot), against pid reuse
    run: str | None = None  # the CI run that made it, for people reading the marker
    purpose: str = "drill"
    keep: bool = False

    @classmethod
    def new(cls, now: datetime, *, ttl: float = DEFAULT_TTL, run: str | None = None,
            purpose: str = "drill") -> Marker:
        pid = os.getpid()
        now = now.astimezone(timezone.utc)
        return cls(host_tag(), pid, now, now + timedelta(seconds=ttl), process_start(pid), run, purpose)

    def kept(self) -> Marker:
        return replace(self, keep=True)

    def mine(self) -> bool:
        """Made by this very process."""
        return self.host == host_tag() and self.pid == os.getpid()

    def owner_gone(self, now: datetime) -> bool:
        if self.host == host_tag():
            return not process_alive(self.pid, self.started)
        return now >= self.expires_at

    def orphaned(self, now: datetime, grace: float) -> bool:
        """Safe to remove: not kept, older than ``grace``, and its owner gone."""
        if self.keep or self.mine():
            return False
        if (now - self.created_at).total_seconds() < grace:
            return False
        return self.owner_gone(now)

    def describe(self) -> str:
        who = f"pid {self.pid} on host {self.host}" + (f", run {self.run}" if self.run else "")
        return f"made {self.created_at:%Y-%m-%d %H:%M:%S} UTC by {who}"

    # -- text form (database comments, marker files) ------------------------------------------
    def to_text(self) -> str:
        doc: dict[str, Any] = {"v": 1, "host": self.host, "pid": self.pid, "started": self.started,
                               "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "expires_at": self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "purpose": self.purpose, "keep": self.keep}
        if self.run:
            doc["run"] = self.run
        return PREFIX + json.dumps(doc, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_text(cls, text: str | None) -> Marker | None:
        """The marker in ``text``, None when there is none or it cannot be read."""
        if not text or not text.startswith(PREFIX):
            return None
        try:
            doc = json.loads(text[len(PREFIX):])
            return cls(str(doc["host"]), int(doc["pid"]), _ts(doc["created_at"]), _ts(doc["expires_at"]),
                       int(doc.get("started") or 0), doc.get("run"), str(doc.get("purpose") or "drill"),
                       bool(doc.get("keep")))
        except (ValueError, KeyError, TypeError):
            return None

    # -- in a name (for copies that carry no comment: Neon branches) ---------------------------
    def name_tag(self) -> str:
        """``h<host>-p<pid>``: enough to tell this host's dead makers from live ones."""
        return f"h{self.host}-p{self.pid}"


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(timezone.utc)


def parse_name_tag(name: str) -> tuple[str, int] | None:
    """(host, pid) from a name holding ``…-h<host>-p<pid>-…``, None when it has none."""
    parts = name.split("-")
    for a, b in itertools.pairwise(parts):
        if a.startswith("h") and len(a) == 9 and b.startswith("p") and b[1:].isdigit():
            return a[1:], int(b[1:])
    return None


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while cleaning up, so a second Ctrl-C or a CI cancel cannot leave a copy
    behind; they are delivered right after."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
