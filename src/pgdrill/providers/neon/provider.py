"""The Neon point-in-time provider: branches of one Neon project's branch, made at an instant,
deleted afterwards (and by Neon itself at ``expires_at`` should pgdrill never get to it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from pgdrill import secrets
from pgdrill.config import parse_duration
from pgdrill.errors import ConfigError, PgdrillError
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.providers.base import BranchFailed, BranchRef, Cleanup, PitrProvider, ReadyBranch, RestoreWindow
from pgdrill.providers.neon.client import (
    Branch,
    CreatedBranch,
    Database,
    NeonClient,
    branch_create_body,
    format_timestamp,
)
from pgdrill.streams import Progress

MAX_EXPIRY = timedelta(days=30)


class NeonSettings(BaseModel):
    """The ``neon:`` section of pgdrill.yml (flags and NEON_API_HOST win over it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_host: str | None = None
    database: str | None = None
    role: str | None = None
    branch_ttl: float = 6 * 3600.0  # expires_at = creation + this: Neon's safety net
    ready_timeout: float = 600.0
    failed_grace: float = 60.0

    @field_validator("branch_ttl", "ready_timeout", "failed_grace", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        try:
            seconds = parse_duration(v)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        if seconds < 0:
            raise ValueError("must not be negative")
        return seconds

    @field_validator("branch_ttl")
    @classmethod
    def _ttl(cls, v: float) -> float:
        if not 60 <= v <= MAX_EXPIRY.total_seconds():
            raise ValueError("Neon accepts an expiry between now and 30 days ahead; use e.g. 6h")
        return v


@dataclass
class NeonProvider(PitrProvider):
    """Point-in-time branches of one Neon project's branch (``branch``: name or id; None: the
    project's default branch)."""

    client: NeonClient
    project_id: str
    branch: str | None = None
    database: str | None = None
    role: str | None = None
    poll: float = 1.0
    failed_grace: float = 60.0
    clock: Callable[[], float] = time.monotonic
    kind: str = "neon"
    _parent: Branch | None = field(default=None, init=False, repr=False)
    _created: dict[str, CreatedBranch] = field(default_factory=dict, init=False, repr=False)

    def parent(self) -> Branch:
        if self._parent is None:
            branches = self.client.list_branches(self.project_id)
            self._parent = pick_parent(branches, self.branch, self.project_id)
        return self._parent

    def describe(self) -> str:
        return f"Neon project {self.project_id}, branch {self.parent().name}"

    def attach(self, progress: Progress | None) -> None:
        self.client.on_retry = progress

    def source_name(self) -> str:
        return self.parent().name

    def restore_window(self, now: datetime) -> RestoreWindow:
        project = self.client.get_project(self.project_id)
        parent = self.parent()
        retention = float(project.history_retention_seconds)
        earliest = now - timedelta(seconds=retention)
        what = f"history retention {_days(retention)} of Neon project {self.project_id}"
        if parent.created_at is not None and parent.created_at > earliest:
            # A branch has no history from before it was itself created.
            earliest = parent.created_at
            what += f"; branch {parent.name} exists since {format_timestamp(parent.created_at)}"
        return RestoreWindow(earliest, retention, what)

    def create_branch(self, name: str, at: datetime | None, expires_at: datetime) -> BranchRef:
        body = branch_create_body(parent_id=self.parent().id, name=name, at=at, expires_at=expires_at)
        created = self.client.create_branch(self.project_id, body)
        self._created[created.branch.id] = created
        b = created.branch
        return BranchRef(b.id, b.name or name, b.created_at or datetime.now(timezone.utc),
                         b.parent_timestamp or at, b.expires_at or expires_at)

    def wait_ready(self, ref: BranchRef, timeout: float, progress: Progress | None = None) -> ReadyBranch:
        created = self._created.get(ref.id)
        deadline = self.clock() + timeout
        self.client.wait_operations(self.project_id, created.operations if created else (), deadline,
                                    poll=self.poll, failed_grace=self.failed_grace, clock=self.clock,
                                    progress=progress)
        databases = list(created.databases) if created else []
        if not databases:
            databases = self.client.list_databases(self.project_id, ref.id)
        db, role = pick_database(databases, self.database, self.role)
        endpoint = next((e.id for e in (created.endpoints if created else ()) if e.type == "read_write"), None)
        uri = self.client.connection_uri(self.project_id, branch_id=ref.id, database=db, role=role,
                                         endpoint_id=endpoint)
        url = DatabaseUrl.parse(uri.reveal(), "Neon connection URI")
        return ReadyBranch(ref, url, db, ref.point_in_time or ref.created_at)

    def list_branches(self, prefix: str) -> list[BranchRef]:
        return [BranchRef(b.id, b.name, b.created_at or datetime.now(timezone.utc), b.parent_timestamp, b.expires_at)
                for b in self.client.list_branches(self.project_id) if b.name.startswith(prefix)]

    def delete_branch(self, ref: BranchRef | None, name: str, timeout: float) -> Cleanup:
        branch_id = ref.id if ref else None
        label = f"Neon branch {name}" + (f" ({branch_id})" if branch_id else "")
        try:
            if branch_id is None:
                found = [b for b in self.client.list_branches(self.project_id) if b.name == name]
                if not found:
                    return Cleanup(True, f"no Neon branch named {name} was created, nothing to delete")
                branch_id = found[0].id
                label = f"Neon branch {name} ({branch_id})"
            ops = self.client.delete_branch(self.project_id, branch_id)
            if ops is None:
                return Cleanup(True, f"{label} was already gone")
            self.client.wait_operations(self.project_id, ops, self.clock() + timeout, poll=self.poll,
                                        failed_grace=self.failed_grace, clock=self.clock)
            if any(b.id == branch_id for b in self.client.list_branches(self.project_id)):
                return Cleanup(False, f"{label} is still listed after its deletion finished")
        except (PgdrillError, BranchFailed) as exc:
            expiry = ref.expires_at if ref else None
            later = f" (Neon deletes it by itself at {format_timestamp(expiry)})" if expiry else ""
            how = f"neon branches delete {branch_id or name} --project-id {self.project_id}"
            return Cleanup(False, f"could not delete {label}; delete it with: {how}{later}",
                           (secrets.scrub(exc.message),))
        return Cleanup(True, f"{label} deleted")


def _days(seconds: float) -> str:
    if seconds % 86400 == 0:
        n = int(seconds // 86400)
        return f"{n} day{'s' if n != 1 else ''}"
    if seconds % 3600 == 0:
        n = int(seconds // 3600)
        return f"{n} hour{'s' if n != 1 else ''}"
    return f"{int(seconds)} seconds"


def pick_parent(branches: Sequence[Branch], wanted: str | None, project_id: str) -> Branch:
    """The branch named (or with the id) ``wanted``; without one, the project's default branch."""
    if wanted:
        for b in branches:
            if wanted in (b.id, b.name):
                return b
        names = ", ".join(sorted(b.name for b in branches)) or "none"
        raise ConfigError(f"Neon project {project_id} has no branch '{wanted}' (branches: {names})",
                          "pass --neon-branch with a branch name or id")
    for b in branches:
        if b.default or b.primary:
            return b
    for b in branches:
        if b.name == "main":
            return b
    raise ConfigError(f"Neon project {project_id} reports no default branch", "pass --neon-branch")


def pick_database(databases: Sequence[Database], wanted: str | None, role: str | None) -> tuple[str, str]:
    """(database, role) to connect as: the one named, or the only one; its owner unless a role is given."""
    if wanted:
        match = next((d for d in databases if d.name == wanted), None)
        if match is None and databases:
            names = ", ".join(sorted(d.name for d in databases))
            raise ConfigError(f"the Neon branch has no database '{wanted}' (databases: {names})",
                              "pass --neon-database with one of them")
        owner = role or (match.owner_name if match else None)
        if not owner:
            raise ConfigError(f"no role known for Neon database '{wanted}'", "pass --neon-role")
        return wanted, owner
    if len(databases) == 1:
        return databases[0].name, role or databases[0].owner_name
    if not databases:
        raise ConfigError("the Neon branch reports no databases", "pass --neon-database and --neon-role")
    names = ", ".join(sorted(d.name for d in databases))
    raise ConfigError(f"the Neon branch has several databases ({names})", "pick one with --neon-database")
