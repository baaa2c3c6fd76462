"""Verify a stored backup: size and sha256 against its manifest, and pg_restore can read its TOC."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pgdrill.catalog import load as load_catalog
from pgdrill.errors import IntegrityError
from pgdrill.manifest import Manifest
from pgdrill.pg import binaries
from pgdrill.restore import check_stored, open_archive, read_header
from pgdrill.secrets import Secret
from pgdrill.store.base import Store
from pgdrill.streams import CHUNK, Progress


@dataclass(frozen=True)
class VerifyResult:
    manifest: Manifest
    bytes_read: int
    sha256: str
    toc_entries: int
    pg_restore_version: str
    duration_seconds: float
    warnings: list[str] = field(default_factory=list)


def run_verify(store: Store, ref: str, identities: Sequence[Secret] = (),
               progress: Progress | None = None, manifest: Manifest | None = None) -> VerifyResult:
    warnings: list[str] = []
    if manifest is None:
        cat = load_catalog(store)
        m = cat.find(ref)
        if ref in ("latest", ""):
            # `latest` resolves to the newest complete backup: say which newer ones did not count.
            warnings = cat.skipped_newer(m)
    else:
        m = manifest
    t0 = time.monotonic()
    with open_archive(store, m, identities) as (_, peek):
        header = read_header(peek, m)
    client = binaries.for_restore(header.pg_dump_major, None)
    with open_archive(store, m, identities, progress) as (stored, peek):
        proc = subprocess.Popen([client.tool("pg_restore"), "--list"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        # pg_restore --list reads only the TOC; keep reading past it so every byte is hashed.
        import threading

        out_chunks: list[bytes] = []
        reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        feeding = True
        while chunk := peek.read(CHUNK):
            if feeding:
                try:
                    proc.stdin.write(chunk)
                except BrokenPipeError:
                    feeding = False
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        reader.join()
        err = proc.stderr.read() if proc.stderr else b""
        rc = proc.wait()
    check_stored(m, stored)
    if rc != 0:
        raise IntegrityError(
            f"backup {m.id} matches its checksum but pg_restore cannot read it: "
            f"{err.decode(errors='replace').strip().splitlines()[-1:] or rc}"
        )
    toc = b"".join(out_chunks).decode("utf-8", "replace")
    entries = sum(1 for ln in toc.splitlines() if ln and not ln.startswith(";"))
    return VerifyResult(m, stored.count, stored.hexdigest, entries, client.version,
                        round(time.monotonic() - t0, 3), warnings)
