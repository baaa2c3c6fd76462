"""Streaming decompression for plain SQL dumps compressed by the tools cron scripts pipe into:
gzip and bzip2 (the standard library), zstd (the standard library from Python 3.14, its backport
before) and lz4 (the ``lz4`` package's frame format, what the ``lz4`` command writes).

Why libraries and not the ``zstd``/``lz4`` commands: the commands are not on every runner image, and
in-process readers say exactly how a stream is broken — a truncated stream raises at its end instead
of looking like a short dump. Every reader here turns such trouble into one
:class:`~pgdrill.errors.IntegrityError` naming the archive.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
from typing import Any, Literal, cast

from pgdrill.errors import IntegrityError, PgdrillError
from pgdrill.store.base import Readable

Compression = Literal["none", "gzip", "bzip2", "zstd", "lz4"]

MAGIC: dict[Compression, bytes] = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",
    "zstd": b"\x28\xb5\x2f\xfd",
    "lz4": b"\x04\x22\x4d\x18",
}

#: recognised so the error can name them, never read
UNSUPPORTED = {b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip", b"7z\xbc\xaf\x27\x1c": "7z",
               b"\x02\x21\x4c\x18": "lz4 legacy", b"\x5d\x00\x00": "lzma"}


def compression_of(head: bytes) -> Compression:
    for name, magic in MAGIC.items():
        if head.startswith(magic):
            return name
    return "none"


def unsupported_of(head: bytes) -> str | None:
    return next((name for magic, name in UNSUPPORTED.items() if head.startswith(magic)), None)


def _zstd_file(raw: Readable) -> Any:
    try:
        from compression import zstd  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # Python < 3.14
        from backports import zstd  # type: ignore[no-redef, unused-ignore]
    return zstd.ZstdFile(raw, "rb")


def _lz4_file(raw: Readable) -> Any:
    import lz4.frame

    return lz4.frame.LZ4FrameFile(raw, "rb")


class Decompressed:
    """Reads the plain bytes of a compressed stream; any decoding trouble is an IntegrityError."""

    def __init__(self, raw: Readable, compression: Compression, what: str) -> None:
        self.compression = compression
        self.what = what
        self.raw = raw
        self.count = 0  # plain bytes read
        self._file: Any
        if compression == "gzip":
            self._file = gzip.GzipFile(fileobj=cast(Any, raw), mode="rb")
        elif compression == "bzip2":
            self._file = bz2.BZ2File(cast(Any, raw), "rb")
        elif compression == "zstd":
            self._file = _zstd_file(raw)
        elif compression == "lz4":
            self._file = _lz4_file(raw)
        else:
            self._file = raw

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._file.read(size)
        except EOFError:
            raise IntegrityError(f"{self.what} is truncated: its {self.compression} stream ends before its "
                                 f"end marker, after {self.count} bytes of SQL",
                                 "the upload or the dump was cut short; drill an older archive") from None
        except PgdrillError:
            raise  # the store failing to read says nothing about the data
        except Exception as exc:  # zlib.error, OSError (bad CRC), ZstdError, lz4's RuntimeError, …
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IntegrityError(f"{self.what} is corrupt: its {self.compression} data cannot be decoded after "
                                 f"{self.count} bytes ({detail})", "drill an older archive") from None
        self.count += len(data)
        return data

    def close(self) -> None:
        if self._file is not self.raw:
            # closing a broken stream must not hide why it broke
            with contextlib.suppress(Exception):
                self._file.close()
