"""What an archive is, from its first bytes — never from its name (runbook 003 writes ``pg_dump -Fc``
output into a file called ``.sql``).

- ``PGDMP`` with format byte 1: pg_dump's custom format (``-Fc``);
- a tar whose first member is ``toc.dat`` (``-Ft``);
- a folder or prefix holding ``toc.dat`` (``-Fd``), sniffed from that file;
- plain SQL (``-Fp``, the default), as text or compressed with gzip, bzip2, zstd or lz4 — the
  compressed stream is sniffed again, so ``pg_dump -Fc | gzip`` is a custom archive inside gzip.

Anything else is an :class:`~pgdrill.errors.IntegrityError` with one line saying what it looks like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pgdrill.archives.readers import Compression, Decompressed, compression_of, unsupported_of
from pgdrill.errors import IntegrityError
from pgdrill.pg.archive import CUSTOM, DIRECTORY, MAGIC, TAR, ArchiveHeader, parse_header
from pgdrill.store.base import Readable

Format = Literal["custom", "tar", "directory", "plain"]
HEAD = 64 * 1024

SUPPORTED = ("pgdrill reads pg_dump's custom, tar and directory formats and plain SQL, as is or compressed "
             "with gzip, zstd, lz4 or bzip2")

_SQL_START = re.compile(
    rb"^(?:SET|SELECT|CREATE|ALTER|COMMENT|COPY|INSERT|BEGIN|START|DROP|GRANT|REVOKE|DO|CALL|WITH|UPDATE|"
    rb"DELETE|TRUNCATE|COMMIT|ROLLBACK|LOCK|VACUUM|ANALYZE|REFRESH|SECURITY|\\[a-z]+)\b",
    re.IGNORECASE,
)
_DUMPED_FROM = re.compile(rb"^-- Dumped from database version (\S+)", re.MULTILINE)
_DUMPED_BY = re.compile(rb"^-- Dumped by pg_dump version (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Sniffed:
    format: Format
    compression: Compression = "none"  # around the whole file (custom's own compression is pg_restore's)
    header: ArchiveHeader | None = None  # custom, tar, directory
    pg_dump_version: str = ""
    server_version: str = ""
    database: str = ""
    pg_dump_script: bool = False  # plain SQL that says it was written by pg_dump (so it must end like one)

    @property
    def dump_major(self) -> int:
        m = re.match(r"(\d+)", self.pg_dump_version)
        return int(m.group(1)) if m else 0

    def describe(self) -> str:
        what = {"custom": "custom-format archive", "tar": "tar-format archive",
                "directory": "directory-format dump", "plain": "plain SQL"}[self.format]
        if self.compression != "none":
            what += f", {self.compression}-compressed"
        by = f"pg_dump {self.pg_dump_version}" if self.pg_dump_version else ""
        src = f"PostgreSQL {self.server_version}" if self.server_version else ""
        extra = ", ".join(x for x in (by, f"of {src}" if src else "") if x)
        return what + (f" ({extra})" if extra else "")


def _printable(head: bytes) -> str:
    shown = head[:16]
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in shown)


def _pg_header(data: bytes, what: str, formats: tuple[int, ...]) -> ArchiveHeader:
    try:
        return parse_header(data, formats)
    except IntegrityError as exc:
        raise IntegrityError(f"{what} starts like a pg_dump archive but its header is unreadable: {exc.message}",
                             "the file is damaged; drill an older archive") from None


def _tar_member(head: bytes) -> str | None:
    """The first member's name when ``head`` is a tar (ustar) file."""
    if len(head) >= 512 and head[257:262] == b"ustar":
        return head[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
    return None


def _plain(text: bytes, compression: Compression, what: str, complete: bool) -> Sniffed:
    if b"\0" in text:
        raise IntegrityError(f"{what} is neither a pg_dump archive nor SQL text (binary data starting "
                             f"'{_printable(text)}')", SUPPORTED)
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    if b"-- PostgreSQL database cluster dump" in text[:4096]:
        raise IntegrityError(f"{what} is a pg_dumpall cluster dump (several databases and roles)",
                             "drill a pg_dump of one database (pg_dump -d NAME)")
    first = next((ln.strip() for ln in text.splitlines()
                  if ln.strip() and not ln.strip().startswith(b"--")), None)
    if first is None:
        if complete or len(text) < HEAD:
            raise IntegrityError(f"{what} holds no SQL statement" + (" (it is empty)" if not text.strip() else ""),
                                 "the dump failed when it was made: check the script that writes it")
    elif not _SQL_START.match(first) and not first.startswith(b"/*"):
        raise IntegrityError(f"{what} is neither a pg_dump archive nor SQL: it starts with "
                             f"'{_printable(first)}'", SUPPORTED)
    by = _DUMPED_BY.search(text[:8192])
    src = _DUMPED_FROM.search(text[:8192])
    return Sniffed("plain", compression, None, by.group(1).decode() if by else "",
                   src.group(1).decode() if src else "", "",
                   pg_dump_script=b"-- PostgreSQL database dump" in text[:4096])


def _read_head(reader: Readable, n: int = HEAD) -> tuple[bytes, bool]:
    """Up to ``n`` bytes, and whether the stream ended within them."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = reader.read(n - got)
        if not chunk:
            return b"".join(parts), True
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts), False


def sniff_bytes(head: bytes, what: str, reader_rest: Readable | None = None, ended: bool = True) -> Sniffed:
    """Sniff from the file's first bytes. A compressed file is decompressed from ``head`` plus
    ``reader_rest`` (the rest of the stream) until its own head is known."""
    if not head:
        raise IntegrityError(f"{what} is empty (0 bytes)", "the dump failed when it was made: check the script "
                                                            "that writes it")
    compression = compression_of(head)
    if compression != "none":
        stream = _Joined(head, reader_rest)
        plain = Decompressed(stream, compression, what)
        inner, inner_ended = _read_head(plain)
        if not inner:
            raise IntegrityError(f"{what} is an empty {compression} stream (0 bytes of SQL)",
                                 "the dump failed when it was made: `pg_dump … | gzip` hides pg_dump's exit code; "
                                 "use `set -o pipefail`")
        s = _sniff_plain_bytes(inner, what, inner_ended, compression)
        return s
    return _sniff_plain_bytes(head, what, ended, "none")


def _sniff_plain_bytes(head: bytes, what: str, ended: bool, compression: Compression) -> Sniffed:
    if head.startswith(MAGIC):
        h = _pg_header(head, what, (CUSTOM, TAR, DIRECTORY))
        if h.format != CUSTOM:
            raise IntegrityError(f"{what} is the toc.dat of a directory-format dump, not a whole dump",
                                 "point --archives at the dump's folder")
        return Sniffed("custom", compression, h, h.pg_dump_version, h.server_version, h.dbname)
    member = _tar_member(head)
    if member is not None:
        if member != "toc.dat":
            raise IntegrityError(f"{what} is a tar file but not a pg_dump tar archive (its first member is "
                                 f"'{member}', not toc.dat)", SUPPORTED)
        h = _pg_header(head[512:], what, (TAR, DIRECTORY))
        return Sniffed("tar", compression, h, h.pg_dump_version, h.server_version, h.dbname)
    other = unsupported_of(head)
    if other is not None:
        raise IntegrityError(f"{what} is {other}-compressed, which pgdrill does not read", SUPPORTED)
    return _plain(head, compression, what, ended)


def sniff_directory(toc_head: bytes, what: str) -> Sniffed:
    """A folder's toc.dat must carry a directory-format header."""
    if not toc_head.startswith(MAGIC):
        raise IntegrityError(f"{what} holds a toc.dat that is not a pg_dump TOC (it starts "
                             f"'{_printable(toc_head)}')", "the dump is damaged; drill an older archive")
    # pg_dump writes the tar format's byte into a directory dump's toc.dat too (both are 3).
    h = _pg_header(toc_head, what, (TAR, DIRECTORY))
    return Sniffed("directory", "none", h, h.pg_dump_version, h.server_version, h.dbname)


def sniff(reader: Readable, what: str) -> Sniffed:
    """Sniff an open stream (reads a little of it; the caller closes it)."""
    head, ended = _read_head(reader)
    return sniff_bytes(head, what, reader, ended)


class _Joined:
    """``head`` then the rest of the stream, as one reader."""

    def __init__(self, head: bytes, rest: Readable | None) -> None:
        self.head = head
        self.rest = rest

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0 or size >= len(self.head):
                data, self.head = self.head, b""
            else:
                data, self.head = self.head[:size], self.head[size:]
            return data
        return self.rest.read(size) if self.rest is not None else b""
