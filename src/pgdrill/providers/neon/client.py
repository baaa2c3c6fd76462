"""Neon API v2 client, on the shared HTTP layer (:mod:`pgdrill.rest`).

Endpoints used, as Neon's published OpenAPI description (v2) defines them:

- ``GET /projects/{project_id}`` → ``{"project": {..., "history_retention_seconds": int}}``: the PITR window
- ``GET /projects/{project_id}/branches`` → ``{"branches": [Branch]}``: find the parent by name or id
- ``POST /projects/{project_id}/branches`` with ``{"branch": {"parent_id", "name", "parent_timestamp",
  "expires_at"}, "endpoints": [{"type": "read_write"}]}`` → 201 ``{"branch", "endpoints", "operations",
  "roles", "databases"}``. ``parent_timestamp`` is ISO 8601; ``expires_at`` is RFC 3339, in the future
  and at most 30 days ahead, and makes Neon delete the branch by itself.
- ``GET /projects/{project_id}/operations/{operation_id}`` → ``{"operation": Operation}``; statuses are
  scheduling, running, finished, failed, cancelling, cancelled, skipped (``error`` holds the reason).
- ``GET /projects/{project_id}/branches/{branch_id}/databases`` → ``{"databases": [Database]}``
- ``GET /projects/{project_id}/connection_uri?branch_id&endpoint_id&database_name&role_name&pooled``
  → ``{"uri": "postgresql://…"}``
- ``DELETE /projects/{project_id}/branches/{branch_id}`` → ``{"branch", "operations"}``
- ``PATCH /projects/{project_id}/branches/{branch_id}`` with ``{"branch": {"name"}}`` → ``{"branch",
  "operations"}``: rename a branch (promote keeps the old default under a new name)
- ``POST /projects/{project_id}/branches/{branch_id}/set_as_default`` → ``{"branch", "operations"}``

Errors come as ``{"code", "message"}``. Neon answers ``423 Locked`` while a conflicting operation
runs on the project: retried with backoff, on a budget of its own. 429 and 5xx are retried a bounded
number of times (a POST only when the request cannot have been acted on: 423, 429, 503, or no
connection made).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from pgdrill.errors import ConfigError
from pgdrill.providers.base import BranchFailed
from pgdrill.rest import ApiError, ApiRefused, ApiUnavailable, RestClient, RetryPolicy, SpecialWait
from pgdrill.secrets import Secret
from pgdrill.streams import Progress

DEFAULT_API_HOST = "https://console.neon.tech/api/v2"
API_KEY_ENV = "NEON_API_KEY"
API_HOST_ENV = "NEON_API_HOST"

DONE = frozenset({"finished", "skipped"})
PENDING = frozenset({"scheduling", "running"})
#: "failed" is not final on Neon (it may be retried), so it gets a grace period; these are final
FINAL_FAILURES = frozenset({"error", "cancelling", "cancelled"})


# -- timestamps -------------------------------------------------------------------------------
def format_timestamp(t: datetime) -> str:
    """RFC 3339 in UTC to the second (what ``expires_at`` stores). Floored, so a branch "at 14:29:45.8"
    is made at 14:29:45: earlier than asked, never after the incident."""
    if t.tzinfo is None:
        raise ValueError("timestamp must include a timezone")
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python 3.10's fromisoformat wants 0, 3 or 6 fraction digits.
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", s)
    if m:
        s = f"{m.group(1)}.{(m.group(2) + '000000')[:6]}{m.group(3)}"
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


# -- documents --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    id: str
    action: str
    status: str
    error: str | None = None
    failures_count: int = 0
    branch_id: str | None = None
    endpoint_id: str | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Operation:
        return cls(
            id=str(doc.get("id", "")), action=str(doc.get("action", "?")), status=str(doc.get("status", "?")),
            error=str(doc["error"]) if doc.get("error") else None,
            failures_count=int(doc.get("failures_count") or 0),
            branch_id=doc.get("branch_id"), endpoint_id=doc.get("endpoint_id"),
        )

    def describe(self) -> str:
        why = f": {self.error}" if self.error else " (Neon gave no error message)"
        return f"operation {self.action} ({self.id}) {self.status}{why}"


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    history_retention_seconds: int
    created_at: datetime | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Project:
        p = doc.get("project")
        if not isinstance(p, Mapping):
            raise NeonUnavailable("Neon API answered the project request without a project")
        raw = p.get("history_retention_seconds")
        if not isinstance(raw, int):
            raise NeonUnavailable("Neon API did not report the project's history_retention_seconds (the PITR window)")
        return cls(str(p.get("id", "")), str(p.get("name", "")), raw, parse_timestamp(p.get("created_at")))


@dataclass(frozen=True)
class Branch:
    id: str
    name: str
    parent_id: str | None = None
    primary: bool = False
    default: bool = False
    current_state: str | None = None
    created_at: datetime | None = None
    parent_timestamp: datetime | None = None
    expires_at: datetime | None = None

    @classmethod
    def from_doc(cls, b: Mapping[str, Any]) -> Branch:
        return cls(
            id=str(b.get("id", "")), name=str(b.get("name", "")), parent_id=b.get("parent_id"),
            primary=bool(b.get("primary")), default=bool(b.get("default")), current_state=b.get("current_state"),
            created_at=parse_timestamp(b.get("created_at")),
            parent_timestamp=parse_timestamp(b.get("parent_timestamp")),
            expires_at=parse_timestamp(b.get("expires_at")),
        )


@dataclass(frozen=True)
class Database:
    name: str
    owner_name: str

    @classmethod
    def from_doc(cls, d: Mapping[str, Any]) -> Database:
        return cls(str(d.get("name", "")), str(d.get("owner_name", "")))


@dataclass(frozen=True)
class Endpoint:
    id: str
    type: str
    host: str | None = None

    @classmethod
    def from_doc(cls, e: Mapping[str, Any]) -> Endpoint:
        return cls(str(e.get("id", "")), str(e.get("type", "")), e.get("host"))


@dataclass(frozen=True)
class CreatedBranch:
    branch: Branch
    endpoints: tuple[Endpoint, ...] = ()
    operations: tuple[Operation, ...] = ()
    databases: tuple[Database, ...] = ()

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> CreatedBranch:
        b = doc.get("branch")
        if not isinstance(b, Mapping) or not b.get("id"):
            raise NeonUnavailable("Neon API answered the branch creation without a branch id")
        return cls(
            Branch.from_doc(b),
            tuple(Endpoint.from_doc(e) for e in _items(doc, "endpoints")),
            tuple(Operation.from_doc(o) for o in _items(doc, "operations")),
            tuple(Database.from_doc(d) for d in _items(doc, "databases")),
        )


def _items(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = doc.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def branch_create_body(*, parent_id: str, name: str, at: datetime | None, expires_at: datetime | None,
                       endpoint_type: str = "read_write") -> dict[str, Any]:
    """The createProjectBranch request: a branch of ``parent_id`` at ``at`` (None: its latest state)
    with one compute endpoint, which a branch needs to accept connections."""
    branch: dict[str, Any] = {"parent_id": parent_id, "name": name}
    if at is not None:
        branch["parent_timestamp"] = format_timestamp(at)
    if expires_at is not None:
        branch["expires_at"] = format_timestamp(expires_at)
    return {"branch": branch, "endpoints": [{"type": endpoint_type}]}


# -- errors -----------------------------------------------------------------------------------
class NeonApiError(ApiError):
    """The Neon API refused or could not be reached. A refusal of the request (4xx) is the user's to
    fix (:class:`NeonRefused`, exit 2); an unreachable or failing API is infrastructure
    (:class:`NeonUnavailable`, exit 3)."""


class NeonRefused(NeonApiError, ApiRefused):
    """Neon refused the request: key, access, project or branch id."""


class NeonUnavailable(NeonApiError, ApiUnavailable):
    """Neon could not be reached, failed, or stayed locked."""


# -- the client -------------------------------------------------------------------------------
def api_key_from_env(env: Mapping[str, str] | None = None) -> Secret:
    value = (os.environ if env is None else env).get(API_KEY_ENV, "").strip()
    if not value:
        raise ConfigError(f"{API_KEY_ENV} is not set", "create an API key in the Neon console and pass it as a secret")
    return Secret(value)


def api_host_from_env(env: Mapping[str, str] | None = None) -> str:
    return ((os.environ if env is None else env).get(API_HOST_ENV) or DEFAULT_API_HOST).strip()


class NeonClient(RestClient):
    """A small synchronous client for the endpoints above. The key goes in the Authorization header
    only, and is registered as a secret so no report can show it."""

    service = "Neon API"
    not_acted = frozenset({429, 503})
    refused_error = NeonRefused
    unavailable_error = NeonUnavailable
    unreachable_hint = f"check the network and {API_HOST_ENV}"

    def __init__(self, api_key: Secret | str | None = None, api_host: str | None = None, *,
                 timeout: float = 30.0, retries: int = 4, locked_retries: int = 12, backoff: float = 0.5,
                 max_backoff: float = 10.0, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        key = api_key if isinstance(api_key, Secret) else (Secret(api_key) if api_key else api_key_from_env())
        host = (api_host or api_host_from_env()).rstrip("/")
        if not re.match(r"^https?://", host):
            raise ConfigError(f"Neon API host '{host}' is not an http(s) URL",
                              f"set {API_HOST_ENV} like {DEFAULT_API_HOST}")
        self.api_host = host
        policy = RetryPolicy(max_retries=retries, backoff=backoff, max_backoff=max_backoff, max_wait=float("inf"),
                             cap_retry_after=True, bucket_retries={"locked": locked_retries})
        super().__init__(host, token=key.reveal(), timeout=timeout, policy=policy, sleep=sleep, transport=transport)

    def __enter__(self) -> NeonClient:
        return self

    # -- Neon's rules -------------------------------------------------------------------------
    def special_wait(self, resp: httpx.Response) -> SpecialWait | None:
        if resp.status_code == 423:
            return SpecialWait(None, "locked", "answered 423 Locked (another operation is running on the project)")
        return super().special_wait(resp)

    def exhausted(self, resp: httpx.Response, what: str, seconds: float, retries: int) -> ApiError:
        if resp.status_code == 423:
            return NeonUnavailable(
                f"Neon API kept answering 423 Locked to {what} after {retries} retries: {self.message(resp)}",
                "another operation has been running on the project for long; try again later",
                status=423, code=self.code(resp))
        return super().exhausted(resp, what, seconds, retries)

    def describe_error(self, resp: httpx.Response, what: str) -> tuple[str, str | None]:
        status = resp.status_code
        text = f"Neon API refused to {what}: HTTP {status}: {self.message(resp)}"
        hint = None
        if status in (401, 403):
            hint = f"check {API_KEY_ENV}: the key must belong to an account or organization with access to the project"
        elif status == 404:
            hint = "check the project id (neon projects list) and the branch name"
        elif status == 429:
            hint = "the API rate limit was hit; run fewer Neon jobs at once"
        elif status >= 500:
            hint = "Neon's API is failing; see https://neonstatus.com and try again later"
        return text, hint

    def call(self, method: str, path: str, *, what: str, params: Mapping[str, str] | None = None,
             body: Mapping[str, Any] | None = None, allow_404: bool = False) -> dict[str, Any] | None:
        """One API call; the parsed JSON document (None for an allowed 404)."""
        try:
            resp = self.request(method, path, what=what, params=params, json=body)
        except NeonApiError as exc:
            if allow_404 and exc.status == 404:
                return None
            raise
        doc = self.json(resp, what)
        if not isinstance(doc, dict):
            raise NeonUnavailable(f"Neon API answered {what} with an unexpected document")
        return doc

    # -- endpoints ----------------------------------------------------------------------------
    def get_project(self, project_id: str) -> Project:
        doc = self.call("GET", f"projects/{project_id}", what=f"read project {project_id}")
        return Project.from_doc(doc or {})

    def list_branches(self, project_id: str) -> list[Branch]:
        doc = self.call("GET", f"projects/{project_id}/branches", what=f"list the branches of {project_id}")
        return [Branch.from_doc(b) for b in _items(doc or {}, "branches")]

    def create_branch(self, project_id: str, body: Mapping[str, Any]) -> CreatedBranch:
        doc = self.call("POST", f"projects/{project_id}/branches", body=body,
                           what=f"create a branch in {project_id}")
        return CreatedBranch.from_doc(doc or {})

    def get_operation(self, project_id: str, operation_id: str) -> Operation:
        doc = self.call("GET", f"projects/{project_id}/operations/{operation_id}",
                           what=f"read operation {operation_id}")
        op = (doc or {}).get("operation")
        if not isinstance(op, Mapping):
            raise NeonUnavailable(f"Neon API answered operation {operation_id} without an operation")
        return Operation.from_doc(op)

    def list_databases(self, project_id: str, branch_id: str) -> list[Database]:
        doc = self.call("GET", f"projects/{project_id}/branches/{branch_id}/databases",
                           what=f"list the databases of branch {branch_id}")
        return [Database.from_doc(d) for d in _items(doc or {}, "databases")]

    def connection_uri(self, project_id: str, *, branch_id: str, database: str, role: str,
                       endpoint_id: str | None = None) -> Secret:
        params = {"branch_id": branch_id, "database_name": database, "role_name": role, "pooled": "false"}
        if endpoint_id:
            params["endpoint_id"] = endpoint_id
        doc = self.call("GET", f"projects/{project_id}/connection_uri", params=params,
                           what=f"get the connection URI of branch {branch_id}")
        uri = (doc or {}).get("uri")
        if not isinstance(uri, str) or not uri:
            raise NeonUnavailable(f"Neon API gave no connection URI for branch {branch_id}")
        return Secret(uri)

    def rename_branch(self, project_id: str, branch_id: str, name: str) -> list[Operation]:
        doc = self.call("PATCH", f"projects/{project_id}/branches/{branch_id}", body={"branch": {"name": name}},
                        what=f"rename branch {branch_id} to {name}")
        return [Operation.from_doc(o) for o in _items(doc or {}, "operations")]

    def set_default_branch(self, project_id: str, branch_id: str) -> list[Operation]:
        doc = self.call("POST", f"projects/{project_id}/branches/{branch_id}/set_as_default",
                        what=f"make branch {branch_id} the project's default")
        return [Operation.from_doc(o) for o in _items(doc or {}, "operations")]

    def delete_branch(self, project_id: str, branch_id: str) -> list[Operation] | None:
        """The delete's operations; None when the branch was already gone."""
        doc = self.call("DELETE", f"projects/{project_id}/branches/{branch_id}", allow_404=True,
                           what=f"delete branch {branch_id}")
        if doc is None:
            return None
        return [Operation.from_doc(o) for o in _items(doc, "operations")]

    def wait_operations(self, project_id: str, operations: Iterable[Operation], deadline: float, *,
                        poll: float = 1.0, failed_grace: float = 60.0, clock: Callable[[], float] = time.monotonic,
                        progress: Progress | None = None) -> list[Operation]:
        """Poll until every operation is finished (or skipped). Raises :class:`BranchFailed` for one
        that ends in error or cancellation, or stays ``failed`` past ``failed_grace`` seconds (Neon
        retries failed operations, so a first ``failed`` is not yet the end)."""
        pending = {op.id: op for op in operations if op.id}
        failed_since: dict[str, float] = {}
        done: list[Operation] = []
        while True:
            for op_id, op in list(pending.items()):
                if op.status in DONE:
                    done.append(op)
                    del pending[op_id]
                elif op.status in FINAL_FAILURES:
                    raise BranchFailed(f"Neon {op.describe()}")
                elif op.status == "failed":
                    first = failed_since.setdefault(op_id, clock())
                    if clock() - first >= failed_grace:
                        retried = f", {op.failures_count} failure(s)" if op.failures_count else ""
                        raise BranchFailed(f"Neon {op.describe()}{retried}")
                else:
                    failed_since.pop(op_id, None)
            if not pending:
                return done
            if clock() >= deadline:
                waiting = ", ".join(f"{op.action} ({op.status})" for op in pending.values())
                raise BranchFailed(f"Neon operations still not finished after the timeout: {waiting}")
            self.sleep(poll)
            for op_id in list(pending):
                op = self.get_operation(project_id, op_id)
                if progress and op.status != pending[op_id].status:
                    progress(f"Neon operation {op.action}: {op.status}")
                pending[op_id] = op
