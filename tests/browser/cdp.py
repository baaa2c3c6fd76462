"""Headless Chromium driven over the Chrome DevTools protocol: the browser is Debian's `chromium`
(scripts/setup/65-browser.sh), the protocol a websocket on the loopback interface, the client these
few lines on `websockets`' synchronous API. Nothing is downloaded; nothing leaves the machine.

    with Chromium.start(tmp_path) as browser:
        page = browser.page()
        page.open(Path("site/index.html"))
        page.evaluate("document.title"), page.screenshot(), page.console_errors()
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

#: the flags the brief for this machine asks for: headless, as root, and quiet on a closed network
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars")


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    _next: int = 0

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == event:
                return self.events.pop(i)
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("method") == event:
                return msg  # type: ignore[no-any-return]
            self.events.append(msg)

    def open(self, path: Path, *, media: str | None = None, width: int = 1200, height: int = 900) -> None:
        """Load a file from disk (file://) and wait for its load event."""
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
        if media:
            self.send("Emulation.setEmulatedMedia", {"media": media})
        self.events = []  # what the previous page caused is not this one's
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for("Page.loadEventFired")
        self.settle()

    def settle(self, quiet: float = 0.3) -> None:
        """Collect the events that arrive after the load (console messages, violations)."""
        with contextlib.suppress(TimeoutError):
            while True:
                self.events.append(json.loads(self.ws.recv(timeout=quiet)))

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    def console_errors(self) -> list[str]:
        """Errors and warnings the page caused: console calls, uncaught exceptions and the browser's own
        log (failed loads, Content-Security-Policy violations)."""
        self.settle()
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                out.append(str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                out.append(str(params["entry"].get("text")))
        return out

    def screenshot(self, path: Path, *, full_page: bool = True, clip_height: int | None = None) -> Path:
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page or bool(clip_height)}
        if full_page or clip_height:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            height = min(size["height"], clip_height) if clip_height else size["height"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": height, "scale": 1}
        data = base64.b64decode(self.send("Page.captureScreenshot", params)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def pdf(self) -> bytes:
        return base64.b64decode(self.send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True},
                                          timeout=60)["data"])


@dataclass
class Chromium:
    process: subprocess.Popen[bytes]
    port: int
    profile: Path

    @classmethod
    @contextlib.contextmanager
    def start(cls, workdir: Path, binary: str | None = None) -> Iterator[Chromium]:
        exe = binary or chromium_binary()
        if exe is None:
            raise FileNotFoundError("chromium")
        profile = workdir / "chromium-profile"  # a fresh profile for every browser
        profile.mkdir(parents=True)
        log = (workdir / "chromium.log").open("wb")
        proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
                                 "--remote-debugging-port=0", "about:blank"], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start: {(workdir / 'chromium.log').read_text()[-2000:]}")
                time.sleep(0.05)
            yield cls(proc, int(port_file.read_text().split()[0]), profile)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()

    @contextlib.contextmanager
    def page(self) -> Iterator[Page]:
        """A new tab, with the page, runtime and log domains on."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the loopback DevTools endpoint
            target = json.loads(resp.read())
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            page = Page(ws)
            for domain in ("Page", "Runtime", "Log"):
                page.send(f"{domain}.enable")
            yield page
