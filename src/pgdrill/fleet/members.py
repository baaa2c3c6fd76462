"""The databases of a fleet, as every command sees them, and the matrix that fans jobs out over them.

A member's settings are resolved by :class:`~pgdrill.settings.Settings` with ``--database NAME`` — the
same precedence a command run for that database uses — so ``pgdrill matrix`` can never plan a store
or an environment that ``pgdrill backup --database NAME`` would not use.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgdrill.config import Config
from pgdrill.errors import ConfigError

JOBS = ("backup", "drill", "monitor")


@dataclass(frozen=True)
class Member:
    """One entry of ``databases:``, resolved."""

    name: str
    environment: str | None
    store: str | None
    #: the variable holding its URL (the workflow reads the secret of that name), if the entry names one
    database_url_env: str | None
    #: the scratch server's major for its drill, if pgdrill.yml says
    postgres_version: str | None
    jobs: tuple[str, ...]

    def matrix_entry(self) -> dict[str, str]:
        """One ``include`` entry: strings only (empty for unset), as workflow expressions compare them."""
        return {"database": self.name, "environment": self.environment or "", "store": self.store or "",
                "database_url_env": self.database_url_env or "", "postgres_version": self.postgres_version or ""}


def members(config: Config, *, environment: str | None = None, job: str | None = None,
            env: Mapping[str, str] | None = None) -> list[Member]:
    """The databases of ``config`` in the file's order; with ``environment``, those whose environment
    it is; with ``job``, those that run it (an entry's ``jobs:``, all three by default)."""
    from pgdrill.settings import Settings

    if job is not None and job not in JOBS:
        raise ConfigError(f"--job {job}: not a fleet job", f"use one of: {', '.join(JOBS)}")
    if environment is not None:
        config.environment_block(environment)  # an unknown environment is an error
    out = []
    for name in config.database_names():
        s = Settings.from_values({"database": (name, "flag")}, config, env if env is not None else dict(os.environ))
        if environment is not None and s.environment != environment:
            continue
        entry: Mapping[str, Any] = config.database_entry(name)
        jobs = tuple(entry.get("jobs") or JOBS)
        if job is not None and job not in jobs:
            continue
        variable = s.from_file("database_url")
        version = s.file_value("postgres_version")
        out.append(Member(name, s.environment, s.text("store"),
                          variable.variable if variable is not None else None,
                          str(version) if version is not None else None, jobs))
    return out


def require_members(config: Config, *, environment: str | None = None, job: str | None = None,
                    env: Mapping[str, str] | None = None) -> list[Member]:
    """:func:`members`, refusing an empty result: GitHub fails a workflow whose matrix is empty with
    a message about the matrix, not about pgdrill.yml — say what to fix here instead."""
    found = members(config, environment=environment, job=job, env=env)
    if found:
        return found
    where = config.path or "pgdrill.yml"
    names = config.database_names()
    if not names:
        raise ConfigError(f"{where} has no databases: section", "add `databases:` with an entry per database "
                                                                "(docs/fleet.md)")
    which = " and ".join(x for x in (f"environment {environment}" if environment else "",
                                     f"the {job} job" if job else "") if x)
    hint = f"databases: {', '.join(names)}"
    if environment:
        envs = sorted({str(config.database_environment(n) or "") for n in names} - {""})
        close = difflib.get_close_matches(environment, envs, n=1, cutoff=0.6)
        hint = (f"did you mean '{close[0]}'? " if close else "") + hint
    raise ConfigError(f"no database of {where} is in {which}", hint)


def matrix(found: list[Member]) -> dict[str, list[dict[str, str]]]:
    """``{"include": [...]}`` for ``strategy.matrix: ${{ fromJSON(...) }}``."""
    return {"include": [m.matrix_entry() for m in found]}
