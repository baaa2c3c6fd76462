"""The small formatting helpers every report shares, defined once: Markdown escaping, status icons,
UTC timestamps, durations and sizes. Pure functions of their arguments, so jobs may use them for
progress lines too (a progress line is not a report)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "⏭️"}
WORD = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "skip": "SKIP"}


# -- Markdown ---------------------------------------------------------------------------------
def md_escape(text: object) -> str:
    """Escape text from the database or the user for a Markdown table cell."""
    s = str(text)
    for ch in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ").replace("\r", " ")


# -- timestamps -------------------------------------------------------------------------------
def utc(t: datetime) -> datetime:
    """``t`` in UTC; a naive datetime is taken to be UTC already."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def iso(t: datetime) -> str:
    """RFC 3339 in UTC to the second: 2026-11-20T14:29:45Z."""
    return utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def when(t: datetime) -> str:
    """For people, to the second: 2026-11-20 14:29:45 UTC."""
    return f"{utc(t):%Y-%m-%d %H:%M:%S} UTC"


def when_minute(t: datetime) -> str:
    """For people, to the minute: 2026-11-20 14:29 UTC."""
    return f"{utc(t):%Y-%m-%d %H:%M} UTC"


# -- durations --------------------------------------------------------------------------------
def fmt_seconds(s: float) -> str:
    """A measured duration: 0.84s, 42s, 3m 05s, 26h 02m, 4d 03h."""
    if s < 10:
        return f"{s:.2f}s"
    if s < 59.5:
        return f"{s:.0f}s"
    total = round(s)
    if total < 3600:
        return f"{total // 60}m {total % 60:02d}s"
    if total < 3 * 86400:  # RPO targets are written in hours (26h), so stay in hours up to 3 days
        return f"{total // 3600}h {total % 3600 // 60:02d}m"
    return f"{total // 86400}d {total % 86400 // 3600:02d}h"


def fmt_target(seconds: float | None) -> str:
    """A target as people write it: 15m, 26h, 7d (else in the measured style)."""
    if seconds is None:
        return "none"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return fmt_seconds(seconds)


def fmt_span(seconds: float) -> str:
    """A configured span: 26h, 35d, 90m — or, when not a round number, hours or days with one decimal."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    hours = seconds / 3600
    if hours >= 48:
        return f"{hours / 24:.1f}d"
    if hours >= 1:
        return f"{hours:.1f}h"
    return f"{seconds / 60:.1f}m"


def fmt_age(seconds: float) -> str:
    """An elapsed time to one decimal: 45m, 5.7h, 41.3d."""
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


# -- sizes ------------------------------------------------------------------------------------
def human_size(n: float) -> str:
    """Binary units, one decimal: 512 B, 89.2 KiB, 1.3 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def fence(text: str, info: str = "text") -> str:
    """``text`` in a code fence longer than any backtick run inside it, so the text cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"
