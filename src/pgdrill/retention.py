"""Retention: which backups to keep and why, as a pure function of (backups, policy, now).

Modelled on restic's ``forget`` policy (internal/restic/snapshot_policy.go):

* backups are walked newest first;
* ``keep_last N`` keeps the N newest; ``keep_hourly/daily/weekly/monthly/yearly N`` keep the newest
  backup of each of the N newest hours/days/ISO weeks/months/years *that have a backup* (-1: all);
  while a counting rule still has room when the walk reaches the oldest backup, that backup is kept
  too, so a young store keeps as much history as the policy allows;
* ``keep_within 7d`` keeps everything up to 7 days older than the newest backup — anchored on the
  newest backup, not on the clock, so a backup job that has been failing for weeks does not make
  retention expire the last good backups;
* ``keep_tags {pre-deploy: 3}`` keeps the 3 newest backups carrying the tag; ``{pre-deploy: 30d}``
  keeps those up to 30 days older than the newest backup; ``-1`` keeps all of them.

On top of every rule the newest backup is always kept. Buckets are UTC calendar buckets; weeks are
ISO 8601 weeks (2026-12-31 falls in 2026-W53, 2027-01-01 too). A policy with no rule keeps all.

pgdrill.yml section: ``retention`` (per environment under ``environments.<name>.retention``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pgdrill.config import parse_duration
from pgdrill.errors import ConfigError

Action = Literal["keep", "remove"]


class Backup(Protocol):
    """What retention looks at; a :class:`~pgdrill.manifest.Manifest` is one."""

    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def tags(self) -> Sequence[str]: ...


B = TypeVar("B", bound=Backup)


# -- policy -----------------------------------------------------------------------------------
def _count(value: Any) -> Any:
    if value is None:
        return 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("all", "unlimited"):
            return -1
        if re.fullmatch(r"-?\d+", text):
            return int(text)
    return value


Count = Annotated[int, BeforeValidator(_count), Field(ge=-1)]


def _span(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value:g}s"
    if not isinstance(value, str):
        raise ValueError("must be a duration like 7d, 36h or 2w")
    text = value.strip()
    try:
        seconds = parse_duration(text, "")
    except ConfigError as exc:
        raise ValueError(exc.message.strip()) from None
    if not seconds > 0:
        raise ValueError("must be a positive duration")
    if seconds > _MAX_SPAN:
        # Beyond this a window means "forever" and would overflow datetime arithmetic.
        raise ValueError("must be at most 1000 years; leave the rule out to keep everything")
    return text


_MAX_SPAN = 1000 * 366 * 86400.0


Span = Annotated[str, BeforeValidator(_span)]


def _tag_rule(value: Any) -> Any:
    counted = _count(value)
    if isinstance(counted, int) and not isinstance(counted, bool):
        if counted < -1:
            raise ValueError("a tag count must be -1 (all) or more")
        return counted
    return _span(value)


TagRule = Annotated[int | str, BeforeValidator(_tag_rule)]


def span_seconds(text: str) -> float:
    return parse_duration(text)


class Policy(BaseModel):
    """The ``retention`` section of pgdrill.yml (and the ``--keep-*`` flags of ``pgdrill prune``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_last: Count = 0
    keep_hourly: Count = 0
    keep_daily: Count = 0
    keep_weekly: Count = 0
    keep_monthly: Count = 0
    keep_yearly: Count = 0
    keep_within: Span | None = None
    keep_tags: dict[str, TagRule] = Field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (any(getattr(self, f"keep_{k}") for k, _ in _BUCKETS) or self.keep_within or self.keep_tags)

    def describe(self) -> str:
        parts = [f"{'all' if n == -1 else n} {kind}" for kind, _ in _BUCKETS
                 if (n := getattr(self, f"keep_{kind}"))]
        if self.keep_within:
            parts.append(f"all within {self.keep_within} of the newest")
        for tag, rule in sorted(self.keep_tags.items()):
            if isinstance(rule, int):
                parts.append(f"{'all' if rule == -1 else rule} tagged {tag}")
            else:
                parts.append(f"tagged {tag} within {rule}")
        return "keep " + ", ".join(parts) if parts else "no retention rule: keep everything"


def parse_tag_rule(text: str) -> tuple[str, int | str]:
    """``pre-deploy=3`` / ``pre-deploy=30d`` / ``pre-deploy=all`` from the command line."""
    tag, sep, rule = text.partition("=")
    if not sep or not tag.strip() or not rule.strip():
        raise ConfigError(f"--keep-tag '{text}' is not TAG=N or TAG=DURATION", "e.g. --keep-tag pre-deploy=30d")
    try:
        value = _tag_rule(rule.strip())
    except ValueError as exc:
        raise ConfigError(f"--keep-tag '{text}': {exc}", "e.g. --keep-tag pre-deploy=3") from None
    return tag.strip(), value


# -- buckets ----------------------------------------------------------------------------------
def _hour(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H")


def _day(t: datetime) -> str:
    return t.strftime("%Y-%m-%d")


def _week(t: datetime) -> str:
    iso = t.isocalendar()
    return f"{iso[0]:04d}-W{iso[1]:02d}"


def _month(t: datetime) -> str:
    return t.strftime("%Y-%m")


def _year(t: datetime) -> str:
    return f"{t.year:04d}"


# (rule name, bucket of a UTC time); "last" has no bucket: every backup is its own
_BUCKETS: tuple[tuple[str, Callable[[datetime], str] | None], ...] = (
    ("last", None),
    ("hourly", _hour),
    ("daily", _day),
    ("weekly", _week),
    ("monthly", _month),
    ("yearly", _year),
)


def utc(t: datetime) -> datetime:
    """Aware times converted to UTC; naive ones taken as UTC (manifests always carry a zone)."""
    if t.tzinfo is None:
        return t.replace(tzinfo=timezone.utc)
    try:
        return t.astimezone(timezone.utc)
    except OverflowError:
        # Year 1 or 9999 with an offset: off by a few hours at the edge of time beats a crash.
        return t.replace(tzinfo=timezone.utc)


def _since(anchor: datetime, span: timedelta) -> datetime:
    try:
        return anchor - span
    except OverflowError:
        return datetime.min.replace(tzinfo=timezone.utc)


# -- the plan ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision(Generic[B]):
    backup: B
    keep: bool
    reasons: tuple[str, ...]

    @property
    def action(self) -> Action:
        return "keep" if self.keep else "remove"


@dataclass
class _Counter:
    kind: str
    left: int  # -1: unlimited
    bucket: Callable[[datetime], str] | None
    last: str | None = None
    total: int = 0

    @property
    def active(self) -> bool:
        return self.left != 0


def _sort_key(b: Backup) -> tuple[datetime, str, tuple[str, ...]]:
    # Ids are unique in a store; the tags only settle ties in hand-made input, for determinism.
    return (utc(b.created_at), b.id, tuple(sorted(b.tags)))


def plan(backups: Sequence[B], policy: Policy, now: datetime) -> list[Decision[B]]:
    """Every backup with keep/remove and the reasons, oldest first. Pure and deterministic: the same
    backups (in any order), policy and ``now`` give the same plan."""
    if not backups:
        return []
    now = utc(now)
    newest_first = sorted(backups, key=_sort_key, reverse=True)
    if policy.empty:
        out = [Decision(b, True, ("no retention rule: keep everything",)) for b in newest_first]
        return out[::-1]

    # The anchor for "within" rules: the newest backup that is not in the future (clock skew must
    # not shift every window), restic's findLatestTimestamp.
    past = [utc(b.created_at) for b in newest_first if utc(b.created_at) <= now]
    anchor = past[0] if past else now

    counters = [_Counter(kind, getattr(policy, f"keep_{kind}"), fn) for kind, fn in _BUCKETS]
    counters = [c for c in counters if c.left != 0]
    tag_counts = {tag: rule for tag, rule in policy.keep_tags.items() if isinstance(rule, int)}
    tag_seen: dict[str, int] = {tag: 0 for tag in tag_counts}
    tag_spans = {tag: timedelta(seconds=span_seconds(rule))
                 for tag, rule in policy.keep_tags.items() if isinstance(rule, str)}
    within = timedelta(seconds=span_seconds(policy.keep_within)) if policy.keep_within else None

    decisions: list[Decision[B]] = []
    oldest = len(newest_first) - 1
    for nr, b in enumerate(newest_first):
        t = utc(b.created_at)
        keep: list[str] = []
        why_not: list[str] = []
        if nr == 0:
            keep.append("newest")

        for c in counters:
            label = c.bucket(t) if c.bucket else f"#{c.total + 1}"
            name = f"{c.kind} {label}"
            if c.active and (label != c.last or nr == oldest):
                # The oldest backup of a bucket already kept still counts when room is left: it
                # stretches the history kept by a young store (restic does the same).
                if label == c.last:
                    name += " (oldest, room left)"
                keep.append(name)
                c.last = label
                c.total += 1
                if c.left > 0:
                    c.left -= 1
            elif c.active:
                why_not.append(f"{name} has a newer backup")
            else:
                limit = getattr(policy, f"keep_{c.kind}")
                why_not.append(f"beyond {c.kind} {limit}")

        if within is not None:
            if t >= _since(anchor, within):
                keep.append(f"within {policy.keep_within}")
            else:
                why_not.append(f"older than {policy.keep_within}")

        tags = set(b.tags)
        for tag in sorted(policy.keep_tags):
            if tag not in tags:
                continue
            if tag in tag_counts:
                limit = tag_counts[tag]
                if limit == -1 or tag_seen[tag] < limit:
                    tag_seen[tag] += 1
                    keep.append(f"tag {tag} #{tag_seen[tag]}")
                else:
                    why_not.append(f"beyond tag {tag} {limit}")
            elif t >= _since(anchor, tag_spans[tag]):
                keep.append(f"tag {tag} within {policy.keep_tags[tag]}")
            else:
                why_not.append(f"tag {tag} older than {policy.keep_tags[tag]}")

        if keep:
            decisions.append(Decision(b, True, tuple(keep)))
        else:
            decisions.append(Decision(b, False, tuple(why_not) or ("no rule keeps it",)))
    return decisions[::-1]


def kept(decisions: Sequence[Decision[B]]) -> list[B]:
    return [d.backup for d in decisions if d.keep]


def removed(decisions: Sequence[Decision[B]]) -> list[B]:
    return [d.backup for d in decisions if not d.keep]


def policy_from_options(base: Policy | None = None, **overrides: Any) -> Policy:
    """A policy from the config section with command-line values on top (None: not given)."""
    data = (base or Policy()).model_dump()
    tags = overrides.pop("keep_tags", None)
    data.update({k: v for k, v in overrides.items() if v is not None})
    if tags:
        data["keep_tags"] = {**data.get("keep_tags", {}), **dict(tags)}
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        # The section itself was checked when pgdrill.yml was read: what fails here is a flag.
        first = exc.errors()[0]
        key = str(first.get("loc", ("retention",))[0])
        flag = "--" + key.replace("_", "-").replace("keep-tags", "keep-tag")
        given = overrides.get(key, first.get("input"))
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise ConfigError(f"{flag} '{given}': {msg}", "e.g. --keep-daily 7, --keep-within 30d") from None
