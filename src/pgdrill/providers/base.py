"""What a point-in-time provider must do for a drill or a table restore.

A provider makes a short-lived writable copy ("branch") of a database as it was at a given instant,
hands back a connection URL to it, and deletes it. Neon is one implementation; another provider is
another subclass, and :class:`pgdrill.sources.branch.BranchSource` never needs to know which one it
drives.

Creation is split in two on purpose: :meth:`PitrProvider.create_branch` returns as soon as the
provider has accepted the request, so the caller holds a reference to delete even when waiting for
the branch to become ready fails or is interrupted.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from pgdrill.pg.conn import DatabaseUrl
from pgdrill.streams import Progress


@dataclass(frozen=True)
class RestoreWindow:
    """The instants a branch can be created at: ``earliest`` up to now."""

    earliest: datetime
    retention_seconds: float
    what: str  # e.g. "history retention 7 days of Neon project x"


@dataclass(frozen=True)
class BranchRef:
    """A branch the provider accepted; enough to delete it."""

    id: str
    name: str
    created_at: datetime
    point_in_time: datetime | None  # None: the parent's latest state
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ReadyBranch:
    ref: BranchRef
    url: DatabaseUrl  # carries the password; str() / repr() never show it
    database: str
    point_in_time: datetime  # the instant the branch holds (for "latest": when it was made)


@dataclass(frozen=True)
class Cleanup:
    ok: bool
    detail: str
    items: tuple[str, ...] = ()  # the errors behind a failed cleanup


class BranchFailed(Exception):
    """The provider reported that making the branch failed (not that it could not be asked).

    A drill turns this into a failed check with a record, like a corrupt archive in a store-based
    drill: the recovery path itself did not work, which is what a drill is there to find out.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PitrProvider(abc.ABC):
    #: short name used in records and reports ("neon")
    kind: str = "pitr"

    @abc.abstractmethod
    def describe(self) -> str:
        """One line naming the source, without secrets: "Neon project x, branch main"."""

    def attach(self, progress: Progress | None) -> None:
        """Where to report retries and long waits."""
        return None

    @abc.abstractmethod
    def source_name(self) -> str:
        """The parent branch (or database) a branch is made from."""

    @abc.abstractmethod
    def restore_window(self, now: datetime) -> RestoreWindow: ...

    @abc.abstractmethod
    def create_branch(self, name: str, at: datetime | None, expires_at: datetime) -> BranchRef:
        """Ask for a branch of the source at ``at`` (None: latest) that the provider deletes by itself
        at ``expires_at`` should pgdrill never get to it."""

    @abc.abstractmethod
    def wait_ready(self, ref: BranchRef, timeout: float, progress: Progress | None = None) -> ReadyBranch:
        """Wait until the branch accepts connections. Raises :class:`BranchFailed` when the provider
        says it failed."""

    @abc.abstractmethod
    def list_branches(self, prefix: str) -> list[BranchRef]:
        """The branches of the project whose name starts with ``prefix`` (to find copies left by
        earlier runs)."""

    @abc.abstractmethod
    def delete_branch(self, ref: BranchRef | None, name: str, timeout: float) -> Cleanup:
        """Delete the branch; with ``ref`` None (the create request may or may not have arrived),
        find it by ``name``. Never raises: the outcome is reported."""
