"""The Store interface: a handful of operations every backend implements the same way.

Keys are relative, '/'-separated paths. ``put`` is atomic: a reader never sees half an object,
and a failed ``put`` leaves nothing visible behind (an S3 multipart upload is aborted; a local
temp file is removed). What could not be cleaned up shows in ``incomplete()`` for prune.

A store exists once a backup created it: only :meth:`Store.check_writable` (the backup's first step)
creates one. ``list`` and ``incomplete`` on a store that does not exist — no such folder, a file, no
such bucket, a prefix with nothing under it — raise :class:`~pgdrill.errors.StoreMissing` (exit 2),
so a typo in ``--store`` never reads as "no backups". Every command that reads a store lists it first.

A store that cannot list unfinished uploads at all (some S3-compatible servers answer
ListMultipartUploads with 501) raises :class:`Unsupported` from ``incomplete``/``discard``; callers
carry on without that sweep, saying so.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol


class Unsupported(Exception):
    """The store does not implement this operation (HTTP 501/405 from an S3-compatible server)."""


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Incomplete:
    """An upload that never finished (S3 multipart upload, local temp file)."""

    key: str
    started: datetime
    handle: str


class Store(abc.ABC):
    """Where backups live. Implementations: local folder, S3 (and compatible), memory (tests)."""

    #: what to show the user; never contains credentials
    url: str

    @abc.abstractmethod
    def put(self, key: str, source: Readable, *, expected_size: int | None = None) -> int:
        """Stream ``source`` to ``key`` until EOF; return bytes written. Atomic; cleans up on error."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open an object for streaming reads. Raises NotFound if it does not exist."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every complete object under ``prefix``, in key order, across all pages. Raises StoreMissing
        when the store itself does not exist."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo | None: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""

    @abc.abstractmethod
    def incomplete(self) -> Iterator[Incomplete]:
        """Uploads that started but never completed. Raises StoreMissing when the store does not exist,
        Unsupported when the store cannot list them."""

    @abc.abstractmethod
    def discard(self, upload: Incomplete) -> None:
        """Remove an incomplete upload (Unsupported when the store cannot)."""

    def put_bytes(self, key: str, data: bytes) -> None:
        import io

        self.put(key, io.BytesIO(data), expected_size=len(data))

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def probe_write(self, key: str) -> None:
        """Show that a ``put`` to ``key`` is accepted, leaving nothing behind (``pgdrill check``). The
        default writes an empty object and deletes it; S3 starts a multipart upload and aborts it, so
        the write-only credentials of a backup role (no delete) can be checked without a trace."""
        self.put_bytes(key, b"")
        self.delete(key)

    def check_writable(self) -> None:  # noqa: B027 - optional hook
        """Fail early (StoreError/ConfigError) when the store cannot be used at all; create the store
        when it does not exist yet (a folder; an S3 bucket is never created). Only backups call it."""
