"""Pure parts of the point-in-time jobs: --at parsing, the window check, FK ordering, table names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pgdrill.errors import ConfigError
from pgdrill.providers.base import RestoreWindow
from pgdrill.sources.instants import check_window, parse_at
from pgdrill.table_restore import fk_order, split_table

UTC = timezone.utc
NOW = datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC)
WEEK = RestoreWindow(NOW - timedelta(days=7), 7 * 86400.0, "history retention 7 days of Neon project p")


def test_at_accepts_timestamps_with_a_zone_and_latest() -> None:
    assert parse_at("2026-11-20T14:29:45Z") == datetime(2026, 11, 20, 14, 29, 45, tzinfo=UTC)
    assert parse_at("2026-11-20T15:29:45+01:00") == datetime(2026, 11, 20, 14, 29, 45, tzinfo=UTC)
    assert parse_at("2026-11-20 14:29:45Z") == datetime(2026, 11, 20, 14, 29, 45, tzinfo=UTC)
    assert parse_at("latest") is None and parse_at(None) is None and parse_at("") is None
    with pytest.raises(ConfigError, match="no time zone"):
        parse_at("2026-11-20T14:29:45")
    with pytest.raises(ConfigError, match="not a timestamp"):
        parse_at("yesterday")


def test_window_check_names_the_earliest_instant() -> None:
    check_window(NOW - timedelta(days=6, hours=23), WEEK, NOW)
    check_window(NOW + timedelta(seconds=30), WEEK, NOW)  # clock skew between runner and provider
    with pytest.raises(ConfigError) as info:
        check_window(NOW - timedelta(days=8), WEEK, NOW)
    assert "earliest restorable instant is 2026-11-14T09:00:00Z" in info.value.message
    assert "history retention 7 days" in info.value.message
    assert "stored backup" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="in the future"):
        check_window(NOW + timedelta(minutes=5), WEEK, NOW)


def test_referenced_tables_are_copied_first() -> None:
    users, orders, items, audit = ("app", "users"), ("app", "orders"), ("app", "items"), ("app", "audit")
    edges = [(orders, users), (items, orders), (items, ("app", "products")), (users, users)]
    assert fk_order([items, orders, users, audit], edges) == [users, audit, orders, items]
    cycle = [(users, orders), (orders, users)]
    assert fk_order([orders, users], cycle) == [orders, users]


def test_table_names_default_to_public() -> None:
    assert split_table("app.users") == ("app", "users")
    assert split_table("users") == ("public", "users")
    with pytest.raises(ConfigError):
        split_table("app.")
