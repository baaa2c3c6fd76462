"""Just enough of GitHub's REST API for post-mortem issues, on the shared HTTP layer (:mod:`pgdrill.rest`)
plus GitHub's own rules: rate limits signalled by a 403 or 429 (``retry-after``, or
``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``, or a secondary limit without headers: a minute),
redirects of moved repositories, and ``Link`` pagination that never leaves the API host.

Request and response shapes follow GitHub's OpenAPI description (api.github.com, version 2022-11-28):
issues/list-for-repo, issues/create, issues/update, issues/create-comment, issues/get-label,
issues/create-label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from pgdrill.rest import ApiError, ApiRefused, ApiUnavailable, RestClient, RetryPolicy, SpecialWait, origin, retry_after

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
MAX_PAGES = 50
PERMISSION_HINT = "add `permissions: issues: write` to the workflow job"
AUTH_HINT = (
    "pass `github-token: ${{ github.token }}` to the action (or set GITHUB_TOKEN) with `permissions: issues: write`"
)
LABEL_COLOR = "b60205"
LABEL_DESCRIPTION = "Opened and closed by pgdrill when a backup job fails and recovers"


class GitHubError(ApiError):
    """The GitHub API refused or could not be reached."""


class GitHubRefused(GitHubError, ApiRefused):
    """GitHub refused the request (token, permissions, repository): the user's to fix."""


class GitHubUnavailable(GitHubError, ApiUnavailable):
    """GitHub could not be reached, failed, or kept rate-limiting."""


class GitHubClient(RestClient):
    """GitHub's REST API for issues, labels and comments."""

    def __enter__(self) -> GitHubClient:
        return self

    service = "GitHub"
    refused_error = GitHubRefused
    unavailable_error = GitHubUnavailable
    redirect_hint = "check GITHUB_REPOSITORY: the repository may have moved"
    unreachable_hint = "check the runner's network and GITHUB_API_URL"

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        timeout: float = 15.0,
        max_retries: int = 3,
        max_wait: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        scheme, host = origin(api_url.rstrip("/"))
        if scheme not in ("http", "https") or not host:
            raise GitHubUnavailable(f"GITHUB_API_URL {api_url!r} is not an http(s) URL",
                                    "unset it to use api.github.com")
        super().__init__(
            api_url, token=token, timeout=timeout, sleep=sleep, transport=transport,
            headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION},
            policy=RetryPolicy(max_retries=max_retries, backoff=1.0, max_backoff=8.0, max_wait=max_wait),
        )

    # -- GitHub's rules -----------------------------------------------------------------------
    def special_wait(self, resp: httpx.Response) -> SpecialWait | None:
        """A primary or secondary rate limit (GitHub did not act on the request, so even a POST repeats).

        GitHub's rules: honour ``retry-after``; else if ``x-ratelimit-remaining`` is 0 wait until
        ``x-ratelimit-reset``; else (a secondary limit without headers) wait at least a minute.
        """
        if resp.status_code not in (403, 429):
            return None
        after = retry_after(resp.headers.get("retry-after"))
        remaining = resp.headers.get("x-ratelimit-remaining")
        limited = (resp.status_code == 429 or after is not None or remaining == "0"
                   or "rate limit" in self.message(resp).lower())
        if not limited:
            return None
        if after is not None:
            return SpecialWait(after, "retry", "rate limit")
        reset = resp.headers.get("x-ratelimit-reset")
        if remaining == "0" and reset and reset.isdigit():
            return SpecialWait(max(int(reset) - time.time(), 0.0) + 1.0, "retry", "rate limit")
        return SpecialWait(60.0, "retry", "rate limit")

    def exhausted(self, resp: httpx.Response, what: str, seconds: float, retries: int) -> ApiError:
        return GitHubUnavailable(
            f"{what}: GitHub rate limit hit ({self.message(resp)}); retry after {seconds:.0f}s",
            "space out runs, or raise github.max_wait_seconds in pgdrill.yml",
            status=resp.status_code, retryable=True,
        )

    def unreachable(self, exc: httpx.TransportError, what: str) -> ApiError:
        return GitHubUnavailable(f"{what}: GitHub API unreachable ({type(exc).__name__})", self.unreachable_hint,
                                 retryable=True)

    def describe_error(self, resp: httpx.Response, what: str) -> tuple[str, str | None]:
        status = resp.status_code
        message = self.message(resp)
        if status == 401:
            return f"{what}: GitHub rejected the token ({message})", AUTH_HINT
        if status == 403:
            return f"{what}: {message} (403)", PERMISSION_HINT
        if status == 404:
            return (f"{what}: not found (404); the repository does not exist or the token cannot see it",
                    "check GITHUB_REPOSITORY (or github.repository in pgdrill.yml) and the token's access")
        if status == 410:
            return (f"{what}: issues are disabled in this repository (410)",
                    "enable Issues in the repository settings, or set `github: {issues: false}` in pgdrill.yml")
        if status == 422:
            return f"{what}: GitHub refused the request: {message}", None
        return f"{what}: GitHub API answered {status}: {message}", None

    def paginate(self, path: str, params: Mapping[str, str | int], *, what: str) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following ``Link: <…>; rel="next"``."""
        url: str | None = path
        query: Mapping[str, str | int] | None = {**params, "per_page": 100}
        seen: set[str] = set()
        pages = 0
        while url and pages < MAX_PAGES:
            resp = self.request("GET", url, params=query, what=what)
            data = self.json(resp, what)
            if not isinstance(data, list):
                raise GitHubError(f"{what}: expected a list from GitHub, got {type(data).__name__}")
            yield from (item for item in data if isinstance(item, dict))
            pages += 1
            seen.add(url)
            nxt = resp.links.get("next", {}).get("url")
            # The next link carries the whole query; a repeated link would loop forever.
            url = nxt if nxt and nxt not in seen else None
            query = None

    # -- endpoints ----------------------------------------------------------------------------
    def list_open_issues(self, repo: str, labels: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Open issues carrying *all* ``labels``; pull requests (which the endpoint also returns) skipped."""
        params = {"state": "open", "labels": ",".join(labels), "sort": "created", "direction": "asc"}
        for item in self.paginate(f"repos/{repo}/issues", params, what="list issues"):
            if "pull_request" in item:
                continue
            yield item

    def create_issue(
        self, repo: str, title: str, body: str, labels: Sequence[str], assignees: Sequence[str]
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"title": title, "body": body, "labels": list(labels)}
        if assignees:
            payload["assignees"] = list(assignees)
        resp = self.request("POST", f"repos/{repo}/issues", json=payload, what="open the post-mortem issue")
        return dict(self.json(resp, "open the post-mortem issue"))

    def comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        # A duplicated comment after a retried 502 is harmless, unlike a duplicated issue.
        resp = self.request(
            "POST", f"repos/{repo}/issues/{number}/comments", json={"body": body},
            what=f"comment on issue #{number}", idempotent=True,
        )
        return dict(self.json(resp, f"comment on issue #{number}"))

    def close_issue(self, repo: str, number: int) -> dict[str, Any]:
        resp = self.request(
            "PATCH", f"repos/{repo}/issues/{number}", json={"state": "closed", "state_reason": "completed"},
            what=f"close issue #{number}",
        )
        return dict(self.json(resp, f"close issue #{number}"))

    def ensure_label(self, repo: str, name: str) -> None:
        path = f"repos/{repo}/labels/{quote(name, safe='')}"
        try:
            self.request("GET", path, what=f"read label {name}")
            return
        except GitHubError as exc:
            if exc.status != 404:
                raise
        try:
            self.request(
                "POST", f"repos/{repo}/labels",
                json={"name": name, "color": LABEL_COLOR, "description": LABEL_DESCRIPTION},
                what=f"create label {name}", idempotent=True,
            )
        except GitHubError as exc:
            if exc.status != 422:  # 422 already_exists: created by a concurrent run
                raise
