"""What one pgdrill run tells the outside world, whatever the job was.

Every job (backup, drill, predeploy, monitor, restore, prune) turns its own result into an
:class:`Outcome`; the publishers (GitHub job summary, step outputs, annotations, post-mortem issues)
only ever see Outcomes, so they never need to know what a drill record or a retention plan is.

An Outcome is plain data: the Markdown report is already rendered by the job's renderer, and
``details`` are display strings ("4m 12s (target 30m)"), so publishing never makes decisions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pgdrill.errors import PgdrillError

#: job kinds and output names end up in labels, markers and ``$GITHUB_OUTPUT``: keep them plain.
_JOB = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_OUTPUT_KEY = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


@dataclass(frozen=True)
class Outcome:
    """The neutral result of one job run.

    ``job``         kind of job: ``backup``, ``drill``, ``predeploy``, ``monitor``, ``restore``, ``prune`` …
    ``passed``      the verdict; reporters never change it
    ``title``       one line, e.g. "drill of 20250101T… passed in 4m 12s"
    ``markdown``    the full report body (job summary, and folded into the post-mortem issue)
    ``environment`` the pgdrill.yml environment (``None`` for the default one)
    ``outputs``     step outputs, kebab-case keys: ``backup-id``, ``passed``, ``rto-seconds`` …
    ``failures``    one line per failed check (annotated as errors, listed in the issue)
    ``warnings``    one line per warning (annotated as warnings)
    ``backup_id``   the backup made, restored or checked, if any
    ``run_url``     link to the CI run (filled from the environment by the publisher when missing)
    ``details``     ordered label → value strings for the issue body, e.g. ``{"RTO": "4m (target 30m)"}``
    ``store``       the store the job worked on, as given (never carries credentials)
    ``database``    the entry of pgdrill.yml's ``databases:`` the job ran for (a fleet), if any
    """

    job: str
    passed: bool
    title: str
    markdown: str = ""
    environment: str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    failures: Sequence[str] = ()
    warnings: Sequence[str] = ()
    backup_id: str | None = None
    run_url: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    store: str | None = None
    database: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.job, str) or not _JOB.match(self.job):
            raise ValueError(f"outcome job {self.job!r} must be a lowercase kind like 'drill' or 'backup'")
        bad = [k for k in self.outputs if not isinstance(k, str) or not _OUTPUT_KEY.match(k)]
        if bad:
            raise ValueError(f"outcome output name {bad[0]!r} must be kebab-case, like 'backup-id'")
        # Accept lists and any mapping from callers, but keep private copies so the frozen
        # Outcome cannot change under a publisher's feet.
        set_ = object.__setattr__
        set_(self, "passed", bool(self.passed))
        set_(self, "title", _one_line(self.title))
        env = str(self.environment).strip() if self.environment else ""
        set_(self, "environment", env or None)
        set_(self, "outputs", {k: "" if v is None else str(v) for k, v in self.outputs.items()})
        set_(self, "failures", tuple(_one_line(f) for f in self.failures if str(f).strip()))
        set_(self, "warnings", tuple(_one_line(w) for w in self.warnings if str(w).strip()))
        set_(self, "details", {_one_line(k): _one_line(v) for k, v in self.details.items()})

    # -- conveniences for the jobs ------------------------------------------------------------
    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"

    @classmethod
    def from_error(
        cls,
        job: str,
        error: BaseException | str,
        *,
        environment: str | None = None,
        backup_id: str | None = None,
        markdown: str | None = None,
    ) -> Outcome:
        """A failed Outcome for a job that could not finish (database down, store unreachable …)."""
        line = error.one_line() if isinstance(error, PgdrillError) else _one_line(error) or type(error).__name__
        body = markdown if markdown is not None else f"### ❌ pgdrill {job} failed\n\n{line}\n"
        return cls(
            job=job,
            passed=False,
            title=f"{job} failed: {line}",
            markdown=body,
            environment=environment,
            outputs={"passed": "false"},
            failures=(line,),
            backup_id=backup_id,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "passed": self.passed,
            "title": self.title,
            "markdown": self.markdown,
            "environment": self.environment,
            "outputs": dict(self.outputs),
            "failures": list(self.failures),
            "warnings": list(self.warnings),
            "backup_id": self.backup_id,
            "run_url": self.run_url,
            "details": dict(self.details),
            "store": self.store,
            "database": self.database,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"outcome has unknown field {sorted(unknown)[0]!r}")
        for required in ("job", "passed", "title"):
            if required not in data:
                raise ValueError(f"outcome is missing {required!r}")
        return cls(
            job=data["job"],
            passed=data["passed"],
            title=data["title"],
            markdown=data.get("markdown") or "",
            environment=data.get("environment"),
            outputs=dict(data.get("outputs") or {}),
            failures=_strings(data.get("failures")),
            warnings=_strings(data.get("warnings")),
            backup_id=data.get("backup_id"),
            run_url=data.get("run_url"),
            details=dict(data.get("details") or {}),
            store=data.get("store"),
            database=data.get("database"),
        )


def _strings(values: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in (values or ()))
