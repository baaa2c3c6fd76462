"""Monitor's judgement of a point-in-time window and of replicas: pure (observations, thresholds,
now) → alerts, metrics and the /health/backup-style JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pgdrill.monitor import Observed, ReplicaLag, Thresholds, evaluate
from pgdrill.report.monitor import render_json, render_markdown, render_prometheus, render_text
from pgdrill.sources.base import PitrWindow

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=timezone.utc)
DAY = 86400


def health(window: PitrWindow | None = None, replicas: list[ReplicaLag] | None = None, **th: object):  # type: ignore[no-untyped-def]
    obs = Observed("pgBackRest stanza main", store_watched=False, pitr=window, replicas=replicas)
    return evaluate(obs, Thresholds.model_validate(th), NOW)


def window(days: float, wal_age: float, continuous: bool = False) -> PitrWindow:
    newest = NOW - timedelta(seconds=wal_age)
    return PitrWindow(newest - timedelta(days=days), None if continuous else newest, "pgBackRest stanza main",
                      continuous)


def names(h) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.name for a in h.alerts]


def test_a_healthy_window_fires_nothing_and_reports_its_days() -> None:
    h = health(window(14, 120))
    assert names(h) == [] and h.pitr_days == 14.0
    doc = render_json(h)
    assert doc["pitr_available_days"] == 14.0 and doc["pitr"]["wal_age_hours"] == round(120 / 3600, 2)
    assert doc["status"] == "healthy" and "last_backup" in doc
    prom = render_prometheus(h)
    assert 'pgdrill_pitr_available_days{store="pgBackRest stanza main"} 14' in prom
    assert 'pgdrill_wal_archive_age_seconds{store="pgBackRest stanza main"} 120' in prom
    # Without a store, the store's alerts are not listed as if they were watched
    assert "NoBackup" not in prom and 'alert="WalArchiveStale"' in prom


def test_stale_wal_and_a_short_window_alert() -> None:
    h = health(window(0.5, 2 * 3600))
    assert names(h) == ["WalArchiveStale", "PitrWindowShort"]
    assert "2.0h old" in h.alerts[0].message and "under 1d" in h.alerts[1].message
    assert 'alert="WalArchiveStale",severity="critical"} 1' in render_prometheus(h)
    assert "PitrWindowShort" in render_markdown(h) and "pitr window" in render_text(h)


@pytest.mark.parametrize(("th", "fires"), [({"max_wal_age": "3h"}, ["PitrWindowShort"]),
                                           ({"min_pitr_window": "6h"}, ["WalArchiveStale"]),
                                           ({"max_wal_age": "3h", "min_pitr_window": "6h"}, [])])
def test_thresholds_are_honoured(th: dict[str, str], fires: list[str]) -> None:
    assert names(health(window(0.5, 2 * 3600), **th)) == fires


def test_a_repository_without_wal_or_backups_alerts() -> None:
    h = health(PitrWindow(None, None, "barman-cloud server pg-main"))
    assert names(h) == ["WalArchiveStale", "PitrWindowShort"]
    assert render_json(h)["pitr_available_days"] is None


def test_neon_history_is_continuous_so_no_wal_can_be_stale() -> None:
    h = health(window(7, 0, continuous=True))
    assert names(h) == [] and h.pitr_days == 7.0 and h.wal_age_seconds is None
    assert render_json(h)["pitr"]["newest_wal"] is None


def test_replica_lag() -> None:
    replicas = [ReplicaLag("replica-eu", "streaming", 2.0, 1024), ReplicaLag("replica-us", "streaming", 600.0, 9 << 20)]
    h = health(replicas=replicas, max_replica_lag="5m")
    assert names(h) == ["ReplicaLagging"] and "replica-us" in h.alerts[0].message
    assert "replica-eu" not in h.alerts[0].message
    prom = render_prometheus(h)
    assert 'pgdrill_replica_lag_seconds{store="pgBackRest stanza main",replica="replica-us"} 600' in prom
    assert json.loads(json.dumps(render_json(h)))["replicas"][1]["lag_bytes"] == 9 << 20
    assert names(health(replicas=replicas, max_replica_lag="15m")) == []


def test_no_replica_streaming_is_lagging() -> None:
    assert names(health(replicas=[], max_replica_lag="5m")) == ["ReplicaLagging"]
