"""A local stand-in for the part of GitHub's REST API that pgdrill calls.

A real HTTP server on a free 127.0.0.1 port, in a thread, so pgdrill's real client (and separate
``python`` processes pointed at it through GITHUB_API_URL) talk to it over TCP. It keeps issues,
comments and labels in memory and records every request, so tests can assert what was sent, and
that no secret ever was.

Shapes follow GitHub's OpenAPI description (github/rest-api-description, api.github.com 2022-11-28):

* ``GET  /repos/{owner}/{repo}/issues`` (issues/list-for-repo): ``state`` open|closed|all (default
  open), ``labels`` comma-separated and all required, ``sort`` created|updated|comments, ``direction``,
  ``per_page`` (max 100, default 30), ``page``; returns ``issue`` objects *including pull requests*
  (marked by a ``pull_request`` key), with a ``Link`` header whose URLs use ``/repositories/{id}/…``
  as GitHub's do.
* ``POST /repos/{owner}/{repo}/issues`` (issues/create): ``title`` required; ``body``, ``labels``,
  ``assignees``; 201 with the issue and a ``Location`` header; 422 for an unknown assignee or a body
  over 65,536 characters; 410 when issues are disabled; unknown labels are created on the fly.
* ``PATCH /repos/{owner}/{repo}/issues/{issue_number}`` (issues/update): ``state`` open|closed,
  ``state_reason`` completed|not_planned|duplicate|reopened|null.
* ``POST /repos/{owner}/{repo}/issues/{issue_number}/comments`` (issues/create-comment): ``body``
  required; 201 with an ``issue-comment``.
* ``GET /repos/{owner}/{repo}/labels/{name}`` and ``POST /repos/{owner}/{repo}/labels``
  (issues/get-label, issues/create-label): ``name`` required, ``color``, ``description``; 422
  ``already_exists``.

Errors use GitHub's ``basic-error`` / ``validation-error`` bodies. A token is either ``write`` or
``read``; a ``read`` token gets GitHub's 403 "Resource not accessible by integration" on writes.
Faults (rate limits, 5xx) can be queued per route with :meth:`FakeGitHub.fail`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import httpx
import pytest

DOCS = "https://docs.github.com/rest"
BODY_LIMIT = 65_536
SUPPORTED_VERSIONS = {"2022-11-28", "2026-03-10"}
STATE_REASONS = {"completed", "not_planned", "duplicate", "reopened", None}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(login: str, uid: int) -> dict[str, Any]:
    api = "https://api.github.com/users/" + login
    return {
        "login": login, "id": uid, "node_id": f"U_{uid}", "avatar_url": f"https://avatars.example/{uid}",
        "gravatar_id": "", "url": api, "html_url": f"https://github.com/{login}",
        "followers_url": api + "/followers", "following_url": api + "/following{/other_user}",
        "gists_url": api + "/gists{/gist_id}", "starred_url": api + "/starred{/owner}{/repo}",
        "subscriptions_url": api + "/subscriptions", "organizations_url": api + "/orgs",
        "repos_url": api + "/repos", "events_url": api + "/events{/privacy}",
        "received_events_url": api + "/received_events", "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
    }


BOT = _user("github-actions[bot]", 41898282)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    payload: dict[str, Any]
    headers: dict[str, str]
    times: int
    #: act on the request first, then answer with the error (a 502 from a proxy after GitHub did it)
    after: bool = False


@dataclass
class Repo:
    full_name: str
    rid: int
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    collaborators: set[str] = field(default_factory=lambda: {"octocat", "dba-alice"})
    has_issues: bool = True
    next_number: int = 1


class FakeGitHub:
    """In-memory GitHub with a real HTTP front. Thread-safe: one lock around all state."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, str] = {"ghs_test_token_write_0123456789": "write"}
        self.faults: list[Fault] = []
        #: GitHub caps per_page at 100; tests lower it to see pagination with a handful of issues
        self.max_per_page = 100
        self._ids = 1000
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        owner = self

        class Handler(_Handler):
            fake = owner

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-github", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        if self._httpd is None:  # used in-process through transport(), never over a socket
            return "https://api.github.test"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def transport(self) -> httpx.MockTransport:
        """The same API without a socket, for unit tests: pass it to pgdrill's client."""

        def handler(request: httpx.Request) -> httpx.Response:
            target = request.url.raw_path.decode("ascii")
            headers = {k.lower(): v for k, v in request.headers.items()}
            status, payload, extra = self.handle(request.method, target, headers, request.content.decode("utf-8"))
            return httpx.Response(status, json=payload, headers={"X-RateLimit-Remaining": "4999", **extra})

        return httpx.MockTransport(handler)

    @property
    def token(self) -> str:
        return next(t for t, p in self.tokens.items() if p == "write")

    def env(self, repo: str = "acme/shop", token: str | None = None) -> dict[str, str]:
        """The variables a GitHub Actions step would see, pointed at this server."""
        return {
            "GITHUB_ACTIONS": "true",
            "GITHUB_API_URL": self.url,
            "GITHUB_REPOSITORY": repo,
            "GITHUB_TOKEN": token or self.token,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242",
        }

    # -- state helpers for tests --------------------------------------------------------------
    def _id(self) -> int:
        self._ids += 1
        return self._ids

    def repo(self, full_name: str) -> Repo:
        with self.lock:
            return self._repo(full_name)

    def _repo(self, full_name: str) -> Repo:
        if full_name not in self.repos:
            self.repos[full_name] = Repo(full_name, rid=len(self.repos) + 1296269)
        return self.repos[full_name]

    def _label(self, repo: Repo, name: str, color: str = "ededed", description: str | None = None) -> dict[str, Any]:
        if name not in repo.labels:
            lid = self._id()
            repo.labels[name] = {
                "id": lid, "node_id": f"LA_{lid}",
                "url": f"{self.url}/repos/{repo.full_name}/labels/{quote(name, safe='')}",
                "name": name, "description": description, "color": color, "default": False,
            }
        return repo.labels[name]

    def _issue(
        self, repo: Repo, title: str, body: str | None, labels: list[str], assignees: list[str], pull: bool
    ) -> dict[str, Any]:
        number = repo.next_number
        repo.next_number += 1
        iid = self._id()
        api = f"{self.url}/repos/{repo.full_name}/issues/{number}"
        kind = "pull" if pull else "issues"
        issue: dict[str, Any] = {
            "id": iid, "node_id": f"I_{iid}", "url": api, "repository_url": f"{self.url}/repos/{repo.full_name}",
            "labels_url": api + "/labels{/name}", "comments_url": api + "/comments", "events_url": api + "/events",
            "html_url": f"https://github.com/{repo.full_name}/{kind}/{number}", "number": number,
            "state": "open", "state_reason": None, "title": title, "body": body, "user": BOT,
            "labels": [self._label(repo, name) for name in labels],
            "assignee": _user(assignees[0], 583231) if assignees else None,
            "assignees": [_user(a, 583231 + i) for i, a in enumerate(assignees)],
            "milestone": None, "locked": False, "active_lock_reason": None, "comments": 0,
            "closed_at": None, "created_at": _now(), "updated_at": _now(), "closed_by": None,
            "author_association": "NONE",
        }
        if pull:
            web = f"https://github.com/{repo.full_name}/pull/{number}"
            issue["pull_request"] = {
                "url": f"{self.url}/repos/{repo.full_name}/pulls/{number}", "html_url": web,
                "diff_url": web + ".diff", "patch_url": web + ".patch", "merged_at": None,
            }
            issue["draft"] = False
        repo.issues[number] = issue
        repo.comments[number] = []
        return issue

    def add_issue(
        self, repo: str, title: str, body: str = "", labels: tuple[str, ...] = (), *, pull_request: bool = False,
        state: str = "open",
    ) -> dict[str, Any]:
        with self.lock:
            issue = self._issue(self._repo(repo), title, body, list(labels), [], pull_request)
            if state == "closed":
                issue.update(state="closed", state_reason="completed", closed_at=_now())
            return issue

    def issues(self, repo: str) -> list[dict[str, Any]]:
        with self.lock:
            return [i for i in self._repo(repo).issues.values() if "pull_request" not in i]

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._repo(repo).comments.get(number, []))

    def fail(
        self, method: str, path: str, status: int, message: str, *, headers: dict[str, str] | None = None,
        times: int = 1, after: bool = False,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and the ``path`` regex with an error.

        With ``after=True`` the request is carried out first and only the answer is lost.
        """
        payload = {"message": message, "documentation_url": DOCS, "status": str(status)}
        with self.lock:
            self.faults.append(Fault(method.upper(), re.compile(path), status, payload, headers or {}, times, after))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self.lock:
            return [
                r for r in self.requests
                if (method is None or r.method == method.upper()) and (path is None or re.search(path, r.path))
            ]

    def sent_text(self) -> str:
        """Everything clients sent except the Authorization header: for "no secret was sent" checks."""
        with self.lock:
            parts = []
            for r in self.requests:
                headers = {k: v for k, v in r.headers.items() if k.lower() != "authorization"}
                parts += [r.method, r.path, json.dumps(r.query), json.dumps(headers), r.body]
            return "\n".join(parts)

    # -- request handling (called from the handler thread, under the lock) --------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: str) -> tuple[int, Any, dict[str, str]]:
        split = urlsplit(target)
        path = unquote(split.path)
        query = parse_qs(split.query)
        record = Recorded(method, path, query, headers, body)
        with self.lock:
            self.requests.append(record)
            status, payload, extra = self._route(method, path, query, headers, body)
            record.status = status
        return status, payload, extra

    def _auth(self, headers: dict[str, str], write: bool, doc: str) -> tuple[int, Any] | None:
        auth = headers.get("authorization", "")
        token = auth.split(" ", 1)[1] if auth.lower().startswith(("bearer ", "token ")) else ""
        permission = self.tokens.get(token)
        if permission is None:
            return 401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}
        if write and permission != "write":
            return 403, {"message": "Resource not accessible by integration", "documentation_url": doc, "status": "403"}
        return None

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: str
    ) -> tuple[int, Any, dict[str, str]]:
        version = headers.get("x-github-api-version")
        if version is not None and version not in SUPPORTED_VERSIONS:
            return 400, {"message": f"Unsupported 'X-GitHub-Api-Version': {version}", "documentation_url": DOCS,
                         "status": "400"}, {}
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.path.search(path):
                fault.times -= 1
                if fault.after:
                    self._serve_route(method, path, query, headers, body)
                return fault.status, fault.payload, dict(fault.headers)
        return self._serve_route(method, path, query, headers, body)

    def _serve_route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: str
    ) -> tuple[int, Any, dict[str, str]]:

        m = re.fullmatch(r"/repositories/(\d+)(/.*)", path)
        if m:  # the form GitHub's own Link headers use
            repo_by_id = next((r for r in self.repos.values() if r.rid == int(m.group(1))), None)
            if repo_by_id is None:
                return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
            path = f"/repos/{repo_by_id.full_name}{m.group(2)}"
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not m:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        repo = self._repo(m.group(1))
        rest = m.group(2) or ""
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"}, {}
        write = method in ("POST", "PATCH", "PUT", "DELETE")
        denied = self._auth(headers, write, f"{DOCS}/issues")
        if denied:
            return denied[0], denied[1], {}

        if rest == "/issues" and method == "GET":
            return self._list(repo, query)
        if rest == "/issues" and method == "POST":
            return self._create(repo, data)
        m = re.fullmatch(r"/issues/(\d+)", rest)
        if m and method in ("GET", "PATCH"):
            issue = repo.issues.get(int(m.group(1)))
            if issue is None:
                return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
            return (200, issue, {}) if method == "GET" else self._update(repo, issue, data)
        m = re.fullmatch(r"/issues/(\d+)/comments", rest)
        if m:
            number = int(m.group(1))
            if number not in repo.issues:
                return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
            if method == "GET":
                return 200, repo.comments[number], {}
            if method == "POST":
                return self._comment(repo, number, data)
        m = re.fullmatch(r"/labels/(.+)", rest)
        if m and method == "GET":
            label = repo.labels.get(m.group(1))
            if label is None:
                return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
            return 200, label, {}
        if rest == "/labels" and method == "POST":
            return self._create_label(repo, data)
        return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}

    @staticmethod
    def _invalid(resource: str, field_: str, code: str, message: str | None = None) -> tuple[int, Any, dict[str, str]]:
        error: dict[str, Any] = {"resource": resource, "field": field_, "code": code}
        if message:
            error["message"] = message
        return 422, {"message": "Validation Failed", "errors": [error], "documentation_url": DOCS, "status": "422"}, {}

    def _list(self, repo: Repo, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", ["open"])[0]
        if state not in ("open", "closed", "all"):
            return self._invalid("Issue", "state", "invalid")
        wanted = [x for x in query.get("labels", [""])[0].split(",") if x]
        items = [
            i for i in repo.issues.values()
            if (state == "all" or i["state"] == state) and all(w in {lb["name"] for lb in i["labels"]} for w in wanted)
        ]
        items.sort(key=lambda i: i["number"], reverse=query.get("direction", ["desc"])[0] != "asc")
        per_page = max(1, min(int(query.get("per_page", ["30"])[0]), 100, self.max_per_page))
        page = max(1, int(query.get("page", ["1"])[0]))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]

        def link(n: int) -> str:
            q = {k: v[0] for k, v in query.items() if k != "page"}
            q["page"] = str(n)
            return f"{self.url}/repositories/{repo.rid}/issues?{urlencode(q)}"

        rels = []
        if page < last:
            rels += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
        if page > 1:
            rels += [f'<{link(1)}>; rel="first"', f'<{link(page - 1)}>; rel="prev"']
        return 200, chunk, ({"Link": ", ".join(rels)} if rels else {})

    def _create(self, repo: Repo, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if not repo.has_issues:
            return 410, {"message": "Issues are disabled for this repo", "documentation_url": DOCS, "status": "410"}, {}
        title = data.get("title")
        if not isinstance(title, (str, int)) or not str(title).strip():
            return self._invalid("Issue", "title", "missing_field")
        body = data.get("body")
        if body is not None and len(body) > BODY_LIMIT:
            return self._invalid("Issue", "body", "custom", f"body is too long (maximum is {BODY_LIMIT} characters)")
        assignees = list(data.get("assignees") or [])
        for login in assignees:
            if login not in repo.collaborators:
                return self._invalid("Issue", "assignees", "invalid")
        labels = [lb if isinstance(lb, str) else lb.get("name", "") for lb in data.get("labels") or []]
        issue = self._issue(repo, str(title), body, labels, assignees, pull=False)
        return 201, issue, {"Location": issue["url"]}

    def _update(self, repo: Repo, issue: dict[str, Any], data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        state = data.get("state")
        if state is not None and state not in ("open", "closed"):
            return self._invalid("Issue", "state", "invalid")
        reason = data.get("state_reason", "completed" if state == "closed" else None)
        if reason not in STATE_REASONS:
            return self._invalid("Issue", "state_reason", "invalid")
        for key in ("title", "body"):
            if key in data:
                issue[key] = data[key]
        if "labels" in data:
            issue["labels"] = [self._label(repo, lb if isinstance(lb, str) else lb["name"]) for lb in data["labels"]]
        if state == "closed" and issue["state"] != "closed":
            issue.update(state="closed", state_reason=reason, closed_at=_now(), closed_by=BOT)
        elif state == "open" and issue["state"] != "open":
            issue.update(state="open", state_reason="reopened", closed_at=None, closed_by=None)
        issue["updated_at"] = _now()
        return 200, issue, {}

    def _comment(self, repo: Repo, number: int, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        body = data.get("body")
        if not isinstance(body, str) or not body:
            return self._invalid("IssueComment", "body", "missing_field")
        if len(body) > BODY_LIMIT:
            return self._invalid("IssueComment", "body", "custom", "body is too long (maximum is 65536 characters)")
        cid = self._id()
        comment = {
            "id": cid, "node_id": f"IC_{cid}", "url": f"{self.url}/repos/{repo.full_name}/issues/comments/{cid}",
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}#issuecomment-{cid}", "body": body,
            "user": BOT, "created_at": _now(), "updated_at": _now(),
            "issue_url": f"{self.url}/repos/{repo.full_name}/issues/{number}", "author_association": "NONE",
        }
        repo.comments[number].append(comment)
        repo.issues[number]["comments"] += 1
        return 201, comment, {"Location": comment["url"]}

    def _create_label(self, repo: Repo, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        name = data.get("name")
        if not isinstance(name, str) or not name:
            return self._invalid("Label", "name", "missing_field")
        if name in repo.labels:
            return self._invalid("Label", "name", "already_exists")
        label = self._label(repo, name, data.get("color") or "ededed", data.get("description"))
        return 201, label, {"Location": label["url"]}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, extra = self.fake.handle(self.command, self.path, headers, body)
        data = json.dumps(payload).encode("utf-8") if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Api-Version-Selected", headers.get("x-github-api-version", "2022-11-28"))
        self.send_header("X-RateLimit-Limit", "5000")
        self.send_header("X-RateLimit-Resource", "core")
        if "X-RateLimit-Remaining" not in extra and "x-ratelimit-remaining" not in extra:
            self.send_header("X-RateLimit-Remaining", "4999")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve


@pytest.fixture
def github_server() -> Iterator[FakeGitHub]:
    """A fresh stand-in GitHub API per test."""
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()
