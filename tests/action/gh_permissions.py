"""GitHub's permission rules for GITHUB_TOKEN, as the action tests need them: what a job is granted,
and what a called (reusable) workflow's jobs may ask for. See test_action_permissions.py."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

LEVELS = {"none": 0, "read": 1, "write": 2}
SCOPES = ("actions", "attestations", "checks", "contents", "deployments", "discussions", "id-token", "issues",
          "models", "packages", "pages", "pull-requests", "repository-projects", "security-events", "statuses")
#: what a job gets when no `permissions:` key applies: GitHub's restricted default (new repositories
#: and organisations); the permissive one grants more, so checking against this one is the safe side
DEFAULT_GRANT = {"contents": "read", "packages": "read"}
SELF_WORKFLOW = re.compile(r"^(?:\./|OWNER/pgdrill/)\.github/workflows/(?P<file>[^@]+)(?:@.+)?$")

Permissions = dict[str, int]


def permissions(value: Any) -> Permissions | None:
    """A `permissions:` value as a level per scope; None when the key is absent."""
    if value is None:
        return None
    if value == "read-all":
        return dict.fromkeys(SCOPES, LEVELS["read"])
    if value == "write-all":
        return dict.fromkeys(SCOPES, LEVELS["write"])
    if not isinstance(value, Mapping):
        raise ValueError(f"permissions must be read-all, write-all or a mapping, not {value!r}")
    unknown = set(value) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown permission scope(s) {sorted(unknown)}")
    levels = dict.fromkeys(SCOPES, 0)
    levels.update({scope: LEVELS[str(level)] for scope, level in value.items()})
    return levels


def granted(workflow: Mapping[str, Any], job: Mapping[str, Any]) -> Permissions:
    """What a job of a (calling) workflow has: its own key, else the workflow's, else the default."""
    for value in (job.get("permissions"), workflow.get("permissions")):
        found = permissions(value)
        if found is not None:
            return found
    default = permissions(DEFAULT_GRANT)
    assert default is not None
    return default


def violations(caller: Permissions, called: Mapping[str, Any]) -> list[str]:
    """GitHub's refusals for calling ``called`` (a workflow document) from a job granted ``caller``."""
    found = []
    for name, job in (called.get("jobs") or {}).items():
        asked = permissions(job.get("permissions"))
        if asked is None:
            asked = permissions(called.get("permissions"))
        if asked is None:
            continue  # inherits the caller's, whatever they are
        for scope in SCOPES:
            if asked[scope] > caller[scope]:
                want = next(k for k, v in LEVELS.items() if v == asked[scope])
                have = next(k for k, v in LEVELS.items() if v == caller[scope])
                found.append(f"The nested job '{name}' is requesting '{scope}: {want}', "
                             f"but is only allowed '{scope}: {have}'.")
    return found


def effective(caller: Permissions, called: Mapping[str, Any], job: str) -> Permissions:
    spec = called["jobs"][job]
    asked = permissions(spec.get("permissions"))
    if asked is None:
        asked = permissions(called.get("permissions"))
    return caller if asked is None else asked


def grants(workflow: Mapping[str, Any], scope: str, level: str = "write") -> bool:
    """Whether any job of ``workflow`` is granted ``scope`` at ``level`` (or more)."""
    return any(granted(workflow, job)[scope] >= LEVELS[level] for job in (workflow.get("jobs") or {}).values())
