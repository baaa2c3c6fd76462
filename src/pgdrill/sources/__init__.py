"""Sources of restored copies: what a drill, a rehearsal or a table restore restores from.

``base`` (the Source interface, its lifecycle, RestoredCopy, Origin), ``markers`` (who made a copy,
and sweeping copies of killed runs), ``scratch`` (copies that are databases: scratch or target),
``backup`` (a backup pgdrill made, from its store), ``branch`` (a provider's point-in-time branch:
Neon), ``instants`` (``--at`` and restore windows).
"""

from pgdrill.sources.base import (
    CopyOptions,
    Leftover,
    Origin,
    RestoredCopy,
    RpoMeasure,
    Source,
    measure_rpo,
)
from pgdrill.sources.markers import Marker

__all__ = [
    "CopyOptions",
    "Leftover",
    "Marker",
    "Origin",
    "RestoredCopy",
    "RpoMeasure",
    "Source",
    "measure_rpo",
]
