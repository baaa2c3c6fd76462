"""Backup stores. ``open_store(url)`` picks the implementation from the URL's scheme."""

from __future__ import annotations

from urllib.parse import urlparse

from pgdrill.errors import ConfigError
from pgdrill.store.base import Incomplete, ObjectInfo, Readable, Store, Unsupported
from pgdrill.store.options import S3Options

__all__ = ["Incomplete", "ObjectInfo", "Readable", "S3Options", "Store", "Unsupported", "open_store"]


def open_store(url: str, s3_options: S3Options | None = None) -> Store:
    """``/path``, ``./path``, ``file:///path`` → LocalStore; ``s3://bucket/prefix`` → S3Store."""
    text = (url or "").strip()
    if not text:
        raise ConfigError("no store given", "pass --store ./backups or --store s3://bucket/prefix")
    if "://" not in text:
        from pgdrill.store.local import LocalStore

        return LocalStore(text)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        from pgdrill.store.local import LocalStore

        return LocalStore((parsed.netloc or "") + parsed.path)
    if parsed.scheme == "s3":
        from pgdrill.store.s3 import S3Store

        return S3Store(parsed.netloc, parsed.path.lstrip("/"), s3_options)
    if parsed.scheme == "memory":
        from pgdrill.store.memory import MemoryStore

        return MemoryStore(parsed.netloc)
    raise ConfigError(
        f"unknown store scheme '{parsed.scheme}://'", "use a folder path, file:///path or s3://bucket/prefix"
    )
