"""The restore drill, over any source of a restored copy.

``run`` (run_drill: copy → checks → RTO/RPO → record), ``measures`` (pure judgements against targets),
``record`` (the drill record kept in the store, and the history read back). Where the copy comes from
is :mod:`pgdrill.sources`; how the result is shown is :mod:`pgdrill.report.drill`.
"""

from pgdrill.drill.measures import TargetRecord, TargetStatus, evaluate, failure_reasons
from pgdrill.drill.record import DrillRecord, History, load_history, parse_record, record_key, trend
from pgdrill.drill.run import DrillRequest, DrillResult, DrillSettings, run_drill
from pgdrill.sources.base import RpoMeasure, measure_rpo

__all__ = [
    "DrillRecord",
    "DrillRequest",
    "DrillResult",
    "DrillSettings",
    "History",
    "RpoMeasure",
    "TargetRecord",
    "TargetStatus",
    "evaluate",
    "failure_reasons",
    "load_history",
    "measure_rpo",
    "parse_record",
    "record_key",
    "run_drill",
    "trend",
]
