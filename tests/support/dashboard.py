"""A store with a few months of history of the demo's shop database, written the way the real jobs
write it (archive then manifest; drill records as run_drill saves them), for the dashboard and the
evidence report: nightly backups with growing sizes and rows, two missed nights and a failed attempt
in late November, pre-deploy backups, weekly drills (one over its RTO target, one with a failed
check), a Neon point-in-time drill with its window, and one unreadable drill record.

Everything is a pure function of its arguments, so pages drawn from it are the same on every run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pgdrill.checks import CheckResult
from pgdrill.drill import DrillRecord, evaluate, failure_reasons, record_key
from pgdrill.manifest import ATTEMPTS, DRILLS, Manifest, archive_key, manifest_key
from pgdrill.monitor import Thresholds
from pgdrill.retention import Policy
from pgdrill.store.local import LocalStore

UTC = timezone.utc
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = Policy(keep_daily=7, keep_weekly=4, keep_monthly=12, keep_tags={"pre-deploy": "30d"})
THRESHOLDS = Thresholds(schedule=86400.0)
RTO_TARGET, RPO_TARGET = 15 * 60.0, 26 * 3600.0
TABLES = ("app.alembic_version", "app.customers", "app.products", "app.orders", "app.order_items")
MISSED_NIGHTS = (datetime(2026, 11, 24).date(), datetime(2026, 11, 25).date())


@dataclass
class Shop:
    """What was written, for tests to compare the page with."""

    backups: list[Manifest] = field(default_factory=list)
    drills: list[DrillRecord] = field(default_factory=list)
    record_bytes: dict[str, bytes] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)


def _hex(n: int, width: int = 12) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()[:width]


def _manifest(n: int, at: datetime, *, database: str, tags: list[str]) -> Manifest:
    bid = at.strftime("%Y%m%dT%H%M%S") + f"{n % 1000:03d}Z-{_hex(n)}"
    customers = 1800 + 9 * n
    orders = 5200 + 41 * n
    tables = dict(zip(TABLES, (1, customers, 120 + n // 10, orders, 3 * orders), strict=True))
    size = 41_000_000 + 183_000 * n + (n * 7919 % 13) * 61_000
    duration = 38.0 + n * 0.21 + (n * 31 % 7)
    return Manifest(
        id=bid, created_at=at, finished_at=at + timedelta(seconds=duration), database=database, host="db.internal",
        port=5432, size=size, sha256=_hex(n + 7, 64), archive_size=size, object_key=archive_key(bid, False),
        tables=tables, schemas=["app"], migration_head="7c2d1e9a4b10", server_version="16.4",
        pg_dump_version="16.4", pgdrill_version="0.1.0", tags=tags, duration_seconds=round(duration, 2),
        environment="production",
    )


def _checks(m: Manifest, *, failing: str | None, detail_prefix: str) -> list[CheckResult]:
    rows = m.total_rows
    out = [
        CheckResult("restore", "pass", "pg_restore finished with 0 errors", 61.2),
        CheckResult("schemas", "pass", "1 schema present: app", 0.01),
        CheckResult("row counts", "pass", f"{len(m.tables)} tables, {rows} rows, all equal to the manifest", 4.1),
        CheckResult("sequences", "pass", "4 serial/identity sequences ahead of their columns", 0.2),
        CheckResult("migration head", "pass", "alembic head 7c2d1e9a4b10 in app.alembic_version, as in the backup",
                    0.01),
        CheckResult("sql: every order has items", "pass", "no rows, as expected", 0.3),
        CheckResult("smoke: app signs up a customer", "pass", "exit 0 in 1.2s", 1.2),
    ]
    if failing:
        out[5] = CheckResult("sql: every order has items", "fail", f"{detail_prefix}{failing}", 0.3,
                             ("orders 5012, 5013 have no items",))
    out.append(CheckResult("cleanup", "pass", "scratch database dropped with everything restored into it", 0.1))
    return out


def _drill(n: int, started: datetime, m: Manifest, *, rto: float, failing: str | None = None,
           source_kind: str = "backup", window_days: float | None = None, owners: list[str],
           detail_prefix: str = "") -> DrillRecord:
    checks = _checks(m, failing=failing, detail_prefix=detail_prefix)
    rto_r = evaluate(rto, RTO_TARGET)
    age = (started - m.created_at).total_seconds()
    rpo_r = evaluate(age + 18 * 3600.0, RPO_TARGET)
    reasons = failure_reasons(checks, rto_r, rpo_r)
    pitr = source_kind != "backup"
    return DrillRecord(
        id=started.strftime("%Y%m%dT%H%M%S") + f"{n:03d}Z-{_hex(n + 1000)}", passed=not reasons, failures=reasons,
        started_at=started, finished_at=started + timedelta(seconds=rto + 2), environment="production",
        source_kind=source_kind, backup_id=f"neon:main@{started - timedelta(minutes=15):%Y-%m-%dT%H:%M:%SZ}"
        if pitr else m.id, backup_created_at=m.created_at, requested_at="-15m" if pitr else "latest",
        point_in_time=started - timedelta(minutes=15) if pitr else None, backup_size=m.size,
        backup_sha256="" if pitr else m.sha256, backup_tags=list(m.tags), source_database=m.database,
        source_host=m.host, source_port=m.port, source_server_version=m.server_version,
        pg_dump_version=m.pg_dump_version, tables=len(m.tables), rows=m.total_rows,
        compared_backup_id=m.id if pitr else None,
        window_earliest=started - timedelta(days=window_days) if window_days else None,
        target=f"postgresql://postgres@localhost:5432/pgdrill_drill_{n:04d}", target_kind="scratch",
        scratch_database=f"pgdrill_drill_{n:04d}", cleanup="scratch database dropped with everything restored into it",
        target_server_version="16.4", pg_restore_version="16.4", restore_seconds=round(rto * 0.8, 3),
        checks_seconds=round(rto * 0.2, 3), rto=rto_r, rpo=rpo_r, backup_age_seconds=age,
        worst_gap_seconds=18 * 3600.0, checks=checks, owners=owners,
        run_url=f"https://github.com/acme/shop/actions/runs/{9000000 + n}/attempts/1", git_sha=_hex(n, 40),
        git_ref="main",
    )


def write_shop(store: LocalStore, *, now: datetime = NOW, days: int = 92, database: str = "shop",
               detail_prefix: str = "", owners: list[str] | None = None) -> Shop:
    """``days`` nights of backups up to ``now``, and the drills described in the module docstring."""
    shop = Shop()
    owners = owners if owners is not None else ["@acme/dba", "oncall@acme.example"]
    first = (now - timedelta(days=days)).replace(hour=3, minute=17, second=0, microsecond=0)
    n = 0
    for d in range(days + 1):
        at = first + timedelta(days=d)
        if at > now:
            break
        if at.date() in MISSED_NIGHTS:
            if at.date() == MISSED_NIGHTS[0]:
                aid = at.strftime("%Y%m%dT%H%M%S") + "000Z-failed000001"
                doc = {"id": aid, "started_at": at.isoformat(), "status": "failed",
                       "error": "pg_dump failed (exit 1): could not connect to the server"}
                store.put_bytes(f"{ATTEMPTS}{aid}.json", json.dumps(doc).encode())
                shop.attempts.append(aid)
            continue
        n += 1
        tags = ["nightly"]
        m = _manifest(n, at, database=database, tags=tags)
        shop.backups.append(m)
        if d % 17 == 5:
            n += 1
            shop.backups.append(_manifest(n, at + timedelta(hours=11, minutes=4), database=database,
                                          tags=["pre-deploy"]))
    return _finish(store, shop, now=now, owners=owners, detail_prefix=detail_prefix)


def _finish(store: LocalStore, shop: Shop, *, now: datetime, owners: list[str], detail_prefix: str) -> Shop:
    for m in shop.backups:
        _sized(store, m)
        store.put_bytes(manifest_key(m.id), m.to_json().encode())
    nightly = [m for m in shop.backups if "nightly" in m.tags]
    k = 0
    start = (nightly[0].created_at + timedelta(days=2)).replace(hour=5, minute=42)
    while start <= now:
        prior = [m for m in nightly if m.created_at < start]
        if prior:
            k += 1
            m = prior[-1]
            rto = 88.0 + (k * 37 % 11) * 3.5
            if k == 6:
                rto = 1210.0  # over the 15m target
            failing = "2 order(s) without items" if k == 10 else None
            shop.drills.append(_drill(k, start, m, rto=rto, failing=failing, owners=owners,
                                      detail_prefix=detail_prefix))
            if k == 11:
                k += 1
                shop.drills.append(_drill(k, start + timedelta(hours=2), m, rto=143.0, source_kind="neon",
                                          window_days=7, owners=owners, detail_prefix=detail_prefix))
        start += timedelta(days=7)
    for r in shop.drills:
        data = r.to_json().encode()
        store.put_bytes(record_key(r.id), data)
        shop.record_bytes[r.id] = data
    store.put_bytes(f"{DRILLS}20261015T000000000Z-broken.json", b"{not json")
    return shop


def _sized(store: LocalStore, m: Manifest) -> None:
    """An archive of the manifest's size (the catalog checks it), written sparse: tens of megabytes
    each, on disk as nothing."""
    path = store.root.joinpath(*m.object_key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(m.size)
