"""A local stand-in for the services notifications go to: a Slack incoming webhook, a generic JSON
webhook and a healthchecks.io ping endpoint, behind one real HTTP server on a free 127.0.0.1 port.

Shapes follow the services' documentation:

* Slack incoming webhooks (api.slack.com/messaging/webhooks): ``POST /services/T…/B…/…`` with a JSON
  body holding ``text`` and/or ``blocks``; ``200 ok`` (text/plain), ``400 invalid_payload`` for a body
  without text or blocks, ``404 no_service`` for an unknown (revoked) hook.
* healthchecks.io pings (healthchecks.io/docs/http_api): ``GET|POST|HEAD /ping/<uuid>``, ``…/start``,
  ``…/fail``; ``200 OK``; a POST body is kept as the ping's log (at most 100 kB).
* anything else (``/hook/…``): the generic webhook, ``204`` for a JSON object body, ``400`` otherwise.

Every request is recorded; faults are queued per path with :meth:`Hooks.fail`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SLACK_PATH = "/services/T00PGDRILL/B00PGDRILL/pgdrillSecretHookToken0123"
PING_PATH = "/ping/5f1c2d3e-4b5a-4c6d-8e7f-901234567890"
HOOK_PATH = "/hook/pgdrill-secret-4f8a9b"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Hooks:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.faults: list[tuple[re.Pattern[str], int, str, int]] = []
        self.known_slack = {SLACK_PATH}
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def slack(self) -> str:
        return self.url + SLACK_PATH

    @property
    def ping(self) -> str:
        return self.url + PING_PATH

    @property
    def hook(self) -> str:
        return self.url + HOOK_PATH

    def fail(self, path: str, status: int, body: str = "error", times: int = 1) -> None:
        with self.lock:
            self.faults.append((re.compile(path), status, body, times))

    def calls(self, path: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if path is None or re.search(path, r.path)]

    def sent_text(self) -> str:
        with self.lock:
            return "\n".join(r.path + "\n" + r.text for r in self.requests)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, str]:
        req = Request(method, path, headers, body)
        with self.lock:
            self.requests.append(req)
            for i, (pattern, status, text, times) in enumerate(self.faults):
                if times != 0 and pattern.search(path):
                    self.faults[i] = (pattern, status, text, times - 1)
                    req.status = status
                    return status, "text/plain", text
        status, ctype, text = self._route(method, path, headers, body)
        req.status = status
        return status, ctype, text

    def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, str]:
        if path.startswith("/services/"):
            if method != "POST":
                return 405, "text/plain", "invalid_method"
            if path not in self.known_slack:
                return 404, "text/plain", "no_service"
            try:
                doc = json.loads(body)
            except ValueError:
                return 400, "text/plain", "invalid_payload"
            if not isinstance(doc, dict) or not (doc.get("text") or doc.get("blocks")):
                return 400, "text/plain", "no_text"
            return 200, "text/plain", "ok"
        if re.fullmatch(r"/ping/[0-9a-f-]{36}(/start|/fail|/log|/\d{1,3})?", path):
            if method not in ("GET", "POST", "HEAD"):
                return 405, "text/plain", "method not allowed"
            return 200, "text/plain", "OK"
        if path.startswith("/hook/"):
            try:
                doc = json.loads(body)
            except ValueError:
                return 400, "text/plain", "not JSON"
            return (204, "text/plain", "") if isinstance(doc, dict) else (400, "text/plain", "not an object")
        return 404, "text/plain", "not found"

    def start(self) -> Hooks:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, ctype, text = owner.handle(self.command, self.path,
                                                   {k.lower(): v for k, v in self.headers.items()}, body)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and status != 204:
                    self.wfile.write(data)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="hooks", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    server = Hooks().start()
    try:
        yield server
    finally:
        server.stop()
