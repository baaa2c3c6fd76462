from datetime import datetime, timedelta, timezone

import pytest

from pgdrill import catalog
from pgdrill.errors import IntegrityError, NotFound
from pgdrill.manifest import Manifest, archive_key, manifest_key, new_id, parse
from pgdrill.store.memory import MemoryStore

T0 = datetime(2026, 11, 20, 3, 17, tzinfo=timezone.utc)


def make(backup_id: str, created: datetime, size: int = 10, tags: list[str] | None = None) -> Manifest:
    return Manifest(
        id=backup_id, created_at=created, finished_at=created + timedelta(seconds=5), database="shop",
        host="db", port=5432, size=size, sha256="0" * 64, object_key=archive_key(backup_id, False),
        tables={"public.t": 3}, server_version="16.4", pg_dump_version="16.4", pgdrill_version="0.1.0",
        tags=tags or [],
    )


def put(store: MemoryStore, m: Manifest, archive: bytes | None = None) -> None:
    store.put_bytes(m.object_key, archive if archive is not None else b"x" * m.size)
    store.put_bytes(manifest_key(m.id), m.to_json().encode())


def test_ids_sort_by_time_and_never_collide() -> None:
    ids = [new_id(T0 + timedelta(milliseconds=i)) for i in range(50)] + [new_id(T0) for _ in range(500)]
    assert len(set(ids)) == len(ids)
    assert sorted(ids[:50]) == ids[:50]
    assert new_id(T0) < new_id(T0 + timedelta(seconds=1))


def test_manifest_round_trip() -> None:
    m = make("a", T0, tags=["pre-deploy"])
    assert parse(m.to_json().encode(), "a") == m


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": "x"}', "invalid"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_manifests(data: bytes, fragment: str) -> None:
    with pytest.raises(IntegrityError, match=fragment):
        parse(data, "b1")


def test_catalog_lists_only_complete_backups() -> None:
    store = MemoryStore()
    good1, good2 = make("20261120T031700000Z-aaaa", T0), make("20261121T031700000Z-bbbb", T0 + timedelta(days=1))
    put(store, good1)
    put(store, good2)
    store.put_bytes("backups/20261122T000000000Z-cccc/archive.pgdump", b"partial")  # no manifest yet
    store.put_bytes(manifest_key("20261119T000000000Z-dddd"), b"{broken")  # not JSON
    missing = make("20261118T000000000Z-eeee", T0 - timedelta(days=2))
    store.put_bytes(manifest_key(missing.id), missing.to_json().encode())  # archive missing
    short = make("20261117T000000000Z-ffff", T0 - timedelta(days=3), size=100)
    put(store, short, archive=b"x" * 99)  # truncated
    cat = catalog.load(store)
    assert [b.id for b in cat.backups] == [good1.id, good2.id]
    assert cat.latest == good2
    reasons = {p.backup_id: p.reason for p in cat.problems}
    assert "not valid JSON" in reasons["20261119T000000000Z-dddd"]
    assert "missing" in reasons[missing.id]
    assert "99 bytes" in reasons[short.id]
    assert list(cat.pending) == ["20261122T000000000Z-cccc"]
    assert cat.find("latest") == good2
    assert cat.find("20261120") == good1
    with pytest.raises(IntegrityError):
        cat.find(short.id)
    with pytest.raises(NotFound):
        cat.find("2030")


def test_empty_store_has_no_latest() -> None:
    with pytest.raises(NotFound, match="no complete backup"):
        catalog.load(MemoryStore()).find("latest")
