"""The post-mortem issue lifecycle: one open issue per (job kind, environment), found by its labels
plus a hidden marker in its body. A failure opens it (or comments on it when it is already open); the
next success comments and closes it with ``state_reason: completed``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from pgdrill.report.github.bodies import marker, render_failure_comment, render_issue, render_recovery_comment
from pgdrill.report.github.client import PERMISSION_HINT, GitHubClient, GitHubError
from pgdrill.report.github.settings import GitHubSettings
from pgdrill.report.outcome import Outcome


@dataclass(frozen=True)
class IssueAction:
    action: Literal["opened", "commented", "closed", "none"]
    number: int | None = None
    url: str | None = None
    warnings: tuple[str, ...] = ()


def _label_names(issue: Mapping[str, Any]) -> set[str]:
    names = set()
    for label in issue.get("labels") or []:
        names.add(label.get("name") if isinstance(label, dict) else str(label))
    return {n for n in names if n}


def find_issues(client: GitHubClient, repo: str, labels: Sequence[str], mark: str) -> list[dict[str, Any]]:
    """Open issues with all ``labels`` and the ``mark`` in their body, oldest first.

    There should be one; more only if someone copied the body or two runs raced.
    """
    found = [i for i in client.list_open_issues(repo, labels) if mark in (i.get("body") or "")]
    return sorted(found, key=lambda i: int(i.get("number") or 0))


def find_issue(client: GitHubClient, repo: str, labels: Sequence[str], mark: str) -> dict[str, Any] | None:
    """The oldest open issue with all ``labels`` and the ``mark`` in its body."""
    found = find_issues(client, repo, labels, mark)
    return found[0] if found else None


def _issue_ref(issue: Mapping[str, Any]) -> tuple[int, str | None]:
    return int(issue["number"]), issue.get("html_url")


def sync_issue(
    client: GitHubClient,
    repo: str,
    outcome: Outcome,
    settings: GitHubSettings,
    run_url: str | None,
    now: datetime | None = None,
) -> IssueAction:
    """Open, comment on or close the post-mortem issue of ``outcome``'s (job, environment)."""
    now = now or datetime.now(timezone.utc)
    labels = settings.labels_for(outcome.job)
    mark = marker(outcome.job, outcome.environment, outcome.database)
    matches = find_issues(client, repo, labels, mark)
    existing = matches[0] if matches else None

    if outcome.passed:
        if existing is None:
            return IssueAction("none")
        # Recovery closes every copy, so a past race leaves nothing open behind.
        comment = render_recovery_comment(outcome, run_url, now)
        for match in matches:
            client.comment(repo, int(match["number"]), comment)
            client.close_issue(repo, int(match["number"]))
        number, url = _issue_ref(existing)
        return IssueAction("closed", number, url)

    if existing is not None:
        number, url = _issue_ref(existing)
        client.comment(repo, number, render_failure_comment(outcome, run_url, now))
        return IssueAction("commented", number, url)

    warnings: list[str] = []
    for label in labels:
        try:
            client.ensure_label(repo, label)
        except GitHubError:
            # Creating the issue below applies (and if need be creates) the labels anyway, and
            # reports a real permission problem itself.
            break
    title, body = render_issue(outcome, settings, run_url, now)
    assignees = list(settings.assignees)
    issue: dict[str, Any] | None = None
    retried = False
    while issue is None:  # ends: assignees are dropped at most once, a lost answer retried once
        try:
            issue = client.create_issue(repo, title, body, labels, assignees)
        except GitHubError as exc:
            if exc.status == 422 and assignees:
                warnings.append(f"could not assign {', '.join(assignees)} ({exc.message}); opened unassigned")
                assignees = []
                continue
            if not exc.retryable or retried:
                raise
            retried = True
            # The failed POST may have been processed: look before opening a second issue.
            issue = find_issue(client, repo, labels, mark)
    dropped = [label for label in labels if label not in _label_names(issue)]
    if dropped:
        warnings.append(
            f"GitHub did not apply the label(s) {', '.join(dropped)} to issue #{issue['number']}, so the next "
            f"run cannot find it; {PERMISSION_HINT}"
        )
    number, url = _issue_ref(issue)
    return IssueAction("opened", number, url, tuple(warnings))
