"""The pydantic side of pgdrill.yml: the flag defaults' model, the duration type of the sections, and
the validation of a whole file with error messages that name the file and key — apart from
:mod:`pgdrill.config` so that a command run without a pgdrill.yml (flags and PGDRILL_* only) starts its
work before pydantic is loaded."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from pgdrill.config import SECTION_MODELS, SECTIONS, Config, positive_seconds
from pgdrill.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

#: a pgdrill.yml duration ('90s', '15m', '26h', '7d' or seconds), validated positive
Seconds = Annotated[float, BeforeValidator(positive_seconds)]


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
    # fleets (docs/fleet.md): a database's store is <store_prefix>/<its name> unless it sets store:
    store_prefix: str | None = None
    # the environment variable that holds a URL, instead of the URL (a database entry names its secret)
    database_url_env: str | None = None
    target_url_env: str | None = None
    scratch_url_env: str | None = None
    compare_url_env: str | None = None
    # the major of the scratch server a fleet workflow starts for this database's drill
    postgres_version: str | None = None

    @field_validator("database_url_env", "target_url_env", "scratch_url_env", "compare_url_env")
    @classmethod
    def _variable(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"'{value}' is not an environment variable name (letters, digits and _)")
        return value

    @field_validator("postgres_version", mode="before")
    @classmethod
    def _major(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not re.fullmatch(r"\d{2}", str(value)):
            raise ValueError(f"'{value}' is not a PostgreSQL major version, e.g. 16")
        return str(value)

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


class DatabaseEntry(FlagDefaults):
    """One entry of ``databases:`` (its sections are validated by their jobs' models)."""

    environment: str | None = None
    #: the jobs `pgdrill matrix --job` lists this database for (default: all of them)
    jobs: list[Literal["backup", "drill", "monitor"]] | None = None


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
    return [f.alias or name for name, f in current.model_fields.items()] if current is not None else []


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


def section(config: Config, name: str, model: type[M], environment: str | None = None,
            database: str | None = None) -> M:
    """``config``'s section ``name`` validated by ``model`` (see Config.section)."""
    raw = config.raw_section(name, environment, database)
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        # Name the block the bad key was written in: the database's, the environment's, or the top.
        key = exc.errors()[0].get("loc", ("",))[0] if exc.errors() and exc.errors()[0].get("loc") else ""
        prefix = name
        for where, block in config.layers(environment, database):
            value = block.get(name)
            if isinstance(value, dict) and key in value:
                prefix = f"{where}.{name}" if where else name
                break
        raise _format_error(config.path or Path("pgdrill.yml"), exc, prefix, model) from None


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
                # an environment holds settings and sections, not environments or databases of its own
                FlagDefaults.model_validate({k: v for k, v in block.items()
                                             if k not in SECTIONS or k in ("environments", "databases")})
            except ValidationError as exc:
                found.append(_format_error(path, exc, f"environments.{env_name}", FlagDefaults,
                                           tuple(s for s in SECTIONS if s not in ("environments", "databases"))))
    entries = _databases(path, doc, blocks, found)
    config = Config(path, doc)
    # Each section as every block that writes it sees it: the top level, each environment, each
    # database (with its environment in between).
    for name in SECTION_MODELS:
        views: list[tuple[str | None, str | None]] = [(None, None)] if name in doc else []
        views += [(e, None) for e, b in blocks.items() if name in b]
        views += [(entry.environment if entry.environment in blocks else None, db)
                  for db, (raw_entry, entry) in entries.items() if name in raw_entry]
        if views and views[0] != (None, None):
            views.insert(0, (None, None))
        for environment, database in views:
            raw = config.raw_section(name, environment, database)
            if raw is not None and not isinstance(raw, dict):
                where = (f"databases.{database}.{name}" if database else
                         f"environments.{environment}.{name}" if environment else name)
                found.append(ConfigError(f"{path}: {where}: must be a mapping of keys",
                                         "see docs/config.md, the pgdrill.yml reference"))
                break
            try:
                config.section(name, section_model(name), environment, database)
            except ConfigError as exc:
                if all(exc.message != f.message for f in found):
                    found.append(exc)
    return found


def _databases(path: Path, doc: dict[str, Any], environments: dict[str, dict[str, Any]],
               found: list[ConfigError]) -> dict[str, tuple[dict[str, Any], DatabaseEntry]]:
    """The valid entries of ``databases:`` (name → (its keys, its model)); what is wrong with the
    others goes to ``found``. Two databases that would share a store are an error: each one's
    retention would remove the other's backups."""
    from pgdrill.config import DATABASE_NAME

    dbs = doc.get("databases")
    if dbs is None:
        return {}
    if not isinstance(dbs, dict):
        found.append(ConfigError(f"{path}: databases: must be a mapping of name → settings",
                                 "write it as `databases:` then `  billing:` with that database's keys indented"))
        return {}
    out: dict[str, tuple[dict[str, Any], DatabaseEntry]] = {}
    for name, raw in dbs.items():
        where = f"databases.{name}"
        if not DATABASE_NAME.fullmatch(str(name)):
            found.append(ConfigError(f"{path}: {where}: '{name}' is not a usable database name",
                                     "letters, digits, '_', '.' and '-', starting with a letter or digit"))
            continue
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            found.append(ConfigError(f"{path}: {where}: must be a mapping",
                                     "indent that database's keys under its name"))
            continue
        try:
            entry = DatabaseEntry.model_validate({k: v for k, v in raw.items() if k not in SECTIONS})
        except ValidationError as exc:
            found.append(_format_error(path, exc, where, DatabaseEntry,
                                       tuple(s for s in SECTIONS if s not in ("environments", "databases"))))
            continue
        nested = [k for k in ("environments", "databases") if k in raw]
        if nested:
            found.append(ConfigError(f"{path}: {where}.{nested[0]}: not allowed inside a database",
                                     "a database picks its environment with `environment: NAME`"))
            continue
        if entry.environment is not None and entry.environment not in environments:
            found.append(ConfigError(f"{path}: {where}.environment: '{entry.environment}' is not defined under "
                                     "environments:", "use one of: " + (", ".join(environments) or "(none defined)")))
            continue
        out[str(name)] = (raw, entry)
    config = Config(path, doc)
    owners: dict[str, str] = {}
    for name, (_, entry) in out.items():
        found_store = config.database_store(name, entry.environment)
        if found_store is None:
            continue
        store = found_store[0]
        key = store.rstrip("/")
        if key in owners:
            found.append(ConfigError(
                f"{path}: databases.{owners[key]} and databases.{name} share the store {store}",
                "give each database its own: `store:` in its entry, or `store_prefix:` (the store becomes "
                "<prefix>/<name>)"))
        else:
            owners[key] = name
    return out

