"""Case 6: two backups of the same database into the same store at the same moment, and a prune
running while both are still uploading.

Both backups must complete with distinct ids and verify; the prune must leave their in-progress
uploads (partial files, multipart uploads, archives whose manifest is not written yet) alone."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from pgdrill import catalog

from .conftest import Case
from .s3proxy import s3_proxy
from support.s3 import S3Server


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_two_backups_and_a_prune_at_once(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> None:
    case: Case = request.getfixturevalue(f"big_{kind}_case")
    with contextlib.ExitStack() as stack:
        env = {}
        if kind == "s3":
            # parts after the first go through a slow link, so both multipart uploads are surely
            # in flight together when the prune runs
            server: S3Server = request.getfixturevalue("s3_server")
            slow = [{"method": "PUT", "query": r"partNumber=[2-9]", "delay": 3, "times": -1}]
            proxy = stack.enter_context(s3_proxy(server.port, tmp_path / "proxy.log", slow))
            env = {"AWS_ENDPOINT_URL": proxy.endpoint}
        _backups_and_prune(case, env)


def _backups_and_prune(case: Case, env: dict[str, str]) -> None:
    args = ("--quiet", "backup", "--database-url", case.source.url.conninfo(), "--store", case.store_url, "--json")
    procs = [case.spawn(*args, env=env), case.spawn(*args, env=env)]

    def both_uploading() -> bool:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"a backup ended early: {p.communicate()}")
        # a partial file, or an S3 multipart upload, for each backup
        return len(list(case.store.incomplete())) == 2

    case.wait_for("both backups to be uploading", both_uploading)
    pruned = case.run("prune", "--store", case.store_url, "--keep-within", "3d", "--json")
    runs = [case.finish(p, args) for p in procs]
    assert pruned.code == 0, pruned.err
    doc = pruned.json()
    assert doc["removed"] == [] and doc["remove"] == 0
    # the prune saw the uploads in flight (so it ran concurrently with them), and kept them
    assert doc["incomplete"], "the prune saw no upload in progress"
    assert all(lo["action"].startswith("keep") for lo in doc["incomplete"]), doc["incomplete"]
    for r in runs:
        assert r.code == 0, r.err
        assert "pgdrill: error" not in r.err
    ids = sorted(r.json()["id"] for r in runs)
    assert ids[0] != ids[1]
    for backup_id in ids:
        v = case.run("--quiet", "verify", backup_id, "--store", case.store_url)
        assert v.code == 0, v.err
    assert [b.id for b in catalog.load(case.store).backups][2:] == ids
    case.assert_previous_intact(extra=2)
