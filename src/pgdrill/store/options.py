"""S3 store options, apart from the boto3 code so that commands using a local store never import boto3
(about a third of the CLI's start-up time and ~20 MB of memory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pgdrill.errors import ConfigError


@dataclass(frozen=True)
class S3Options:
    sse: str | None = None  # "AES256" | "aws:kms"
    sse_kms_key_id: str | None = None
    object_lock_days: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def put_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.sse:
            if self.sse not in ("AES256", "aws:kms"):
                raise ConfigError(f"unknown server-side encryption {self.sse!r}", "use AES256 or aws:kms")
            args["ServerSideEncryption"] = self.sse
            if self.sse == "aws:kms" and self.sse_kms_key_id:
                args["SSEKMSKeyId"] = self.sse_kms_key_id
        if self.object_lock_days:
            until = datetime.now(timezone.utc) + timedelta(days=self.object_lock_days)
            args["ObjectLockMode"] = "COMPLIANCE"
            args["ObjectLockRetainUntilDate"] = until
        return args
