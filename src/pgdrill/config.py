"""pgdrill.yml: defaults for every flag, per-environment overrides, databases, and job sections.

Precedence: command-line flag > PGDRILL_<NAME> env var > the database's entry (``databases:``, picked
with ``--database``) > the environment's block in pgdrill.yml > the top level of pgdrill.yml >
built-in default. Each of those blocks is a *layer* (:meth:`Config.layers`); every lookup walks them
in that order. Sections for jobs (drill checks, retention, monitor,
github) are validated by the job's own pydantic model through :meth:`Config.section`, so each job
owns its schema while errors still name the file and the field.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pgdrill.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel


DEFAULT_NAMES = ("pgdrill.yml", "pgdrill.yaml")

M = TypeVar("M", bound="BaseModel")

#: keys of a job section; anything else at the top level must be a flag default
SECTIONS = ("drill", "checks", "retention", "monitor", "github", "predeploy", "neon", "pitr", "notify",
            "environments", "databases")

#: settings that may be given as the name of the environment variable holding them (``<name>_env:``),
#: so a database entry names its secret instead of holding a password
URL_SETTINGS = ("database_url", "target_url", "scratch_url", "compare_url")

#: a database's name becomes a job name, a Prometheus label, a page and a store folder: keep it plain
DATABASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


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
    "pitr": "pgdrill.sources.physical:PitrSettings",
    "notify": "pgdrill.report.notify.settings:NotifySettings",
}


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    # The file may hold a database URL with its password: never part of a repr or a log line.
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    def environment_names(self) -> list[str]:
        return sorted((self.data.get("environments") or {}).keys())

    def database_names(self) -> list[str]:
        """The names under ``databases:``, in the file's order."""
        dbs = self.data.get("databases")
        return [str(k) for k in dbs] if isinstance(dbs, dict) else []

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

    def database_entry(self, database: str | None) -> dict[str, Any]:
        """The entry of ``databases:`` named ``database``; an unknown name is an error (there is no
        sensible default for "which database's settings")."""
        if not database:
            return {}
        names = self.database_names()
        entry = (self.data.get("databases") or {}).get(database) if names else None
        if entry is None and database not in names:
            import difflib

            if not names:
                raise ConfigError(f"--database {database}: {self.path or 'pgdrill.yml'} has no databases: section",
                                  "add `databases:` with an entry per database (docs/fleet.md)")
            close = difflib.get_close_matches(database, names, n=1, cutoff=0.6)
            raise ConfigError(f"database '{database}' is not defined in {self.path}",
                              (f"did you mean '{close[0]}'? " if close else "") + f"use one of: {', '.join(names)}")
        return entry if isinstance(entry, dict) else {}

    def layers(self, environment: str | None = None, database: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """The blocks a setting is looked up in, nearest first, each with the key path it was written
        under: the database's entry, the environment's block, the top level."""
        out: list[tuple[str, dict[str, Any]]] = []
        if database:
            out.append((f"databases.{database}", self.database_entry(database)))
        if environment:
            out.append((f"environments.{environment}", self.environment_block(environment)))
        out.append(("", self.data))
        return out

    def database_environment(self, database: str | None) -> str | None:
        """The environment a database entry names (``environment:``), if any."""
        value = self.database_entry(database).get("environment")
        return str(value) if value else None

    def database_store(self, database: str, environment: str | None = None) -> tuple[str, str] | None:
        """The store pgdrill.yml gives ``database`` and the key it came from: the nearest block's
        ``store``, or its ``store_prefix`` followed by the database's name."""
        for where, block in self.layers(environment, database):
            dotted = f"{where}." if where else ""
            if block.get("store"):
                return str(block["store"]), f"{dotted}store"
            if block.get("store_prefix"):
                return str(block["store_prefix"]).rstrip("/") + "/" + database, f"{dotted}store_prefix"
        return None

    def flag(self, name: str, environment: str | None = None, database: str | None = None) -> Any:
        for _, block in self.layers(environment, database):
            if name in block and block[name] is not None:
                return block[name]
        return None

    def raw_section(self, name: str, environment: str | None = None, database: str | None = None) -> Any:
        """A section as its layers merge it: the top level's keys, overridden by the environment's,
        overridden by the database's (one level deep, as each section is a mapping of settings)."""
        merged: Any = None
        for _, block in reversed(self.layers(environment, database)):
            value = block.get(name)
            if value is None:
                continue
            merged = {**merged, **value} if isinstance(merged, dict) and isinstance(value, dict) else value
        return merged

    def section(self, name: str, model: type[M], environment: str | None = None, database: str | None = None) -> M:
        """The section validated by the job's ``model``; errors name the file and the key."""
        from pgdrill import config_models

        return config_models.section(self, name, model, environment, database)


def problems(path: Path, doc: dict[str, Any]) -> list[ConfigError]:
    """Everything wrong with a parsed pgdrill.yml (see pgdrill.config_models.problems)."""
    from pgdrill import config_models

    return config_models.problems(path, doc)


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
    import yaml  # only when there is a file to read

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




def __getattr__(name: str) -> Any:
    """``Seconds``, ``FlagDefaults`` and ``section_model`` live in pgdrill.config_models (pydantic),
    loaded when a model needs them."""
    if name in ("Seconds", "FlagDefaults", "section_model"):
        from pgdrill import config_models

        return getattr(config_models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
