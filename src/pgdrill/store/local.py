"""A store in a local folder. Writes go to a temp file in the same folder, fsync, then rename."""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from pgdrill.errors import NotFound, StoreError, StoreMissing
from pgdrill.store.base import Incomplete, ObjectInfo, Readable, Store

CHUNK = 1 << 20
_PARTIAL = ".partial-"


def _os_error(action: str, path: Path, exc: OSError) -> StoreError:
    if exc.errno == errno.ENOSPC:
        return StoreError(f"{action} {path}: no space left on device", "free space or use another store")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreError(f"{action} {path}: permission denied", "check the folder's permissions")
    return StoreError(f"{action} {path}: {exc.strerror or exc}")


class LocalStore(Store):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        parts = [p for p in key.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise StoreError(f"invalid store key {key!r}")
        return self.root.joinpath(*parts)

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error("cannot create store folder", self.root, exc) from None
        if not os.access(self.root, os.W_OK):
            raise StoreError(f"store folder {self.root} is not writable", "check its permissions")

    def put(self, key: str, source: Readable, *, expected_size: int | None = None) -> int:
        path = self._path(key)
        tmp = path.with_name(f"{path.name}{_PARTIAL}{uuid.uuid4().hex[:12]}")
        written = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "xb") as out:
                while True:
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _os_error("cannot write", path, exc) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return written

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{key} not found in {self.url}") from None
        except OSError as exc:
            raise _os_error("cannot read", path, exc) from None

    def require(self) -> None:
        """The store folder exists (see Store: only a backup creates it)."""
        if self.root.is_dir():
            return
        if self.root.exists():
            raise StoreMissing(f"store {self.root} is a file, not a store folder",
                               "check --store (only `pgdrill backup` creates a store)")
        raise StoreMissing(f"store {self.root} does not exist", "check --store (only `pgdrill backup` creates a store)")

    def _walk(self, prefix: str) -> Iterator[Path]:
        self.require()
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                yield Path(dirpath) / name

    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found = []
        for path in self._walk(prefix):
            if _PARTIAL in path.name:
                continue
            key = self._key(path)
            if not key.startswith(prefix):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            found.append(ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc)))
        yield from sorted(found, key=lambda o: o.key)

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise _os_error("cannot stat", path, exc) from None
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc))

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError as exc:
            raise _os_error("cannot delete", path, exc) from None
        # Drop folders emptied by the delete so a pruned backup leaves nothing behind.
        parent = path.parent
        while parent != self.root and parent.is_dir():
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def incomplete(self) -> Iterator[Incomplete]:
        for path in self._walk(""):
            if _PARTIAL in path.name:
                try:
                    started = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
                except FileNotFoundError:
                    continue
                key = self._key(path).split(_PARTIAL)[0]
                yield Incomplete(key, started, str(path))

    def discard(self, upload: Incomplete) -> None:
        Path(upload.handle).unlink(missing_ok=True)
