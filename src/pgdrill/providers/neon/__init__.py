"""Neon: the API client (``client``), the point-in-time provider built on it (``provider``) and the
``neon:`` section (``settings``). Names are imported on first use, so reading the section loads no
HTTP code."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgdrill.providers.neon.client import (
        API_HOST_ENV,
        API_KEY_ENV,
        DEFAULT_API_HOST,
        Branch,
        CreatedBranch,
        Database,
        Endpoint,
        NeonApiError,
        NeonClient,
        NeonRefused,
        NeonUnavailable,
        Operation,
        Project,
        branch_create_body,
        format_timestamp,
        parse_timestamp,
    )
    from pgdrill.providers.neon.provider import NeonProvider, pick_database, pick_parent
    from pgdrill.providers.neon.settings import MAX_EXPIRY, NeonSettings

_CLIENT = ("API_HOST_ENV", "API_KEY_ENV", "DEFAULT_API_HOST", "Branch", "CreatedBranch", "Database", "Endpoint",
           "NeonApiError", "NeonClient", "NeonRefused", "NeonUnavailable", "Operation", "Project",
           "branch_create_body", "format_timestamp", "parse_timestamp")
_WHERE = {**dict.fromkeys(_CLIENT, "client"), **dict.fromkeys(("NeonProvider", "pick_database", "pick_parent"),
          "provider"), **dict.fromkeys(("MAX_EXPIRY", "NeonSettings"), "settings")}

__all__ = [
    "API_HOST_ENV",
    "API_KEY_ENV",
    "DEFAULT_API_HOST",
    "MAX_EXPIRY",
    "Branch",
    "CreatedBranch",
    "Database",
    "Endpoint",
    "NeonApiError",
    "NeonClient",
    "NeonProvider",
    "NeonRefused",
    "NeonSettings",
    "NeonUnavailable",
    "Operation",
    "Project",
    "branch_create_body",
    "format_timestamp",
    "parse_timestamp",
    "pick_database",
    "pick_parent",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
