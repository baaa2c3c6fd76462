"""A local stand-in for the part of Neon's API v2 that pgdrill uses, backed by real Postgres databases.

It is a real HTTP server on a free 127.0.0.1 port (``/api/v2/...``), answering with the paths,
request bodies, response documents and errors (``{"code", "message"}``, ``423 Locked``) of Neon's
published OpenAPI description: get project, list branches, create branch (``parent_timestamp``,
``expires_at``, endpoints), list branch databases, get operation, get connection URI, delete branch,
update branch (rename: ``PATCH …/branches/{id}`` with ``{"branch": {"name"}}``) and set a branch as
the project's default (``POST …/branches/{id}/set_as_default``).

What it simulates, and what it does not:

- A Neon branch is a real database on the test cluster, and the connection URI points at it, so the
  checks and copies pgdrill runs on a "branch" run against real Postgres.
- Point in time. Neon rebuilds any instant of its history-retention window from WAL. The stand-in
  only knows the instants a test recorded with :meth:`NeonStandIn.snapshot` (a ``CREATE DATABASE …
  TEMPLATE`` copy of the branch's database, labelled with an instant): a branch at ``T`` is a copy of
  the newest snapshot labelled at or before ``T``. A branch without ``parent_timestamp`` copies the
  parent's database as it is now. The retention window itself is enforced as Neon does.
- Operations step one status per poll along a script (default ``running`` → ``finished``); tests
  script failures. Computes are not started or suspended; every branch is reached as the cluster's
  superuser; ``pooled=true`` is recorded but gives the same direct URI; ``expires_at`` is validated
  and reported but never acted upon; branch lists are not paginated.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import psycopg
import pytest

from pgdrill.pg.conn import DatabaseUrl
from pgdrill.providers.neon import NeonClient, NeonProvider

from support.postgres import PgServer

API_PREFIX = "/api/v2"
DAY = 86400


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _ts(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_rfc3339(text: object) -> datetime | None:
    """RFC 3339 with a mandatory zone, as Neon requires for expires_at and accepts for parent_timestamp."""
    if not isinstance(text, str):
        return None
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", text):
        return None
    s = text[:-1] + "+00:00" if text.endswith("Z") else text
    s = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], s)
    return datetime.fromisoformat(s).astimezone(timezone.utc)


@dataclass
class Recorded:
    method: str
    path: str  # without the /api/v2 prefix
    query: dict[str, list[str]]
    body: Any
    authorization: str | None
    status: int = 0


@dataclass
class Op:
    id: str
    action: str
    branch_id: str | None
    endpoint_id: str | None
    script: list[tuple[str, str | None]]
    step: int = 0
    created_at: datetime = field(default_factory=_now)

    def doc(self, project_id: str) -> dict[str, Any]:
        status, error = self.script[min(self.step, len(self.script) - 1)]
        doc: dict[str, Any] = {
            "id": self.id, "project_id": project_id, "action": self.action, "status": status,
            "failures_count": sum(1 for s, _ in self.script[: self.step + 1] if s == "failed"),
            "created_at": _ts(self.created_at), "updated_at": _ts(_now()), "total_duration_ms": 100 * self.step,
        }
        if self.branch_id:
            doc["branch_id"] = self.branch_id
        if self.endpoint_id:
            doc["endpoint_id"] = self.endpoint_id
        if error:
            doc["error"] = error
        return doc


@dataclass
class FakeBranch:
    id: str
    name: str
    physical: str  # the real database behind it
    created_at: datetime
    parent_id: str | None = None
    parent_timestamp: datetime | None = None
    expires_at: datetime | None = None
    default: bool = False
    endpoint_id: str | None = None
    snapshots: list[tuple[datetime, str]] = field(default_factory=list)  # (instant, physical database)

    def doc(self, project_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id, "project_id": project_id, "name": self.name, "current_state": "ready",
            "creation_source": "pgdrill-test", "primary": self.default, "default": self.default, "protected": False,
            "cpu_used_sec": 0, "active_time_seconds": 0, "compute_time_seconds": 0, "written_data_bytes": 0,
            "data_transfer_bytes": 0, "created_at": _ts(self.created_at), "updated_at": _ts(self.created_at),
        }
        if self.parent_id:
            doc["parent_id"] = self.parent_id
        if self.parent_timestamp:
            doc["parent_timestamp"] = _ts(self.parent_timestamp)
        if self.expires_at:
            doc["expires_at"] = _ts(self.expires_at)
            doc["ttl_interval_seconds"] = int((self.expires_at - self.created_at).total_seconds())
        return doc


@dataclass
class Injected:
    status: int
    times: int
    method: str | None = None
    path_contains: str | None = None
    retry_after: str | None = None


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def _rid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}-{secrets.token_hex(3)}"


class NeonStandIn:
    """One Neon project whose default branch ``main`` holds one database (``neondb``)."""

    def __init__(self, pg: PgServer, api_key: str, project_id: str = "pgdrill-test-123456",
                 database: str = "neondb", history_retention_seconds: int = 7 * DAY) -> None:
        self.pg = pg
        self.api_key = api_key
        self.project_id = project_id
        self.database = database
        self.history_retention_seconds = history_retention_seconds
        self.created_at = _now() - timedelta(days=30)
        self.requests: list[Recorded] = []
        self.branches: dict[str, FakeBranch] = {}
        self.ops: dict[str, Op] = {}
        self.injected: list[Injected] = []
        self.scripts: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.physical: set[str] = set()
        self.lock = threading.RLock()
        main_db = self._new_physical("main")
        self._execute(f'CREATE DATABASE "{main_db}"')
        self.main = FakeBranch(_rid("br-main"), "main", main_db, self.created_at, default=True,
                               endpoint_id=_rid("ep-main"))
        self.branches[self.main.id] = self.main
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- databases ------------------------------------------------------------------------------
    def _new_physical(self, kind: str) -> str:
        name = f"neon_{kind}_{uuid.uuid4().hex[:10]}"
        self.physical.add(name)
        return name

    def _execute(self, statement: str, dbname: str = "postgres") -> None:
        with psycopg.connect(self.pg.admin_url.with_dbname(dbname).conninfo(), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def _copy_database(self, source: str, kind: str) -> str:
        name = self._new_physical(kind)
        # A template must have no other sessions; a test's own connection may still be closing.
        self._execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      f"WHERE datname = '{source}' AND pid <> pg_backend_pid()")
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        return name

    def databases_on_server(self) -> set[str]:
        return {d for d in self.pg.databases() if d.startswith("neon_")}

    # -- what tests use ----------------------------------------------------------------------------
    @property
    def api_host(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{API_PREFIX}"

    def main_url(self) -> DatabaseUrl:
        return self.pg.url(self.main.physical)

    def branch_url(self, branch: FakeBranch) -> DatabaseUrl:
        return self.pg.url(branch.physical)

    def snapshot(self, at: datetime, branch: FakeBranch | None = None) -> None:
        """Record the branch's database as it is now as the state at instant ``at``."""
        b = branch or self.main
        with self.lock:
            b.snapshots.append((at, self._copy_database(b.physical, "snap")))
            b.snapshots.sort()

    def script_next(self, action: str, statuses: list[tuple[str, str | None]]) -> None:
        """The next operation with ``action`` steps through ``statuses``, one per poll, staying on the last."""
        self.scripts.setdefault(action, []).append(statuses)

    def fail_next(self, action: str = "create_branch", error: str = "could not start compute",
                  status: str = "failed") -> None:
        self.script_next(action, [("running", None), (status, error)])

    def inject(self, status: int, times: int, method: str | None = None, path_contains: str | None = None,
               retry_after: str | None = None) -> None:
        """Answer the next ``times`` matching requests with ``status`` and a GeneralError body."""
        self.injected.append(Injected(status, times, method, path_contains, retry_after))

    def child_branches(self) -> list[FakeBranch]:
        return [b for b in self.branches.values() if not b.default]

    def calls(self, method: str, path_contains: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    # -- server -----------------------------------------------------------------------------------
    def start(self) -> NeonStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                standin.handle(self)

            do_GET = do_POST = do_DELETE = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for name in sorted(self.physical):
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<not json>"
        rec = Recorded(h.command, parts.path.removeprefix(API_PREFIX), parse_qs(parts.query), body,
                       h.headers.get("Authorization"))
        extra_headers: dict[str, str] = {}
        try:
            with self.lock:
                self.requests.append(rec)
                if h.headers.get("Authorization") != f"Bearer {self.api_key}":
                    raise ApiError(401, "authentication required", "")
                for inj in self.injected:
                    if inj.times > 0 and (inj.method in (None, h.command)) and \
                            (inj.path_contains is None or inj.path_contains in rec.path):
                        inj.times -= 1
                        if inj.retry_after:
                            extra_headers["Retry-After"] = inj.retry_after
                        raise ApiError(inj.status, "injected by the test" if inj.status != 423 else
                                       "project already has running conflicting operations, scheduling of new ones "
                                       "is prohibited")
                if not parts.path.startswith(API_PREFIX + "/"):
                    raise ApiError(404, "not found")
                status, doc = self.route(h.command, rec.path, rec.query, body)
        except ApiError as exc:
            status, doc = exc.status, {"code": exc.code, "message": exc.message}
        rec.status = status
        data = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    # -- API ----------------------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, Any]]:
        m = re.fullmatch(r"/projects/([^/]+)(/.*)?", path)
        if not m or m.group(1) != self.project_id:
            raise ApiError(404, f"project {m.group(1) if m else '?'} not found")
        rest = m.group(2) or ""
        if method == "GET" and rest == "":
            return 200, {"project": self.project_doc()}
        if rest == "/branches":
            if method == "GET":
                return 200, {"branches": [b.doc(self.project_id) for b in self.branches.values()]}
            if method == "POST":
                return self.create_branch(body)
        b = re.fullmatch(r"/branches/([^/]+)(/databases|/set_as_default)?", rest)
        if b:
            branch = self.branches.get(b.group(1))
            if branch is None:
                raise ApiError(404, f"branch {b.group(1)} not found")
            if b.group(2) == "/set_as_default" and method == "POST":
                return self.set_default(branch)
            if not b.group(2) and method == "PATCH":
                return self.update_branch(branch, body)
            if b.group(2) and method == "GET":
                return 200, {"databases": [self.database_doc(branch)]}
            if not b.group(2) and method == "GET":
                return 200, {"branch": branch.doc(self.project_id)}
            if not b.group(2) and method == "DELETE":
                return self.delete_branch(branch)
        o = re.fullmatch(r"/operations/([^/]+)", rest)
        if o and method == "GET":
            op = self.ops.get(o.group(1))
            if op is None:
                raise ApiError(404, f"operation {o.group(1)} not found")
            op.step += 1
            return 200, {"operation": op.doc(self.project_id)}
        if rest == "/operations" and method == "GET":
            return 200, {"operations": [op.doc(self.project_id) for op in self.ops.values()], "pagination": {}}
        if rest == "/connection_uri" and method == "GET":
            return self.connection_uri(query)
        raise ApiError(404, f"{method} {path} is not part of the stand-in")

    def project_doc(self) -> dict[str, Any]:
        return {
            "id": self.project_id, "platform_id": "aws", "region_id": "aws-us-east-2", "name": self.project_id,
            "provisioner": "k8s-neonvm", "pg_version": self.pg.major, "proxy_host": "127.0.0.1",
            "branch_logical_size_limit": 0, "branch_logical_size_limit_bytes": 0, "store_passwords": True,
            "cpu_used_sec": 0, "creation_source": "pgdrill-test", "owner_id": "pgdrill-test",
            "history_retention_seconds": self.history_retention_seconds,
            "created_at": _ts(self.created_at), "updated_at": _ts(self.created_at),
            "active_time_seconds": 0, "compute_time_seconds": 0, "written_data_bytes": 0, "data_transfer_bytes": 0,
            "data_storage_bytes_hour": 0, "consumption_period_start": _ts(self.created_at),
            "consumption_period_end": _ts(self.created_at + timedelta(days=31)),
        }

    def database_doc(self, branch: FakeBranch) -> dict[str, Any]:
        return {"id": 1000 + len(branch.id), "branch_id": branch.id, "name": self.database,
                "owner_name": self.pg.admin_url.user or "postgres",
                "created_at": _ts(branch.created_at), "updated_at": _ts(branch.created_at)}

    def _op(self, action: str, branch_id: str | None, endpoint_id: str | None = None) -> Op:
        queue = self.scripts.get(action) or []
        script = queue.pop(0) if queue else [("running", None), ("finished", None)]
        op = Op(str(uuid.uuid4()), action, branch_id, endpoint_id, script)
        self.ops[op.id] = op
        return op

    def create_branch(self, body: Any) -> tuple[int, dict[str, Any]]:
        body = body if body is not None else {}
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        spec = body.get("branch") or {}
        endpoints = body.get("endpoints") or []
        if not isinstance(spec, dict) or not isinstance(endpoints, list):
            raise ApiError(400, "invalid request body")
        for e in endpoints:
            if not isinstance(e, dict) or e.get("type") not in ("read_write", "read_only"):
                raise ApiError(400, "endpoints[].type must be read_write or read_only")
        if sum(1 for e in endpoints if e["type"] == "read_write") > 1:
            raise ApiError(400, "a branch can have one read_write endpoint")
        parent = self.branches.get(spec.get("parent_id") or self.main.id)
        if parent is None:
            raise ApiError(404, f"branch {spec.get('parent_id')} not found")
        name = spec.get("name") or _rid("br")
        if any(b.name == name for b in self.branches.values()):
            raise ApiError(409, f"branch with name {name} already exists")
        now = _now()
        at = None
        if "parent_timestamp" in spec:
            at = _parse_rfc3339(spec["parent_timestamp"])
            if at is None:
                raise ApiError(400, "parent_timestamp must be an RFC 3339 timestamp")
            earliest = now - timedelta(seconds=self.history_retention_seconds)
            if at < earliest or at > now:
                raise ApiError(400, f"parent_timestamp {_ts(at)} is outside of the history retention period "
                                    f"({_ts(earliest)} to now)")
        expires = None
        if "expires_at" in spec:
            expires = _parse_rfc3339(spec["expires_at"])
            if expires is None:
                raise ApiError(400, "expires_at must be an RFC 3339 timestamp with a time zone")
            if expires <= now or expires > now + timedelta(days=30):
                raise ApiError(400, "expires_at must be in the future and at most 30 days ahead")
        if at is not None:
            older = [db for t, db in parent.snapshots if t <= at]
            if not older:
                raise ApiError(400, f"the stand-in has no snapshot of {parent.name} at or before {_ts(at)}")
            physical = self._copy_database(older[-1], "br")
        else:
            physical = self._copy_database(parent.physical, "br")
        endpoint = next((e for e in endpoints if e["type"] == "read_write"), None)
        branch = FakeBranch(_rid("br"), name, physical, now, parent.id, at, expires,
                            endpoint_id=_rid("ep") if endpoint else None)
        self.branches[branch.id] = branch
        ops = [self._op("create_branch", branch.id)]
        eps = []
        if branch.endpoint_id:
            ops.append(self._op("start_compute", branch.id, branch.endpoint_id))
            eps.append({"host": "127.0.0.1", "id": branch.endpoint_id, "project_id": self.project_id,
                        "branch_id": branch.id, "type": "read_write", "current_state": "init",
                        "pending_state": "active", "region_id": "aws-us-east-2"})
        user = self.pg.admin_url.user or "postgres"
        return 201, {
            "branch": branch.doc(self.project_id), "endpoints": eps,
            "operations": [op.doc(self.project_id) for op in ops],
            "roles": [{"branch_id": branch.id, "name": user, "protected": False,
                       "created_at": _ts(now), "updated_at": _ts(now)}],
            "databases": [self.database_doc(branch)],
        }

    def update_branch(self, branch: FakeBranch, body: Any) -> tuple[int, dict[str, Any]]:
        spec = body.get("branch") if isinstance(body, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            raise ApiError(400, "request body must be {\"branch\": {\"name\": …}}")
        if any(b.name == spec["name"] and b.id != branch.id for b in self.branches.values()):
            raise ApiError(409, f"branch with name {spec['name']} already exists")
        branch.name = spec["name"]
        return 200, {"branch": branch.doc(self.project_id), "operations": []}

    def set_default(self, branch: FakeBranch) -> tuple[int, dict[str, Any]]:
        if branch.expires_at is not None:
            raise ApiError(400, "a branch with an expiration time cannot be the default")
        for b in self.branches.values():
            b.default = b.id == branch.id
        self.main = branch
        return 200, {"branch": branch.doc(self.project_id), "operations": []}

    def default_branch(self) -> FakeBranch:
        return next(b for b in self.branches.values() if b.default)

    def delete_branch(self, branch: FakeBranch) -> tuple[int, dict[str, Any]]:
        if branch.default:
            raise ApiError(400, "cannot delete the default branch")
        self._execute(f'DROP DATABASE IF EXISTS "{branch.physical}" WITH (FORCE)')
        del self.branches[branch.id]
        ops = [self._op("suspend_compute", branch.id, branch.endpoint_id), self._op("delete_timeline", branch.id)]
        return 200, {"branch": branch.doc(self.project_id), "operations": [op.doc(self.project_id) for op in ops]}

    def connection_uri(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        database, role = one("database_name"), one("role_name")
        if not database or not role:
            raise ApiError(400, "database_name and role_name are required")
        branch = self.branches.get(one("branch_id") or self.main.id)
        if branch is None:
            raise ApiError(404, "branch not found")
        user = self.pg.admin_url.user or "postgres"
        if database != self.database or role != user:
            raise ApiError(404, f"database {database} or role {role} not found")
        url = self.pg.admin_url
        password = quote(url.password or "", safe="")
        return 200, {"uri": f"postgresql://{quote(user)}:{password}@{url.host}:{url.port}/{branch.physical}"}


class Sleeps(list[float]):
    """Stands in for time.sleep and remembers the delays asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_provider(neon: NeonStandIn, sleeps: Sleeps | None = None, *, locked_retries: int = 12,
                  failed_grace: float = 0.0) -> NeonProvider:
    """A provider talking to the stand-in, with backoff and polling shrunk to keep tests fast."""
    client = NeonClient(neon.api_key, neon.api_host, backoff=0.01, max_backoff=0.08, locked_retries=locked_retries,
                        sleep=sleeps if sleeps is not None else (lambda s: None))
    return NeonProvider(client, neon.project_id, poll=0, failed_grace=failed_grace)


def nothing_left(neon: NeonStandIn) -> None:
    """No branch but the default one, and no database behind a deleted branch left on the server."""
    assert neon.child_branches() == []
    live = {b.physical for b in neon.branches.values()}
    snaps = {db for b in neon.branches.values() for _, db in b.snapshots}
    assert neon.databases_on_server() == live | snaps


@pytest.fixture
def neon(pg: PgServer) -> Iterator[NeonStandIn]:
    """A fresh stand-in project per test, on its own port, dropped afterwards with all its databases."""
    standin = NeonStandIn(pg, api_key="neon-test-key-" + secrets.token_hex(16)).start()
    try:
        yield standin
    finally:
        standin.stop()
