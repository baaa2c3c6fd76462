"""Every setting a command reads, resolved one way for every command.

Precedence: the command line > ``PGDRILL_<NAME>`` > the database's entry in pgdrill.yml (``--database``
/ ``PGDRILL_DATABASE``) > the environment's block (``--environment`` / ``PGDRILL_ENVIRONMENT``, or the
database entry's ``environment:``) > the top level of pgdrill.yml > the built-in default.

The CLI builds one :class:`Settings` from what click parsed (:meth:`Settings.from_values`), and each
job's resolve step (:mod:`pgdrill.settings.jobs`) turns it into that job's request — outside click,
so the rules (which source a drill uses, which flags exclude each other, what a safe default is) are
the same whoever calls the job and are tested without a command line. Errors name where the bad
value came from: the flag, the environment variable, or the file and key.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pgdrill.config import URL_SETTINGS, Config, parse_duration
from pgdrill.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from pgdrill.pg.conn import DatabaseUrl

M = TypeVar("M", bound="BaseModel")
Origin = Literal["flag", "env"]

#: flags whose name is not the setting's name with dashes
FLAG_NAMES = {"backup_ref": "--backup", "tags": "--tag", "extra_tags": "--tag", "keep_tags": "--keep-tag",
              "as_json": "--json", "fmt": "--format", "report_path": "--report", "output_path": "--output",
              "config_path": "--config", "backup_id": "ID", "html_dir": "--html"}


def flag_name(name: str) -> str:
    return FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def env_name(name: str) -> str:
    return "PGDRILL_" + name.upper()


@dataclass(frozen=True)
class FromFile:
    """A value pgdrill.yml gives, and the key it was written under (``databases.billing.store``).
    ``variable``: the value was read from that environment variable (``database_url_env:``); a
    value of None with a variable means the variable is not set."""

    value: Any
    key: str
    variable: str | None = None


@dataclass(frozen=True)
class Settings:
    """What the user gave, and one way to read it."""

    #: values given now, on the command line or as PGDRILL_* (empty values are not "given")
    given: Mapping[str, Any] = field(default_factory=dict)
    #: where each given value came from
    origins: Mapping[str, Origin] = field(default_factory=dict)
    #: the command's built-in defaults (click's), used after pgdrill.yml
    defaults: Mapping[str, Any] = field(default_factory=dict)
    config: Config = field(default_factory=Config)
    environment: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    #: the entry of ``databases:`` these settings are for
    database: str | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, tuple[Any, Origin | None]], config: Config,
                    env: Mapping[str, str] | None = None) -> Settings:
        """``values``: name → (value, where it came from: "flag", "env", or None for a default)."""
        given = {k: v for k, (v, o) in values.items() if o is not None and v not in (None, "", ())}
        origins = {k: o for k, (v, o) in values.items() if o is not None and k in given}
        defaults = {k: v for k, (v, o) in values.items() if o is None and v not in (None, ())}
        database = str(given["database"]) if given.get("database") else None
        config.database_entry(database)  # an unknown database is an error, at once
        environment = given.get("environment") or config.database_environment(database)
        if environment is not None:
            config.environment_block(str(environment))  # an unknown environment is an error, at once
        return cls(given, origins, defaults, config, str(environment) if environment else None,
                   dict(os.environ) if env is None else dict(env), database)

    # -- reading ------------------------------------------------------------------------------
    def given_now(self, name: str) -> bool:
        """Given on the command line or as PGDRILL_* (pgdrill.yml alone does not count)."""
        value = self.given.get(name)
        return value not in (None, "", (), False)

    def from_file(self, name: str) -> FromFile | None:
        """What pgdrill.yml says about ``name`` for this database and environment, nearest block
        first. A URL setting may name its environment variable instead (``database_url_env:``); a
        database's store may come from a ``store_prefix`` (the prefix, then the database's name)."""
        if name == "store" and self.database:
            found = self.config.database_store(self.database, self.environment)
            return FromFile(*found) if found else None
        for where, block in self.config.layers(self.environment, self.database):
            dotted = f"{where}." if where else ""
            if block.get(name) is not None:
                return FromFile(block[name], dotted + name)
            if name in URL_SETTINGS and block.get(f"{name}_env"):
                variable = str(block[f"{name}_env"])
                return FromFile(self.env.get(variable) or None, f"{dotted}{name}_env", variable)
        return None

    def in_file(self, name: str) -> bool:
        found = self.from_file(name)
        return found is not None and found.value is not None

    def file_value(self, name: str) -> Any:
        found = self.from_file(name)
        return found.value if found is not None else None

    def raw_section(self, name: str) -> Any:
        return self.config.raw_section(name, self.environment, self.database)

    def get(self, name: str, default: Any = None) -> Any:
        if name in self.given:
            return self.given[name]
        from_file = self.file_value(name)
        if from_file is not None:
            default_value = self.defaults.get(name)
            if isinstance(default_value, tuple) or name in ("tags", "encrypt_to", "production_databases"):
                return tuple(from_file) if isinstance(from_file, list) else (from_file,)
            return from_file
        if name in self.defaults:
            return self.defaults[name]
        return default

    def where(self, name: str) -> str:
        """Where the value of ``name`` came from, as the user would look for it."""
        origin = self.origins.get(name)
        if origin == "flag":
            return flag_name(name)
        if origin == "env":
            return env_name(name)
        path = self.config.path or "pgdrill.yml"
        found = self.from_file(name)
        if found is None:
            return f"{path}: {name}"
        if found.variable:
            return f"{found.variable} (named by {path}: {found.key})"
        return f"{path}: {found.key}"

    def require(self, name: str) -> Any:
        value = self.get(name)
        if value in (None, "", ()):
            found = self.from_file(name)
            if found is not None and found.variable:
                raise ConfigError(f"missing {flag_name(name)}: {found.variable} is not set (named by "
                                  f"{self.config.path or 'pgdrill.yml'}: {found.key})",
                                  f"set {found.variable} in the job's env, e.g. from a secret")
            if self.database:
                also = " or 'store_prefix:'" if name == "store" else ""
                raise ConfigError(f"missing {flag_name(name)} for database {self.database} (or {env_name(name)}, or "
                                  f"'{name}:'{also} in its entry of pgdrill.yml or above)")
            raise ConfigError(f"missing {flag_name(name)} (or {env_name(name)}, or '{name}:' in pgdrill.yml)")
        return value

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.get(name, default)
        return None if value in (None, "") else str(value)

    def url(self, name: str, *, required: bool = False) -> DatabaseUrl | None:
        value = self.require(name) if required else self.get(name)
        if not value:
            return None
        from pgdrill.pg.conn import DatabaseUrl

        return DatabaseUrl.parse(str(value), what=self.where(name))

    def duration(self, name: str, default: str | float | None = None, *, allow_off: bool = False) -> float | None:
        """A positive, finite duration in seconds ('90s', '15m', '1h30m', '7d' or seconds); None when
        unset (or 'off' when ``allow_off``)."""
        value = self.get(name, default)
        if value in (None, ""):
            return None
        if allow_off and str(value).strip().lower() in ("off", "none"):
            return None
        where = self.where(name) if (name in self.given or self.in_file(name)) else flag_name(name)
        seconds = parse_duration(value, where)
        if not math.isfinite(seconds) or seconds <= 0:
            raise ConfigError(f"{where} must be a positive duration, got '{value}'", "use e.g. 90s, 15m, 26h, 7d")
        return seconds

    def section(self, name: str, model: type[M]) -> M:
        return self.config.section(name, model, self.environment, self.database)

    def flag_for_messages(self, name: str) -> str:
        return flag_name(name)
