"""Retention plan: rules, policy parsing, and hypothesis tests for the invariants."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pgdrill.errors import ConfigError
from pgdrill.retention import Decision, Policy, parse_tag_rule, plan, policy_from_options, span_seconds

UTC = timezone.utc
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class B:
    id: str
    created_at: datetime
    tags: tuple[str, ...] = ()


def daily(n: int, end: datetime = NOW, tags: tuple[str, ...] = ()) -> list[B]:
    return [B(f"d{i:04d}", end - timedelta(days=n - 1 - i), tags) for i in range(n)]


def kept_ids(backups: list[B], policy: Policy, now: datetime = NOW) -> set[str]:
    return {d.backup.id for d in plan(backups, policy, now) if d.keep}


# -- rules --------------------------------------------------------------------------------------
def test_empty_input_gives_empty_plan() -> None:
    assert plan([], Policy(keep_daily=3), NOW) == []


def test_keep_last_keeps_exactly_the_n_newest() -> None:
    backups = daily(10)
    assert kept_ids(backups, Policy(keep_last=3)) == {"d0007", "d0008", "d0009"}


def test_newest_is_kept_even_when_every_rule_misses_it() -> None:
    # Only the untagged newest backup; the tag rule matches nothing else.
    backups = [*daily(3, NOW - timedelta(days=5), ("pre-deploy",)), B("new", NOW)]
    decisions = plan(backups, Policy(keep_tags={"pre-deploy": 1}), NOW)
    by_id = {d.backup.id: d for d in decisions}
    assert by_id["new"].keep and by_id["new"].reasons == ("newest",)
    assert [d.backup.id for d in decisions if d.keep] == ["d0002", "new"]


def test_plan_is_oldest_first_and_covers_every_backup_once() -> None:
    backups = daily(20)
    random.Random(4).shuffle(backups)
    decisions = plan(backups, Policy(keep_daily=5, keep_weekly=2), NOW)
    assert [d.backup.created_at for d in decisions] == sorted(b.created_at for b in backups)
    assert sorted(d.backup.id for d in decisions) == sorted(b.id for b in backups)


def test_removed_backups_say_why() -> None:
    decisions = plan(daily(5), Policy(keep_last=2), NOW)
    removed = [d for d in decisions if not d.keep]
    assert len(removed) == 3
    assert all(d.reasons == ("beyond last 2",) for d in removed)


def test_keep_all_daily_keeps_one_per_day() -> None:
    # every 6 hours from 2026-11-17T12:00 to 2026-11-20T12:00: 13 backups over 4 UTC days
    backups = [B(f"b{h:02d}", NOW - timedelta(hours=h)) for h in range(0, 78, 6)]
    kept = kept_ids(backups, Policy(keep_daily=-1))
    # the newest of each day, plus the oldest backup (room left in an unlimited rule)
    assert kept == {"b00", "b18", "b42", "b66", "b72"}


def test_naive_datetimes_are_taken_as_utc() -> None:
    a = [B("x", datetime(2026, 11, 20, 23, 30)), B("y", datetime(2026, 11, 21, 0, 30))]
    reasons = {d.backup.id: d.reasons for d in plan(a, Policy(keep_daily=5), NOW)}
    assert "daily 2026-11-20 (oldest, room left)" not in reasons["x"]
    assert reasons["x"] == ("daily 2026-11-20",)


def test_tag_within_is_anchored_on_the_newest_backup() -> None:
    old = NOW - timedelta(days=100)
    backups = [B("p1", old - timedelta(days=20), ("pre-deploy",)), B("p2", old - timedelta(days=5), ("pre-deploy",)),
               B("n", old)]
    assert kept_ids(backups, Policy(keep_tags={"pre-deploy": "10d"}), NOW) == {"p2", "n"}


# -- policy parsing -----------------------------------------------------------------------------
def test_policy_accepts_all_and_numeric_strings() -> None:
    p = Policy.model_validate({"keep_daily": "7", "keep_monthly": "all", "keep_within": "36h",
                               "keep_tags": {"pre-deploy": "30d", "release": "all", "x": "2"}})
    assert p.keep_daily == 7 and p.keep_monthly == -1 and p.keep_within == "36h"
    assert p.keep_tags == {"pre-deploy": "30d", "release": -1, "x": 2}
    assert p.describe() == ("keep 7 daily, all monthly, all within 36h of the newest, tagged pre-deploy within 30d, "
                            "all tagged release, 2 tagged x")


@pytest.mark.parametrize("doc", [
    {"keep_daily": -2}, {"keep_daily": "lots"}, {"keep_within": "soon"}, {"keep_within": "0d"},
    {"keep_tags": {"a": "-5"}}, {"keep_tags": {"a": "forever"}}, {"keep_weekly": 1, "keep_fortnightly": 1},
])
def test_policy_rejects_bad_values(doc: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Policy.model_validate(doc)


def test_parse_tag_rule() -> None:
    assert parse_tag_rule("pre-deploy=3") == ("pre-deploy", 3)
    assert parse_tag_rule("pre-deploy=30d") == ("pre-deploy", "30d")
    assert parse_tag_rule(" release = all ") == ("release", -1)
    for bad in ("pre-deploy", "=3", "x=", "x=soon"):
        with pytest.raises(ConfigError):
            parse_tag_rule(bad)


def test_options_override_config_and_merge_tags() -> None:
    base = Policy(keep_daily=7, keep_monthly=12, keep_tags={"pre-deploy": "30d"})
    p = policy_from_options(base, keep_daily=3, keep_weekly=None, keep_tags=[("release", 2)])
    assert (p.keep_daily, p.keep_weekly, p.keep_monthly) == (3, 0, 12)
    assert p.keep_tags == {"pre-deploy": "30d", "release": 2}
    with pytest.raises(ConfigError):
        policy_from_options(base, keep_daily=-9)


# -- invariants (hypothesis) --------------------------------------------------------------------
ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), timezone(timedelta(hours=14))]
SPANS = ["30m", "1h", "36h", "2d", "7d", "30d", "2w"]
TAGS = ["pre-deploy", "nightly", "release"]

times = st.datetimes(min_value=datetime(2024, 12, 20), max_value=datetime(2029, 1, 10),
                     timezones=st.sampled_from(ZONES))
backup_st = st.builds(B, id=st.text("abcdef0123456789", min_size=1, max_size=6), created_at=times,
                      tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True).map(tuple))
backups_st = st.lists(backup_st, min_size=1, max_size=40)
count_st = st.integers(min_value=-1, max_value=6)
tag_rule_st = st.one_of(st.integers(min_value=-1, max_value=4), st.sampled_from(SPANS))


@st.composite
def policies(draw: st.DrawFn, non_empty: bool = False) -> Policy:
    p = Policy(
        keep_last=draw(count_st), keep_hourly=draw(count_st), keep_daily=draw(count_st),
        keep_weekly=draw(count_st), keep_monthly=draw(count_st), keep_yearly=draw(count_st),
        keep_within=draw(st.none() | st.sampled_from(SPANS)),
        keep_tags=draw(st.dictionaries(st.sampled_from(TAGS), tag_rule_st, max_size=2)),
    )
    if non_empty and p.empty:
        p = p.model_copy(update={"keep_last": 1})
    return p


def _grow_count(draw: st.DrawFn, n: int) -> int:
    if n == -1:
        return -1
    return draw(st.sampled_from([n, n + 1, n + draw(st.integers(0, 50)), -1]))


def _grow_span(draw: st.DrawFn, text: str) -> str:
    return draw(st.sampled_from([s for s in SPANS if span_seconds(s) >= span_seconds(text)]))


@st.composite
def larger(draw: st.DrawFn, p: Policy) -> Policy:
    """A policy that keeps at least what ``p`` keeps: every rule of p, each with as much or more room."""
    tags: dict[str, int | str] = {}
    for tag, rule in p.keep_tags.items():
        tags[tag] = _grow_count(draw, rule) if isinstance(rule, int) else _grow_span(draw, rule)
    for tag in TAGS:
        if tag not in tags and draw(st.booleans()):
            tags[tag] = draw(tag_rule_st)
    within = p.keep_within
    within = _grow_span(draw, within) if within else draw(st.none() | st.sampled_from(SPANS))
    return Policy(
        keep_last=_grow_count(draw, p.keep_last), keep_hourly=_grow_count(draw, p.keep_hourly),
        keep_daily=_grow_count(draw, p.keep_daily), keep_weekly=_grow_count(draw, p.keep_weekly),
        keep_monthly=_grow_count(draw, p.keep_monthly), keep_yearly=_grow_count(draw, p.keep_yearly),
        keep_within=within, keep_tags=tags,
    )


def newest(backups: list[B]) -> B:
    return max(backups, key=lambda b: (b.created_at.astimezone(UTC), b.id, tuple(sorted(b.tags))))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(backups=backups_st, policy=policies(), now=times)
def test_never_removes_the_newest_backup(backups: list[B], policy: Policy, now: datetime) -> None:
    decisions = plan(backups, policy, now)
    top = newest(backups)
    assert any(d.keep and d.backup is top for d in decisions)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), backups=backups_st, now=times)
def test_a_larger_policy_keeps_everything_a_smaller_one_keeps(data: st.DataObject, backups: list[B],
                                                              now: datetime) -> None:
    # An empty policy means "no retention configured" and keeps everything; it is not the smallest
    # policy, so the ordering is over policies with at least one rule.
    small = data.draw(policies(non_empty=True))
    big = data.draw(larger(small))
    small_kept = {id(d.backup) for d in plan(backups, small, now) if d.keep}
    big_kept = {id(d.backup) for d in plan(backups, big, now) if d.keep}
    assert small_kept <= big_kept


@settings(max_examples=100)
@given(backups=backups_st, policy=policies(), now=times, seed=st.integers())
def test_plan_is_deterministic_and_order_independent(backups: list[B], policy: Policy, now: datetime,
                                                     seed: int) -> None:
    first = plan(backups, policy, now)
    assert plan(backups, policy, now) == first
    shuffled = list(backups)
    random.Random(seed).shuffle(shuffled)
    again = plan(shuffled, policy, now)
    # equal backups (same id, time and set of tags, in whatever order the tags are listed) may swap
    # places; what is decided for each must not change
    def decided(decisions: list[Decision[B]]) -> list[tuple[object, ...]]:
        return [(d.backup.id, d.backup.created_at, sorted(d.backup.tags), d.keep, d.reasons) for d in decisions]
    assert decided(again) == decided(first)


@settings(max_examples=150)
@given(backups=st.lists(st.builds(B, id=st.text(max_size=4), created_at=st.datetimes(timezones=st.sampled_from(ZONES)),
                                  tags=st.lists(st.sampled_from(TAGS), max_size=3).map(tuple)), max_size=60),
       policy=policies(),
       now=st.datetimes(timezones=st.sampled_from(ZONES)))
def test_random_input_never_crashes_and_every_backup_gets_a_reason(backups: list[B], policy: Policy,
                                                                   now: datetime) -> None:
    decisions = plan(backups, policy, now)
    assert len(decisions) == len(backups)
    assert all(d.reasons for d in decisions)
    assert all(isinstance(r, str) and r for d in decisions for r in d.reasons)
