"""An in-memory store for unit tests: same contract, no disk, no network."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import BinaryIO

from pgdrill.errors import NotFound, StoreMissing
from pgdrill.store.base import Incomplete, ObjectInfo, Readable, Store


class MemoryStore(Store):
    def __init__(self, name: str = "memory", *, exists: bool = True) -> None:
        self.url = f"memory://{name}"
        self.created = exists  # False: a store no backup has created yet (until check_writable)
        self._objects: dict[str, tuple[bytes, datetime]] = {}
        self._incomplete: dict[str, Incomplete] = {}
        self._lock = threading.Lock()

    def check_writable(self) -> None:
        self.created = True

    def _require(self) -> None:
        if not self.created:
            raise StoreMissing(f"store {self.url} does not exist",
                               "check --store (only `pgdrill backup` creates a store)")

    def put(self, key: str, source: Readable, *, expected_size: int | None = None) -> int:
        self.created = True
        buf = io.BytesIO()
        while True:
            chunk = source.read(1 << 16)
            if not chunk:
                break
            buf.write(chunk)
        data = buf.getvalue()
        with self._lock:
            self._objects[key] = (data, datetime.now(timezone.utc))
        return len(data)

    def open(self, key: str) -> BinaryIO:
        with self._lock:
            if key not in self._objects:
                raise NotFound(f"{key} not found in {self.url}")
            return io.BytesIO(self._objects[key][0])

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._require()
        with self._lock:
            items = sorted(self._objects.items())
        for key, (data, modified) in items:
            if key.startswith(prefix):
                yield ObjectInfo(key, len(data), modified)

    def stat(self, key: str) -> ObjectInfo | None:
        with self._lock:
            if key not in self._objects:
                return None
            data, modified = self._objects[key]
        return ObjectInfo(key, len(data), modified)

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def incomplete(self) -> Iterator[Incomplete]:
        self._require()
        with self._lock:
            yield from list(self._incomplete.values())

    def discard(self, upload: Incomplete) -> None:
        with self._lock:
            self._incomplete.pop(upload.handle, None)

    def set_modified(self, key: str, when: datetime) -> None:
        """Test helper: age an object."""
        with self._lock:
            data, _ = self._objects[key]
            self._objects[key] = (data, when)
