"""Publishing to GitHub: job summary, step outputs, annotations and post-mortem issues.

The CLI calls :func:`mask_secrets_early` first thing and :func:`publish` after every command.
``publish`` never raises and never changes a verdict: anything that goes wrong while reporting
becomes a warning in the returned :class:`PublishResult`, in the job summary and as an annotation.

Post-mortem issues: one open issue per (job kind, environment), found by its labels plus a hidden
marker ``<!-- pgdrill:<job>:<environment> -->`` in the body. A failure opens it (or comments on it
when it is already open); the next success comments and closes it with ``state_reason: completed``.

Why a thin layer on httpx instead of a GitHub client library (PyGithub, githubkit, ghapi):
pgdrill calls six REST endpoints, and what matters is *how* it calls them, which those libraries
either hide or do differently: secondary rate limits must be honoured through ``Retry-After``
within a bounded wait (a CI job cannot sleep for an hour), server errors are retried only when a
retry cannot create a duplicate issue, every request body must pass through the secret scrubber,
the pagination ``Link`` must never carry the token to another host, and the base URL comes from
``GITHUB_API_URL`` so GitHub Enterprise Server and the test stand-in work unchanged. httpx is already
a dependency and well kept; a library would add a large dependency tree to every CI run for less
control. Request and response shapes follow GitHub's OpenAPI description (api.github.com,
version 2022-11-28): issues/list-for-repo, issues/create, issues/update, issues/create-comment,
issues/get-label, issues/create-label.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TextIO
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pgdrill import __version__, secrets
from pgdrill.ci import RunInfo
from pgdrill.errors import PgdrillError
from pgdrill.report import actions
from pgdrill.report.actions import mask_secrets_early
from pgdrill.report.outcome import Outcome

__all__ = [
    "GitHubClient",
    "GitHubError",
    "GitHubSettings",
    "IssueAction",
    "PublishResult",
    "mask_secrets_early",
    "publish",
]

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
#: GitHub rejects issue and comment bodies longer than 65,536 characters.
BODY_LIMIT = 65_536
#: kept below the limit: GitHub's count is not documented as code points, so leave a margin
BODY_BUDGET = 65_000
MAX_PAGES = 50
MAX_LISTED = 50
PERMISSION_HINT = "add `permissions: issues: write` to the workflow job"
AUTH_HINT = (
    "pass `github-token: ${{ github.token }}` to the action (or set GITHUB_TOKEN) with `permissions: issues: write`"
)

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_LOGIN = re.compile(r"^@?[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9_.-]+)?$")

LABEL_COLOR = "b60205"
LABEL_DESCRIPTION = "Opened and closed by pgdrill when a backup job fails and recovers"

CHECKLIST = (
    ("Assess", "confirm what failed and what is at risk: age of the last good backup, last good drill, "
               "which environment; decide whether this is an incident and who owns it."),
    ("Contain", "freeze deploys and migrations that touch this database until a good backup exists; "
                "keep the failing artefacts (logs, drill record) for the post-mortem."),
    ("Restore", "if data was lost or damaged, restore the last good backup into an isolated database "
                "first (`pgdrill restore`), never over production, and promote only once verified."),
    ("Verify", "re-run the job: row counts against the manifest, migration head, smoke checks; "
               "measure RTO and RPO against the targets."),
    ("Communicate", "tell stakeholders the status, impact and ETA; post updates on this issue."),
    ("Record", "write the timeline, root cause, RTO/RPO observed vs targets and follow-up actions here, "
               "and fix the runbook if it was wrong."),
)


# -- settings ---------------------------------------------------------------------------------


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


# -- errors and the REST client ---------------------------------------------------------------


class GitHubError(PgdrillError):
    """The GitHub API refused or could not be reached."""

    exit_code = 3

    def __init__(
        self, message: str, hint: str | None = None, *, status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(secrets.scrub(message), hint)
        self.status = status
        self.retryable = retryable


def _scrub_json(value: Any) -> Any:
    if isinstance(value, str):
        return secrets.scrub(value)
    if isinstance(value, list):
        return [_scrub_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_json(v) for k, v in value.items()}
    return value


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class GitHubClient:
    """Just enough of GitHub's REST API for post-mortem issues, with GitHub's retry rules."""

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
        base = api_url.rstrip("/")
        if _origin(base)[0] not in ("http", "https") or not _origin(base)[1]:
            raise GitHubError(f"GITHUB_API_URL {api_url!r} is not an http(s) URL", "unset it to use api.github.com")
        secrets.register(token)
        self._base = base
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._sleep = sleep
        self.waited = 0.0
        self._http = httpx.Client(
            base_url=base + "/",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"pgdrill/{__version__}",
            },
            timeout=timeout,
            transport=transport,
            # A redirect would re-send the token wherever the Location points.
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport with retries ---------------------------------------------------------------
    def _pause(self, seconds: float) -> bool:
        seconds = max(seconds, 0.0)
        if self.waited + seconds > self._max_wait:
            return False
        self.waited += seconds
        if seconds:
            self._sleep(seconds)
        return True

    @staticmethod
    def _message(resp: httpx.Response) -> str:
        try:
            data = resp.json()
        except ValueError:
            return resp.reason_phrase or f"HTTP {resp.status_code}"
        if not isinstance(data, dict):
            return resp.reason_phrase
        message = str(data.get("message") or resp.reason_phrase)
        details = [
            str(e.get("message") or e.get("code") or "") if isinstance(e, dict) else str(e)
            for e in data.get("errors") or []
        ]
        details = [d for d in details if d]
        return message + (f" ({'; '.join(details)})" if details else "")

    @staticmethod
    def _retry_after(resp: httpx.Response) -> float | None:
        value = resp.headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0) if when else None

    def _rate_limit_wait(self, resp: httpx.Response) -> float | None:
        """Seconds to wait if ``resp`` is a (primary or secondary) rate limit, else None.

        GitHub's rules: honour ``retry-after``; else if ``x-ratelimit-remaining`` is 0 wait until
        ``x-ratelimit-reset``; else (a secondary limit without headers) wait at least a minute.
        """
        if resp.status_code not in (403, 429):
            return None
        retry_after = self._retry_after(resp)
        remaining = resp.headers.get("x-ratelimit-remaining")
        limited = (
            resp.status_code == 429
            or retry_after is not None
            or remaining == "0"
            or "rate limit" in self._message(resp).lower()
        )
        if not limited:
            return None
        if retry_after is not None:
            return retry_after
        reset = resp.headers.get("x-ratelimit-reset")
        if remaining == "0" and reset and reset.isdigit():
            return max(int(reset) - time.time(), 0.0) + 1.0
        return 60.0

    def _error(self, resp: httpx.Response, what: str) -> GitHubError:
        status = resp.status_code
        message = self._message(resp)
        if status == 401:
            return GitHubError(f"{what}: GitHub rejected the token ({message})", AUTH_HINT, status=status)
        if status == 403:
            return GitHubError(f"{what}: {message} (403)", PERMISSION_HINT, status=status)
        if status == 404:
            return GitHubError(
                f"{what}: not found (404); the repository does not exist or the token cannot see it",
                "check GITHUB_REPOSITORY (or github.repository in pgdrill.yml) and the token's access",
                status=status,
            )
        if status == 410:
            return GitHubError(
                f"{what}: issues are disabled in this repository (410)",
                "enable Issues in the repository settings, or set `github: {issues: false}` in pgdrill.yml",
                status=status,
            )
        if status == 422:
            return GitHubError(f"{what}: GitHub refused the request: {message}", status=status)
        return GitHubError(f"{what}: GitHub API answered {status}: {message}", status=status, retryable=status >= 500)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """One API call with GitHub's retry rules.

        Rate limits are always retried (GitHub did not act on a rate-limited request). Server errors
        and dropped connections are retried only for idempotent calls: a retried POST after a 502
        could open the same issue twice, so callers of non-idempotent calls decide for themselves.
        """
        idempotent = method.upper() in ("GET", "HEAD", "PUT", "PATCH", "DELETE") if idempotent is None else idempotent
        if url.startswith(("http://", "https://")) and _origin(url) != _origin(self._base):
            raise GitHubError(f"{what}: refusing to send the token to {_origin(url)[1]}")
        body = _scrub_json(json) if json is not None else None
        attempt = redirects = 0
        while True:
            try:
                resp = self._http.request(method, url.lstrip("/"), params=params, json=body)
            except httpx.TransportError as exc:
                # A failed connect never reached GitHub, so even a POST is safe to repeat.
                safe = idempotent or isinstance(exc, httpx.ConnectError)
                if safe and attempt < self._max_retries and self._pause(min(2.0**attempt, 8.0)):
                    attempt += 1
                    continue
                raise GitHubError(
                    f"{what}: GitHub API unreachable ({type(exc).__name__})",
                    "check the runner's network and GITHUB_API_URL",
                    retryable=True,
                ) from None
            if 300 <= resp.status_code < 400:
                # A renamed or transferred repository answers with a redirect; follow it only
                # within the API host, so the token goes nowhere else.
                location = resp.headers.get("location")
                target = str(resp.url.join(location)) if location else ""
                if target and redirects < 3 and _origin(target) == _origin(self._base):
                    url, params, redirects = target, None, redirects + 1
                    continue
                raise GitHubError(
                    f"{what}: GitHub answered {resp.status_code} redirecting to {target or 'nowhere'}",
                    "check GITHUB_REPOSITORY: the repository may have moved",
                    status=resp.status_code,
                )
            if resp.status_code < 400:
                return resp
            wait = self._rate_limit_wait(resp)
            if wait is not None:
                if attempt < self._max_retries and self._pause(wait):
                    attempt += 1
                    continue
                raise GitHubError(
                    f"{what}: GitHub rate limit hit ({self._message(resp)}); retry after {wait:.0f}s",
                    "space out runs, or raise github.max_wait_seconds in pgdrill.yml",
                    status=resp.status_code,
                    retryable=True,
                )
            if resp.status_code >= 500 and idempotent and attempt < self._max_retries:
                backoff = self._retry_after(resp)
                if self._pause(min(2.0**attempt, 8.0) if backoff is None else backoff):
                    attempt += 1
                    continue
            raise self._error(resp, what)

    def _json(self, resp: httpx.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise GitHubError(f"{what}: GitHub answered {resp.status_code} with a body that is not JSON") from None

    def paginate(self, path: str, params: Mapping[str, str | int], *, what: str) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following ``Link: <…>; rel="next"``."""
        url: str | None = path
        query: Mapping[str, str | int] | None = {**params, "per_page": 100}
        seen: set[str] = set()
        pages = 0
        while url and pages < MAX_PAGES:
            resp = self.request("GET", url, params=query, what=what)
            data = self._json(resp, what)
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
        return dict(self._json(resp, "open the post-mortem issue"))

    def comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        # A duplicated comment after a retried 502 is harmless, unlike a duplicated issue.
        resp = self.request(
            "POST", f"repos/{repo}/issues/{number}/comments", json={"body": body},
            what=f"comment on issue #{number}", idempotent=True,
        )
        return dict(self._json(resp, f"comment on issue #{number}"))

    def close_issue(self, repo: str, number: int) -> dict[str, Any]:
        resp = self.request(
            "PATCH", f"repos/{repo}/issues/{number}", json={"state": "closed", "state_reason": "completed"},
            what=f"close issue #{number}",
        )
        return dict(self._json(resp, f"close issue #{number}"))

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


# -- issue bodies -----------------------------------------------------------------------------


def marker(job: str, environment: str | None) -> str:
    env = re.sub(r"[^A-Za-z0-9._-]", "_", environment or "default")
    return f"<!-- pgdrill:{job}:{env} -->"


def _gh_len(text: str) -> int:
    # UTF-16 code units: never fewer than GitHub's count, whichever way it counts characters.
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, budget: int) -> str:
    if _gh_len(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix within budget
        mid = (lo + hi + 1) // 2
        if _gh_len(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    kept = text[:lo]
    newline = kept.rfind("\n")
    return kept[:newline] if newline > lo // 2 else kept


def _md(text: object, code: bool = False) -> str:
    """One line of untrusted text, safe inside Markdown (no tables broken, no HTML, no mentions).

    ``code=True`` keeps backticks, for pgdrill's own advice that quotes settings as code.
    """
    s = " ".join(str(text).split())[:500]
    parts = s.split("`")
    if not code or len(parts) % 2 == 0:  # unbalanced backticks: escape them all
        parts = [s]
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        for ch in ("\\", "|", "*", "_", "<", ">", "[", "]", "#", "@", "`"):
            parts[i] = parts[i].replace(ch, "\\" + ch)
    return "`".join(parts) + ("…" if len(str(text)) > 500 else "")


def _items(lines: Sequence[str], icon: str) -> str:
    shown = [f"- {icon} {_md(line)}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"- …and {len(lines) - MAX_LISTED} more (see the run's job summary)")
    return "\n".join(shown)


def _facts(outcome: Outcome, run_url: str | None, extra: Sequence[tuple[str, str]] = ()) -> str:
    rows = [("Job", f"`{outcome.job}`"), ("Environment", f"`{_md(outcome.environment or 'default')}`")]
    if outcome.backup_id:
        rows.append(("Backup", f"`{_md(outcome.backup_id)}`"))
    rows += [(_md(k), _md(v)) for k, v in outcome.details.items()]
    if run_url:
        rows.append(("Run", f"[run {_md(run_url.rsplit('/runs/', 1)[-1])}]({run_url})"))
    rows += list(extra)
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def _fold_report(head: str, tail: str, report: str, summary: str) -> str:
    """``head`` + the full report folded in <details> + ``tail``, under GitHub's body limit."""
    report = report.strip()
    if not report:
        return head + tail
    open_, close = f"\n<details><summary>{summary}</summary>\n\n", "\n\n</details>\n"
    room = BODY_BUDGET - _gh_len(head + tail + open_ + close) - 200
    if _gh_len(report) > room:
        kept = actions.close_open_blocks(_cut(report, max(room, 0)))
        left_out = len(report) - len(kept)
        report = kept + f"\n\n*Report cut to fit GitHub's issue size limit ({left_out} characters left out).*"
    body = head + open_ + report + close + tail
    return body if _gh_len(body) <= BODY_BUDGET else _cut(head + tail, BODY_BUDGET)


def render_issue(outcome: Outcome, settings: GitHubSettings, run_url: str | None, now: datetime) -> tuple[str, str]:
    """Title and body of a new post-mortem issue."""
    env = outcome.environment or "default"
    title = f"pgdrill {outcome.job} failing on {env}"
    failures = list(outcome.failures) or [outcome.title]
    parts = [
        marker(outcome.job, outcome.environment),
        f"## ❌ pgdrill {outcome.job} failed on `{_md(env)}`",
        f"**Verdict:** failed: {_md(outcome.title)}",
        _facts(outcome, run_url, [("First failure", f"{now:%Y-%m-%d %H:%M} UTC")]),
        "### Failed checks\n\n" + _items(failures, "❌"),
    ]
    if outcome.warnings:
        parts.append("### Warnings\n\n" + _items(outcome.warnings, "⚠️"))
    parts.append(
        "### Incident checklist\n\n" + "\n".join(f"- [ ] **{step}**: {text}" for step, text in CHECKLIST)
    )
    if settings.mention:
        parts.append("cc " + " ".join(f"@{m}" for m in settings.mention))
    head = "\n\n".join(parts) + "\n"
    tail = (
        f"\n<sub>Opened by pgdrill. Further failures of this {outcome.job} are added as comments; "
        f"the next successful run closes this issue.</sub>\n"
    )
    return title, _fold_report(head, tail, secrets.scrub(outcome.markdown), "Full report of the failing run")


def render_failure_comment(outcome: Outcome, run_url: str | None, now: datetime) -> str:
    failures = list(outcome.failures) or [outcome.title]
    head = "\n\n".join(
        [
            f"### ❌ Failed again: {_md(outcome.title)}",
            _facts(outcome, run_url, [("At", f"{now:%Y-%m-%d %H:%M} UTC")]),
            "**Failed checks**\n\n" + _items(failures, "❌"),
        ]
    ) + "\n"
    return _fold_report(head, "", secrets.scrub(outcome.markdown), "Full report of this run")


def render_recovery_comment(outcome: Outcome, run_url: str | None, now: datetime) -> str:
    return "\n\n".join(
        [
            f"### ✅ Recovered: {_md(outcome.title)}",
            _facts(outcome, run_url, [("At", f"{now:%Y-%m-%d %H:%M} UTC")]),
            "pgdrill closes this issue as completed. Finish the checklist above: record the root cause, "
            "the RTO/RPO observed and the follow-up actions.",
        ]
    ) + "\n"


# -- the issue lifecycle ----------------------------------------------------------------------


@dataclass(frozen=True)
class IssueAction:
    action: Literal["opened", "commented", "closed", "none"]
    number: int | None = None
    url: str | None = None
    warnings: tuple[str, ...] = ()


def _label_names(issue: Mapping[str, Any]) -> set[str]:
    names = set()
    for label in issue.get("labels") or []:
        names.add(label.get("name") if isinstance(label, dict) else str(label))
    return {n for n in names if n}


def find_issues(client: GitHubClient, repo: str, labels: Sequence[str], mark: str) -> list[dict[str, Any]]:
    """Open issues with all ``labels`` and the ``mark`` in their body, oldest first.

    There should be one; more only if someone copied the body or two runs raced.
    """
    found = [i for i in client.list_open_issues(repo, labels) if mark in (i.get("body") or "")]
    return sorted(found, key=lambda i: int(i.get("number") or 0))


def find_issue(client: GitHubClient, repo: str, labels: Sequence[str], mark: str) -> dict[str, Any] | None:
    """The oldest open issue with all ``labels`` and the ``mark`` in its body."""
    found = find_issues(client, repo, labels, mark)
    return found[0] if found else None


def _issue_ref(issue: Mapping[str, Any]) -> tuple[int, str | None]:
    return int(issue["number"]), issue.get("html_url")


def sync_issue(
    client: GitHubClient,
    repo: str,
    outcome: Outcome,
    settings: GitHubSettings,
    run_url: str | None,
    now: datetime | None = None,
) -> IssueAction:
    """Open, comment on or close the post-mortem issue of ``outcome``'s (job, environment)."""
    now = now or datetime.now(timezone.utc)
    labels = settings.labels_for(outcome.job)
    mark = marker(outcome.job, outcome.environment)
    matches = find_issues(client, repo, labels, mark)
    existing = matches[0] if matches else None

    if outcome.passed:
        if existing is None:
            return IssueAction("none")
        # Recovery closes every copy, so a past race leaves nothing open behind.
        comment = render_recovery_comment(outcome, run_url, now)
        for match in matches:
            client.comment(repo, int(match["number"]), comment)
            client.close_issue(repo, int(match["number"]))
        number, url = _issue_ref(existing)
        return IssueAction("closed", number, url)

    if existing is not None:
        number, url = _issue_ref(existing)
        client.comment(repo, number, render_failure_comment(outcome, run_url, now))
        return IssueAction("commented", number, url)

    warnings: list[str] = []
    for label in labels:
        try:
            client.ensure_label(repo, label)
        except GitHubError:
            # Creating the issue below applies (and if need be creates) the labels anyway, and
            # reports a real permission problem itself.
            break
    title, body = render_issue(outcome, settings, run_url, now)
    assignees = list(settings.assignees)
    issue: dict[str, Any] | None = None
    retried = False
    while issue is None:  # ends: assignees are dropped at most once, a lost answer retried once
        try:
            issue = client.create_issue(repo, title, body, labels, assignees)
        except GitHubError as exc:
            if exc.status == 422 and assignees:
                warnings.append(f"could not assign {', '.join(assignees)} ({exc.message}); opened unassigned")
                assignees = []
                continue
            if not exc.retryable or retried:
                raise
            retried = True
            # The failed POST may have been processed: look before opening a second issue.
            issue = find_issue(client, repo, labels, mark)
    dropped = [label for label in labels if label not in _label_names(issue)]
    if dropped:
        warnings.append(
            f"GitHub did not apply the label(s) {', '.join(dropped)} to issue #{issue['number']}, so the next "
            f"run cannot find it; {PERMISSION_HINT}"
        )
    number, url = _issue_ref(issue)
    return IssueAction("opened", number, url, tuple(warnings))


# -- publish ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishResult:
    """What :func:`publish` did. ``warnings`` are reporting problems, never part of the verdict."""

    in_actions: bool
    summary_written: bool = False
    summary_bytes_dropped: int = 0
    outputs: tuple[str, ...] = ()
    annotations: int = 0
    issue: IssueAction | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _token(settings: GitHubSettings, env: Mapping[str, str]) -> str | None:
    token = settings.token or env.get("PGDRILL_GITHUB_TOKEN") or env.get("GITHUB_TOKEN") or None
    secrets.register(token)
    return token


def _issue_step(
    outcome: Outcome,
    settings: GitHubSettings,
    env: Mapping[str, str],
    run_url: str | None,
    warnings: list[str],
    transport: httpx.BaseTransport | None,
    sleep: Callable[[float], None],
    now: datetime | None,
) -> IssueAction | None:
    if not settings.issues or outcome.job not in settings.issue_jobs:
        return None
    token = _token(settings, env)
    repo = settings.repository or env.get("GITHUB_REPOSITORY") or None
    if not token or not repo:
        # Without a token a passing run has nothing to say; a failing one must explain the gap.
        if not outcome.passed:
            what = "no GitHub token" if not token else "GITHUB_REPOSITORY is not set"
            warnings.append(f"post-mortem issue not opened: {what}; {AUTH_HINT}")
        return None
    if not _REPO.match(repo):
        warnings.append(f"post-mortem issue not updated: repository {repo!r} must look like owner/name")
        return None
    api_url = env.get("GITHUB_API_URL") or DEFAULT_API_URL
    with GitHubClient(
        api_url, token, timeout=settings.timeout_seconds, max_retries=settings.max_retries,
        max_wait=settings.max_wait_seconds, sleep=sleep, transport=transport,
    ) as client:
        action = sync_issue(client, repo, outcome, settings, run_url, now)
    warnings.extend(action.warnings)
    return action


def _summary_text(outcome: Outcome, issue: IssueAction | None, warnings: Sequence[str]) -> str:
    text = outcome.markdown.rstrip() or f"### pgdrill {outcome.job} {outcome.verdict}\n\n{_md(outcome.title)}"
    extra = []
    if issue is not None and issue.number is not None:
        verb = {"opened": "opened", "commented": "updated", "closed": "closed"}.get(issue.action, issue.action)
        link = f"[#{issue.number}]({issue.url})" if issue.url else f"#{issue.number}"
        extra.append(f"Post-mortem issue {link} {verb}.")
    for warning in warnings:
        extra.append(f"> [!WARNING]\n> **GitHub reporting:** {_md(warning, code=True)}")
    return text + ("\n\n" + "\n\n".join(extra) if extra else "") + "\n"


def _outputs(outcome: Outcome, issue: IssueAction | None) -> dict[str, str]:
    outs = dict(outcome.outputs)
    outs.setdefault("passed", "true" if outcome.passed else "false")
    if outcome.backup_id:
        outs.setdefault("backup-id", outcome.backup_id)
    if issue is not None and issue.number is not None:
        outs.setdefault("issue-number", str(issue.number))
        if issue.url:
            outs.setdefault("issue-url", issue.url)
    return outs


def _publish(
    outcome: Outcome,
    settings: GitHubSettings,
    env: Mapping[str, str],
    stream: TextIO | None,
    transport: httpx.BaseTransport | None,
    sleep: Callable[[float], None],
    now: datetime | None,
) -> PublishResult:
    warnings: list[str] = []
    run_url = outcome.run_url or RunInfo.from_env(env).run_url

    issue: IssueAction | None = None
    try:
        issue = _issue_step(outcome, settings, env, run_url, warnings, transport, sleep, now)
    except PgdrillError as exc:
        warnings.append(f"post-mortem issue not updated: {exc.one_line()}")
    except Exception as exc:  # reporting must never fail the job
        warnings.append(f"post-mortem issue not updated: {type(exc).__name__}: {secrets.scrub(str(exc))}")

    summary_written, dropped = False, 0
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if settings.summary and summary_path:
        try:
            dropped = actions.append_summary(summary_path, _summary_text(outcome, issue, warnings))
            summary_written = True
        except OSError as exc:
            warnings.append(f"job summary not written: {exc.strerror or exc}")

    written: list[str] = []
    output_path = env.get("GITHUB_OUTPUT")
    if settings.outputs and output_path:
        try:
            written = actions.write_outputs(output_path, _outputs(outcome, issue))
        except (OSError, ValueError) as exc:
            warnings.append(f"step outputs not written: {exc}")

    count = 0
    if settings.annotations:
        title = f"pgdrill {outcome.job}" + (f" ({outcome.environment})" if outcome.environment else "")
        errors = list(outcome.failures) or ([] if outcome.passed else [outcome.title])
        notes = [*outcome.warnings, *(f"GitHub reporting: {w}" for w in warnings)]
        count = actions.emit(
            actions.capped("error", errors, title, "failed checks")
            + actions.capped("warning", notes, title, "warnings"),
            stream,
        )
    return PublishResult(True, summary_written, dropped, tuple(written), count, issue, tuple(warnings))


def publish(
    outcome: Outcome,
    settings: GitHubSettings | None = None,
    env: Mapping[str, str] = os.environ,
    *,
    stream: TextIO | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> PublishResult:
    """Report ``outcome`` where GitHub users look; a no-op outside GitHub Actions. Never raises.

    Order matters: the issue step runs first so the job summary can link the issue and show any
    reporting warning; annotations go last, to ``stream`` (stderr by default: see pgdrill.report.actions).
    ``transport``, ``sleep`` and ``now`` exist for tests.
    """
    if not actions.in_actions(env):
        return PublishResult(in_actions=False)
    try:
        return _publish(outcome, settings or GitHubSettings(), env, stream, transport, sleep, now)
    except Exception as exc:  # the last guard: a verdict is never lost to reporting
        warning = f"GitHub reporting failed: {type(exc).__name__}: {secrets.scrub(str(exc))}"
        return PublishResult(True, warnings=(warning,))
