"""The one HTTP layer under every API pgdrill calls (GitHub, Neon, notification webhooks).

What is the same for every service lives here, once:

- **which requests may be repeated**: GET, HEAD, PUT, PATCH and DELETE after a dropped connection or a
  server error; a POST only when the request cannot have been acted on — no connection was made, or
  the service answered with a status it documents as "not done" (rate limits; per service, e.g.
  Neon's 423 Locked);
- **how long to wait**: the server's ``Retry-After`` (seconds or an HTTP date) when it sends one, else
  exponential backoff; every wait counts against a total budget, so a CI job never sleeps for an hour
  on a rate limit — past the budget the request fails at once, saying how long the service asked for;
- **redirects** are followed only within the API's own origin (the token goes nowhere else), and an
  absolute URL (a pagination link) to another origin is refused;
- **secrets**: the token is registered with :mod:`pgdrill.secrets`, every JSON body is scrubbed before
  it is sent, and every error message is scrubbed before it is raised;
- **errors**: an HTTP status becomes an :class:`ApiError` whose class says whose problem it is —
  :class:`ApiRefused` (a 4xx the user fixes: key, permissions, project id; exit 2) or
  :class:`ApiUnavailable` (unreachable, 5xx, rate limited, locked: infrastructure, exit 3).

A service is a :class:`RestClient` subclass that names itself and may add service rules through two
hooks: :meth:`RestClient.special_wait` (e.g. GitHub's secondary rate limit on a 403, Neon's 423) and
:meth:`RestClient.describe_error` (the one-line message and hint for a refusal).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from pgdrill import __version__, secrets
from pgdrill.errors import PgdrillError

SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: statuses worth repeating a safe request for
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: refusals that are not the user's to fix
_TRANSIENT_4XX = frozenset({408, 423, 429})


class ApiError(PgdrillError):
    """An HTTP API refused a request or could not be reached. ``status`` is None when no answer came."""

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None, *, status: int | None = None,
                 code: str | None = None, retryable: bool = False) -> None:
        super().__init__(secrets.scrub(message), secrets.scrub(hint) if hint else hint)
        self.status = status
        self.code = code
        self.retryable = retryable


class ApiRefused(ApiError):
    """The service refused the request for a reason the user must fix (bad key, no access, unknown id)."""

    exit_code = 2


class ApiUnavailable(ApiError):
    """The service could not be reached, failed, or kept asking to wait: infrastructure trouble."""

    exit_code = 3


def error_class(status: int | None) -> type[ApiError]:
    """The error class for an answer with ``status`` (None: no answer at all)."""
    if status is not None and 400 <= status < 500 and status not in _TRANSIENT_4XX:
        return ApiRefused
    return ApiUnavailable


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header in seconds (delay-seconds or an HTTP date); None when absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def scrub_json(value: Any) -> Any:
    """A JSON value with every registered secret replaced in every string."""
    if isinstance(value, str):
        return secrets.scrub(value)
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub_json(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a client retries. ``max_retries`` bounds ordinary retries; a service's
    special waits may have their own bound (``bucket_retries``, e.g. Neon's 423 Locked)."""

    max_retries: int = 3
    backoff: float = 1.0  # first backoff; doubles each retry
    max_backoff: float = 8.0
    max_wait: float = 120.0  # total seconds spent waiting, over all retries of one request
    cap_retry_after: bool = False  # True: a Retry-After longer than max_backoff waits max_backoff
    bucket_retries: Mapping[str, int] = field(default_factory=dict)

    def delay(self, attempt: int) -> float:
        """Exponential backoff for retry number ``attempt`` (1, 2, …): backoff·2^(attempt-1), capped."""
        return float(min(self.backoff * 2.0 ** max(0, attempt - 1), self.max_backoff))

    def wait(self, attempt: int, retry_after_header: str | None = None, now: datetime | None = None) -> float:
        """Seconds before retry number ``attempt``: the server's Retry-After when it gave a readable one
        (capped at ``max_backoff`` when ``cap_retry_after``), else the backoff."""
        after = retry_after(retry_after_header, now)
        if after is None:
            return self.delay(attempt)
        return min(after, self.max_backoff) if self.cap_retry_after else after


@dataclass(frozen=True)
class SpecialWait:
    """A service rule saying "wait and repeat", counted in ``bucket``: ``seconds`` when the rule knows
    how long (a rate-limit reset), else None for the policy's wait (Retry-After or backoff)."""

    seconds: float | None = None
    bucket: str = "retry"
    why: str = ""


class RestClient:
    """A JSON REST client with the shared rules above. Subclasses set ``service`` and may override the
    hooks; they add one method per endpoint."""

    service: ClassVar[str] = "API"
    #: statuses after which even a POST may be repeated (the service did not act on it)
    not_acted: ClassVar[frozenset[int]] = frozenset({429})
    #: the service's own error classes for a refusal and for unavailability
    refused_error: ClassVar[type[ApiError]] = ApiRefused
    unavailable_error: ClassVar[type[ApiError]] = ApiUnavailable
    redirect_hint: ClassVar[str | None] = None
    unreachable_hint: ClassVar[str | None] = "check the runner's network"

    def __init__(self, base_url: str, *, token: str | None = None, headers: Mapping[str, str] | None = None,
                 timeout: float = 30.0, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None,
                 on_retry: Callable[[str], None] | None = None) -> None:
        base = base_url.rstrip("/")
        scheme, host = origin(base)
        if scheme not in ("http", "https") or not host:
            raise self.error_for(None, f"{self.service} URL {base_url!r} is not an http(s) URL")
        secrets.register(token)
        self.base_url = base
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.on_retry = on_retry
        self.waited = 0.0
        all_headers = {"User-Agent": f"pgdrill/{__version__}", "Accept": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        # Redirects are followed by hand, within the API's origin only (see request()).
        self._http = httpx.Client(base_url=base + "/", headers=all_headers, timeout=timeout, transport=transport,
                                  follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hooks --------------------------------------------------------------------------------
    def special_wait(self, resp: httpx.Response) -> SpecialWait | None:
        """A service rule that makes this answer worth repeating after a wait (None: no such rule).
        The default: 429 Too Many Requests, with its Retry-After."""
        if resp.status_code == 429:
            return SpecialWait(None, "retry", "answered HTTP 429")
        return None

    def describe_error(self, resp: httpx.Response, what: str) -> tuple[str, str | None]:
        """(message, hint) for a failed answer."""
        return f"{self.service} answered {what} with HTTP {resp.status_code}: {self.message(resp)}", None

    def exhausted(self, resp: httpx.Response, what: str, seconds: float, retries: int) -> ApiError:
        """The error once a special wait's retries (``retries`` made) or the wait budget ran out; the
        service asked for ``seconds`` more."""
        message, hint = self.describe_error(resp, what)
        return self.error_for(resp.status_code, message, hint, code=self.code(resp), retryable=True)

    # -- helpers for subclasses ---------------------------------------------------------------
    def error_for(self, status: int | None, message: str, hint: str | None = None, *, code: str | None = None,
                  retryable: bool = False) -> ApiError:
        """The error to raise for an answer with ``status`` (None: no answer), of the service's classes."""
        cls = self.refused_error if error_class(status) is ApiRefused else self.unavailable_error
        return cls(message, hint, status=status, code=code, retryable=retryable)

    @staticmethod
    def message(resp: httpx.Response) -> str:
        """The service's own error message, from a JSON ``message`` (with GitHub-style ``errors``)."""
        try:
            data = resp.json()
        except ValueError:
            text = " ".join(resp.text.split())[:200]
            return text or resp.reason_phrase or f"HTTP {resp.status_code}"
        if not isinstance(data, dict):
            return resp.reason_phrase or f"HTTP {resp.status_code}"
        message = str(data.get("message") or resp.reason_phrase or f"HTTP {resp.status_code}")
        details = [str(e.get("message") or e.get("code") or "") if isinstance(e, dict) else str(e)
                   for e in data.get("errors") or [] if e]
        details = [d for d in details if d]
        return message + (f" ({'; '.join(details)})" if details else "")

    @staticmethod
    def code(resp: httpx.Response) -> str | None:
        try:
            data = resp.json()
        except ValueError:
            return None
        return str(data["code"]) if isinstance(data, dict) and data.get("code") else None

    def _pause(self, seconds: float, why: str) -> bool:
        """Wait ``seconds`` if the budget allows it; False (and no wait) when it does not."""
        seconds = max(seconds, 0.0)
        if self.waited + seconds > self.policy.max_wait:
            return False
        self.waited += seconds
        if self.on_retry:
            self.on_retry(f"{self.service} {why}; retrying in {seconds:.1f}s")
        if seconds:
            self.sleep(seconds)
        return True

    # -- the request loop ---------------------------------------------------------------------
    def request(self, method: str, url: str, *, what: str, params: Mapping[str, Any] | None = None,
                json: Any = None, idempotent: bool | None = None) -> httpx.Response:
        """One call with the shared rules; returns a response with status < 400 or raises ApiError.

        ``idempotent`` overrides the method's default (a POST that is harmless to repeat, such as a
        comment, may say so; the caller then accepts a duplicate after a lost answer).
        """
        method = method.upper()
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        if url.startswith(("http://", "https://")) and origin(url) != origin(self.base_url):
            raise self.error_for(None, f"{what}: refusing to send the token to {origin(url)[1]}")
        body = scrub_json(json) if json is not None else None
        tries: dict[str, int] = {}
        redirects = 0
        while True:
            try:
                resp = self._http.request(method, url.lstrip("/") if not url.startswith("http") else url,
                                          params=params, json=body)
            except httpx.TransportError as exc:
                # A failed connect never reached the service, so even a POST is safe to repeat.
                n = tries["retry"] = tries.get("retry", 0) + 1
                if ((safe or isinstance(exc, httpx.ConnectError)) and n <= self.policy.max_retries
                        and self._pause(self.policy.delay(n), f"unreachable ({type(exc).__name__})")):
                    continue
                raise self.unreachable(exc, what) from None
            status = resp.status_code
            if 300 <= status < 400:
                location = resp.headers.get("location")
                target = str(resp.url.join(location)) if location else ""
                if target and redirects < 3 and origin(target) == origin(self.base_url):
                    url, params, redirects = target, None, redirects + 1
                    continue
                raise self.error_for(status, f"{what}: {self.service} answered {status} redirecting to "
                                             f"{target or 'nowhere'}", self.redirect_hint)
            if status < 400:
                return resp
            special = self.special_wait(resp)
            if special is not None:
                n = tries[special.bucket] = tries.get(special.bucket, 0) + 1
                bound = self.policy.bucket_retries.get(special.bucket, self.policy.max_retries)
                seconds = special.seconds
                if seconds is None:
                    seconds = self.policy.wait(n, resp.headers.get("retry-after"))
                if n <= bound and self._pause(seconds, special.why or f"answered HTTP {status}"):
                    continue
                raise self.exhausted(resp, what, seconds, n - 1)
            if status in RETRY_STATUSES and (safe or status in self.not_acted):
                n = tries["retry"] = tries.get("retry", 0) + 1
                seconds = self.policy.wait(n, resp.headers.get("retry-after"))
                if n <= self.policy.max_retries and self._pause(seconds, f"answered HTTP {status}"):
                    continue
            message, hint = self.describe_error(resp, what)
            raise self.error_for(status, message, hint, code=self.code(resp), retryable=status >= 500)

    def unreachable(self, exc: httpx.TransportError, what: str) -> ApiError:
        detail = secrets.scrub(str(exc)) or "no detail"
        return self.error_for(None, f"{self.service} at {self.base_url} unreachable while trying to {what}: "
                                    f"{type(exc).__name__}: {detail}", self.unreachable_hint, retryable=True)

    def json(self, resp: httpx.Response, what: str) -> Any:
        if not resp.content:
            return {}
        try:
            return resp.json()
        except ValueError:
            raise self.error_for(None, f"{self.service} answered {what} with something that is not JSON") from None
