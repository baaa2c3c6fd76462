"""pgdrill.yml: defaults for every flag, per-environment overrides, and job sections.

Precedence: command-line flag > PGDRILL_<NAME> env var > the environment's block in pgdrill.yml >
the top level of pgdrill.yml > built-in default. Sections for jobs (drill checks, retention, monitor,
github) are validated by the job's own pydantic model through :meth:`Config.section`, so each job
owns its schema while errors still name the file and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pgdrill.errors import ConfigError

DEFAULT_NAMES = ("pgdrill.yml", "pgdrill.yaml")

M = TypeVar("M", bound=BaseModel)

#: keys of a job section; anything else at the top level must be a flag default
SECTIONS = ("drill", "checks", "retention", "monitor", "github", "predeploy", "neon", "pitr", "environments")


class FlagDefaults(BaseModel):
    """Top-level keys (and an environment's keys) that stand in for command-line flags."""

    model_config = ConfigDict(extra="forbid")

    database_url: str | None = None
    store: str | None = None
    target_url: str | None = None
    scratch_url: str | None = None
    tags: list[str] | None = None
    encrypt_to: list[str] | None = None
    recipients_file: str | None = None
    age_identity_file: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    object_lock_days: int | None = None
    compress: str | None = None
    # backup scope (pg_dump patterns) and whole-cluster backups
    schema_: list[str] | None = Field(default=None, alias="schema")
    table: list[str] | None = None
    exclude_schema: list[str] | None = None
    exclude_table: list[str] | None = None
    exclude_table_data: list[str] | None = None
    all_databases: bool | None = None
    rto_target: str | None = None
    rpo_target: str | None = None
    max_age: str | None = None
    release_check: str | None = None
    migrate_command: str | None = None
    production_databases: list[str] | None = None
    neon_project: str | None = None
    neon_branch: str | None = None
    archives: str | None = None
    compare_url: str | None = None
    compare_tolerance: str | float | None = None
    pgbackrest_stanza: str | None = None
    pgbackrest_config: str | None = None
    barman_cloud_url: str | None = None
    barman_server_name: str | None = None
    pitr_database: str | None = None


def _format_error(path: Path, exc: ValidationError, prefix: str = "") -> ConfigError:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in (*([prefix] if prefix else []), *first.get("loc", ())))
    msg = first.get("msg", "invalid")
    if first.get("type") == "extra_forbidden":
        msg = "unknown key"
    return ConfigError(f"{path}: {loc}: {msg}", "see the pgdrill.yml reference in the README")


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    # The file may hold a database URL with its password: never part of a repr or a log line.
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    def environment_names(self) -> list[str]:
        return sorted((self.data.get("environments") or {}).keys())

    def environment_block(self, environment: str | None) -> dict[str, Any]:
        if not environment:
            return {}
        envs = self.data.get("environments") or {}
        block = envs.get(environment)
        if block is None:
            if envs:
                raise ConfigError(
                    f"environment '{environment}' is not defined in {self.path}",
                    f"use one of: {', '.join(sorted(envs))}",
                )
            return {}
        return block if isinstance(block, dict) else {}

    def flag(self, name: str, environment: str | None = None) -> Any:
        block = self.environment_block(environment)
        if name in block and block[name] is not None:
            return block[name]
        return self.data.get(name)

    def raw_section(self, name: str, environment: str | None = None) -> Any:
        block = self.environment_block(environment)
        top = self.data.get(name)
        env = block.get(name)
        if isinstance(top, dict) and isinstance(env, dict):
            return {**top, **env}
        return env if env is not None else top

    def section(self, name: str, model: type[M], environment: str | None = None) -> M:
        raw = self.raw_section(name, environment)
        try:
            return model.model_validate(raw or {})
        except ValidationError as exc:
            raise _format_error(self.path or Path("pgdrill.yml"), exc, name) from None


def _validate(path: Path, doc: dict[str, Any]) -> None:
    flags = {k: v for k, v in doc.items() if k not in SECTIONS}
    try:
        FlagDefaults.model_validate(flags)
    except ValidationError as exc:
        raise _format_error(path, exc) from None
    envs = doc.get("environments")
    if envs is None:
        return
    if not isinstance(envs, dict):
        raise ConfigError(f"{path}: environments: must be a mapping of name → settings",
                          "write it as `environments:` then `  prod:` with that environment's keys indented")
    for env_name, block in envs.items():
        if not isinstance(block, dict):
            raise ConfigError(f"{path}: environments.{env_name}: must be a mapping",
                              "indent that environment's keys under its name")
        try:
            FlagDefaults.model_validate({k: v for k, v in block.items() if k not in SECTIONS})
        except ValidationError as exc:
            raise _format_error(path, exc, f"environments.{env_name}") from None


def find(explicit: str | None) -> Path | None:
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"config file {explicit} does not exist", "fix --config / PGDRILL_CONFIG")
        return p
    env = os.environ.get("PGDRILL_CONFIG")
    if env:
        return find(env)
    for name in DEFAULT_NAMES:
        if Path(name).is_file():
            return Path(name)
    return None


def load(explicit: str | None = None) -> Config:
    path = find(explicit)
    if path is None:
        return Config()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path}{where}: YAML {problem}", "fix the YAML syntax") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                          "check the file's permissions and that it is UTF-8 text") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys", "see the README's pgdrill.yml reference")
    _validate(path, doc)
    return Config(path, doc)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float, what: str = "duration") -> float:
    """'90s', '15m', '26h', '7d', '2w' or a number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    s = str(text).strip().lower()
    try:
        if s and s[-1] in _UNITS:
            return float(s[:-1]) * _UNITS[s[-1]]
        return float(s)
    except ValueError:
        raise ConfigError(f"{what} '{text}' is not a duration", "use e.g. 90s, 15m, 26h, 7d") from None


def positive_seconds(value: Any) -> Any:
    """pydantic validator for config durations: a positive duration, in seconds; None passes through
    (so optional fields stay optional)."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ConfigError as exc:
        raise ValueError(exc.message) from None
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


#: a pgdrill.yml duration ('90s', '15m', '26h', '7d' or seconds), validated positive
Seconds = Annotated[float, BeforeValidator(positive_seconds)]
