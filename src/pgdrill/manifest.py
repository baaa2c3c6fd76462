"""The manifest: one JSON document per backup, written LAST — its presence commits the backup.

Store layout (relative to the store's root):

    backups/<id>/archive.pgdump[.age]   the pg_dump custom-format archive (age-encrypted when .age)
    backups/<id>/roles.sql[.age]        pg_dumpall --roles-only --no-role-passwords (encrypted like the archive)
    backups/<id>/manifest.json          this document
    attempts/<id>.json                  a backup attempt that failed (for monitor and prune)
    drills/<id>.json                    drill records
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pgdrill import layout as _layout
from pgdrill.errors import IntegrityError, invalid_document

MANIFEST_VERSION = 1
# The store's layout and backup ids live in pgdrill.layout (no pydantic there); named here as before.
BACKUPS, ATTEMPTS, DRILLS = _layout.BACKUPS, _layout.ATTEMPTS, _layout.DRILLS
new_id, manifest_key, archive_key = _layout.new_id, _layout.manifest_key, _layout.archive_key


roles_key = _layout.roles_key


class Encryption(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    method: str = "age"
    recipients: list[str] = Field(default_factory=list)


class RoleInfo(BaseModel):
    """A role the database refers to: attributes, memberships and setting *names* — never a
    password, a hash or a setting's value (those stay in the roles file, encrypted like the archive)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    reasons: list[str] = Field(default_factory=list, description="owner, privileges, policy, setting, user mapping")
    attributes: list[str] = Field(default_factory=list)
    member_of: list[str] = Field(default_factory=list)
    settings: list[str] = Field(default_factory=list, description="ALTER ROLE … SET parameter names")
    database_settings: list[str] = Field(default_factory=list, description="… IN DATABASE … SET parameter names")


class Roles(BaseModel):
    """The roles file stored next to the archive, and the roles this database needs."""

    model_config = ConfigDict(extra="allow", frozen=True)
    object_key: str
    size: int = Field(ge=0, description="bytes stored")
    sha256: str
    tool: str = Field(description="what wrote the file, e.g. pg_dumpall 17.4 --roles-only --no-role-passwords")
    needed: list[RoleInfo] = Field(default_factory=list)
    database_settings: list[str] = Field(default_factory=list, description="ALTER DATABASE … SET parameter names")


class Privileges(BaseModel):
    """Owners and ACLs of the dumped objects, compactly: the usual owner once, then only the objects
    whose owner differs or that carry grants (see pgdrill.pg.privileges)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    owner: str | None = None
    count: int = 0
    objects: dict[str, list[str | None]] = Field(default_factory=dict)


class Scope(BaseModel):
    """pg_dump scope options given to the backup (patterns as given) and what they resolved to."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    schema_: list[str] = Field(default_factory=list, alias="schema")
    table: list[str] = Field(default_factory=list)
    exclude_schema: list[str] = Field(default_factory=list)
    exclude_table: list[str] = Field(default_factory=list)
    exclude_table_data: list[str] = Field(default_factory=list)
    excluded_tables: list[str] = Field(default_factory=list, description="schema.table left out entirely")
    data_excluded_tables: list[str] = Field(default_factory=list, description="schema.table dumped without rows")


class Manifest(BaseModel):
    """Everything needed to trust, find and restore one backup. Never holds a secret."""

    model_config = ConfigDict(extra="allow", frozen=True)

    manifest_version: int = MANIFEST_VERSION
    id: str
    created_at: datetime
    finished_at: datetime
    database: str
    host: str
    port: int
    size: int = Field(ge=0, description="bytes stored")
    sha256: str = Field(description="sha256 of the stored bytes")
    archive_size: int | None = None
    archive_sha256: str | None = Field(default=None, description="sha256 of the plain archive")
    object_key: str
    format: str = "custom"
    compression: str = "gzip"
    tables: dict[str, int] = Field(default_factory=dict)
    materialized_views: dict[str, int] = Field(default_factory=dict, description="populated ones: row counts")
    schemas: list[str] = Field(default_factory=list)
    extensions: dict[str, str] = Field(default_factory=dict)
    migration_head: str | None = None
    migration_heads: dict[str, str | None] = Field(default_factory=dict, description="schema.table → head")
    sequences: dict[str, int | None] | None = Field(default=None, description="last_value at backup time")
    privileges: Privileges | None = None
    roles: Roles | None = None
    scope: Scope | None = None
    run_id: str | None = Field(default=None, description="shared by the backups of one --all-databases run")
    run_databases: list[str] = Field(default_factory=list, description="every database that run backs up")
    server_version: str
    pg_dump_version: str
    pgdrill_version: str
    tags: list[str] = Field(default_factory=list)
    encryption: Encryption | None = None
    duration_seconds: float = 0.0
    git_sha: str | None = None
    git_ref: str | None = None
    run_url: str | None = None
    environment: str | None = None
    database_size: int | None = None

    @field_validator("created_at", "finished_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("timestamp must include a timezone")
        try:
            return v.astimezone(timezone.utc)
        except OverflowError:
            # 9999-12-31T23:59-05:00 is past the last UTC datetime: a broken manifest, not a crash.
            raise ValueError("timestamp is out of range") from None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return v

    @property
    def encrypted(self) -> bool:
        return self.encryption is not None

    @property
    def server_major(self) -> int:
        # Whatever a manifest says, asking for its major never raises: 0 when there is none.
        found = re.match(r"[0-9]+", self.server_version)
        return int(found.group()) if found else 0

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=True, by_alias=True) + "\n"

    def summary(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json(exclude_none=True, by_alias=True))  # type: ignore[no-any-return]


def parse(data: bytes, where: str) -> Manifest:
    """Parse a stored manifest; anything wrong is an IntegrityError naming ``where``."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise IntegrityError(f"manifest {where} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise IntegrityError(f"manifest {where} is not a JSON object")
    try:
        return Manifest.model_validate(doc)
    except ValidationError as exc:
        raise invalid_document(f"manifest {where}", exc) from None
