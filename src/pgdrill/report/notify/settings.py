"""The ``notify:`` section of pgdrill.yml (per environment too); the flags and PGDRILL_* variables
of the same names win over it (:func:`pgdrill.settings.jobs.notify`)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pgdrill import secrets
from pgdrill.config_models import Seconds

NotifiedJob = Literal["backup", "drill", "monitor"]
#: jobs whose end can be notified
NOTIFIED_JOBS: tuple[NotifiedJob, ...] = ("backup", "drill", "monitor")
URL_KEYS = ("slack_webhook_url", "webhook_url", "ping_url")


def check_url(value: str, what: str) -> str:
    """An http(s) URL with a host; registered as a secret (a webhook URL is a credential: whoever has it
    can post to the channel). Raises ValueError naming ``what``."""
    text = value.strip()
    secrets.register(text)
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValueError(f"{what} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http:// or https:// URL")
    # The path (a Slack webhook's, a healthchecks uuid) is the secret part: mask it on its own too.
    secrets.register(parts.path.strip("/"))
    return text


class NotifySettings(BaseModel):
    """Where to say how backup, drill and monitor ended. Failures and recoveries (the first pass after
    a failure) are always sent; passes only with ``on_success``. The ping URL follows healthchecks.io:
    ``URL/start`` when the job starts, ``URL`` when it passes, ``URL/fail`` when it fails."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slack_webhook_url: str | None = Field(None, repr=False, description="Slack incoming-webhook URL")
    webhook_url: str | None = Field(None, repr=False, description="generic JSON POST")
    ping_url: str | None = Field(None, repr=False, description="healthchecks.io-style ping URL")
    on_success: bool = Field(False, description="also message Slack and the webhook when a job passes")
    jobs: list[NotifiedJob] = Field(default_factory=lambda: list(NOTIFIED_JOBS))
    timeout: Seconds = Field(10.0, description="per request")
    retries: int = Field(2, ge=0, le=5, description="retries of a request that failed to arrive")

    @field_validator(*URL_KEYS)
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return check_url(value, "the URL")

    @property
    def any(self) -> bool:
        return any(getattr(self, k) for k in URL_KEYS)
