"""An archive set: the dumps a pattern matches in a local folder or under an S3 prefix, oldest first.

Read-only by construction: a :class:`Location` can list, stat and open — nothing else. pgdrill never
writes, renames or deletes where a team's own scripts keep their dumps; drill records go to a
``--store`` when one is given.

A folder (or prefix) holding ``toc.dat`` is one archive, a directory-format dump: it is in the set
when the pattern matches the folder or any of its files, and its files are never archives of their
own. Listing S3 follows every page (buckets with thousands of objects).
"""

from __future__ import annotations

import abc
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pgdrill.archives.names import TimeSource, archive_time
from pgdrill.archives.pattern import Pattern, parse
from pgdrill.errors import ConfigError, NotFound, StoreError
from pgdrill.store.base import ObjectInfo

if TYPE_CHECKING:
    from pgdrill.store.s3 import S3Store

TOC = "toc.dat"


class Location(abc.ABC):
    """Where a set's files are: list and open, never write."""

    pattern: Pattern

    @abc.abstractmethod
    def entries(self) -> Iterator[ObjectInfo]:
        """Files below the root (keys relative to it) that the pattern could reach."""

    @abc.abstractmethod
    def open(self, rel: str) -> BinaryIO:
        """Stream one file. Raises NotFound when it is gone."""

    def local_path(self, rel: str) -> Path | None:
        """The file or folder on this machine (local sets), for tools that need a path."""
        return None


class LocalFolder(Location):
    def __init__(self, pattern: Pattern) -> None:
        self.pattern = pattern
        self.root = Path(pattern.root)

    def entries(self) -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            raise ConfigError(f"--archives {self.pattern.text}: folder {self.root} does not exist",
                              "check the path (it is relative to the current directory)")
        # Deep enough for the glob, plus one level for a directory-format dump's files.
        limit = None if self.pattern.depth is None else self.pattern.depth + 1
        base = len(self.root.parts)
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            level = len(Path(dirpath).parts) - base
            if limit is not None and level + 1 >= limit:
                dirnames[:] = []
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except OSError:
                    continue  # removed meanwhile, or a dangling link
                rel = path.relative_to(self.root).as_posix()
                found.append(ObjectInfo(rel, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc)))
        yield from sorted(found, key=lambda o: o.key)

    def open(self, rel: str) -> BinaryIO:
        path = self.root / rel
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"archive {path} no longer exists", "list the set again (`pgdrill list --archives …`)") \
                from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None

    def local_path(self, rel: str) -> Path | None:
        return self.root / rel if rel else self.root


class S3Prefix(Location):
    """Objects under a prefix, through the S3 store's client (endpoint from AWS_ENDPOINT_URL, retries)."""

    def __init__(self, pattern: Pattern, store: S3Store | None = None) -> None:
        from pgdrill.store.s3 import S3Store

        self.pattern = pattern
        # Only the store's read operations are ever called: list, open.
        self._store = store or S3Store(pattern.bucket, "")

    def entries(self) -> Iterator[ObjectInfo]:
        root = self.pattern.root
        for obj in self._store.list(self.pattern.listing_prefix):
            if obj.key.endswith("/"):
                continue  # a console-made "folder" marker
            yield ObjectInfo(obj.key[len(root):], obj.size, obj.modified)

    def open(self, rel: str) -> BinaryIO:
        return self._store.open(self.pattern.root + rel)


def location_for(pattern: Pattern) -> Location:
    return S3Prefix(pattern) if pattern.scheme == "s3" else LocalFolder(pattern)


@dataclass(frozen=True)
class Archive:
    """One dump of the set: a file, or a directory-format dump's folder (``members``)."""

    name: str  # relative to the set's root: what `list` shows and --archive accepts
    url: str  # the full location: s3://bucket/db/2025/10/app-20251025.dump, /srv/backups/app.sql.gz
    size: int  # bytes (a directory's: all its files)
    modified: datetime
    time: datetime  # when it was made: from the name, else the modification time
    time_source: TimeSource
    members: tuple[ObjectInfo, ...] = ()  # a directory-format dump's files (relative to the root)

    @property
    def directory(self) -> bool:
        return bool(self.members)

    @property
    def basename(self) -> str:
        return self.name.rstrip("/").rsplit("/", 1)[-1]


def _parent(key: str) -> str:
    return key.rpartition("/")[0]


def _archive(pattern: Pattern, name: str, size: int, modified: datetime,
             members: tuple[ObjectInfo, ...] = ()) -> Archive:
    written = f"{pattern.root_text.rstrip('/')}/{name}" if pattern.root_text not in ("", ".") else name
    when, source = archive_time(written, modified)
    return Archive(name, pattern.url(name), size, modified, when, source, members)


def collect(pattern: Pattern, entries: Iterable[ObjectInfo]) -> list[Archive]:
    """The archives among ``entries`` (keys relative to the root), oldest first."""
    files = list(entries)
    in_folder: dict[str, list[ObjectInfo]] = defaultdict(list)
    for f in files:
        in_folder[_parent(f.key)].append(f)
    dumps = {_parent(f.key) for f in files if f.key.rsplit("/", 1)[-1] == TOC and _parent(f.key)}
    out: list[Archive] = []
    for folder in sorted(dumps):
        members = tuple(sorted(in_folder[folder], key=lambda o: o.key))
        if pattern.matches(folder) or any(pattern.matches(m.key) for m in members):
            out.append(_archive(pattern, folder, sum(m.size for m in members), max(m.modified for m in members),
                                members))
    for f in files:
        if _parent(f.key) in dumps:
            continue  # a file of a directory-format dump
        if any(f.key.startswith(d + "/") for d in dumps if d):
            continue  # below one: not an archive either
        if pattern.matches(f.key):
            out.append(_archive(pattern, f.key, f.size, f.modified))
    out.sort(key=lambda a: (a.time, a.modified, a.name))
    return out


@dataclass
class ArchiveSet:
    """The archives a pattern matches, oldest first (read once, by :meth:`load`)."""

    pattern: Pattern
    location: Location
    archives: list[Archive] = field(default_factory=list)

    @classmethod
    def load(cls, text: str, location: Location | None = None) -> ArchiveSet:
        pattern = parse(text)
        loc = location or location_for(pattern)
        return cls(pattern, loc, collect(pattern, loc.entries()))

    @property
    def text(self) -> str:
        return self.pattern.text

    @property
    def latest(self) -> Archive | None:
        return self.archives[-1] if self.archives else None

    def require(self) -> None:
        """A pattern that matches nothing is a mistake in the pattern, and says so (exit 2)."""
        if not self.archives:
            raise ConfigError(f"--archives {self.text} matches no archive",
                              "check the pattern: * and ? stay within one folder, ** crosses folders; "
                              "quote it so the shell does not expand it")

    def find(self, ref: str) -> Archive:
        """``latest``, a name as `list` shows it, a full URL or path, or a unique file name."""
        self.require()
        if ref in ("", "latest"):
            assert self.latest is not None
            return self.latest
        wanted = ref.rstrip("/")
        tests: list[Callable[[Archive], bool]] = [
            lambda a: a.name == wanted, lambda a: a.url.rstrip("/") == wanted,
            lambda a: a.basename == wanted, lambda a: a.name.endswith("/" + wanted)]
        for test in tests:
            hits = [a for a in self.archives if test(a)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise NotFound(f"archive {ref!r} is ambiguous in {self.text} ({len(hits)} match)",
                               "give its name as `pgdrill list --archives …` shows it")
        raise NotFound(f"no archive {ref!r} in {self.text}", "see `pgdrill list --archives …`")

    def open(self, archive: Archive, rel: str | None = None) -> BinaryIO:
        return self.location.open(rel if rel is not None else archive.name)
