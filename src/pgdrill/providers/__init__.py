"""Point-in-time providers: short-lived branches of a database at a past instant (Neon, …)."""

from pgdrill.providers.base import BranchFailed, BranchRef, Cleanup, PitrProvider, ReadyBranch, RestoreWindow

__all__ = ["BranchFailed", "BranchRef", "Cleanup", "PitrProvider", "ReadyBranch", "RestoreWindow"]
