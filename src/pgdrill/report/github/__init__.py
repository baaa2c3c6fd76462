"""Publishing to GitHub: job summary, step outputs, annotations and post-mortem issues.

Modules: ``settings`` (the ``github:`` section), ``client`` (the REST endpoints, on :mod:`pgdrill.rest`),
``bodies`` (issue and comment texts), ``issues`` (the lifecycle), ``publish`` (everything, for one Outcome).

The CLI calls :func:`mask_secrets_early` first thing and :func:`publish` after every command.
``publish`` never raises and never changes a verdict: anything that goes wrong while reporting
becomes a warning in the returned :class:`PublishResult`, in the job summary and as an annotation.

Post-mortem issues: one open issue per (job kind, environment), found by its labels plus a hidden
marker ``<!-- pgdrill:<job>:<environment> -->`` in the body. A failure opens it (or comments on it
when it is already open); the next success comments and closes it with ``state_reason: completed``.

Why a thin layer on httpx instead of a GitHub client library (PyGithub, githubkit, ghapi):
pgdrill calls six REST endpoints, and what matters is *how* it calls them, which those libraries
either hide or do differently: secondary rate limits must be honoured through ``Retry-After``
within a bounded wait (a CI job cannot sleep for an hour), server errors are retried only when a
retry cannot create a duplicate issue, every request body must pass through the secret scrubber,
the pagination ``Link`` must never carry the token to another host, and the base URL comes from
``GITHUB_API_URL`` so GitHub Enterprise Server and the test stand-in work unchanged. httpx is already
a dependency and well kept; a library would add a large dependency tree to every CI run for less
control. Request and response shapes follow GitHub's OpenAPI description (api.github.com,
version 2022-11-28): issues/list-for-repo, issues/create, issues/update, issues/create-comment,
issues/get-label, issues/create-label.
"""

from pgdrill.report.actions import mask_secrets_early
from pgdrill.report.github.bodies import BODY_LIMIT, CHECKLIST, marker, render_issue
from pgdrill.report.github.client import API_VERSION, GitHubClient, GitHubError
from pgdrill.report.github.issues import IssueAction, sync_issue
from pgdrill.report.github.publish import PublishResult, publish
from pgdrill.report.github.settings import GitHubSettings

__all__ = [
    "API_VERSION",
    "BODY_LIMIT",
    "CHECKLIST",
    "GitHubClient",
    "GitHubError",
    "GitHubSettings",
    "IssueAction",
    "PublishResult",
    "marker",
    "mask_secrets_early",
    "publish",
    "render_issue",
    "sync_issue",
]
