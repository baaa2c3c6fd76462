"""S3 and S3-compatible stores through boto3.

Credentials come from boto3's own chain (env, profile, OIDC web identity, instance role) and the
endpoint from AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3, so MinIO, R2, Ceph or moto need no flag.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from pgdrill.errors import (
    AccessDenied,
    ConfigError,
    CredentialsMissing,
    NotFound,
    PgdrillError,
    StoreError,
    StoreMissing,
)
from pgdrill.store.base import Incomplete, ObjectInfo, Readable, Store, Unsupported
from pgdrill.store.options import S3Options

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1 << 20
MIN_PART = 8 * MiB
MAX_PART = 5 * 1024 * MiB
MAX_PARTS = 10_000
DEFAULT_EXPECTED = 100 * 1024 * MiB  # unknown size: parts big enough for ~1 TB at 10,000 parts


def part_size(expected_size: int | None) -> int:
    """Smallest part (whole MiB, >= 8 MiB) that keeps a 2x-larger-than-expected archive under 9,000 parts.

    The margin matters: the expected size is an estimate (pg_database_size), and S3 rejects part
    10,001 — the upload would fail at the very end.
    """
    expected = expected_size if expected_size and expected_size > 0 else DEFAULT_EXPECTED
    need = math.ceil(2 * expected / (MAX_PARTS - 1000))
    size = max(MIN_PART, math.ceil(need / MiB) * MiB)
    return min(size, MAX_PART)


#: boto3's standard mode (exponential backoff with jitter, capped at 20 s; throttling, 5xx and
#: connection errors are retried, 4xx are not): the first try and 6 retries, unless the standard AWS
#: variables say otherwise — an explicit Config would silently override AWS_MAX_ATTEMPTS (which,
#: unlike Config's ``max_attempts``, counts the first try) and AWS_RETRY_MODE.
DEFAULT_TOTAL_ATTEMPTS = 7


def _retries() -> dict[str, Any]:
    mode = os.environ.get("AWS_RETRY_MODE") or "standard"
    attempts = os.environ.get("AWS_MAX_ATTEMPTS", "")
    total = int(attempts) if attempts.isdigit() and int(attempts) > 0 else DEFAULT_TOTAL_ATTEMPTS
    return {"mode": mode if mode in ("standard", "adaptive", "legacy") else "standard", "total_max_attempts": total}


def _client() -> S3Client:
    config = Config(
        retries=_retries(),  # type: ignore[arg-type]
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="pgdrill",
    )
    return boto3.session.Session().client("s3", config=config)


#: error codes boto3's standard mode retries (besides any 5xx): by the time one reaches the user,
#: it was retried with backoff and kept failing
_RETRIED = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeoutException",
            "InternalError", "ServiceUnavailable", "500", "502", "503", "504"}
_GAVE_UP = "retried with backoff and still failing: check the S3 service's status, then run the command again"


class S3Store(Store):
    def __init__(self, bucket: str, prefix: str = "", options: S3Options | None = None,
                 client: S3Client | None = None) -> None:
        if not bucket:
            raise ConfigError("S3 store URL has no bucket", "use s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.options = options or S3Options()
        self.client = client or _client()
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._exists = False  # known to exist (something listed under the prefix)

    # -- helpers ------------------------------------------------------------------------------
    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def _error(self, action: str, key: str, exc: Exception) -> StoreError:
        if isinstance(exc, botocore.exceptions.ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            msg = exc.response.get("Error", {}).get("Message", "") or code
            if code == "NoSuchBucket":
                return StoreMissing(f"bucket {self.bucket} does not exist", "create it or fix the store URL")
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return AccessDenied(
                    f"{action} s3://{self.bucket}/{self._key(key)}: access denied ({code})",
                    "check the AWS credentials and the bucket policy",
                )
            return StoreError(f"{action} s3://{self.bucket}/{self._key(key)}: {code} {msg}".strip(),
                              _GAVE_UP if code in _RETRIED else "check the S3 service and the bucket's settings")
        if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
            return CredentialsMissing(
                "no AWS credentials found", "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or OIDC"
            )
        if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectionError):
            return StoreError(
                f"{action} s3://{self.bucket}: cannot reach the S3 endpoint", "check AWS_ENDPOINT_URL and the network"
            )
        return StoreError(f"{action} s3://{self.bucket}/{self._key(key)}: {type(exc).__name__}: {exc}", _GAVE_UP)

    # -- Store --------------------------------------------------------------------------------
    def check_writable(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            client_error = isinstance(exc, botocore.exceptions.ClientError)
            code = exc.response.get("Error", {}).get("Code") if client_error else None  # type: ignore[union-attr]
            if code in ("404", "NoSuchBucket"):
                raise StoreMissing(f"bucket {self.bucket} does not exist", "create it or fix the store URL") from None
            raise self._error("cannot access", "", exc) from None
        if self.options.object_lock_days:
            self._check_object_lock()

    def probe_write(self, key: str) -> None:
        full = self._key(key)
        args = {k: v for k, v in self.options.put_args().items() if not k.startswith("ObjectLock")}
        try:
            upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=full, **args)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error("cannot write", key, exc) from None
        note = self._abort(full, [str(upload["UploadId"])])
        if note:
            raise StoreError(f"the write probe worked, but {note}", "pgdrill check needs s3:AbortMultipartUpload")

    def _check_object_lock(self) -> None:
        """Object lock can only be enabled when a bucket is created: say so before dumping anything."""
        enabled = None
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
            enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ObjectLockConfigurationNotFoundError":
                raise self._error("cannot read the object lock configuration of", "", exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error("cannot read the object lock configuration of", "", exc) from None
        if enabled != "Enabled":
            raise ConfigError(
                f"--object-lock-days needs object lock, and bucket {self.bucket} does not have it enabled",
                "create the bucket with object lock enabled, or drop --object-lock-days",
            )

    def _ensure_retention(self, key: str, args: dict[str, Any]) -> None:
        """Check the stored object really is locked; some S3-compatible servers drop the lock
        headers of multipart uploads, so set the retention explicitly when they did."""
        full = self._key(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=full)
            if head.get("ObjectLockMode") and head.get("ObjectLockRetainUntilDate"):
                return
            version: dict[str, Any] = {"VersionId": head["VersionId"]} if head.get("VersionId") else {}
            self.client.put_object_retention(
                Bucket=self.bucket, Key=full, **version,
                Retention={"Mode": args["ObjectLockMode"], "RetainUntilDate": args["ObjectLockRetainUntilDate"]},
            )
            head = self.client.head_object(Bucket=self.bucket, Key=full)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error("cannot set object lock retention on", key, exc) from None
        if not head.get("ObjectLockMode"):
            raise StoreError(f"s3://{self.bucket}/{full} was stored without the requested object lock",
                             "check that the S3 endpoint supports object lock")

    def put(self, key: str, source: Readable, *, expected_size: int | None = None) -> int:
        size = part_size(expected_size)
        config = TransferConfig(
            multipart_threshold=size,
            multipart_chunksize=size,
            max_concurrency=4,
            use_threads=True,
        )
        # Bounds memory to a few parts, whatever the archive size (boto3's wrapper lacks the kwarg).
        config.max_in_memory_upload_chunks = 6
        counter = _Counting(source)
        extra = self.options.put_args()
        full = self._key(key)
        started: list[str] = []  # multipart upload ids of this put, to abort for certain on failure

        def created(parsed: dict[str, Any] | None = None, **_: Any) -> None:
            if parsed and parsed.get("Key") == full and parsed.get("UploadId"):
                started.append(str(parsed["UploadId"]))

        events = self.client.meta.events
        hook = f"pgdrill-put-{id(started)}"
        events.register("after-call.s3.CreateMultipartUpload", created, unique_id=hook)
        try:
            # s3transfer aborts the multipart upload itself when reading or any part fails.
            self.client.upload_fileobj(
                cast(BinaryIO, counter), self.bucket, full,
                ExtraArgs=extra or None, Config=config,
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _noting(self._error("cannot upload", key, exc), self._abort(full, started)) from None
        except Exception as exc:
            # s3transfer wraps errors raised by our reader; surface the original one.
            cause = exc.__cause__ or exc.__context__
            original = exc if isinstance(exc, StoreError) or cause is None else cause
            note = self._abort(full, started)
            if note:
                raise _noting(original, note) from None
            raise original from None
        finally:
            events.unregister("after-call.s3.CreateMultipartUpload", unique_id=hook)
        if not counter.eof and counter.read(1):
            # The upload finished before the source did: never leave that object behind.
            self.delete(key)
            raise StoreError(f"upload of {key} ended before its source; the partial object was removed")
        if extra.get("ObjectLockMode"):
            self._ensure_retention(key, extra)
        return counter.count

    def _abort(self, full_key: str, upload_ids: list[str]) -> str | None:
        """Abort the failed put's multipart uploads for certain: s3transfer tries once and swallows an
        error, and a server that refuses (AbortMultipartUpload answered 405) keeps the parts — stored
        and billed, and invisible to ``incomplete`` on servers that cannot list uploads either. None
        when nothing is left over, else the sentence for the backup's error."""
        refused = []
        for upload_id in upload_ids:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            except botocore.exceptions.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("NoSuchUpload", "404"):
                    continue  # s3transfer's own abort went through
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                refused.append(f"{upload_id[:16]}… (AbortMultipartUpload answered {status or ''} {code})".replace(
                    "answered  ", "answered "))
            except botocore.exceptions.BotoCoreError as exc:
                refused.append(f"{upload_id[:16]}… ({type(exc).__name__})")
        if not refused:
            return None
        return (f"the unfinished multipart upload of s3://{self.bucket}/{full_key} could not be aborted: "
                f"{', '.join(refused)}; its parts stay stored until a lifecycle rule (AbortIncompleteMultipartUpload) "
                "or the provider's console removes them")

    def open(self, key: str) -> BinaryIO:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"{key} not found in {self.url}") from None
            raise self._error("cannot read", key, exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error("cannot read", key, exc) from None
        return cast(BinaryIO, _Body(resp["Body"], self, key))

    def require(self) -> None:
        """The store exists: the bucket does, and (with a prefix) something is stored under the prefix —
        S3 has no folders, so a prefix nothing was ever written to is no store (see Store)."""
        if self._exists:
            return
        try:
            resp = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key("") if self.prefix else "",
                                               MaxKeys=1)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error("cannot list", "", exc) from None
        if self.prefix and not resp.get("Contents"):
            raise StoreMissing(f"store {self.url} does not exist: nothing is stored under that prefix",
                               "check --store (only `pgdrill backup` creates a store)")
        self._exists = True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        found = False
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                for obj in page.get("Contents", []):
                    found = self._exists = True
                    yield ObjectInfo(self._rel(obj["Key"]), int(obj["Size"]), obj["LastModified"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error("cannot list", prefix, exc) from None
        if not found:
            self.require()

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            resp = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error("cannot stat", key, exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error("cannot stat", key, exc) from None
        return ObjectInfo(key, int(resp["ContentLength"]), resp["LastModified"])

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error("cannot delete", key, exc) from None

    def incomplete(self) -> Iterator[Incomplete]:
        self.require()
        paginator = self.client.get_paginator("list_multipart_uploads")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key("")):
                for up in page.get("Uploads", []):
                    started = self._last_activity(up["Key"], up["UploadId"], up["Initiated"])
                    yield Incomplete(self._rel(up["Key"]), started, up["UploadId"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            unsupported = _unsupported(exc)
            if unsupported:
                raise Unsupported(f"{self.url} cannot list unfinished uploads (ListMultipartUploads answered "
                                  f"{unsupported})") from None
            raise self._error("cannot list uploads in", "", exc) from None

    def _last_activity(self, full_key: str, upload_id: str, initiated: datetime) -> datetime:
        """When the upload last moved: its newest part, else its start. Prune removes uploads that have
        been idle for a day; an upload started long ago that still sends parts (a huge, slow backup)
        is alive, and some S3-compatible servers report a fixed or wrong ``Initiated``."""
        newest = initiated
        try:
            for page in self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=full_key, UploadId=upload_id
            ):
                for part in page.get("Parts", []):
                    newest = max(newest, part["LastModified"])
        except botocore.exceptions.ClientError:
            pass  # completed or aborted meanwhile: its start is all there is
        return newest

    def discard(self, upload: Incomplete) -> None:
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._key(upload.key), UploadId=upload.handle
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            unsupported = _unsupported(exc)
            if unsupported:
                raise Unsupported(f"{self.url} cannot abort unfinished uploads (AbortMultipartUpload answered "
                                  f"{unsupported})") from None
            raise self._error("cannot abort upload of", upload.key, exc) from None


def _noting(exc: BaseException, note: str | None) -> BaseException:
    """``exc`` with ``note`` added to its one-line message (a PgdrillError keeps its class and hint)."""
    if not note:
        return exc
    if isinstance(exc, PgdrillError):
        exc.message = f"{exc.message}; {note}"
        exc.args = (exc.message,)
        return exc
    return StoreError(f"upload failed: {type(exc).__name__}: {exc}; {note}")


def _unsupported(exc: Exception) -> str | None:
    """'501 NotImplemented' when an S3-compatible server says it does not implement the call."""
    if not isinstance(exc, botocore.exceptions.ClientError):
        return None
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = exc.response.get("Error", {}).get("Code", "")
    if status in (405, 501) or code in ("NotImplemented", "MethodNotAllowed"):
        return f"{status or ''} {code}".strip()
    return None


class _Counting:
    """Full reads only: s3transfer takes a short read from a non-seekable stream as end of file,
    which would silently store a truncated archive. Loop until ``size`` bytes or real EOF."""

    def __init__(self, source: Readable) -> None:
        self.source = source
        self.count = 0
        self.eof = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self.source.read(1 << 20):
                parts.append(chunk)
            data = b"".join(parts)
            self.eof = True
        else:
            data = self.source.read(size)
            if not data and size:
                self.eof = True
            elif len(data) < size:
                # A short read: gather the rest (the common full read is passed on without copying).
                buf = bytearray(data)
                while len(buf) < size:
                    chunk = self.source.read(size - len(buf))
                    if not chunk:
                        self.eof = True
                        break
                    buf += chunk
                data = bytes(buf)
        self.count += len(data)
        return data


class _Body:
    """A streaming GET body that turns transport errors into StoreError."""

    def __init__(self, body: Any, store: S3Store, key: str) -> None:
        self.body = body
        self.store = store
        self.key = key

    def read(self, size: int = -1) -> bytes:
        try:
            return cast(bytes, self.body.read(size if size >= 0 else None))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self.store._error("cannot read", self.key, exc) from None

    def close(self) -> None:
        self.body.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
