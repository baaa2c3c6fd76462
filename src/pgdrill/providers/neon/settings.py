"""The ``neon:`` section of pgdrill.yml, apart from the client so that validating pgdrill.yml loads no
HTTP code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from pgdrill.config import parse_duration
from pgdrill.errors import ConfigError

MAX_EXPIRY = timedelta(days=30)


class NeonSettings(BaseModel):
    """The ``neon:`` section of pgdrill.yml (flags and NEON_API_HOST win over it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_host: str | None = None
    database: str | None = None
    role: str | None = None
    branch_ttl: float = 6 * 3600.0  # expires_at = creation + this: Neon's safety net
    ready_timeout: float = 600.0
    failed_grace: float = 60.0

    @field_validator("branch_ttl", "ready_timeout", "failed_grace", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        try:
            seconds = parse_duration(v)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        if seconds < 0:
            raise ValueError("must not be negative")
        return seconds

    @field_validator("branch_ttl")
    @classmethod
    def _ttl(cls, v: float) -> float:
        if not 60 <= v <= MAX_EXPIRY.total_seconds():
            raise ValueError("Neon accepts an expiry between now and 30 days ahead; use e.g. 6h")
        return v
