"""--jobs auto: the runner's cores when the archive's temporary copy fits in the free space, else 1."""

from __future__ import annotations

import shutil
from collections import namedtuple

import pytest

from pgdrill.pg import parallel

Usage = namedtuple("Usage", "total used free")
GiB = 1 << 30


def test_cores_and_room(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "cores", lambda: 4)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(100 * GiB, 50 * GiB, 50 * GiB))
    jobs, why = parallel.auto_jobs(1 * GiB, "/scratch")
    assert jobs == 4 and why == "restored with 4 parallel jobs (4 cores; the archive's copy fits in /scratch)"


def test_no_room_means_one_job_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(10 * GiB, 9 * GiB, 1 * GiB))
    jobs, why = parallel.auto_jobs(1 * GiB, "/tmp")
    assert jobs == 1
    assert why == ("restored with 1 job: the archive's temporary copy (1.0 GiB) does not fit in the 1.0 GiB free in "
                   "/tmp (set TMPDIR to a bigger disk for a parallel restore)")


def test_one_core_means_one_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    assert parallel.auto_jobs(1, "/tmp") == (1, "restored with 1 job: one CPU core")


def test_cores_respects_the_affinity_mask() -> None:
    import os

    assert parallel.cores() == len(os.sched_getaffinity(0))
