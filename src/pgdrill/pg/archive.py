"""Read the header of a pg_dump custom-format archive (which pg_dump wrote it, for which server)."""

from __future__ import annotations

import re
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
    r.byte()  # offset size
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
    return ArchiveHeader(version, dbname, server_version, pg_dump_version, fmt)
