"""Read the header of a pg_dump custom-format archive (which pg_dump wrote it, for which server)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pgdrill.errors import IntegrityError

MAGIC = b"PGDMP"
HEADER_PEEK = 4096
#: the header's format byte (pg_backup.h ArchiveFormat)
CUSTOM, TAR, DIRECTORY = 1, 3, 5


@dataclass(frozen=True)
class ArchiveHeader:
    format_version: tuple[int, int, int]
    dbname: str
    server_version: str
    pg_dump_version: str
    format: int = CUSTOM
    int_size: int = 4
    offset_size: int = 8
    toc_start: int = 0  # where the TOC begins, right after the header

    @property
    def pg_dump_major(self) -> int:
        return _major(self.pg_dump_version)

    @property
    def server_major(self) -> int:
        return _major(self.server_version)


def _major(version: str) -> int:
    m = re.match(r"(\d+)", version)
    return int(m.group(1)) if m else 0


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.int_size = 4

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise IntegrityError("archive header is truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def read_int(self) -> int:
        sign = self.byte()
        value = 0
        for i in range(self.int_size):
            value |= self.byte() << (8 * i)
        return -value if sign else value

    def read_str(self) -> str:
        n = self.read_int()
        if n < 0:
            return ""
        if n > 1024 or self.pos + n > len(self.data):
            raise IntegrityError("archive header has an implausible string")
        s = self.data[self.pos : self.pos + n]
        self.pos += n
        return s.decode("utf-8", "replace")


def parse_header(data: bytes, formats: tuple[int, ...] = (CUSTOM,)) -> ArchiveHeader:
    """Parse the first bytes of a -Fc archive (pg_backup_archiver.c: WriteHead/ReadHead); ``formats``
    also accepts the same header at the start of a tar or directory dump's toc.dat."""
    if not data.startswith(MAGIC):
        raise IntegrityError("not a pg_dump custom-format archive (no PGDMP signature)")
    r = _Reader(data)
    r.pos = len(MAGIC)
    vmaj, vmin, vrev = r.byte(), r.byte(), r.byte()
    version = (vmaj, vmin, vrev)
    r.int_size = r.byte()
    if r.int_size not in (4, 8):
        raise IntegrityError(f"archive header has an unsupported int size {r.int_size}")
    offset_size = r.byte()
    fmt = r.byte()
    if fmt not in formats:
        raise IntegrityError(f"archive is not in custom format (format byte {fmt})")
    if version >= (1, 15, 0):
        r.byte()  # compression algorithm
    elif version >= (1, 4, 0):
        r.read_int()  # compression level
    else:
        r.byte()
    if version >= (1, 4, 0):
        for _ in range(7):
            r.read_int()  # creation time fields
        dbname = r.read_str()
    else:
        dbname = ""
    server_version = pg_dump_version = ""
    if version >= (1, 10, 0):
        server_version = r.read_str()
        pg_dump_version = r.read_str()
    return ArchiveHeader(version, dbname, server_version, pg_dump_version, fmt, r.int_size, offset_size, r.pos)


@dataclass(frozen=True)
class TocEntry:
    dump_id: int
    desc: str  # "TABLE", "TABLE DATA", "INDEX", …
    namespace: str
    tag: str  # the object's name


class _StreamReader(_Reader):
    """The header's reader over a stream: bytes are pulled as the TOC needs them (a TOC can be
    megabytes; the archive behind it gigabytes)."""

    def __init__(self, data: bytes, more: Callable[[int], bytes], int_size: int, pos: int) -> None:
        super().__init__(data)
        self.more = more
        self.int_size = int_size
        self.pos = pos

    def _need(self, n: int) -> None:
        while self.pos + n > len(self.data):
            chunk = self.more(max(n, 1 << 16))
            if not chunk:
                raise IntegrityError("archive TOC is truncated")
            self.data += chunk

    def byte(self) -> int:
        self._need(1)
        return super().byte()

    def read_str(self) -> str:
        n = self.read_int()
        if n < 0:
            return ""
        self._need(n)
        s = self.data[self.pos : self.pos + n]
        self.pos += n
        return s.decode("utf-8", "replace")

    def read_opt_str(self) -> str | None:
        n = self.read_int()
        if n < 0:
            return None
        self._need(n)
        self.pos += n
        return ""


def read_toc(head: bytes, header: ArchiveHeader, more: Callable[[int], bytes]) -> list[TocEntry]:
    """The table of contents of a custom-format archive (pg_backup_archiver.c: ReadToc, and the custom
    format's _ReadExtraToc), from ``head`` (the bytes read so far, from the start) and ``more(n)``
    for the rest. Archive versions 1.12 (PostgreSQL 9.5) and later."""
    version = header.format_version
    if header.format != CUSTOM:
        raise IntegrityError("only a custom-format archive's TOC is read here")
    if version < (1, 12, 0):
        raise IntegrityError(f"archive format {'.'.join(map(str, version))} is too old to read its TOC")
    r = _StreamReader(head, more, header.int_size, header.toc_start)
    count = r.read_int()
    if not 0 <= count <= 10_000_000:
        raise IntegrityError("archive TOC has an implausible entry count")
    entries = []
    for _ in range(count):
        dump_id = r.read_int()
        r.read_int()  # had a data dumper
        r.read_str()  # table oid
        r.read_str()  # oid
        tag = r.read_str()
        desc = r.read_str()
        r.read_int()  # section
        for _field in range(3):  # defn, dropStmt, copyStmt
            r.read_opt_str()
        namespace = r.read_str()
        r.read_opt_str()  # tablespace
        if version >= (1, 14, 0):
            r.read_opt_str()  # table access method
        if version >= (1, 16, 0):
            r.read_int()  # relkind
        r.read_opt_str()  # owner
        r.read_opt_str()  # "with oids" (always false now)
        while r.read_opt_str() is not None:  # dependencies, ended by a NULL string
            pass
        r._need(1 + header.offset_size)  # the data offset: a flag byte and the offset
        r.pos += 1 + header.offset_size
        entries.append(TocEntry(dump_id, desc, namespace, tag))
    return entries
