"""When an archive was made, from its name: ``app-20251025.dump``, ``bloom_backup_20251025_143000.sql.gz``,
``backup_202510251430.sql``, ``2025-10-25T14:30:00Z``, folders such as ``db/2025/10/`` or ``2025/10/25/``.

A name gives an instant and a precision (a second, a minute, a day, a month). Names are read as UTC
unless they end in ``Z``/``+hh:mm`` (a cron job's ``$(date +%Y%m%d)`` on a UTC runner). A day- or
month-precise name is refined with the object's modification time when that falls inside the named
period (plus a few hours: a dump named at 23:50 may finish after midnight) — the dump of
``app-20251025.dump`` streamed to S3 at 03:05 was made at 03:05, not at midnight; a copy synced days
later keeps the name's time. Without a date in the name, the modification time is all there is.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

TimeSource = Literal["name", "name+modified", "modified"]

#: how long after a named period a modification time still counts as the same dump
SLACK = timedelta(hours=6)

_STAMP = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})(?P<s1>[-_.]?)(?P<m>\d{2})(?P=s1)(?P<d>\d{2})"
    r"(?:(?:[T_\-. ]|(?<=\d))?(?P<H>\d{2})(?P<s2>[:\-.h]?)(?P<M>\d{2})(?:(?P=s2)(?P<S>\d{2}))?"
    r"(?:[.,]\d{1,6})?)?(?P<z>Z|[+-]\d{2}:?\d{2})?(?!\d)"
)
_FOLDERS = re.compile(r"(?:^|/)(?P<y>(?:19|20)\d{2})/(?P<m>\d{2})(?:/(?P<d>\d{2}))?(?=/)")


@dataclass(frozen=True)
class NameTime:
    start: datetime  # UTC
    precision: timedelta  # the named period: 1 s, 1 min, 1 day, a month

    @property
    def end(self) -> datetime:
        return self.start + self.precision


def _zone(text: str | None) -> timezone:
    if not text or text == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _from_stamp(m: re.Match[str]) -> NameTime | None:
    try:
        y, mo, d = int(m["y"]), int(m["m"]), int(m["d"])
        hh = int(m["H"]) if m["H"] else 0
        mm = int(m["M"]) if m["M"] else 0
        ss = int(m["S"]) if m["S"] else 0
        if hh > 23 or mm > 59 or ss > 59:
            return None
        start = datetime(y, mo, d, hh, mm, ss, tzinfo=_zone(m["z"])).astimezone(timezone.utc)
    except ValueError:
        return None  # 20251399: not a date
    precision = timedelta(seconds=1) if m["S"] else timedelta(minutes=1) if m["M"] else timedelta(days=1)
    return NameTime(start, precision)


def _from_folders(m: re.Match[str]) -> NameTime | None:
    try:
        y, mo = int(m["y"]), int(m["m"])
        if m["d"]:
            return NameTime(datetime(y, mo, int(m["d"]), tzinfo=timezone.utc), timedelta(days=1))
        days = calendar.monthrange(y, mo)[1]
        return NameTime(datetime(y, mo, 1, tzinfo=timezone.utc), timedelta(days=days))
    except ValueError:
        return None


def name_time(path: str) -> NameTime | None:
    """The most precise timestamp in the file name (the last one on a tie), else in its folders."""
    folder, _, base = path.rstrip("/").rpartition("/")
    found = [t for t in (_from_stamp(m) for m in _STAMP.finditer(base)) if t is not None]
    if found:
        best = min(t.precision for t in found)
        return [t for t in found if t.precision == best][-1]
    for m in reversed(list(_STAMP.finditer(folder))):
        t = _from_stamp(m)
        if t is not None:
            return t
    folders = [t for t in (_from_folders(m) for m in _FOLDERS.finditer(folder + "/")) if t is not None]
    return min(folders, key=lambda t: t.precision) if folders else None


def archive_time(path: str, modified: datetime) -> tuple[datetime, TimeSource]:
    """The instant an archive was made, and where it came from (``list`` shows it)."""
    modified = modified.astimezone(timezone.utc)
    t = name_time(path)
    if t is None:
        return modified, "modified"
    if t.precision >= timedelta(hours=1) and t.start <= modified <= t.end + SLACK:
        return modified, "name+modified"
    return t.start, "name"
