"""One contract, every Store: memory, local folder, and a real S3-compatible server."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from pgdrill.errors import NotFound, StoreMissing
from pgdrill.store import Store, open_store
from pgdrill.store.memory import MemoryStore

from support.s3 import S3Server


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "local":
        yield open_store(str(tmp_path / "store"))
    else:
        yield open_store(str(request.getfixturevalue("s3_store_url")))


class Exploding:
    """A source that fails after some bytes, like pg_dump dying mid-dump."""

    def __init__(self, good: int) -> None:
        self.left = good

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise RuntimeError("source died")
        n = min(self.left, size if size > 0 else 1 << 20, 1 << 20)
        self.left -= n
        return b"x" * n


def test_put_open_stat_delete(store: Store) -> None:
    data = bytes(range(256)) * 5000
    assert store.put("a/b/object.bin", io.BytesIO(data), expected_size=len(data)) == len(data)
    info = store.stat("a/b/object.bin")
    assert info is not None and info.size == len(data) and info.key == "a/b/object.bin"
    with store.open("a/b/object.bin") as f:
        assert f.read() == data
    store.delete("a/b/object.bin")
    assert store.stat("a/b/object.bin") is None
    store.delete("a/b/object.bin")  # deleting twice is fine


def test_missing_object(store: Store) -> None:
    assert store.stat("nope") is None
    with pytest.raises(NotFound):
        store.open("nope")


def test_list_is_sorted_and_prefixed(store: Store) -> None:
    for key in ("backups/2/m.json", "backups/1/m.json", "drills/x.json", "backupsX/y"):
        store.put_bytes(key, b"{}")
    assert [o.key for o in store.list("backups/")] == ["backups/1/m.json", "backups/2/m.json"]
    assert len(list(store.list(""))) == 4


def test_overwrite_replaces_whole_object(store: Store) -> None:
    store.put_bytes("k", b"long content here")
    store.put_bytes("k", b"short")
    assert store.get_bytes("k") == b"short"


def test_failed_put_leaves_nothing(store: Store) -> None:
    store.put_bytes("attempts/a.json", b"{}")  # the store exists (a backup created it)
    with pytest.raises(RuntimeError, match="source died"):
        store.put("backups/x/archive.pgdump", Exploding(20 << 20), expected_size=40 << 20)
    assert store.stat("backups/x/archive.pgdump") is None
    assert list(store.list("backups/")) == []
    assert list(store.incomplete()) == []


def test_large_multipart_object_streams(store: Store) -> None:
    size = (8 << 20) * 3 + 12345  # three full S3 parts and a tail
    chunk = bytes(range(256)) * 4096

    class Gen:
        def __init__(self) -> None:
            self.sent = 0

        def read(self, n: int = -1) -> bytes:
            want = min(size - self.sent, len(chunk) if n < 0 else min(n, len(chunk)))
            self.sent += want
            return chunk[:want]

    assert store.put("big", Gen(), expected_size=size) == size
    assert store.stat("big").size == size  # type: ignore[union-attr]
    total = 0
    with store.open("big") as f:
        while data := f.read(1 << 20):
            total += len(data)
    assert total == size


def test_s3_lists_past_one_page(s3_env: S3Server) -> None:
    bucket = s3_env.create_bucket()
    client = s3_env.client()
    for i in range(1003):
        client.put_object(Bucket=bucket, Key=f"p/backups/{i:05d}/manifest.json", Body=b"{}")
    store = open_store(f"s3://{bucket}/p")
    keys = [o.key for o in store.list("backups/")]
    assert len(keys) == 1003 and keys[-1] == "backups/01002/manifest.json"


def test_s3_missing_bucket_is_clear(s3_env: S3Server) -> None:
    with pytest.raises(StoreMissing, match="bucket no-such-bucket does not exist"):
        open_store("s3://no-such-bucket/x").check_writable()


@pytest.fixture(params=["memory", "local-missing", "local-file", "s3-no-bucket", "s3-empty-prefix"])
def missing(request: pytest.FixtureRequest, tmp_path) -> Store:  # type: ignore[no-untyped-def]
    """A store no backup created: every kind of "not there"."""
    kind = request.param
    if kind == "memory":
        return MemoryStore(exists=False)
    if kind == "local-missing":
        return open_store(str(tmp_path / "nope" / "store"))
    if kind == "local-file":
        (tmp_path / "passwd").write_text("root:x:0:0\n")
        return open_store(str(tmp_path / "passwd"))
    s3: S3Server = request.getfixturevalue("s3_env")
    if kind == "s3-no-bucket":
        return open_store("s3://pgdrill-no-such-bucket/prod")
    return open_store(f"s3://{s3.create_bucket()}/prod")


def test_a_store_that_does_not_exist_is_an_error(missing: Store) -> None:
    """Only a backup creates a store: reading one that is not there is StoreMissing (exit 2), never
    "no backups"."""
    with pytest.raises(StoreMissing) as exc:
        list(missing.list("backups/"))
    assert exc.value.exit_code == 2 and ("does not exist" in exc.value.message or "not a store" in exc.value.message)
    with pytest.raises(StoreMissing):
        list(missing.incomplete())
    assert missing.stat("backups/x/manifest.json") is None
    with pytest.raises((NotFound, StoreMissing)):  # both exit 2
        missing.open("backups/x/manifest.json")


@pytest.mark.parametrize("kind", ["memory", "local", "s3"])
def test_a_backup_creates_the_store(kind: str, tmp_path, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    if kind == "memory":
        store: Store = MemoryStore(exists=False)
    elif kind == "local":
        store = open_store(str(tmp_path / "new" / "store"))
    else:
        s3: S3Server = request.getfixturevalue("s3_env")
        store = open_store(f"s3://{s3.create_bucket()}/prod")
    store.check_writable()
    store.put_bytes("backups/1/manifest.json", b"{}")
    assert [o.key for o in store.list("backups/")] == ["backups/1/manifest.json"]
    assert list(store.list("drills/")) == []  # an existing store with nothing there yet
    assert list(store.incomplete()) == []
