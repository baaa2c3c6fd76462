"""The Neon client without a network: request building, response parsing, retries, errors.

Requests go to httpx.MockTransport handlers that answer as Neon's OpenAPI description says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from pgdrill.errors import ConfigError
from pgdrill.providers.base import BranchFailed
from pgdrill.providers.neon import (
    DEFAULT_API_HOST,
    Branch,
    CreatedBranch,
    Database,
    NeonApiError,
    NeonClient,
    Operation,
    branch_create_body,
    format_timestamp,
    parse_timestamp,
    pick_database,
    pick_parent,
)
from pgdrill.rest import RetryPolicy

KEY = "napi_unit_test_key_0123456789abcdef"
UTC = timezone.utc

Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(handler: Handler, sleeps: Sleeps | None = None, **kw: int) -> NeonClient:
    return NeonClient(KEY, "https://neon.test/api/v2", transport=httpx.MockTransport(handler),
                      sleep=sleeps if sleeps is not None else (lambda s: None), backoff=0.5, max_backoff=4, **kw)


def error(status: int, message: str = "nope", code: str = "") -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message})


# -- pure -------------------------------------------------------------------------------------
def test_timestamps_are_rfc3339_utc_seconds_floored() -> None:
    t = datetime(2026, 11, 20, 15, 29, 45, 900000, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(t) == "2026-11-20T14:29:45Z"
    with pytest.raises(ValueError):
        format_timestamp(datetime(2026, 1, 1))  # no zone: refused
    assert parse_timestamp("2022-11-23T17:42:25Z") == datetime(2022, 11, 23, 17, 42, 25, tzinfo=UTC)
    assert parse_timestamp("2025-09-10T12:15:23.2041Z") == datetime(2025, 9, 10, 12, 15, 23, 204100, tzinfo=UTC)
    assert parse_timestamp("2026-01-29T18:02:16-05:00") == datetime(2026, 1, 29, 23, 2, 16, tzinfo=UTC)
    assert parse_timestamp("yesterday") is None and parse_timestamp(None) is None


def test_branch_create_body_follows_branch_create_request() -> None:
    at = datetime(2026, 11, 20, 14, 29, 45, tzinfo=UTC)
    body = branch_create_body(parent_id="br-aged-salad-637688", name="pgdrill-drill-x", at=at,
                              expires_at=at + timedelta(hours=6))
    assert body == {
        "branch": {"parent_id": "br-aged-salad-637688", "name": "pgdrill-drill-x",
                   "parent_timestamp": "2026-11-20T14:29:45Z", "expires_at": "2026-11-20T20:29:45Z"},
        "endpoints": [{"type": "read_write"}],
    }
    latest = branch_create_body(parent_id="br-a", name="n", at=None, expires_at=None)
    assert latest == {"branch": {"parent_id": "br-a", "name": "n"}, "endpoints": [{"type": "read_write"}]}


def test_retry_delay_doubles_up_to_the_cap_and_honours_retry_after() -> None:
    # Neon's policy on the shared HTTP layer: Retry-After honoured but capped at the backoff cap.
    assert [RetryPolicy(backoff=0.5, max_backoff=4).wait(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    policy = RetryPolicy(backoff=0.5, max_backoff=10, cap_retry_after=True)
    assert policy.wait(1, "3") == 3.0
    assert policy.wait(1, "3600") == 10.0
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert policy.wait(1, "Thu, 01 Jan 2026 12:00:05 GMT", now) == 5.0
    assert policy.wait(2, "garbage") == 1.0


def test_created_branch_parsing_keeps_what_the_provider_needs() -> None:
    doc = {
        "branch": {"id": "br-dawn-scene-747675", "project_id": "autumn-disk-484331", "parent_id": "br-wispy-dew-591433",
                   "name": "recovery", "current_state": "init", "pending_state": "ready",
                   "parent_timestamp": "2026-11-20T14:29:45Z", "expires_at": "2026-11-20T20:29:45Z",
                   "created_at": "2026-11-21T08:00:00Z", "updated_at": "2026-11-21T08:00:00Z"},
        "endpoints": [{"host": "ep-small-bush-675287.us-east-2.aws.neon.tech", "id": "ep-small-bush-675287",
                       "type": "read_write"}],
        "operations": [{"id": "22acbb37", "action": "create_branch", "status": "running", "failures_count": 0},
                       {"id": "055b17e6", "action": "start_compute", "status": "scheduling",
                        "endpoint_id": "ep-small-bush-675287"}],
        "roles": [{"branch_id": "br-dawn-scene-747675", "name": "casey"}],
        "databases": [{"id": 1, "branch_id": "br-dawn-scene-747675", "name": "neondb", "owner_name": "casey"}],
    }
    c = CreatedBranch.from_doc(doc)
    assert c.branch.id == "br-dawn-scene-747675" and c.branch.parent_id == "br-wispy-dew-591433"
    assert c.branch.parent_timestamp == datetime(2026, 11, 20, 14, 29, 45, tzinfo=UTC)
    assert [o.status for o in c.operations] == ["running", "scheduling"]
    assert c.endpoints[0].type == "read_write" and c.databases == (Database("neondb", "casey"),)
    with pytest.raises(NeonApiError, match="without a branch id"):
        CreatedBranch.from_doc({"operations": []})


def test_parent_and_database_choice() -> None:
    branches = [Branch("br-1", "dev"), Branch("br-2", "main", default=True), Branch("br-3", "staging")]
    assert pick_parent(branches, None, "p").id == "br-2"
    assert pick_parent(branches, "staging", "p").id == "br-3"
    assert pick_parent(branches, "br-1", "p").name == "dev"
    with pytest.raises(ConfigError, match=r"no branch 'prod' \(branches: dev, main, staging\)"):
        pick_parent(branches, "prod", "p")
    assert pick_parent([Branch("br-9", "main")], None, "p").id == "br-9"

    one = [Database("neondb", "neondb_owner")]
    assert pick_database(one, None, None) == ("neondb", "neondb_owner")
    assert pick_database(one, None, "reader") == ("neondb", "reader")
    two = [*one, Database("app", "app_owner")]
    assert pick_database(two, "app", None) == ("app", "app_owner")
    with pytest.raises(ConfigError, match="several databases"):
        pick_database(two, None, None)
    with pytest.raises(ConfigError, match="no database 'x'"):
        pick_database(two, "x", None)


# -- transport --------------------------------------------------------------------------------
def test_requests_carry_the_key_and_go_under_the_api_host() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"project": {"id": "p", "name": "p", "history_retention_seconds": 86400}})

    project = client(handler).get_project("shiny-wind-028834")
    assert project.history_retention_seconds == 86400
    assert str(seen[0].url) == "https://neon.test/api/v2/projects/shiny-wind-028834"
    assert seen[0].headers["Authorization"] == f"Bearer {KEY}"
    assert seen[0].headers["Accept"] == "application/json"


def test_api_host_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEON_API_KEY", raising=False)
    monkeypatch.delenv("NEON_API_HOST", raising=False)
    with pytest.raises(ConfigError, match="NEON_API_KEY is not set"):
        NeonClient()
    monkeypatch.setenv("NEON_API_KEY", KEY)
    assert NeonClient().api_host == DEFAULT_API_HOST
    monkeypatch.setenv("NEON_API_HOST", "http://127.0.0.1:9999/api/v2/")
    assert NeonClient().api_host == "http://127.0.0.1:9999/api/v2"
    monkeypatch.setenv("NEON_API_HOST", "console.neon.tech")
    with pytest.raises(ConfigError, match="not an http"):
        NeonClient()


def test_connection_uri_query_and_secret() -> None:
    seen: list[httpx.Request] = []
    uri = "postgresql://casey:s3cr3t-pw-xyz@ep-x.us-east-2.aws.neon.tech/neondb?sslmode=require"

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"uri": uri})

    got = client(handler).connection_uri("p", branch_id="br-x", database="neondb", role="casey", endpoint_id="ep-x")
    assert got.reveal() == uri and str(got) == "***"
    assert dict(seen[0].url.params) == {"branch_id": "br-x", "database_name": "neondb", "role_name": "casey",
                                        "pooled": "false", "endpoint_id": "ep-x"}


def test_423_is_retried_with_backoff_then_gives_up() -> None:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req.method)
        if len(calls) <= 2:
            return error(423, "project already has running conflicting operations")
        return httpx.Response(201, json={"branch": {"id": "br-new", "name": "n"}, "operations": []})

    sleeps = Sleeps()
    created = client(handler, sleeps).create_branch("p", {"branch": {"name": "n"}})
    assert created.branch.id == "br-new" and calls == ["POST"] * 3 and sleeps == [0.5, 1.0]

    always = Sleeps()
    with pytest.raises(NeonApiError) as info:
        client(lambda r: error(423, "locked"), always, locked_retries=3).create_branch("p", {})
    assert len(always) == 3 and info.value.status == 423 and info.value.exit_code == 3
    assert "423 Locked" in info.value.message and "after 3 retries" in info.value.message


def test_a_post_is_not_repeated_after_a_500_but_a_get_is() -> None:
    posts: list[int] = []

    def post_handler(req: httpx.Request) -> httpx.Response:
        posts.append(1)
        return error(500, "internal")

    with pytest.raises(NeonApiError) as info:
        client(post_handler).create_branch("p", {})
    assert len(posts) == 1 and info.value.exit_code == 3  # the branch may exist: never create it twice

    gets: list[int] = []

    def get_handler(req: httpx.Request) -> httpx.Response:
        gets.append(1)
        if len(gets) < 3:
            return error(502, "bad gateway")
        return httpx.Response(200, json={"branches": [{"id": "br-1", "name": "main", "default": True}]})

    assert client(get_handler).list_branches("p")[0].name == "main"
    assert len(gets) == 3
    bounded: list[int] = []

    def down(req: httpx.Request) -> httpx.Response:
        bounded.append(1)
        return error(503, "down")

    with pytest.raises(NeonApiError, match="HTTP 503"):
        client(down, retries=2).list_branches("p")
    assert len(bounded) == 3


def test_a_post_is_repeated_when_no_connection_was_made() -> None:
    attempts: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            raise httpx.ConnectError("connection refused", request=req)
        return httpx.Response(201, json={"branch": {"id": "br-1", "name": "n"}})

    assert client(handler).create_branch("p", {}).branch.id == "br-1"
    assert len(attempts) == 2

    def read_timeout(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=req)

    with pytest.raises(NeonApiError, match="unreachable"):
        client(read_timeout).create_branch("p", {})


def test_refusals_are_the_users_to_fix_and_never_show_the_key() -> None:
    with pytest.raises(NeonApiError) as info:
        client(lambda r: error(401, f"invalid key {KEY}")).get_project("p")
    assert info.value.exit_code == 2 and "NEON_API_KEY" in (info.value.hint or "")
    assert KEY not in info.value.message
    with pytest.raises(NeonApiError) as missing:
        client(lambda r: error(404, "project not found", "NOT_FOUND")).get_project("nope")
    assert missing.value.exit_code == 2 and missing.value.code == "NOT_FOUND"
    assert "project not found" in missing.value.message


def test_delete_of_a_gone_branch_is_not_an_error() -> None:
    assert client(lambda r: error(404, "branch not found")).delete_branch("p", "br-x") is None
    ops = client(lambda r: httpx.Response(200, json={
        "branch": {"id": "br-x"}, "operations": [{"id": "o1", "action": "delete_timeline", "status": "running"}]}))
    assert ops.delete_branch("p", "br-x") == [Operation("o1", "delete_timeline", "running")]


# -- operations -------------------------------------------------------------------------------
def op_server(statuses: dict[str, list[dict[str, object]]]) -> Handler:
    """Answers getProjectOperation with the next scripted state of each operation."""

    def handler(req: httpx.Request) -> httpx.Response:
        op_id = req.url.path.rsplit("/", 1)[-1]
        queue = statuses[op_id]
        doc = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(200, content=json.dumps({"operation": {"id": op_id, **doc}}))

    return handler


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def tick(self, seconds: float) -> None:
        self.t += seconds


def test_operations_are_polled_until_finished() -> None:
    c = client(op_server({"a": [{"action": "create_branch", "status": "running"},
                                {"action": "create_branch", "status": "finished"}],
                          "b": [{"action": "start_compute", "status": "finished"}]}))
    ops = [Operation("a", "create_branch", "running"), Operation("b", "start_compute", "scheduling")]
    done = c.wait_operations("p", ops, deadline=1e9, poll=0)
    assert sorted(o.id for o in done) == ["a", "b"]


def test_an_operation_in_error_fails_at_once_with_its_message() -> None:
    c = client(op_server({"a": [{"action": "create_branch", "status": "error", "error": "timeline not found"}]}))
    with pytest.raises(BranchFailed, match=r"create_branch .*error: timeline not found"):
        c.wait_operations("p", [Operation("a", "create_branch", "running")], deadline=1e9, poll=0)


def test_a_failed_operation_gets_a_grace_period_for_neons_retry() -> None:
    clock = Clock()
    sleeps = Sleeps()
    c = client(op_server({"a": [{"action": "start_compute", "status": "failed", "error": "no capacity",
                                 "failures_count": 1}]}), sleeps)
    c.sleep = lambda s: (sleeps.append(s), clock.tick(s))  # type: ignore[func-returns-value]
    with pytest.raises(BranchFailed, match="no capacity, 1 failure"):
        c.wait_operations("p", [Operation("a", "start_compute", "running")], deadline=1e9, poll=5,
                          failed_grace=30, clock=clock)
    assert 30 <= clock.t <= 40  # it waited out the grace, not the deadline


def test_operations_that_never_finish_time_out() -> None:
    clock = Clock()
    c = client(op_server({"a": [{"action": "create_branch", "status": "running"}]}))
    c.sleep = clock.tick
    with pytest.raises(BranchFailed, match=r"still not finished after the timeout: create_branch \(running\)"):
        c.wait_operations("p", [Operation("a", "create_branch", "running")], deadline=20, poll=5, clock=clock)
