"""pgdrill.yml: defaults for every flag, per-environment overrides, and job sections.

Precedence: command-line flag > PGDRILL_<NAME> env var > the environment's block in pgdrill.yml >
the top level of pgdrill.yml > built-in default. Sections for jobs (drill checks, retention, monitor,
github) are validated by the job's own pydantic model through :meth:`Config.section`, so each job
owns its schema while errors still name the file and the field.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo, field_validator

from pgdrill.errors import ConfigError

DEFAULT_NAMES = ("pgdrill.yml", "pgdrill.yaml")

M = TypeVar("M", bound=BaseModel)

#: keys of a job section; anything else at the top level must be a flag default
SECTIONS = ("drill", "checks", "retention", "monitor", "github", "predeploy", "neon", "notify", "environments")


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

    @field_validator("rto_target", "rpo_target", "max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any, info: ValidationInfo) -> Any:
        # Checked when the file is read (the text is kept: Settings reads the raw value), so a bad
        # drill target fails tonight's backup, not next month's drill.
        # YAML reads a bare `off` as false
        if value is None or (info.field_name == "max_age" and str(value).strip().lower() in ("off", "none", "0",
                                                                                             "false")):
            return None if value is None else str(value)
        positive_seconds(value)
        return str(value)


#: section name → the job model that validates it ("module:Class"), imported only when the file has
#: that section. Every command validates every section present, so a typo in `checks:` fails the
#: nightly backup at once instead of the monthly drill weeks later.
SECTION_MODELS = {
    "drill": "pgdrill.drill.run:DrillSettings",
    "checks": "pgdrill.checks.config:ChecksConfig",
    "retention": "pgdrill.retention:Policy",
    "monitor": "pgdrill.monitor.thresholds:Thresholds",
    "github": "pgdrill.report.github.settings:GitHubSettings",
    "predeploy": "pgdrill.predeploy:PredeploySettings",
    "neon": "pgdrill.providers.neon.settings:NeonSettings",
    "notify": "pgdrill.report.notify.settings:NotifySettings",
}


def section_model(name: str) -> type[BaseModel]:
    import importlib

    module, _, cls = SECTION_MODELS[name].partition(":")
    model = getattr(importlib.import_module(module), cls)
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (``X``, ``X | None``, ``list[X]``, ``dict[str, X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _known_keys(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` (the path of an unknown key) may hold, for "did you mean"."""
    current = model
    for part in loc[:-1]:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        current = _model_in(field.annotation) if field is not None else None
    return list(current.model_fields) if current is not None else []


_TYPE_TAG = re.compile(r"(str|int|float|bool|none|list\[.*\]|dict\[.*\]|[a-z-]+\[.*\])")


def _format_error(path: Path, exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None,
                  extra_keys: tuple[str, ...] = ()) -> ConfigError:
    first = exc.errors()[0]
    # pydantic adds the member type of a union to the path ("run.str"): not a key the user wrote
    loc = tuple(p for p in first.get("loc", ()) if not (isinstance(p, str) and _TYPE_TAG.fullmatch(p)))
    where = ".".join(str(p) for p in (*([prefix] if prefix else []), *loc))
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    hint = "see docs/config.md, the pgdrill.yml reference"
    if first.get("type") == "extra_forbidden":
        msg = "unknown key"
        known = [*_known_keys(model, loc), *(extra_keys if len(loc) == 1 else ())]
        close = difflib.get_close_matches(str(loc[-1]) if loc else "", known, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean '{close[0]}'? ({hint})"
    return ConfigError(f"{path}: {where}: {msg}", hint)


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
            # Name the block the bad key was written in: the environment's, or the top level.
            key = exc.errors()[0].get("loc", ("",))[0] if exc.errors() and exc.errors()[0].get("loc") else ""
            block = self.environment_block(environment).get(name) if environment else None
            prefix = f"environments.{environment}.{name}" if isinstance(block, dict) and key in block else name
            raise _format_error(self.path or Path("pgdrill.yml"), exc, prefix, model) from None


def problems(path: Path, doc: dict[str, Any]) -> list[ConfigError]:
    """Everything wrong with a parsed pgdrill.yml, one error per key or section (empty: it is valid):
    the flag defaults, the environments, and every section with its job's model — at the top level
    and as each environment sees it."""
    found: list[ConfigError] = []
    flags = {k: v for k, v in doc.items() if k not in SECTIONS}
    try:
        FlagDefaults.model_validate(flags)
    except ValidationError as exc:
        found.append(_format_error(path, exc, model=FlagDefaults, extra_keys=SECTIONS))
    envs = doc.get("environments")
    blocks: dict[str, dict[str, Any]] = {}
    if envs is not None and not isinstance(envs, dict):
        found.append(ConfigError(f"{path}: environments: must be a mapping of name → settings",
                                 "write it as `environments:` then `  prod:` with that environment's keys indented"))
    elif envs:
        for env_name, block in envs.items():
            if not isinstance(block, dict):
                found.append(ConfigError(f"{path}: environments.{env_name}: must be a mapping",
                                         "indent that environment's keys under its name"))
                continue
            blocks[str(env_name)] = block
            try:
                FlagDefaults.model_validate({k: v for k, v in block.items() if k not in SECTIONS})
            except ValidationError as exc:
                found.append(_format_error(path, exc, f"environments.{env_name}", FlagDefaults,
                                           tuple(s for s in SECTIONS if s != "environments")))
    config = Config(path, doc)
    for name in SECTION_MODELS:
        views = [None, *(e for e, b in blocks.items() if name in b)] if name in doc or any(
            name in b for b in blocks.values()) else []
        for environment in views:
            raw = config.raw_section(name, environment)
            if raw is not None and not isinstance(raw, dict):
                where = f"environments.{environment}.{name}" if environment else name
                found.append(ConfigError(f"{path}: {where}: must be a mapping of keys",
                                         "see docs/config.md, the pgdrill.yml reference"))
                break
            try:
                config.section(name, section_model(name), environment)
            except ConfigError as exc:
                if all(exc.message != f.message for f in found):
                    found.append(exc)
    return found


def _validate(path: Path, doc: dict[str, Any]) -> None:
    found = problems(path, doc)
    if found:
        raise found[0]


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


def read(explicit: str | None = None) -> tuple[Config, list[ConfigError]]:
    """pgdrill.yml and everything wrong with it, without stopping at the first problem (``pgdrill
    check`` lists them all). A file that cannot be parsed gives an empty Config and its one error."""
    path = find(explicit)
    if path is None:
        return Config(), []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        return Config(path), [ConfigError(f"{path}{where}: YAML {problem}", "fix the YAML syntax")]
    except (OSError, UnicodeDecodeError) as exc:
        return Config(path), [ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                                          "check the file's permissions and that it is UTF-8 text")]
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        return Config(path), [ConfigError(f"{path}: the top level must be a mapping of keys",
                                          "see the README's pgdrill.yml reference")]
    return Config(path, doc), problems(path, doc)


def load(explicit: str | None = None) -> Config:
    config, found = read(explicit)
    if found:
        raise found[0]
    return config


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
#: longer than this is no duration anyone means (and datetime arithmetic overflows not far beyond)
MAX_DURATION = 1000 * 366 * 86400.0
DURATION_HINT = "use e.g. 90s, 15m, 1h30m, 26h or 7d"


def duration_problem(value: object) -> tuple[float | None, str | None]:
    """(seconds, None) for a duration — '90s', '15m', '1h30m', '1d 12h', '2w' or a plain number of
    seconds — else (None, what is wrong with it). Never infinite, NaN or longer than 1000 years."""
    if isinstance(value, bool):
        return None, "is not a duration"
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        elif text and re.fullmatch(r"(?:\s*\d+(?:\.\d+)?\s*[smhdw])+\s*", text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            return None, "is not a duration"
    if not math.isfinite(seconds):
        return None, "is not a finite duration"
    if seconds > MAX_DURATION:
        return None, "is longer than 1000 years"
    return seconds, None


def parse_duration(text: str | int | float, what: str = "duration") -> float:
    """Seconds in ``text`` (see :func:`duration_problem`); a ConfigError naming ``what`` otherwise."""
    seconds, problem = duration_problem(text)
    if seconds is None:
        raise ConfigError(f"{what} '{text}' {problem}", DURATION_HINT)
    return seconds


def positive_seconds(value: Any) -> Any:
    """pydantic validator for config durations: a positive duration, in seconds; None passes through
    (so optional fields stay optional)."""
    if value is None:
        return None
    seconds, problem = duration_problem(value)
    if seconds is None:
        raise ValueError(f"'{value}' {problem} ({DURATION_HINT})")
    if seconds <= 0:
        raise ValueError(f"'{value}' is not a positive duration ({DURATION_HINT})")
    return seconds


#: a pgdrill.yml duration ('90s', '15m', '26h', '7d' or seconds), validated positive
Seconds = Annotated[float, BeforeValidator(positive_seconds)]
