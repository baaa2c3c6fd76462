"""Neon API v2 client and the Neon point-in-time provider.

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

Errors come as ``{"code", "message"}``. Neon answers ``423 Locked`` while a conflicting operation
runs on the project: retried with backoff. 429 and 5xx are retried a bounded number of times (a
POST only when the request cannot have been acted on: 423, 429, 503, or no connection made).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, field_validator

from pgdrill import __version__, secrets
from pgdrill.config import parse_duration
from pgdrill.errors import ConfigError, PgdrillError
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.providers.base import BranchFailed, BranchRef, Cleanup, PitrProvider, ReadyBranch, RestoreWindow
from pgdrill.secrets import Secret
from pgdrill.streams import Progress

DEFAULT_API_HOST = "https://console.neon.tech/api/v2"
API_KEY_ENV = "NEON_API_KEY"
API_HOST_ENV = "NEON_API_HOST"
MAX_EXPIRY = timedelta(days=30)

DONE = frozenset({"finished", "skipped"})
PENDING = frozenset({"scheduling", "running"})
#: "failed" is not final on Neon (it may be retried), so it gets a grace period; these are final
FINAL_FAILURES = frozenset({"error", "cancelling", "cancelled"})

_RETRY_ANY = frozenset({429, 500, 502, 503, 504})
_RETRY_POST = frozenset({429, 503})


class NeonSettings(BaseModel):
    """The ``neon:`` section of pgdrill.yml (flags and NEON_API_HOST win over it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_host: str | None = None
    database: str | None = None
    role: str | None = None
    branch_ttl: float = 6 * 3600.0  # expires_at = creation + this: Neon's safety net
    ready_timeout: float = 600.0
    failed_grace: float = 60.0

    @field_validator("branch_ttl", "ready_timeout", "failed_grace", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        try:
            seconds = parse_duration(v)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        if seconds < 0:
            raise ValueError("must not be negative")
        return seconds

    @field_validator("branch_ttl")
    @classmethod
    def _ttl(cls, v: float) -> float:
        if not 60 <= v <= MAX_EXPIRY.total_seconds():
            raise ValueError("Neon accepts an expiry between now and 30 days ahead; use e.g. 6h")
        return v


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
            raise NeonApiError("Neon API answered the project request without a project")
        raw = p.get("history_retention_seconds")
        if not isinstance(raw, int):
            raise NeonApiError("Neon API did not report the project's history_retention_seconds (the PITR window)")
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
            raise NeonApiError("Neon API answered the branch creation without a branch id")
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


def retry_delay(attempt: int, base: float, cap: float, retry_after: str | None = None,
                now: datetime | None = None) -> float:
    """Exponential backoff (base·2^(attempt-1), capped), or the server's Retry-After when it says so."""
    if retry_after:
        value = retry_after.strip()
        if value.isdigit():
            return min(float(value), cap)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, min((when - (now or datetime.now(timezone.utc))).total_seconds(), cap))
    return float(min(base * 2.0 ** max(0, attempt - 1), cap))


# -- errors -----------------------------------------------------------------------------------
class NeonApiError(PgdrillError):
    """The Neon API refused or could not be reached. A refusal of the request (4xx) is the user's to
    fix (exit 2); an unreachable or failing API is infrastructure (exit 3)."""

    def __init__(self, message: str, hint: str | None = None, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code
        self.exit_code = 2 if status is not None and 400 <= status < 500 and status not in (423, 429) else 3


def _error_text(resp: httpx.Response) -> tuple[str, str | None]:
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if isinstance(doc, Mapping) and doc.get("message"):
        return str(doc["message"]), (str(doc["code"]) if doc.get("code") else None)
    text = " ".join(resp.text.split())[:200]
    return text or resp.reason_phrase, None


# -- the client -------------------------------------------------------------------------------
def api_key_from_env(env: Mapping[str, str] | None = None) -> Secret:
    value = (os.environ if env is None else env).get(API_KEY_ENV, "").strip()
    if not value:
        raise ConfigError(f"{API_KEY_ENV} is not set", "create an API key in the Neon console and pass it as a secret")
    return Secret(value)


def api_host_from_env(env: Mapping[str, str] | None = None) -> str:
    return ((os.environ if env is None else env).get(API_HOST_ENV) or DEFAULT_API_HOST).strip()


class NeonClient:
    """A small synchronous client for the endpoints above. The key goes in the Authorization header
    only, and is registered as a secret so no report can show it."""

    def __init__(self, api_key: Secret | str | None = None, api_host: str | None = None, *,
                 timeout: float = 30.0, retries: int = 4, locked_retries: int = 12, backoff: float = 0.5,
                 max_backoff: float = 10.0, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        key = api_key if isinstance(api_key, Secret) else (Secret(api_key) if api_key else api_key_from_env())
        secrets.register(key.reveal())
        host = (api_host or api_host_from_env()).rstrip("/")
        if not re.match(r"^https?://", host):
            raise ConfigError(f"Neon API host '{host}' is not an http(s) URL",
                              f"set {API_HOST_ENV} like {DEFAULT_API_HOST}")
        self.api_host = host
        self.retries = retries
        self.locked_retries = locked_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.on_retry: Progress | None = None
        self._http = httpx.Client(
            base_url=host + "/", timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {key.reveal()}", "Accept": "application/json",
                     "User-Agent": f"pgdrill/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NeonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------
    def _wait(self, attempt: int, why: str, retry_after: str | None = None) -> None:
        delay = retry_delay(attempt, self.backoff, self.max_backoff, retry_after)
        if self.on_retry:
            self.on_retry(f"Neon API {why}; retrying in {delay:.1f}s")
        self.sleep(delay)

    def request(self, method: str, path: str, *, what: str, params: Mapping[str, str] | None = None,
                body: Mapping[str, Any] | None = None, allow_404: bool = False) -> dict[str, Any] | None:
        """One API call with the retry policy; the parsed JSON document (None for an allowed 404)."""
        idempotent = method in ("GET", "DELETE")
        locked = other = 0
        while True:
            try:
                resp = self._http.request(method, path.lstrip("/"), params=params, json=body)
            except httpx.TransportError as exc:
                # Without a connection the request never reached Neon, so even a POST is safe to repeat.
                if (idempotent or isinstance(exc, httpx.ConnectError)) and other < self.retries:
                    other += 1
                    self._wait(other, f"unreachable ({type(exc).__name__})")
                    continue
                raise NeonApiError(f"Neon API at {self.api_host} unreachable while trying to {what}: "
                                   f"{type(exc).__name__}: {secrets.scrub(str(exc)) or 'no detail'}",
                                   f"check the network and {API_HOST_ENV}") from None
            status = resp.status_code
            if status == 423 and locked < self.locked_retries:
                locked += 1
                self._wait(locked, "answered 423 Locked (another operation is running on the project)",
                           resp.headers.get("Retry-After"))
                continue
            if status in (_RETRY_ANY if idempotent else _RETRY_POST) and other < self.retries:
                other += 1
                self._wait(other, f"answered HTTP {status}", resp.headers.get("Retry-After"))
                continue
            if status == 404 and allow_404:
                return None
            if status >= 400:
                raise self._error(resp, what, locked)
            if not resp.content:
                return {}
            try:
                doc = resp.json()
            except ValueError:
                raise NeonApiError(f"Neon API answered {what} with something that is not JSON",
                                   status=None) from None
            if not isinstance(doc, dict):
                raise NeonApiError(f"Neon API answered {what} with an unexpected document")
            return doc

    def _error(self, resp: httpx.Response, what: str, locked: int) -> NeonApiError:
        message, code = _error_text(resp)
        message = secrets.scrub(message)
        status = resp.status_code
        text = f"Neon API refused to {what}: HTTP {status}: {message}"
        hint = None
        if status in (401, 403):
            hint = f"check {API_KEY_ENV}: the key must belong to an account or organization with access to the project"
        elif status == 404:
            hint = "check the project id (neon projects list) and the branch name"
        elif status == 423:
            text = f"Neon API kept answering 423 Locked to {what} after {locked} retries: {message}"
            hint = "another operation has been running on the project for long; try again later"
        elif status == 429:
            hint = "the API rate limit was hit; run fewer Neon jobs at once"
        elif status >= 500:
            hint = "Neon's API is failing; see https://neonstatus.com and try again later"
        return NeonApiError(text, hint, status, code)

    # -- endpoints ----------------------------------------------------------------------------
    def get_project(self, project_id: str) -> Project:
        doc = self.request("GET", f"projects/{project_id}", what=f"read project {project_id}")
        return Project.from_doc(doc or {})

    def list_branches(self, project_id: str) -> list[Branch]:
        doc = self.request("GET", f"projects/{project_id}/branches", what=f"list the branches of {project_id}")
        return [Branch.from_doc(b) for b in _items(doc or {}, "branches")]

    def create_branch(self, project_id: str, body: Mapping[str, Any]) -> CreatedBranch:
        doc = self.request("POST", f"projects/{project_id}/branches", body=body,
                           what=f"create a branch in {project_id}")
        return CreatedBranch.from_doc(doc or {})

    def get_operation(self, project_id: str, operation_id: str) -> Operation:
        doc = self.request("GET", f"projects/{project_id}/operations/{operation_id}",
                           what=f"read operation {operation_id}")
        op = (doc or {}).get("operation")
        if not isinstance(op, Mapping):
            raise NeonApiError(f"Neon API answered operation {operation_id} without an operation")
        return Operation.from_doc(op)

    def list_databases(self, project_id: str, branch_id: str) -> list[Database]:
        doc = self.request("GET", f"projects/{project_id}/branches/{branch_id}/databases",
                           what=f"list the databases of branch {branch_id}")
        return [Database.from_doc(d) for d in _items(doc or {}, "databases")]

    def connection_uri(self, project_id: str, *, branch_id: str, database: str, role: str,
                       endpoint_id: str | None = None) -> Secret:
        params = {"branch_id": branch_id, "database_name": database, "role_name": role, "pooled": "false"}
        if endpoint_id:
            params["endpoint_id"] = endpoint_id
        doc = self.request("GET", f"projects/{project_id}/connection_uri", params=params,
                           what=f"get the connection URI of branch {branch_id}")
        uri = (doc or {}).get("uri")
        if not isinstance(uri, str) or not uri:
            raise NeonApiError(f"Neon API gave no connection URI for branch {branch_id}")
        return Secret(uri)

    def delete_branch(self, project_id: str, branch_id: str) -> list[Operation] | None:
        """The delete's operations; None when the branch was already gone."""
        doc = self.request("DELETE", f"projects/{project_id}/branches/{branch_id}", allow_404=True,
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


# -- the provider -----------------------------------------------------------------------------
@dataclass
class NeonProvider(PitrProvider):
    """Point-in-time branches of one Neon project's branch (``branch``: name or id; None: the
    project's default branch)."""

    client: NeonClient
    project_id: str
    branch: str | None = None
    database: str | None = None
    role: str | None = None
    poll: float = 1.0
    failed_grace: float = 60.0
    clock: Callable[[], float] = time.monotonic
    kind: str = "neon"
    _parent: Branch | None = field(default=None, init=False, repr=False)
    _created: dict[str, CreatedBranch] = field(default_factory=dict, init=False, repr=False)

    def parent(self) -> Branch:
        if self._parent is None:
            branches = self.client.list_branches(self.project_id)
            self._parent = pick_parent(branches, self.branch, self.project_id)
        return self._parent

    def describe(self) -> str:
        return f"Neon project {self.project_id}, branch {self.parent().name}"

    def source_name(self) -> str:
        return self.parent().name

    def restore_window(self, now: datetime) -> RestoreWindow:
        project = self.client.get_project(self.project_id)
        parent = self.parent()
        retention = float(project.history_retention_seconds)
        earliest = now - timedelta(seconds=retention)
        what = f"history retention {_days(retention)} of Neon project {self.project_id}"
        if parent.created_at is not None and parent.created_at > earliest:
            # A branch has no history from before it was itself created.
            earliest = parent.created_at
            what += f"; branch {parent.name} exists since {format_timestamp(parent.created_at)}"
        return RestoreWindow(earliest, retention, what)

    def create_branch(self, name: str, at: datetime | None, expires_at: datetime) -> BranchRef:
        body = branch_create_body(parent_id=self.parent().id, name=name, at=at, expires_at=expires_at)
        created = self.client.create_branch(self.project_id, body)
        self._created[created.branch.id] = created
        b = created.branch
        return BranchRef(b.id, b.name or name, b.created_at or datetime.now(timezone.utc),
                         b.parent_timestamp or at, b.expires_at or expires_at)

    def wait_ready(self, ref: BranchRef, timeout: float, progress: Progress | None = None) -> ReadyBranch:
        created = self._created.get(ref.id)
        deadline = self.clock() + timeout
        self.client.wait_operations(self.project_id, created.operations if created else (), deadline,
                                    poll=self.poll, failed_grace=self.failed_grace, clock=self.clock,
                                    progress=progress)
        databases = list(created.databases) if created else []
        if not databases:
            databases = self.client.list_databases(self.project_id, ref.id)
        db, role = pick_database(databases, self.database, self.role)
        endpoint = next((e.id for e in (created.endpoints if created else ()) if e.type == "read_write"), None)
        uri = self.client.connection_uri(self.project_id, branch_id=ref.id, database=db, role=role,
                                         endpoint_id=endpoint)
        url = DatabaseUrl.parse(uri.reveal(), "Neon connection URI")
        return ReadyBranch(ref, url, db, ref.point_in_time or ref.created_at)

    def delete_branch(self, ref: BranchRef | None, name: str, timeout: float) -> Cleanup:
        branch_id = ref.id if ref else None
        label = f"Neon branch {name}" + (f" ({branch_id})" if branch_id else "")
        try:
            if branch_id is None:
                found = [b for b in self.client.list_branches(self.project_id) if b.name == name]
                if not found:
                    return Cleanup(True, f"no Neon branch named {name} was created, nothing to delete")
                branch_id = found[0].id
                label = f"Neon branch {name} ({branch_id})"
            ops = self.client.delete_branch(self.project_id, branch_id)
            if ops is None:
                return Cleanup(True, f"{label} was already gone")
            self.client.wait_operations(self.project_id, ops, self.clock() + timeout, poll=self.poll,
                                        failed_grace=self.failed_grace, clock=self.clock)
            if any(b.id == branch_id for b in self.client.list_branches(self.project_id)):
                return Cleanup(False, f"{label} is still listed after its deletion finished")
        except (PgdrillError, BranchFailed) as exc:
            expiry = ref.expires_at if ref else None
            later = f" (Neon deletes it by itself at {format_timestamp(expiry)})" if expiry else ""
            how = f"neon branches delete {branch_id or name} --project-id {self.project_id}"
            return Cleanup(False, f"could not delete {label}; delete it with: {how}{later}",
                           (secrets.scrub(exc.message),))
        return Cleanup(True, f"{label} deleted")


def _days(seconds: float) -> str:
    if seconds % 86400 == 0:
        n = int(seconds // 86400)
        return f"{n} day{'s' if n != 1 else ''}"
    if seconds % 3600 == 0:
        n = int(seconds // 3600)
        return f"{n} hour{'s' if n != 1 else ''}"
    return f"{int(seconds)} seconds"


def pick_parent(branches: Sequence[Branch], wanted: str | None, project_id: str) -> Branch:
    """The branch named (or with the id) ``wanted``; without one, the project's default branch."""
    if wanted:
        for b in branches:
            if wanted in (b.id, b.name):
                return b
        names = ", ".join(sorted(b.name for b in branches)) or "none"
        raise ConfigError(f"Neon project {project_id} has no branch '{wanted}' (branches: {names})",
                          "pass --neon-branch with a branch name or id")
    for b in branches:
        if b.default or b.primary:
            return b
    for b in branches:
        if b.name == "main":
            return b
    raise ConfigError(f"Neon project {project_id} reports no default branch", "pass --neon-branch")


def pick_database(databases: Sequence[Database], wanted: str | None, role: str | None) -> tuple[str, str]:
    """(database, role) to connect as: the one named, or the only one; its owner unless a role is given."""
    if wanted:
        match = next((d for d in databases if d.name == wanted), None)
        if match is None and databases:
            names = ", ".join(sorted(d.name for d in databases))
            raise ConfigError(f"the Neon branch has no database '{wanted}' (databases: {names})",
                              "pass --neon-database with one of them")
        owner = role or (match.owner_name if match else None)
        if not owner:
            raise ConfigError(f"no role known for Neon database '{wanted}'", "pass --neon-role")
        return wanted, owner
    if len(databases) == 1:
        return databases[0].name, role or databases[0].owner_name
    if not databases:
        raise ConfigError("the Neon branch reports no databases", "pass --neon-database and --neon-role")
    names = ", ".join(sorted(d.name for d in databases))
    raise ConfigError(f"the Neon branch has several databases ({names})", "pick one with --neon-database")
