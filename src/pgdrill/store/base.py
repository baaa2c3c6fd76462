"""The Store interface: a handful of operations every backend implements the same way.

Keys are relative, '/'-separated paths. ``put`` is atomic: a reader never sees half an object,
and a failed ``put`` leaves nothing visible behind (an S3 multipart upload is aborted; a local
temp file is removed). What could not be cleaned up shows in ``incomplete()`` for prune.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol


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
        """Every complete object under ``prefix``, in key order, across all pages."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo | None: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""

    @abc.abstractmethod
    def incomplete(self) -> Iterator[Incomplete]:
        """Uploads that started but never completed."""

    @abc.abstractmethod
    def discard(self, upload: Incomplete) -> None:
        """Remove an incomplete upload."""

    def put_bytes(self, key: str, data: bytes) -> None:
        import io

        self.put(key, io.BytesIO(data), expected_size=len(data))

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def check_writable(self) -> None:  # noqa: B027 - optional hook
        """Fail early (StoreError/ConfigError) when the store cannot be used at all."""
