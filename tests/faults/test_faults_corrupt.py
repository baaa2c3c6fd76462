"""Case 3: a stored backup goes bad after the fact — truncated, one byte flipped, archive deleted,
manifest missing, manifest not JSON, manifest pointing at a missing object.

The newest backup (taken for real, uncompressed so a flipped byte stays valid COPY text that only the
checksum can catch) is damaged; the previous one must stay listed and restorable. ``list`` skips
what it can tell is broken with a warning; ``verify``, ``restore`` and ``drill`` of the broken backup
fail with exit 1 naming it and never put its data into a database; ``latest`` falls back to the
previous backup and says which newer one it skipped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from pgdrill.manifest import archive_key, manifest_key
from pgdrill.pg import stats

from .conftest import Case


def _newest(case: Case) -> str:
    r = case.run("--quiet", "backup", "--database-url", case.source.url.conninfo(), "--store", case.store_url,
                 "--compress", "0", "--json")
    assert r.code == 0, r.err
    return str(r.json()["id"])


def _flip_one_byte(data: bytes) -> bytes:
    """Change one hex digit of the events payload: same size, still valid COPY text."""
    at = len(data) // 2
    while data[at:at + 1] not in (b"0", b"1"):
        at += 1
    return data[:at] + (b"1" if data[at:at + 1] == b"0" else b"0") + data[at + 1:]


def truncate(case: Case, bid: str) -> None:
    key = archive_key(bid, False)
    data = case.store.get_bytes(key)
    case.store.put_bytes(key, data[: len(data) // 2])


def flip(case: Case, bid: str) -> None:
    key = archive_key(bid, False)
    case.store.put_bytes(key, _flip_one_byte(case.store.get_bytes(key)))


def delete_archive(case: Case, bid: str) -> None:
    case.store.delete(archive_key(bid, False))


def delete_manifest(case: Case, bid: str) -> None:
    case.store.delete(manifest_key(bid))


def garble_manifest(case: Case, bid: str) -> None:
    case.store.put_bytes(manifest_key(bid), b'{"id": "' + bid.encode() + b'", "size": 12\x00\xff')


def repoint_manifest(case: Case, bid: str) -> None:
    doc = json.loads(case.store.get_bytes(manifest_key(bid)))
    doc["object_key"] = f"backups/{bid}/archive-moved.pgdump"
    case.store.put_bytes(manifest_key(bid), json.dumps(doc).encode())


Damage = Callable[[Case, str], None]

#: damage → (what `list` says about it, or None when only reading the archive can tell; why verify fails)
CASES: dict[str, tuple[Damage, str | None, str]] = {
    "truncated": (truncate, "manifest says", "manifest says"),
    "flipped": (flip, None, "is corrupt"),
    "archive deleted": (delete_archive, "is missing", "is missing"),
    "manifest missing": (delete_manifest, "no manifest", "no manifest"),
    "manifest not JSON": (garble_manifest, "not valid JSON", "not valid JSON"),
    "manifest points nowhere": (repoint_manifest, "archive-moved.pgdump is missing", "is missing"),
}


def _target_tables(case: Case, url_text: str) -> int:
    with psycopg.connect(url_text) as conn:
        return stats.user_table_count(conn)


#: What depends on the store (bytes, sizes, presence) runs on both stores; damage to the manifest's
#: content is the same JSON to the catalog whichever store it came from, so it runs on local only.
PARAMS = [
    pytest.param("s3" if on_s3 else "local", damage, id=f"{'s3' if on_s3 else 'local'}-{damage}")
    for on_s3 in (False, True) for damage in CASES
    if not on_s3 or damage in ("truncated", "flipped", "archive deleted")
]


@pytest.mark.parametrize(("kind", "damage"), PARAMS)
def test_damaged_newest_backup(request: pytest.FixtureRequest, kind: str, damage: str) -> None:
    case: Case = request.getfixturevalue(f"{kind}_case")
    hurt, listed_as, verify_says = CASES[damage]
    bid = _newest(case)
    hurt(case, bid)
    left = {bid} if damage == "manifest missing" else set()

    listing = case.run("list", "--store", case.store_url, "--json")
    assert listing.code == 0, listing.err
    ids = [b["id"] for b in listing.json()["backups"]]
    if listed_as is None:
        assert ids == [case.older.id, case.previous.id, bid]  # same size: only reading the bytes can tell
    else:
        assert ids == [case.older.id, case.previous.id]
        warnings = [ln for ln in listing.err.splitlines() if ln.startswith("pgdrill: warning:")]
        assert len(warnings) == 1 and bid in warnings[0] and listed_as in warnings[0], listing.err

    r = case.run("verify", bid, "--store", case.store_url)
    line = case.assert_failed_cleanly(r, 1, f"backup {bid}", verify_says, new_ok=listed_as is None, restore=False,
                                     pending=left)
    assert "older backup" in line

    # `latest` never restores the broken backup: it is either refused (can't tell it is broken
    # without reading it) or skipped with a warning naming it
    latest = case.run("--quiet", "verify", "latest", "--store", case.store_url, "--json")
    if listed_as is None:
        case.assert_failed_cleanly(latest, 1, f"backup {bid}", "is corrupt", new_ok=1, restore=False)
    else:
        assert latest.code == 0 and latest.json()["id"] == case.previous.id, latest.err
        assert any(bid in ln and "skipped" in ln for ln in latest.err.splitlines()), latest.err

    target = case.pg.create_database()
    try:
        for extra in ((), ("--no-verify",), ("--jobs", "2")):
            r = case.run("restore", bid, "--store", case.store_url, "--target-url", target.conninfo(), *extra)
            case.assert_failed_cleanly(r, 1, f"backup {bid}", new_ok=listed_as is None, restore=False, pending=left)
            # never garbage in the target: not when told to skip the read-through, not with parallel jobs
            assert _target_tables(case, target.conninfo()) == 0, f"restore {' '.join(extra)} wrote into the target"
    finally:
        case.pg.drop_database(target.dbname)
    case.assert_previous_intact(extra=listed_as is None, pending=left)


@pytest.mark.parametrize("damage", ["flipped", "archive deleted"])
def test_drill_of_a_damaged_backup_fails_naming_it(local_case: Case, damage: str, tmp_path: Path) -> None:
    case = local_case
    hurt, listed_as, _ = CASES[damage]
    bid = _newest(case)
    hurt(case, bid)
    prefix = f"f_drill_{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "cfg" / "pgdrill.yml"
    cfg.parent.mkdir()
    cfg.write_text(f"drill:\n  scratch_prefix: {prefix}\n")
    admin = case.pg.admin_url.conninfo()

    r = case.run("--config", str(cfg), "drill", "--backup", bid, "--store", case.store_url, "--scratch-url", admin)
    case.assert_failed_cleanly(r, 1, bid, new_ok=listed_as is None, restore=False)
    assert not [d for d in case.pg.databases() if d.startswith(prefix)], "scratch database left behind"

    r = case.run("--config", str(cfg), "drill", "--store", case.store_url, "--scratch-url", admin, "--json")
    if listed_as is None:
        # the newest backup looks complete: the drill restores it, the checksum fails the drill
        case.assert_failed_cleanly(r, 1, bid, new_ok=1, restore=False)
    else:
        assert r.code == 0, r.err
        assert r.json()["backup_id"] == case.previous.id
        assert any(bid in ln and "skipped" in ln for ln in r.err.splitlines()), r.err
    assert not [d for d in case.pg.databases() if d.startswith(prefix)], "scratch database left behind"
    case.assert_previous_intact(extra=listed_as is None)
