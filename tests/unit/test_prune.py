"""The prune job against in-memory and local-folder stores (no network, no Postgres)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgdrill import catalog
from pgdrill.errors import CheckFailed, PgdrillError, StoreError
from pgdrill.manifest import manifest_key
from pgdrill.prune import PruneRequest, refusal, run_prune
from pgdrill.report.prune import render_json, render_markdown, render_text
from pgdrill.retention import Policy
from pgdrill.store.base import Store
from pgdrill.store.local import LocalStore
from pgdrill.store.memory import MemoryStore

from support.history import write_attempt, write_backup

UTC = timezone.utc
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def nightly(store: Store, days: int, end: datetime = NOW - timedelta(minutes=43)) -> list[str]:
    return [write_backup(store, end - i * DAY, size=1000 + i).id for i in reversed(range(days))]


def ids(store: Store) -> list[str]:
    return [m.id for m in catalog.load(store).backups]


def test_prune_removes_what_the_plan_removes_and_nothing_else() -> None:
    store = MemoryStore()
    all_ids = nightly(store, 10)
    result = run_prune(PruneRequest(store, Policy(keep_last=3), now=NOW))
    assert result.deleted == all_ids[:7]
    assert ids(store) == all_ids[7:]
    # nothing of a removed backup is left behind
    assert [o.key for o in store.list("backups/") if any(i in o.key for i in all_ids[:7])] == []
    assert result.freed_bytes == sum(1000 + i for i in range(3, 10))


def test_dry_run_touches_nothing_and_returns_the_plan() -> None:
    store = MemoryStore()
    all_ids = nightly(store, 6)
    before = [(o.key, o.size) for o in store.list()]
    result = run_prune(PruneRequest(store, Policy(keep_last=2), dry_run=True, now=NOW))
    assert [(o.key, o.size) for o in store.list()] == before
    assert result.deleted == []
    assert [m.id for m in result.to_remove] == all_ids[:4]
    assert [d.action for d in result.decisions] == ["remove"] * 4 + ["keep"] * 2


def test_refuses_after_a_failed_backup_attempt() -> None:
    store = MemoryStore()
    nightly(store, 5)
    write_attempt(store, NOW - timedelta(minutes=30), error="pg_dump: error: connection refused")
    before = [o.key for o in store.list()]
    with pytest.raises(CheckFailed) as err:
        run_prune(PruneRequest(store, Policy(keep_last=1), now=NOW))
    assert err.value.exit_code == 1
    assert "newest backup attempt failed" in err.value.message
    assert "connection refused" in err.value.message
    assert [o.key for o in store.list()] == before


def test_failed_attempt_older_than_the_newest_backup_does_not_block() -> None:
    store = MemoryStore()
    write_attempt(store, NOW - 3 * DAY)
    all_ids = nightly(store, 5)
    result = run_prune(PruneRequest(store, Policy(keep_last=1), now=NOW))
    assert result.deleted == all_ids[:4]


def test_force_prunes_despite_a_failed_attempt_and_says_so() -> None:
    store = MemoryStore()
    all_ids = nightly(store, 4)
    write_attempt(store, NOW - timedelta(minutes=5))
    result = run_prune(PruneRequest(store, Policy(keep_last=1), force=True, now=NOW))
    assert result.forced is not None and "failed" in result.forced
    assert ids(store) == all_ids[-1:]


def test_dry_run_reports_the_refusal_instead_of_raising() -> None:
    store = MemoryStore()
    nightly(store, 4)
    write_attempt(store, NOW - timedelta(minutes=5))
    result = run_prune(PruneRequest(store, Policy(keep_last=1), dry_run=True, now=NOW))
    assert result.blocked is not None and "failed" in result.blocked
    assert "REFUSED without --force" in render_text(result)
    assert render_json(result)["blocked"] == result.blocked


def test_refuses_when_the_newest_backup_is_older_than_max_age() -> None:
    store = MemoryStore()
    nightly(store, 5, end=NOW - 3 * DAY)
    with pytest.raises(CheckFailed, match=r"older than the max age 26\.0h"):
        run_prune(PruneRequest(store, Policy(keep_last=1), max_age=timedelta(hours=26), now=NOW))
    assert len(ids(store)) == 5
    # a fresh enough backup: fine
    run_prune(PruneRequest(store, Policy(keep_last=1), max_age=timedelta(days=4), now=NOW))
    assert len(ids(store)) == 1


def test_refusal_is_pure() -> None:
    store = MemoryStore()
    assert refusal(catalog.load(store), [], NOW, timedelta(hours=1)) is None  # nothing to protect
    write_attempt(store, NOW - DAY)
    assert refusal(catalog.load(store), catalog.failed_attempts(store), NOW, None) is not None


class RecordingStore(MemoryStore):
    """Records deletes; optionally fails deleting archives (a store dying mid-prune)."""

    def __init__(self, fail_archive_delete: bool = False) -> None:
        super().__init__()
        self.deleted: list[str] = []
        self.fail_archive_delete = fail_archive_delete

    def delete(self, key: str) -> None:
        if self.fail_archive_delete and "archive" in key:
            raise StoreError(f"cannot delete {key}: connection reset")
        self.deleted.append(key)
        super().delete(key)


def test_manifest_is_deleted_before_the_archive() -> None:
    store = RecordingStore()
    doomed = nightly(store, 3)[0]
    run_prune(PruneRequest(store, Policy(keep_last=2), now=NOW))
    keys = [k for k in store.deleted if doomed in k]
    assert keys[0] == manifest_key(doomed)
    assert any("archive" in k for k in keys[1:])


def test_half_deleted_backup_is_never_listed_and_is_cleaned_later() -> None:
    store = RecordingStore(fail_archive_delete=True)
    all_ids = nightly(store, 3)
    with pytest.raises(StoreError):
        run_prune(PruneRequest(store, Policy(keep_last=2), now=NOW))
    cat = catalog.load(store)
    assert [m.id for m in cat.backups] == all_ids[1:]
    assert all_ids[0] in cat.pending  # an orphan archive, not a backup
    # the next run, the store healthy again, finds it as an old upload without a manifest and removes it
    store.fail_archive_delete = False
    for obj in cat.pending[all_ids[0]]:
        store.set_modified(obj.key, NOW - 2 * DAY)
    result = run_prune(PruneRequest(store, Policy(keep_last=2), now=NOW))
    assert [(lo.kind, lo.remove) for lo in result.leftovers] == [("no-manifest", True)]
    assert all_ids[0] not in catalog.load(store).pending
    assert ids(store) == all_ids[1:]


def test_incomplete_uploads_older_than_a_day_are_removed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    kept = nightly(store, 2)
    old_partial = tmp_path / "store" / "backups" / "20261117T031700000Z-aaaaaaaaaaaa" / "archive.pgdump.partial-1a2b3c"
    new_partial = tmp_path / "store" / "backups" / "20261120T031700000Z-bbbbbbbbbbbb" / "archive.pgdump.partial-4d5e6f"
    orphan = tmp_path / "store" / "backups" / "20261116T031700000Z-cccccccccccc" / "archive.pgdump"
    fresh_orphan = tmp_path / "store" / "backups" / "20261120T035000000Z-dddddddddddd" / "archive.pgdump"
    for path in (old_partial, new_partial, orphan, fresh_orphan):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    two_days_ago = (NOW - 2 * DAY).timestamp()
    os.utime(old_partial, (two_days_ago, two_days_ago))
    os.utime(orphan, (two_days_ago, two_days_ago))
    for path in (new_partial, fresh_orphan):
        os.utime(path, (NOW.timestamp() - 600, NOW.timestamp() - 600))

    dry = run_prune(PruneRequest(store, Policy(keep_last=5), dry_run=True, now=NOW))
    assert {(lo.kind, lo.remove) for lo in dry.leftovers} == {
        ("upload", True), ("upload", False), ("no-manifest", True), ("no-manifest", False)}
    assert old_partial.exists() and orphan.exists()

    run_prune(PruneRequest(store, Policy(keep_last=5), now=NOW))
    assert not old_partial.exists() and not orphan.exists()
    assert new_partial.exists() and fresh_orphan.exists()  # may still be uploading
    assert ids(store) == kept


def test_unreadable_manifests_are_left_alone() -> None:
    store = MemoryStore()
    all_ids = nightly(store, 3)
    store.put_bytes(manifest_key(all_ids[0]), b"{not json")
    result = run_prune(PruneRequest(store, Policy(keep_last=1), now=NOW))
    assert [p.backup_id for p in result.problems] == [all_ids[0]]
    assert store.exists(manifest_key(all_ids[0]))
    assert result.deleted == [all_ids[1]]


def test_empty_policy_removes_nothing() -> None:
    store = MemoryStore()
    all_ids = nightly(store, 4)
    result = run_prune(PruneRequest(store, Policy(), now=NOW))
    assert result.deleted == [] and ids(store) == all_ids


def test_newest_is_never_deleted_even_if_the_plan_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from pgdrill import prune
    from pgdrill.retention import Decision

    store = MemoryStore()
    nightly(store, 2)

    def bad_plan(backups, policy, now):  # type: ignore[no-untyped-def]
        return [Decision(b, False, ("bug",)) for b in backups]

    monkeypatch.setattr(prune, "plan", bad_plan)
    with pytest.raises(PgdrillError, match="would remove the newest backup"):
        run_prune(PruneRequest(store, Policy(keep_last=1), now=NOW))
    assert len(ids(store)) == 2


def test_renderers_show_every_backup_with_action_and_reason() -> None:
    store = MemoryStore("prod")
    nightly(store, 4)
    write_backup(store, NOW - timedelta(hours=2), tags=["pre-deploy"], size=999, n=1)
    result = run_prune(PruneRequest(store, Policy(keep_last=2, keep_tags={"pre-deploy": 1}), dry_run=True, now=NOW))
    text = render_text(result)
    assert "plan (dry run) for memory://prod: keep 2 last, 1 tagged pre-deploy" in text
    assert text.count("\nremove ") == 3 and text.count("\nkeep ") == 2
    assert "tag pre-deploy #1" in text and "3 would remove" in text
    md = render_markdown(result)
    assert md.startswith("### 🧹 pgdrill prune plan (dry run)")
    assert md.count("| 🗑️ remove |") == 3 and md.count("| ✅ keep |") == 2
    doc = render_json(result)
    assert doc["remove"] == 3 and doc["keep"] == 2 and doc["dry_run"] is True
    assert [b["action"] for b in doc["backups"]] == ["remove", "remove", "remove", "keep", "keep"]
    assert doc["would_free_bytes"] == 1003 + 1002 + 1001 and doc["freed_bytes"] == 0



def test_outcome_for_the_publisher() -> None:
    from pgdrill.report.prune import to_outcome

    store = MemoryStore("prod")
    nightly(store, 5)
    write_attempt(store, NOW - timedelta(minutes=5))
    dry = run_prune(PruneRequest(store, Policy(keep_last=2), dry_run=True, now=NOW))
    o = to_outcome(dry, "production")
    assert o.job == "prune" and o.passed and o.environment == "production"
    assert o.outputs == {"passed": "true", "dry-run": "true", "kept": "2", "removed": "0", "would-remove": "3"}
    assert o.warnings and o.warnings[0].startswith("a real run would refuse: the newest backup attempt failed")
    assert o.title == "prune (dry run) of memory://prod: 2 kept, 3 would remove"
