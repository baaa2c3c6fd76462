"""Which source a command uses, from its settings: one table, no if-branches in the commands.

A source is **selected** by a setting given now (on the command line or as ``PGDRILL_*``):
``--neon-project`` picks the Neon source, and so on for each kind below. pgdrill.yml alone does not
turn every drill into, say, a Neon drill — unless it configures no store at all and exactly one other
kind of source, which is then the only thing there is to drill. A kind that keeps only its drill
records in the store (``archives:``, dumps made by other tools) wins over ``store:`` in pgdrill.yml.
With nothing selected, a drill restores a backup from the store.

Adding a source is a module with a ``from_settings(settings, purpose)`` function and one line here;
the drill, the checks and the reports do not change.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pgdrill.errors import ConfigError
from pgdrill.settings import Settings, flag_name

if TYPE_CHECKING:
    from pgdrill.sources.base import Source

Purpose = Literal["drill", "restore", "monitor"]


@dataclass(frozen=True)
class Kind:
    name: str
    module: str  # holds from_settings(settings, purpose) -> Source
    selected_by: tuple[str, ...]  # a setting given now that selects this kind
    also_by: tuple[str, ...] = ()  # selects it when no other kind is selected (e.g. --at alone: Neon)
    configured_by: tuple[str, ...] = ()  # keys that, in pgdrill.yml, configure it
    #: with this kind configured, a store holds the drill records, not the backups to restore: the kind
    #: wins over `store:` in pgdrill.yml
    store_for_records: bool = False
    #: `restore` with this kind copies rows from a point in time (else: restores the whole source)
    point_in_time: bool = True

    def build(self, s: Settings, purpose: Purpose) -> Source:
        module = importlib.import_module(self.module)
        source: Source = module.from_settings(s, purpose)
        return source


STORED_BACKUP = Kind("backup", "pgdrill.sources.backup", ("store",), configured_by=("store",))
#: the sources besides the store's backups, each selected by its own setting
KINDS: tuple[Kind, ...] = (
    Kind("neon", "pgdrill.sources.neon", ("neon_project",), also_by=("at",), configured_by=("neon_project",)),
    Kind("pgbackrest", "pgdrill.sources.pgbackrest", ("pgbackrest_stanza",), also_by=("at",),
         configured_by=("pgbackrest_stanza",)),
    Kind("barman", "pgdrill.sources.barman", ("barman_cloud_url",), also_by=("at",),
         configured_by=("barman_cloud_url",)),
    Kind("archives", "pgdrill.sources.archives", ("archives",), configured_by=("archives",), store_for_records=True,
         point_in_time=False),
)


def selected(s: Settings) -> Kind | None:
    """The kind of source a setting given now selects (None: none does)."""
    chosen = [k for k in KINDS if any(s.given_now(n) for n in k.selected_by)]
    if len(chosen) > 1:
        flags = " and ".join(flag_name(k.selected_by[0]) for k in chosen)
        raise ConfigError(f"{flags} pick different sources", "give one of them")
    if chosen:
        return chosen[0]
    by_default = [k for k in KINDS if any(s.given_now(n) for n in k.also_by)]
    if len(by_default) > 1:
        # `--at` alone: the point-in-time source pgdrill.yml configures, else the first (Neon).
        configured = [k for k in by_default if any(s.in_file(n) for n in k.configured_by)]
        by_default = configured if len(configured) == 1 else by_default[:1]
    return by_default[0] if by_default else None


def kind_for(s: Settings) -> Kind:
    kind = selected(s)
    if kind is not None:
        return kind
    records_only = [k for k in KINDS if k.store_for_records and any(s.in_file(n) for n in k.configured_by)]
    if len(records_only) == 1:
        return records_only[0]
    if not any(s.get(n) for n in STORED_BACKUP.configured_by):
        configured = [k for k in KINDS if any(s.in_file(n) for n in k.configured_by)]
        if len(configured) == 1:
            return configured[0]
    return STORED_BACKUP


def pitr_kind(s: Settings) -> Kind | None:
    """The point-in-time source monitor watches: the one selected now, else the only one pgdrill.yml
    configures; None when there is none."""
    kind = selected(s)
    if kind is not None:
        return kind if kind.point_in_time else None
    configured = [k for k in KINDS if k.point_in_time and any(s.in_file(n) for n in k.configured_by)]
    return configured[0] if len(configured) == 1 else None


def source_for(s: Settings, purpose: Purpose) -> Source:
    return kind_for(s).build(s, purpose)
