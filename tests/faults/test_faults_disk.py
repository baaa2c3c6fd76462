"""Case 5: a local store on a full filesystem.

Mechanism: a real tmpfs of a few MiB mounted for the test (``mount -t tmpfs -o size=…``, needs root
— the case is skipped with the reason when mounting is not allowed). The store's two good backups are
copied onto it, then a ballast file fills it so that either the archive or, precisely, only the
manifest no longer fits — the moment the backup commits."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgdrill import catalog
from pgdrill.store import open_store

from .conftest import Case

PAGE = 4096


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _pages(n: int) -> int:
    return -(-n // PAGE) * PAGE


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mnt)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {out.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def _fill(mnt: Path, leave: int) -> None:
    """Fill the filesystem until exactly ``leave`` bytes (whole pages) stay free."""
    ballast = mnt / "ballast"
    with open(ballast, "wb") as f:
        f.write(b"\0" * max(0, _free(mnt) - leave))
        f.flush()
        os.fsync(f.fileno())
    assert _free(mnt) == leave, (_free(mnt), leave)


@pytest.mark.parametrize("what_no_longer_fits", ["archive", "manifest"])
def test_full_filesystem(local_case: Case, tmpfs: Path, what_no_longer_fits: str) -> None:
    case = local_case
    store_dir = tmpfs / "store"
    original = case.store_url
    shutil.copytree(case.store_url, store_dir)
    case.store_url = str(store_dir)
    case.__dict__.pop("store", None)  # re-open on the tmpfs
    # The same database dumps to the same size as the previous backup, give or take a few bytes.
    archive = _pages(case.previous.size + 512)
    # "manifest": the archive and the roles file (one page) fit, the manifest written after them does not
    room = PAGE * 2 if what_no_longer_fits == "archive" else archive + _pages(case.previous.roles.size)  # type: ignore[union-attr]
    _fill(tmpfs, room)
    r = case.run("backup", "--database-url", case.source.url.conninfo(), "--store", case.store_url)
    name = "archive.pgdump" if what_no_longer_fits == "archive" else "manifest.json"
    case.assert_failed_cleanly(r, 3, name, "no space left on device", "free space or use another store")
    assert list(case.store.incomplete()) == [], "a partial file was left behind"
    (tmpfs / "ballast").unlink()
    case.assert_prune_refuses()
    assert catalog.load(open_store(str(store_dir))).latest == case.previous
    # The tmpfs is gone before the case's teardown scans its store for secrets: scan it now.
    for obj in case.store.list(""):
        case.scanner.add(f"{store_dir}/{obj.key}", case.store.get_bytes(obj.key).decode("latin-1"))
    case.store_url = original
    case.__dict__.pop("store", None)
