"""A fault-injecting HTTP proxy in front of the test S3 server, in its own process.

Run as a script: ``python s3proxy.py TARGET_PORT LOG_FILE RULES_JSON``; it prints its port on stdout.
Every request is forwarded to the S3 server unless a rule answers it with an error first; every
request is logged (one JSON line: method, path, query, status). Being a separate process, it can be
SIGKILLed mid-upload like a crashed endpoint, while the S3 server behind it keeps its data.

A rule: ``{"method": "PUT", "path": "regex", "query": "regex", "status": 503, "code": "SlowDown",
"times": 2}`` — ``times`` -1 means forever; ``{"delay": 5, …}`` forwards after a pause instead.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class _Rules:
    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = rules
        self.lock = threading.Lock()

    def match(self, method: str, path: str, query: str) -> dict[str, Any] | None:
        with self.lock:
            for rule in self.rules:
                if rule.get("method", method) != method:
                    continue
                if not re.search(rule.get("path", ""), path) or not re.search(rule.get("query", ""), query):
                    continue
                if rule.get("times", 1) == 0:
                    continue
                if rule.get("times", 1) > 0:
                    rule["times"] = rule.get("times", 1) - 1
                return rule
        return None


def _serve(target_port: int, log_path: str, rules: _Rules) -> None:
    log_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _log(self, status: int, size: int) -> None:
            split = urlsplit(self.path)
            with log_lock, open(log_path, "a") as f:
                f.write(json.dumps({"method": self.command, "path": split.path, "query": split.query,
                                    "status": status, "size": size,
                                    "headers": {k.lower(): v for k, v in self.headers.items()
                                                if k.lower() != "authorization"}}) + "\n")

        def _handle(self) -> None:
            body = self._body()
            split = urlsplit(self.path)
            rule = rules.match(self.command, split.path, split.query)
            if rule is not None and "delay" in rule:
                time.sleep(float(rule["delay"]))  # a slow link: then forwarded as usual
                rule = None
            if rule is not None:
                payload = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{rule.get('code', 'InternalError')}"
                           f"</Code><Message>injected fault</Message></Error>").encode()
                self.send_response(int(rule.get("status", 500)))
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                self._log(int(rule.get("status", 500)), len(body))
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"content-length"}}
            headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=120)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            finally:
                conn.close()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            # a HEAD answer's length is the object's, not of the (empty) body
            length = resp.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self._log(resp.status, len(body))

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


@dataclass
class S3Proxy:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def s3_proxy(target_port: int, log: Path, rules: list[dict[str, Any]] | None = None) -> Iterator[S3Proxy]:
    proc = subprocess.Popen([sys.executable, __file__, str(target_port), str(log), json.dumps(rules or [])],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        raise RuntimeError("the S3 proxy did not start")
    proxy = S3Proxy(proc, int(line), log)
    try:
        yield proxy
    finally:
        proxy.kill()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2], _Rules(json.loads(sys.argv[3])))
