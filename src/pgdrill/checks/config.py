"""The ``checks:`` section of pgdrill.yml: which checks run, how strict each is, and the user's own
SQL assertions and smoke commands (see docs/config.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from pgdrill.checks.results import one_line
from pgdrill.config_models import Seconds

Severity = Literal["fail", "warn", "off"]
Duration = Seconds


def _severity(value: Any) -> Any:
    if value is True or value is None:
        return "fail"
    if value is False:
        return "off"
    return value


SeverityField = Annotated[Severity, BeforeValidator(_severity)]


class MigrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: SeverityField = "fail"
    expected: str | None = Field(default=None, description="expected head; several heads comma-separated")
    expected_command: str | list[str] | None = Field(
        default=None, description="prints the expected head(s): first word of each non-empty stdout line; "
                                  "knex's 'Current Version: X' and alembic's '(head)' forms are understood")
    table: str | None = Field(default=None, min_length=1,
                              description="the migration table the application uses (schema.table), when there "
                                          "are several")
    timeout: Duration = 120.0

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # `migration: false` / `migration: warn` / `migration: "abc123"` (the expected head)
        if v is None or isinstance(v, bool) or v in ("fail", "warn", "off"):
            return {"severity": v}
        if isinstance(v, str | int):
            return {"expected": str(v)}
        return v


class SqlAssertion(BaseModel):
    """A read-only query and what it must return: ``expect`` (first column of the first row),
    ``min_rows`` or ``no_rows: true`` — exactly one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    sql: str = Field(min_length=1)
    expect: str | int | float | bool | None = None
    min_rows: int | None = Field(default=None, ge=1)
    no_rows: bool = False
    timeout: Duration = 60.0
    severity: SeverityField = "fail"

    @model_validator(mode="after")
    def _one_expectation(self) -> SqlAssertion:
        given = [k for k, on in (("expect", "expect" in self.model_fields_set), ("min_rows", self.min_rows is not None),
                                 ("no_rows", self.no_rows)) if on]
        if len(given) != 1:
            raise ValueError("give exactly one of expect, min_rows, no_rows"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class SmokeCommand(BaseModel):
    """A command run with DATABASE_URL and PG* pointing at the restored database."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    run: str | list[str] = Field(description="a shell command line (sh -c), or an argv list")
    timeout: Duration = 600.0
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    tail: int = Field(default=40, ge=1, le=1000, description="output lines kept for the report")
    severity: SeverityField = "fail"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"run": v} if isinstance(v, str) else v

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        text = self.run if isinstance(self.run, str) else " ".join(self.run)
        return one_line(text, 60)


def _listify(v: Any) -> Any:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


class ChecksConfig(BaseModel):
    """The `checks:` section. Built-in checks take true/false or fail/warn/off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    row_counts: SeverityField = "fail"
    row_drop: SeverityField = "fail"  # a table's rows fell sharply since the previous copy (archive sets)
    schemas: SeverityField = "fail"
    extensions: SeverityField = "fail"
    sequences: SeverityField = "fail"
    privileges: SeverityField = "fail"
    migration: MigrationConfig = Field(default_factory=MigrationConfig)
    sql: Annotated[list[SqlAssertion], BeforeValidator(_listify)] = Field(default_factory=list)
    smoke: Annotated[list[SmokeCommand], BeforeValidator(_listify)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ChecksConfig:
        names = [a.name for a in self.sql]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sql assertion names must be unique: {', '.join(dupes)}")
        return self
