"""Property tests: whatever a store or a pgdrill.yml holds, the manifest parser, the catalog and the
retention planner either work or raise pgdrill's own error — never an unhandled exception."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pgdrill import catalog
from pgdrill.config import Config
from pgdrill.errors import ConfigError, IntegrityError
from pgdrill.manifest import Manifest, manifest_key, parse
from pgdrill.retention import Policy, plan
from pgdrill.store.memory import MemoryStore

VALID: dict[str, Any] = {
    "manifest_version": 1,
    "id": "20260101T000000000Z-0123456789ab",
    "created_at": "2026-01-01T00:00:00+00:00",
    "finished_at": "2026-01-01T00:01:00+00:00",
    "database": "app",
    "host": "db.example",
    "port": 5432,
    "size": 10,
    "sha256": "0" * 64,
    "object_key": "backups/20260101T000000000Z-0123456789ab/archive.pgdump",
    "tables": {"public.t": 3},
    "server_version": "16.4",
    "pg_dump_version": "16.4",
    "pgdrill_version": "0.1.0",
    "tags": ["nightly"],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)

# Values that look like what the fields hold, at and past their edges.
edgy = st.one_of(
    json_values,
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "2026-01-01T00:00:00",
                     "16", "", "x.y", "99999999999999999999.1", "-1", "1e400", "NaN", "16beta1", "۱۶.۲"]),
    st.integers(min_value=-(2**70), max_value=2**70),
)


def _check(m: Manifest) -> None:
    """Everything callers use on a parsed manifest works on it."""
    m.to_json()
    m.summary()
    _ = m.total_rows, m.encrypted, m.server_major
    assert parse(m.to_json().encode(), "again") == m


@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    try:
        _check(parse(data, "fuzz"))
    except IntegrityError as exc:
        assert "fuzz" in exc.message


@given(json_values)
def test_arbitrary_json(doc: Any) -> None:
    with contextlib.suppress(IntegrityError):
        _check(parse(json.dumps(doc).encode(), "fuzz"))


@given(st.dictionaries(st.sampled_from(sorted(VALID)), edgy, max_size=5), st.sets(st.sampled_from(sorted(VALID))))
def test_valid_manifest_with_fields_changed_or_dropped(changes: dict[str, Any], dropped: set[str]) -> None:
    doc = {k: v for k, v in {**VALID, **changes}.items() if k not in dropped}
    try:
        m = parse(json.dumps(doc).encode(), "fuzz")
    except IntegrityError as exc:
        assert exc.message.startswith("manifest fuzz ")
        return
    _check(m)
    assert m.created_at.tzinfo is not None


@pytest.mark.parametrize("depth", [10, 1000, 100_000])
def test_deep_nesting(depth: int) -> None:
    with pytest.raises(IntegrityError):
        parse(b"[" * depth + b"]" * depth, "deep")
    with pytest.raises(IntegrityError):
        parse(b'{"id": ' + b"[" * depth + b"]" * depth + b"}", "deep")


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                          st.dictionaries(st.sampled_from(sorted(VALID)), edgy, max_size=3).map(
                              lambda c: json.dumps({**VALID, **c}).encode())), max_size=5))
def test_catalog_of_random_manifests(manifests: list[bytes]) -> None:
    """A store full of broken manifests lists what is sound and names every problem."""
    store = MemoryStore()
    for n, data in enumerate(manifests):
        bid = f"20260101T00000{n}000Z-0123456789ab"
        store.put_bytes(manifest_key(bid), data)
        store.put_bytes(f"backups/{bid}/archive.pgdump", b"x" * 10)
    cat = catalog.load(store)
    assert len(cat.backups) + len(cat.problems) == len(manifests)
    for m in cat.backups:
        _check(m)
    for p in cat.problems:
        with pytest.raises(IntegrityError, match=p.backup_id):
            cat.find(p.backup_id)


def _backup(n: int, at: datetime, tags: list[str]) -> Manifest:
    return Manifest.model_validate({**VALID, "id": f"b{n:04d}", "created_at": at, "finished_at": at,
                                    "tags": tags})


policy_docs = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly",
                         "keep_within", "keep_tags", "keep_lats"]),
        st.one_of(edgy, st.sampled_from(["all", "7d", "36h", "2w", "-1", "0", "1e9d", "-3d", "7 days"]),
                  st.dictionaries(st.text(max_size=6), st.one_of(edgy, st.sampled_from(["all", "30d", "3"])),
                                  max_size=2)),
        max_size=4,
    ),
)


@settings(max_examples=200)
@given(doc=policy_docs,
       times=st.lists(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                                   timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-11)),
                                                              timezone(timedelta(hours=13, minutes=45))])),
                      max_size=12),
       tags=st.lists(st.lists(st.sampled_from(["nightly", "pre-deploy", "x"]), max_size=2), min_size=12, max_size=12),
       now=st.datetimes(timezones=st.just(timezone.utc)))
def test_retention_from_any_config_section(doc: Any, times: list[datetime], tags: list[list[str]],
                                           now: datetime) -> None:
    """pgdrill.yml's `retention:` section, whatever it holds, is a ConfigError or a policy whose plan
    covers every backup once and keeps the newest."""
    cfg = Config(Path("pgdrill.yml"), {"retention": doc})
    try:
        policy = cfg.section("retention", Policy)
    except ConfigError as exc:
        assert "pgdrill.yml" in exc.message
        return
    backups = [_backup(n, t, tags[n]) for n, t in enumerate(times)]
    assume(len({(b.created_at, b.id) for b in backups}) == len(backups))
    decisions = plan(backups, policy, now)
    assert sorted(d.backup.id for d in decisions) == sorted(b.id for b in backups)
    if backups:
        newest = max(backups, key=lambda b: (b.created_at, b.id))
        assert next(d for d in decisions if d.backup.id == newest.id).keep
        assert all(d.reasons for d in decisions)
