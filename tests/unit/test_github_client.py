"""The thin REST layer: headers, pagination, GitHub's retry rules. httpx.MockTransport, no network."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from pgdrill import secrets
from pgdrill.report.github import API_VERSION, GitHubClient, GitHubError

TOKEN = "ghs_unit_test_token_0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def clean_secrets() -> Iterator[None]:
    secrets.reset_for_tests()
    yield
    secrets.reset_for_tests()


class Recorder:
    def __init__(self, *responses: httpx.Response | Handler) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return item(request) if callable(item) else item

    def client(self, api_url: str = "https://api.github.com", **kw: float) -> GitHubClient:
        return GitHubClient(
            api_url, TOKEN, transport=httpx.MockTransport(self), sleep=self.sleeps.append, **kw  # type: ignore[arg-type]
        )


def error(status: int, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message, "documentation_url": "https://docs.github.com/rest"},
                          headers=headers)


def test_every_request_carries_githubs_headers_and_a_versioned_base_path() -> None:
    rec = Recorder(httpx.Response(200, json=[]))
    with rec.client("https://ghe.example.com/api/v3/") as client:
        assert list(client.list_open_issues("acme/shop", ["pgdrill", "pgdrill:drill"])) == []
    (req,) = rec.requests
    assert str(req.url).startswith("https://ghe.example.com/api/v3/repos/acme/shop/issues?")
    assert req.url.params["labels"] == "pgdrill,pgdrill:drill"
    assert req.url.params["state"] == "open"
    assert req.url.params["per_page"] == "100"
    assert req.headers["x-github-api-version"] == API_VERSION == "2022-11-28"
    assert req.headers["accept"] == "application/vnd.github+json"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["user-agent"].startswith("pgdrill/")


def test_pagination_follows_link_headers_and_skips_pull_requests() -> None:
    base = "https://api.github.com/repositories/1/issues?labels=pgdrill&state=open&per_page=100"
    pages = {
        None: (
            [{"number": 1, "body": ""}, {"number": 2, "pull_request": {"url": "u"}}],
            f'<{base}&page=2>; rel="next"',
        ),
        "2": ([{"number": 3, "body": ""}], f'<{base}&page=3>; rel="next", <{base}&page=3>; rel="last"'),
        "3": ([{"number": 4, "body": ""}], f'<{base}&page=1>; rel="first"'),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        items, link = pages[request.url.params.get("page")]
        return httpx.Response(200, json=items, headers={"Link": link})

    rec = Recorder(handler)
    with rec.client() as client:
        numbers = [i["number"] for i in client.list_open_issues("acme/shop", ["pgdrill"])]
    assert numbers == [1, 3, 4]
    assert [r.url.params.get("page") for r in rec.requests] == [None, "2", "3"]


def test_a_next_link_to_another_host_never_gets_the_token() -> None:
    rec = Recorder(httpx.Response(200, json=[], headers={"Link": '<https://evil.example/issues?page=2>; rel="next"'}))
    with rec.client() as client, pytest.raises(GitHubError, match=r"refusing to send the token to evil\.example"):
        list(client.list_open_issues("acme/shop", ["pgdrill"]))
    assert len(rec.requests) == 1


def test_a_link_loop_ends() -> None:
    loop = '<https://api.github.com/repos/acme/shop/issues?page=2>; rel="next"'
    rec = Recorder(httpx.Response(200, json=[{"number": 1, "body": ""}], headers={"Link": loop}))
    with rec.client() as client:
        assert len(list(client.list_open_issues("acme/shop", ["pgdrill"]))) == 2
    assert len(rec.requests) == 2


def test_secondary_rate_limit_waits_retry_after_then_succeeds() -> None:
    limited = error(403, "You have exceeded a secondary rate limit. Please wait a few minutes.", **{"Retry-After": "7"})
    rec = Recorder(limited, error(429, "slow down", **{"Retry-After": "3"}), httpx.Response(201, json={"number": 9}))
    with rec.client() as client:
        assert client.create_issue("acme/shop", "t", "b", ["pgdrill"], [])["number"] == 9
    assert rec.sleeps == [7.0, 3.0]
    assert len(rec.requests) == 3  # a rate-limited POST was not acted on, so repeating it is safe


def test_primary_rate_limit_without_retry_after_waits_for_the_reset() -> None:
    import time

    reset = str(int(time.time()) + 5)
    rec = Recorder(error(403, "API rate limit exceeded", **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}),
                   httpx.Response(200, json=[]))
    with rec.client() as client:
        list(client.list_open_issues("acme/shop", ["pgdrill"]))
    assert 4 <= rec.sleeps[0] <= 7


def test_a_rate_limit_longer_than_the_budget_fails_fast_instead_of_hanging_ci() -> None:
    rec = Recorder(error(429, "slow down", **{"Retry-After": "3600"}))
    with rec.client(max_wait=120) as client, pytest.raises(GitHubError, match="rate limit hit") as info:
        client.close_issue("acme/shop", 3)
    assert rec.sleeps == []
    assert len(rec.requests) == 1
    assert info.value.retryable


def test_rate_limit_retries_are_bounded() -> None:
    rec = Recorder(error(429, "slow down", **{"Retry-After": "1"}))
    with rec.client(max_retries=3) as client, pytest.raises(GitHubError, match="rate limit"):
        client.close_issue("acme/shop", 3)
    assert len(rec.requests) == 4
    assert rec.sleeps == [1.0, 1.0, 1.0]


def test_server_errors_are_retried_with_bounded_backoff() -> None:
    rec = Recorder(error(502, "Bad Gateway"), error(503, "Unavailable"), httpx.Response(200, json=[]))
    with rec.client() as client:
        assert list(client.list_open_issues("acme/shop", ["pgdrill"])) == []
    assert rec.sleeps == [1.0, 2.0]

    rec = Recorder(error(500, "boom"))
    with rec.client(max_retries=5) as client, pytest.raises(GitHubError, match="answered 500: boom"):
        client.close_issue("acme/shop", 3)
    assert len(rec.requests) == 6
    assert rec.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_creating_an_issue_is_not_blindly_repeated_after_a_server_error() -> None:
    rec = Recorder(error(502, "Bad Gateway"))
    with rec.client() as client, pytest.raises(GitHubError) as info:
        client.create_issue("acme/shop", "t", "b", ["pgdrill"], [])
    assert len(rec.requests) == 1
    assert info.value.retryable  # the caller looks for the issue before trying again


def test_permanent_errors_are_not_retried_and_explain_the_fix() -> None:
    rec = Recorder(error(403, "Resource not accessible by integration"))
    with rec.client() as client, pytest.raises(GitHubError) as info:
        client.comment("acme/shop", 3, "hello")
    assert len(rec.requests) == 1
    assert "Resource not accessible by integration" in info.value.one_line()
    assert "permissions: issues: write" in info.value.one_line()

    for status, text in ((401, "rejected the token"), (404, "not found"), (410, "issues are disabled")):
        rec = Recorder(error(status, "nope"))
        with rec.client() as client, pytest.raises(GitHubError, match=text):
            client.comment("acme/shop", 3, "hello")
        assert len(rec.requests) == 1


def test_validation_errors_show_githubs_reasons() -> None:
    body = {"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "assignees", "code": "invalid"}]}
    rec = Recorder(httpx.Response(422, json=body))
    with rec.client() as client, pytest.raises(GitHubError, match=r"Validation Failed \(invalid\)"):
        client.create_issue("acme/shop", "t", "b", ["pgdrill"], ["ghost"])


def test_dropped_connections_are_retried_only_when_safe() -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if calls["n"] == 2:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(201, json={"number": 1})

    rec = Recorder(flaky)
    with rec.client() as client, pytest.raises(GitHubError, match="unreachable \\(ReadTimeout\\)"):
        # the connect failure never reached GitHub: retried; the read timeout might have: not retried
        client.create_issue("acme/shop", "t", "b", ["pgdrill"], [])
    assert calls["n"] == 2


def test_request_bodies_are_scrubbed_of_secrets() -> None:
    secrets.register("db-password-value")
    rec = Recorder(httpx.Response(201, json={"number": 1}))
    with rec.client() as client:
        client.create_issue("acme/shop", "failed with db-password-value", "body db-password-value", ["pgdrill"], [])
    sent = json.loads(rec.requests[0].content)
    assert sent == {"title": "failed with ***", "body": "body ***", "labels": ["pgdrill"]}


def test_the_token_itself_is_registered_as_a_secret() -> None:
    Recorder(httpx.Response(200, json=[])).client()
    assert secrets.scrub(f"token {TOKEN}") == "token ***"


def test_close_uses_state_reason_completed() -> None:
    rec = Recorder(httpx.Response(200, json={"number": 3, "state": "closed"}))
    with rec.client() as client:
        client.close_issue("acme/shop", 3)
    (req,) = rec.requests
    assert req.method == "PATCH"
    assert req.url.path == "/repos/acme/shop/issues/3"
    assert json.loads(req.content) == {"state": "closed", "state_reason": "completed"}


def test_bad_api_url_is_one_clear_error() -> None:
    with pytest.raises(GitHubError, match="GITHUB_API_URL 'ftp://x' is not an http"):
        GitHubClient("ftp://x", TOKEN)


def test_a_moved_repository_is_followed_only_within_the_api_host() -> None:
    moved = httpx.Response(301, headers={"Location": "https://api.github.com/repositories/42/issues?state=open"})
    rec = Recorder(moved, httpx.Response(200, json=[{"number": 5, "body": ""}]))
    with rec.client() as client:
        assert [i["number"] for i in client.list_open_issues("acme/old-name", ["pgdrill"])] == [5]
    assert rec.requests[1].url.path == "/repositories/42/issues"

    rec = Recorder(httpx.Response(301, headers={"Location": "https://elsewhere.example/x"}))
    with rec.client() as client, pytest.raises(GitHubError, match="redirecting to https://elsewhere"):
        client.close_issue("acme/shop", 3)
    assert len(rec.requests) == 1
