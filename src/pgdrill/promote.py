"""Promote a Neon point-in-time branch to the project's default (runbook 003 §2.2 and §3.2): recovery
of the whole database to ``at``, after the branch was checked — guarded, and never destructive.

    pgdrill restore --neon-project P --at T --promote --confirm <current default branch name>

Steps, each through Neon's API:

1. refuse unless ``--confirm`` names the current default branch exactly, and ``--at`` lies in its
   history window — before anything is created;
2. create ``<default>-restored-<time>`` at ``at`` (no expiry: it is to become production), wait until
   it is ready and accepts connections;
3. rename the current default to ``<default>-before-restore-<time>`` — it is kept, never deleted;
4. make the new branch the project's default, and give it the old default's name.

Should step 4 fail, step 3 is undone (the old default gets its name back). The result lists how to
undo the whole promotion by hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pgdrill import secrets
from pgdrill.errors import ConfigError, PgdrillError, Refused, SourceError
from pgdrill.pg.conn import DatabaseUrl, connect, server_version_string
from pgdrill.providers.base import BranchFailed
from pgdrill.providers.neon import NeonProvider, branch_create_body
from pgdrill.report.format import iso
from pgdrill.sources.instants import check_window
from pgdrill.streams import Progress

DEFAULT_READY_TIMEOUT = 600.0


@dataclass(frozen=True)
class PromoteRequest:
    at: datetime
    confirm: str | None
    ready_timeout: float = DEFAULT_READY_TIMEOUT


@dataclass(frozen=True)
class PromoteResult:
    project_id: str
    point_in_time: datetime
    promoted_id: str
    promoted_name: str  # now the default, under the old default's name
    previous_id: str
    previous_name: str  # the old default, kept under this name
    server_version: str
    seconds: float
    undo: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "point_in_time": iso(self.point_in_time),
                "promoted": {"id": self.promoted_id, "name": self.promoted_name},
                "previous_default": {"id": self.previous_id, "name": self.previous_name},
                "server_version": self.server_version, "seconds": round(self.seconds, 3), "undo": list(self.undo)}


def _say(progress: Progress | None, msg: str) -> None:
    if progress:
        progress(msg)


def run_promote(provider: NeonProvider, req: PromoteRequest, progress: Progress | None = None,
                now: datetime | None = None) -> PromoteResult:
    """Make a branch at ``req.at`` the project's default; see the module docstring."""
    started = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    t0 = time.monotonic()
    client, project = provider.client, provider.project_id
    current = provider.parent()
    if provider.branch and not (current.default or current.primary):
        raise ConfigError(f"--promote replaces the project's default branch, and {current.name} is not it",
                          "drop --neon-branch: a promotion branches from the current default")
    if req.confirm != current.name:
        raise Refused(f"promoting a branch at {iso(req.at)} replaces Neon project {project}'s default branch "
                      f"'{current.name}'" + (f", but --confirm names '{req.confirm}'" if req.confirm else ""),
                      f"pass --confirm {current.name} to promote (the current default is kept, renamed)")
    check_window(req.at, provider.restore_window(started), started)

    stamp = f"{started:%Y%m%d-%H%M%S}"
    new_name, kept_name = f"{current.name}-restored-{stamp}", f"{current.name}-before-restore-{stamp}"
    _say(progress, f"creating branch {new_name} of {current.name} at {iso(req.at)} (no expiry: it becomes the default)")
    created = client.create_branch(project, branch_create_body(parent_id=current.id, name=new_name, at=req.at,
                                                               expires_at=None))
    new_id = created.branch.id
    deadline = time.monotonic() + req.ready_timeout
    try:
        client.wait_operations(project, created.operations, deadline, poll=provider.poll,
                               failed_grace=provider.failed_grace, progress=progress)
    except BranchFailed as exc:
        raise SourceError(f"branch {new_name} ({new_id}) was not made: {secrets.scrub(exc.message)}",
                          f"nothing was promoted; delete it with: neon branches delete {new_id} --project-id "
                          f"{project}") from None
    version = _validate(provider, created, new_id)
    _say(progress, f"branch {new_name} ready (PostgreSQL {version}); keeping {current.name} as {kept_name}")

    provider.client.wait_operations(project, client.rename_branch(project, current.id, kept_name),
                                    time.monotonic() + req.ready_timeout, poll=provider.poll)
    try:
        client.wait_operations(project, client.set_default_branch(project, new_id),
                               time.monotonic() + req.ready_timeout, poll=provider.poll)
    except (PgdrillError, BranchFailed) as exc:
        client.rename_branch(project, current.id, current.name)  # the old default keeps its name
        raise SourceError(f"making {new_name} the default failed: {secrets.scrub(exc.message)}",
                          f"{current.name} is still the default, under its own name; {new_name} ({new_id}) was "
                          "left for you to inspect") from None
    client.wait_operations(project, client.rename_branch(project, new_id, current.name),
                           time.monotonic() + req.ready_timeout, poll=provider.poll)
    _say(progress, f"branch {new_id} is now the default, named {current.name}")
    undo = (
        f"neon branches set-default {current.id} --project-id {project}",
        f"neon branches rename {new_id} {new_name} --project-id {project}",
        f"neon branches rename {current.id} {current.name} --project-id {project}",
    )
    return PromoteResult(project, req.at, new_id, current.name, current.id, kept_name, version,
                         time.monotonic() - t0, undo)


def _validate(provider: NeonProvider, created: Any, branch_id: str) -> str:
    """The new branch accepts connections before it replaces anything."""
    from pgdrill.providers.neon.provider import pick_database

    databases = list(created.databases) or provider.client.list_databases(provider.project_id, branch_id)
    db, role = pick_database(databases, provider.database, provider.role)
    endpoint = next((e.id for e in created.endpoints if e.type == "read_write"), None)
    uri = provider.client.connection_uri(provider.project_id, branch_id=branch_id, database=db, role=role,
                                         endpoint_id=endpoint)
    url = DatabaseUrl.parse(uri.reveal(), "Neon connection URI")
    try:
        with connect(url, role="promoted branch") as conn:
            return server_version_string(conn)
    except PgdrillError as exc:
        raise SourceError(f"the new branch {branch_id} does not accept connections: {exc.message}",
                          "nothing was promoted") from None
