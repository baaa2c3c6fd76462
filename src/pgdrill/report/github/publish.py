"""Publishing an Outcome where GitHub users look: job summary, step outputs, annotations and the
post-mortem issue. ``publish`` never raises and never changes a verdict."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

import httpx

from pgdrill import secrets
from pgdrill.ci import RunInfo
from pgdrill.errors import PgdrillError
from pgdrill.report import actions
from pgdrill.report.github.bodies import _md
from pgdrill.report.github.client import AUTH_HINT, DEFAULT_API_URL, GitHubClient
from pgdrill.report.github.issues import IssueAction, sync_issue
from pgdrill.report.github.settings import _REPO, GitHubSettings
from pgdrill.report.outcome import Outcome


@dataclass(frozen=True)
class PublishResult:
    """What :func:`publish` did. ``warnings`` are reporting problems, never part of the verdict."""

    in_actions: bool
    summary_written: bool = False
    summary_bytes_dropped: int = 0
    outputs: tuple[str, ...] = ()
    annotations: int = 0
    issue: IssueAction | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _token(settings: GitHubSettings, env: Mapping[str, str]) -> str | None:
    token = settings.token or env.get("PGDRILL_GITHUB_TOKEN") or env.get("GITHUB_TOKEN") or None
    secrets.register(token)
    return token


def _issue_step(
    outcome: Outcome,
    settings: GitHubSettings,
    env: Mapping[str, str],
    run_url: str | None,
    warnings: list[str],
    transport: httpx.BaseTransport | None,
    sleep: Callable[[float], None],
    now: datetime | None,
) -> IssueAction | None:
    if not settings.issues or outcome.job not in settings.issue_jobs:
        return None
    token = _token(settings, env)
    repo = settings.repository or env.get("GITHUB_REPOSITORY") or None
    if not token or not repo:
        # Without a token a passing run has nothing to say; a failing one must explain the gap.
        if not outcome.passed:
            what = "no GitHub token" if not token else "GITHUB_REPOSITORY is not set"
            warnings.append(f"post-mortem issue not opened: {what}; {AUTH_HINT}")
        return None
    if not _REPO.match(repo):
        warnings.append(f"post-mortem issue not updated: repository {repo!r} must look like owner/name")
        return None
    api_url = env.get("GITHUB_API_URL") or DEFAULT_API_URL
    with GitHubClient(
        api_url, token, timeout=settings.timeout_seconds, max_retries=settings.max_retries,
        max_wait=settings.max_wait_seconds, sleep=sleep, transport=transport,
    ) as client:
        action = sync_issue(client, repo, outcome, settings, run_url, now)
    warnings.extend(action.warnings)
    return action


def _summary_text(outcome: Outcome, issue: IssueAction | None, warnings: Sequence[str]) -> str:
    text = outcome.markdown.rstrip() or f"### pgdrill {outcome.job} {outcome.verdict}\n\n{_md(outcome.title)}"
    extra = []
    if issue is not None and issue.number is not None:
        verb = {"opened": "opened", "commented": "updated", "closed": "closed"}.get(issue.action, issue.action)
        link = f"[#{issue.number}]({issue.url})" if issue.url else f"#{issue.number}"
        extra.append(f"Post-mortem issue {link} {verb}.")
    for warning in warnings:
        extra.append(f"> [!WARNING]\n> **GitHub reporting:** {_md(warning, code=True)}")
    return text + ("\n\n" + "\n\n".join(extra) if extra else "") + "\n"


def _outputs(outcome: Outcome, issue: IssueAction | None) -> dict[str, str]:
    outs = dict(outcome.outputs)
    outs.setdefault("passed", "true" if outcome.passed else "false")
    if outcome.backup_id:
        outs.setdefault("backup-id", outcome.backup_id)
    if issue is not None and issue.number is not None:
        outs.setdefault("issue-number", str(issue.number))
        if issue.url:
            outs.setdefault("issue-url", issue.url)
    return outs


def _publish(
    outcome: Outcome,
    settings: GitHubSettings,
    env: Mapping[str, str],
    stream: TextIO | None,
    transport: httpx.BaseTransport | None,
    sleep: Callable[[float], None],
    now: datetime | None,
) -> PublishResult:
    warnings: list[str] = []
    run_url = outcome.run_url or RunInfo.from_env(env).run_url

    issue: IssueAction | None = None
    try:
        issue = _issue_step(outcome, settings, env, run_url, warnings, transport, sleep, now)
    except PgdrillError as exc:
        warnings.append(f"post-mortem issue not updated: {exc.one_line()}")
    except Exception as exc:  # reporting must never fail the job
        warnings.append(f"post-mortem issue not updated: {type(exc).__name__}: {secrets.scrub(str(exc))}")

    summary_written, dropped = False, 0
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if settings.summary and summary_path:
        try:
            dropped = actions.append_summary(summary_path, _summary_text(outcome, issue, warnings))
            summary_written = True
        except OSError as exc:
            warnings.append(f"job summary not written: {exc.strerror or exc}")

    written: list[str] = []
    output_path = env.get("GITHUB_OUTPUT")
    if settings.outputs and output_path:
        try:
            written = actions.write_outputs(output_path, _outputs(outcome, issue))
        except (OSError, ValueError) as exc:
            warnings.append(f"step outputs not written: {exc}")

    count = 0
    if settings.annotations:
        title = f"pgdrill {outcome.job}" + (f" ({outcome.environment})" if outcome.environment else "")
        errors = list(outcome.failures) or ([] if outcome.passed else [outcome.title])
        notes = [*outcome.warnings, *(f"GitHub reporting: {w}" for w in warnings)]
        count = actions.emit(
            actions.capped("error", errors, title, "failed checks")
            + actions.capped("warning", notes, title, "warnings"),
            stream,
        )
    return PublishResult(True, summary_written, dropped, tuple(written), count, issue, tuple(warnings))


def publish(
    outcome: Outcome,
    settings: GitHubSettings | None = None,
    env: Mapping[str, str] = os.environ,
    *,
    stream: TextIO | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> PublishResult:
    """Report ``outcome`` where GitHub users look; a no-op outside GitHub Actions. Never raises.

    Order matters: the issue step runs first so the job summary can link the issue and show any
    reporting warning; annotations go last, to ``stream`` (stderr by default: see pgdrill.report.actions).
    ``transport``, ``sleep`` and ``now`` exist for tests.
    """
    if not actions.in_actions(env):
        return PublishResult(in_actions=False)
    try:
        return _publish(outcome, settings or GitHubSettings(), env, stream, transport, sleep, now)
    except Exception as exc:  # the last guard: a verdict is never lost to reporting
        warning = f"GitHub reporting failed: {type(exc).__name__}: {secrets.scrub(str(exc))}"
        return PublishResult(True, warnings=(warning,))
