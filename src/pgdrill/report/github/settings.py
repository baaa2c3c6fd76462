"""The ``github:`` section of pgdrill.yml (per environment too): what to publish and where."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pgdrill import secrets

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_LOGIN = re.compile(r"^@?[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9_.-]+)?$")


class GitHubSettings(BaseModel):
    """The ``github:`` section of pgdrill.yml (per environment too)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issues: bool = Field(True, description="open/update/close post-mortem issues")
    issue_jobs: list[str] = Field(
        default_factory=lambda: ["backup", "drill", "predeploy", "monitor"],
        description="job kinds whose failures open an issue",
    )
    labels: list[str] = Field(
        default_factory=lambda: ["pgdrill", "pgdrill:{job}"],
        description="labels of the issue; {job} becomes the job kind",
    )
    assignees: list[str] = Field(default_factory=list, description="GitHub logins to assign")
    mention: list[str] = Field(default_factory=list, description="users or @org/team to mention in the issue")
    repository: str | None = Field(None, description="owner/name (default: GITHUB_REPOSITORY)")
    token: str | None = Field(None, repr=False, description="default: PGDRILL_GITHUB_TOKEN, then GITHUB_TOKEN")
    summary: bool = True
    outputs: bool = True
    annotations: bool = True
    timeout_seconds: float = Field(15.0, gt=0, le=300)
    max_retries: int = Field(3, ge=0, le=10)
    max_wait_seconds: float = Field(120.0, ge=0, le=3600, description="total time spent waiting on rate limits")

    @field_validator("token")
    @classmethod
    def _token_is_secret(cls, value: str | None) -> str | None:
        secrets.register(value)
        return value or None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        value = [v.strip() for v in value if v and v.strip()]
        if not value:
            raise ValueError("needs at least one label: pgdrill finds its issue by label")
        for label in value:
            if len(label.replace("{job}", "predeploy")) > 50 or "," in label:
                raise ValueError(f"label {label!r} must be at most 50 characters and contain no comma")
        return value

    @field_validator("assignees")
    @classmethod
    def _assignees(cls, value: list[str]) -> list[str]:
        for login in value:
            if not _LOGIN.match(login) or "/" in login:
                raise ValueError(f"{login!r} is not a GitHub login (teams can be mentioned, not assigned)")
        return [v.lstrip("@") for v in value]

    @field_validator("mention")
    @classmethod
    def _mentions(cls, value: list[str]) -> list[str]:
        for login in value:
            if not _LOGIN.match(login):
                raise ValueError(f"{login!r} is not a GitHub login or @org/team")
        return [v.lstrip("@") for v in value]

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        if value and not _REPO.match(value):
            raise ValueError(f"repository {value!r} must look like owner/name")
        return value or None

    def labels_for(self, job: str) -> list[str]:
        return list(dict.fromkeys(label.replace("{job}", job) for label in self.labels))
