"""What a check found: one result per check, one line of detail each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "skip"]

DETAIL_MAX = 240


@dataclass(frozen=True)
class CheckResult:
    """What one check found. ``items`` lists the specifics (tables that differ, pg_restore errors);
    ``output`` is the tail of a command's output."""

    name: str
    status: Status
    detail: str
    duration: float = 0.0
    items: tuple[str, ...] = ()
    output: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "status": self.status, "detail": self.detail,
                               "duration": round(self.duration, 3)}
        if self.items:
            doc["items"] = list(self.items)
        if self.output is not None:
            doc["output"] = self.output
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CheckResult:
        return cls(str(doc["name"]), doc["status"], str(doc.get("detail", "")), float(doc.get("duration", 0.0)),
                   tuple(str(i) for i in doc.get("items", ())), doc.get("output"))


def one_line(text: str, limit: int = DETAIL_MAX) -> str:
    """Details are one line: reports put them in table cells and annotations."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


@dataclass(frozen=True)
class RestoreOutcome:
    """How the restore went, for the restore check: pg_restore errors, or an archive that failed its
    integrity check (then nothing restored from it can be trusted)."""

    error_count: int = 0
    errors: tuple[str, ...] = ()
    integrity_error: str | None = None
    duration: float = 0.0
    tool: str = "pg_restore"  # what restored it: pg_restore, or psql for a plain SQL dump

    @property
    def trusted(self) -> bool:
        return self.integrity_error is None


def failed(results: Sequence[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.status == "fail"]
