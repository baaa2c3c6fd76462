"""When monitor alerts: the ``monitor:`` section of pgdrill.yml and the matching flags."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pgdrill.config_models import Seconds
from pgdrill.errors import ConfigError
from pgdrill.report.format import fmt_span


def _fraction(value: Any) -> Any:
    """'50%', 0.5 and 50 all mean one half: people write both."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text.rstrip("%"))
        except ValueError:
            raise ValueError("must be a percentage like 50% or a fraction like 0.5") from None
        if text.endswith("%"):
            return number / 100
        value = number
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
        value = value / 100
    return value


Fraction = Annotated[float, BeforeValidator(_fraction), Field(gt=0, le=1)]


def parse_fraction(text: str, what: str) -> float:
    try:
        value = float(_fraction(text))
    except (ValueError, TypeError):
        raise ConfigError(f"{what} '{text}' is not a percentage", "use e.g. 50% or 0.5") from None
    if not 0 < value <= 1:
        raise ConfigError(f"{what} '{text}' must be between 0% and 100%")
    return value


class Thresholds(BaseModel):
    """When monitor alerts. Durations take 90s/15m/26h/7d/2w; fractions take 50% or 0.5."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_age: Seconds = 26 * 3600.0
    size_deviation: Fraction = 0.5
    size_window: int = Field(default=7, ge=2, le=100)
    row_drop: Fraction = 0.2
    row_drop_min_rows: int = Field(default=100, ge=0, description="smaller tables are not judged")
    row_drop_ignore: list[str] = Field(default_factory=list, description="schema.table patterns (fnmatch)")
    max_drill_age: Seconds | None = 35 * 86400.0
    schedule: Seconds | None = Field(default=None, description="expected interval; None: inferred")
    gap_tolerance: Fraction = 0.5
    gap_window: Seconds = 7 * 86400.0
    unscheduled_tags: list[str] = Field(default_factory=lambda: ["pre-deploy"])
    max_wal_age: Seconds = Field(default=3600.0, description="WalArchiveStale: newest archived WAL older than this")
    min_pitr_window: Seconds = Field(default=86400.0, description="PitrWindowShort: point-in-time window under this")
    max_replica_lag: Seconds | None = Field(default=None, description="ReplicaLagging: a standby further behind")
    fail_on: Literal["critical", "warning"] = Field(
        default="critical", description="which alerts fail the run (exit 1); the others are shown, exit 0")

    def summary(self) -> dict[str, Any]:
        return {
            "max_age": fmt_span(self.max_age),
            "size_deviation_percent": round(self.size_deviation * 100, 1),
            "size_window": self.size_window,
            "row_drop_percent": round(self.row_drop * 100, 1),
            "row_drop_min_rows": self.row_drop_min_rows,
            "max_drill_age": fmt_span(self.max_drill_age) if self.max_drill_age else None,
            "schedule": fmt_span(self.schedule) if self.schedule else None,
            "gap_window": fmt_span(self.gap_window),
            "fail_on": self.fail_on,
        }


def thresholds_from_options(base: Thresholds, **overrides: Any) -> Thresholds:
    """Command-line values (None: not given) over the config section."""
    data = base.model_dump()
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Thresholds.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"monitor thresholds: {_first_error(exc)}") from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        with contextlib.suppress(Exception):
            first = errors()[0]
            return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg')}"
    return str(exc).splitlines()[0]


