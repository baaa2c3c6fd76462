"""Backups, attempts and drill records as read from a store."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pgdrill.errors import IntegrityError, NotFound, PgdrillError, StoreError
from pgdrill.manifest import ATTEMPTS, BACKUPS, DRILLS, Manifest, manifest_key, parse
from pgdrill.store.base import ObjectInfo, Store


@dataclass(frozen=True)
class Problem:
    backup_id: str
    reason: str


@dataclass
class Catalog:
    store: str = ""  # the store's URL, for messages that must say where they looked
    backups: list[Manifest] = field(default_factory=list)  # oldest first
    problems: list[Problem] = field(default_factory=list)
    pending: dict[str, list[ObjectInfo]] = field(default_factory=dict)  # ids with objects but no manifest

    @property
    def latest(self) -> Manifest | None:
        return self.backups[-1] if self.backups else None

    def find(self, ref: str) -> Manifest:
        if ref not in ("latest", ""):
            matches = [b for b in self.backups if b.id == ref or b.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if matches:
                raise NotFound(f"backup id {ref!r} is ambiguous ({len(matches)} match)", "give more of the id")
            # A broken or unfinished backup is named as such, even when no other backup exists.
            bad = [p for p in self.problems if p.backup_id == ref or p.backup_id.startswith(ref)]
            if len(bad) == 1:
                raise IntegrityError(f"backup {bad[0].backup_id} is unusable: {bad[0].reason}", _OLDER)
            unfinished = [i for i in self.pending if i == ref or i.startswith(ref)]
            if len(unfinished) == 1:
                raise IntegrityError(f"backup {unfinished[0]} is incomplete: {_NO_MANIFEST}",
                                     f"{_OLDER}; `pgdrill prune` removes incomplete uploads")
        where = f"the store {self.store}" if self.store else "the store"
        if not self.backups:
            raise NotFound(f"{where} holds no complete backup", "run `pgdrill backup` first, or check --store")
        if ref in ("latest", ""):
            return self.backups[-1]
        raise NotFound(f"no backup {ref!r} in {where}", "see `pgdrill list`")

    def run(self, ref: str) -> list[Manifest]:
        """The backups of one --all-databases run (by run id or a unique prefix of it), in database
        order. Refused when the run is incomplete: a database it planned has no complete backup."""
        ids = sorted({b.run_id for b in self.backups if b.run_id and (b.run_id == ref or b.run_id.startswith(ref))})
        if not ids:
            raise NotFound(f"no --all-databases run {ref!r} in the store", "see `pgdrill list`")
        if len(ids) > 1:
            raise NotFound(f"run id {ref!r} is ambiguous ({len(ids)} match)", "give more of the id")
        members = sorted((b for b in self.backups if b.run_id == ids[0]), key=lambda b: b.database)
        planned = set(members[0].run_databases)
        missing = sorted(planned - {b.database for b in members})
        if missing:
            raise IntegrityError(f"run {ids[0]} is incomplete: no complete backup of {', '.join(missing)}",
                                 "restore the databases it has one by one (`pgdrill list`), or an older run")
        return members

    def is_run(self, ref: str) -> bool:
        """Does ``ref`` name an --all-databases run rather than one backup?"""
        if ref in ("latest", "") or any(b.id == ref or b.id.startswith(ref) for b in self.backups):
            return False
        return any(b.run_id and (b.run_id == ref or b.run_id.startswith(ref)) for b in self.backups)

    def skipped_newer(self, m: Manifest) -> list[str]:
        """Why each backup newer than ``m`` is not usable (for warnings when ``latest`` resolves to ``m``)."""
        why = {p.backup_id: p.reason for p in self.problems if p.backup_id > m.id}
        why.update({i: _NO_MANIFEST for i in self.pending if i > m.id})
        return [f"newer backup {i} was skipped: {why[i]}" for i in sorted(why)]


_OLDER = "restore an older backup (`pgdrill list`)"
_NO_MANIFEST = "it has no manifest (its upload failed, or is still running)"


def load(store: Store) -> Catalog:
    """List complete backups (manifest present and pointing at an object of the recorded size)."""
    objects: dict[str, dict[str, ObjectInfo]] = defaultdict(dict)
    for obj in store.list(BACKUPS):
        rest = obj.key[len(BACKUPS) :]
        if "/" not in rest:
            continue
        backup_id, name = rest.split("/", 1)
        objects[backup_id][name] = obj
    cat = Catalog(store.url)
    for backup_id in sorted(objects):
        files = objects[backup_id]
        if "manifest.json" not in files:
            cat.pending[backup_id] = list(files.values())
            continue
        try:
            m = parse(store.get_bytes(manifest_key(backup_id)), backup_id)
        except IntegrityError as exc:
            cat.problems.append(Problem(backup_id, exc.message))
            continue
        except StoreError:
            # The store refusing or failing (access denied, endpoint down) says nothing about the
            # backup: calling every backup broken would make `latest` fall back to older ones.
            raise
        except PgdrillError as exc:
            cat.problems.append(Problem(backup_id, f"manifest unreadable: {exc.message}"))
            continue
        if m.id != backup_id:
            cat.problems.append(Problem(backup_id, f"manifest names another backup ({m.id})"))
            continue
        name = m.object_key.rsplit("/", 1)[-1]
        if not m.object_key.startswith(f"{BACKUPS}{backup_id}/") or name not in files:
            cat.problems.append(Problem(backup_id, f"archive {m.object_key} is missing"))
            continue
        if files[name].size != m.size:
            cat.problems.append(
                Problem(backup_id, f"archive is {files[name].size} bytes, manifest says {m.size}")
            )
            continue
        if m.roles is not None:
            rname = m.roles.object_key.rsplit("/", 1)[-1]
            if not m.roles.object_key.startswith(f"{BACKUPS}{backup_id}/") or rname not in files:
                cat.problems.append(Problem(backup_id, f"roles file {m.roles.object_key} is missing"))
                continue
            if files[rname].size != m.roles.size:
                cat.problems.append(Problem(backup_id, f"roles file is {files[rname].size} bytes, "
                                                       f"manifest says {m.roles.size}"))
                continue
        cat.backups.append(m)
    cat.backups.sort(key=lambda b: (b.created_at, b.id))
    return cat


@dataclass(frozen=True)
class Attempt:
    id: str
    started_at: datetime
    status: str
    error: str

    @classmethod
    def from_json(cls, data: bytes) -> Attempt:
        doc = json.loads(data)
        return cls(doc["id"], datetime.fromisoformat(doc["started_at"]), doc["status"], doc.get("error", ""))


def failed_attempts(store: Store) -> list[Attempt]:
    out = []
    for obj in store.list(ATTEMPTS):
        try:
            out.append(Attempt.from_json(store.get_bytes(obj.key)))
        except (ValueError, KeyError, TypeError, PgdrillError):
            continue
    return sorted(out, key=lambda a: a.started_at)


def drill_keys(store: Store) -> list[str]:
    return [o.key for o in store.list(DRILLS) if o.key.endswith(".json")]
