"""The notifiers, on the one HTTP layer (:mod:`pgdrill.rest`): a Slack incoming webhook, a generic JSON
webhook and a healthchecks.io-style ping. A :class:`Notifier` is a publisher: it gets the job's neutral
Outcome after the GitHub publisher, never raises, and turns every problem into a warning — a failed
notification never fails the job or hides its result.

Retries are bounded (``notify.retries``, a 15 s wait budget): a message is sent again only when it
cannot have arrived (no connection, 429), pings — harmless to repeat — also after a server error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from pgdrill import secrets
from pgdrill.ci import RunInfo
from pgdrill.errors import PgdrillError
from pgdrill.report.notify import messages
from pgdrill.report.notify.settings import NotifySettings
from pgdrill.report.outcome import Outcome
from pgdrill.rest import RestClient, RetryPolicy


class HookClient(RestClient):
    """One POST to a URL the user gave; the service is named after its host, the secret path never."""

    unreachable_hint = "check the URL and the runner's network"

    def __init__(self, url: str, service: str, *, timeout: float, retries: int,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        parts = urlsplit(url)
        self.service = service  # type: ignore[misc]
        policy = RetryPolicy(max_retries=retries, backoff=1.0, max_backoff=4.0, max_wait=15.0, cap_retry_after=True)
        super().__init__(f"{parts.scheme}://{parts.netloc}", timeout=timeout, policy=policy, transport=transport,
                         sleep=sleep, headers={"Accept": "*/*"})
        self.url = url

    def describe_error(self, resp: httpx.Response, what: str) -> tuple[str, str | None]:
        text = " ".join(resp.text.split())[:200] or resp.reason_phrase
        hint = "check the URL (it may have been revoked)" if resp.status_code in (403, 404, 410) else None
        return f"{self.service} answered HTTP {resp.status_code} ({text}) when asked to {what}", hint

    def __enter__(self) -> HookClient:
        return self

    def post(self, what: str, *, json: Any = None, text: str | None = None, idempotent: bool = False,
             suffix: str = "") -> None:
        url = self.url.rstrip("/") + suffix if suffix else self.url
        self.request("POST", url, what=what, json=json, text=text, idempotent=idempotent)


@dataclass
class Notifier:
    """The notifications of one job run: ``start()`` when it begins, ``finish(outcome)`` when it ends."""

    settings: NotifySettings
    job: str
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    #: the job's previous verdict as its store tells it (None: not known)
    previous: bool | None = None
    warnings: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # what was delivered, for tests and --debug

    def _client(self, url: str, service: str) -> HookClient:
        return HookClient(url, service, timeout=self.settings.timeout, retries=self.settings.retries,
                          transport=self.transport, sleep=self.sleep)

    def _try(self, name: str, send: Callable[[], None]) -> None:
        try:
            send()
            self.sent.append(name)
        except PgdrillError as exc:
            self.warnings.append(f"{name} not sent: {exc.one_line()}")
        except Exception as exc:  # a notification never fails the job
            self.warnings.append(f"{name} not sent: {type(exc).__name__}: {secrets.scrub(str(exc))}")

    def start(self) -> None:
        """healthchecks.io's ``/start``: the job began (its duration is measured from here)."""
        url = self.settings.ping_url
        if url:
            def ping() -> None:
                with self._client(url, "ping URL") as client:
                    client.post(f"ping the start of {self.job}", text="", idempotent=True, suffix="/start")
            self._try("start ping", ping)

    def finish(self, outcome: Outcome, issue_closed: bool = False) -> list[str]:
        """Send what the outcome calls for; returns the warnings (never raises). ``issue_closed``: the
        GitHub publisher just closed this job's post-mortem issue — the run before failed."""
        previous = self.previous if self.previous is not None else (False if issue_closed else None)
        event = messages.event_of(outcome, previous)
        run_url = outcome.run_url or RunInfo.from_env(self.env).run_url
        if event != "success" or self.settings.on_success:
            slack, hook = self.settings.slack_webhook_url, self.settings.webhook_url
            if slack:
                def to_slack() -> None:
                    with self._client(slack, "Slack") as client:
                        client.post(f"post the {event} of {self.job}",
                                    json=messages.slack_message(outcome, event, run_url))
                self._try("Slack message", to_slack)
            if hook:
                def to_hook() -> None:
                    with self._client(hook, "webhook") as client:
                        client.post(f"post the {event} of {self.job}",
                                    json=messages.webhook_document(outcome, event, run_url))
                self._try("webhook", to_hook)
        ping = self.settings.ping_url
        if ping:
            def to_ping() -> None:
                with self._client(ping, "ping URL") as client:
                    client.post(f"ping the {event} of {self.job}", text=messages.ping_body(outcome),
                                idempotent=True, suffix="" if outcome.passed else "/fail")
            self._try("ping", to_ping)
        return list(self.warnings)
