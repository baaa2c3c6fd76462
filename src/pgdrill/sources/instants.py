"""Points in time as users write them (``--at``), and the windows sources can restore within."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pgdrill.config import parse_duration
from pgdrill.errors import ConfigError
from pgdrill.providers.base import RestoreWindow
from pgdrill.report.format import iso

#: clocks of the CI runner and the provider differ a little; "now" is allowed this much ahead
CLOCK_SKEW = timedelta(seconds=60)


def parse_at(text: str | None, now: datetime | None = None) -> datetime | None:
    """``--at``: an ISO 8601 / RFC 3339 timestamp with a zone, ``latest`` (None), or a time before
    now such as ``-15m`` or ``-1h30m`` (the runbooks' "T-15 minutes")."""
    value = (text or "").strip()
    if value.lower() in ("", "latest", "now"):
        return None
    if value.startswith("-"):
        try:
            seconds = parse_duration(value[1:], "--at")
        except ConfigError:
            raise ConfigError(f"--at '{value}' is not a time before now", "use e.g. -15m, -2h or -1d") from None
        return (now or datetime.now(timezone.utc)).astimezone(timezone.utc) - timedelta(seconds=seconds)
    s = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        t = datetime.fromisoformat(s.replace(" ", "T", 1))
    except ValueError:
        raise ConfigError(f"--at '{value}' is not a timestamp",
                          "use e.g. 2026-11-20T14:29:45Z, -15m, or latest") from None
    if t.tzinfo is None:
        raise ConfigError(f"--at '{value}' has no time zone", "add Z for UTC, e.g. 2026-11-20T14:29:45Z")
    return t.astimezone(timezone.utc)


def check_window(at: datetime, window: RestoreWindow, now: datetime) -> None:
    """Refuse an instant the source cannot restore to, before anything is made."""
    if at > now + CLOCK_SKEW:
        raise ConfigError(f"--at {iso(at)} is in the future (now is {iso(now)})", "pick a past instant, or latest")
    if at < window.earliest:
        raise ConfigError(
            f"--at {iso(at)} is outside the point-in-time window: {window.what}, so the earliest restorable "
            f"instant is {iso(window.earliest)}",
            "pick a later instant, or restore from a stored backup (pgdrill restore ID)",
        )
