"""The dashboard (pgdrill report --html): golden pages drawn from a crafted shop store, the figures
in its charts and tables, escaping of everything that came from the store, and the fleet layout.

After an intended change to the pages, regenerate with PGDRILL_UPDATE_GOLDEN=1 and review the diff
(and the browser tests' screenshot: tests/browser/).
"""

from __future__ import annotations

import dataclasses
import html
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from pgdrill import __version__
from pgdrill.drill import DrillRecord, record_key
from pgdrill.manifest import manifest_key
from pgdrill.overview import StoreView, read_view, views, write_site
from pgdrill.report.dashboard import render_site, slug
from pgdrill.retention import Policy
from pgdrill.store.local import LocalStore

from support.dashboard import NOW, POLICY, THRESHOLDS, Shop, write_shop

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dashboard"


def check_golden(name: str, text: str) -> None:
    text = text.replace(f"pgdrill {__version__}", "pgdrill VERSION")
    path = GOLDEN / name
    if os.environ.get("PGDRILL_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {path} missing (run with PGDRILL_UPDATE_GOLDEN=1 once, then review it)"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.fixture(scope="module")
def shop_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalStore, Shop]:
    store = LocalStore(tmp_path_factory.mktemp("shop") / "store")
    return store, write_shop(store)


def shop_view(store: LocalStore, name: str = "s3://acme-backups/shop") -> StoreView:
    # the store's folder differs per run: the pages name a fixed one
    return dataclasses.replace(read_view(store, POLICY, THRESHOLDS, NOW), store=name)


def test_the_page_of_one_database(shop_store: tuple[LocalStore, Shop]) -> None:
    files = render_site([("shop", shop_view(shop_store[0]))])
    assert list(files) == ["index.html"]
    check_golden("shop.html", files["index.html"])


def test_the_charts_and_tables_hold_the_store_figures(shop_store: tuple[LocalStore, Shop]) -> None:
    store, shop = shop_store
    page = render_site([("shop", shop_view(store))])["index.html"]
    dots = re.findall(r'<circle [^>]*data-value="([\d.]+)" data-at="([^"]+)" data-id="([^"]+)"', page)
    size_dots = page.split('id="chart-size"')[1].split("</svg>")[0]
    sizes = dict(re.findall(r'data-value="(\d+)" data-at="[^"]+" data-id="([^"]+)"', size_dots))
    assert {v: int(k) for k, v in sizes.items()} == {b.id: b.size for b in shop.backups}
    assert len(dots) == 3 * len(shop.backups)  # size, duration, rows
    rows_chart = page.split('id="chart-rows"')[1].split("</svg>")[0]
    assert f'data-value="{shop.backups[-1].total_rows}"' in rows_chart
    rto = page.split('id="chart-rto"')[1].split("</svg>")[0]
    bars = re.findall(r'data-value="([\d.]+)" data-target="([\d.]+)" data-status="(\w+)" data-id="([^"]+)"', rto)
    assert [(float(v), float(t), s, i) for v, t, s, i in bars] == [
        (r.rto.measured, r.rto.target, r.rto.status, r.id) for r in shop.drills]
    assert [s for *_, s, _ in bars].count("fail") == 1  # the drill over its 15m target
    # the tables: newest backup first, with its exact size and rows
    newest = shop.backups[-1]
    assert re.search(rf'<tr data-backup="{newest.id}">.*?data-bytes="{newest.size}".*?data-rows="{newest.total_rows}"',
                     page.split('id="backups-table"')[1], re.S)
    # calendar: each drill day is marked with its verdict
    for r in shop.drills:
        day = r.started_at.date().isoformat()
        verdicts = {d.passed for d in shop.drills if d.started_at.date().isoformat() == day}
        assert f'data-date="{day}" data-verdict="{"pass" if all(verdicts) else "fail"}"' in page


def test_alerts_retention_and_window_sections(shop_store: tuple[LocalStore, Shop]) -> None:
    store, shop = shop_store
    view = shop_view(store)
    page = render_site([("shop", view)])["index.html"]
    # monitor's evaluation with the configured thresholds: the two missed nights, the failed last drill
    alerts = re.findall(r'<tr data-alert="(\w+)">', page)
    assert alerts == [a.name for a in view.health.alerts] == ["ScheduleGap", "DrillFailed"]
    # retention: every backup with its decision and reasons, as `prune --dry-run` would plan it
    decisions = dict(re.findall(r'<tr data-backup="([^"]+)" data-action="(keep|remove)">', page))
    assert decisions == {d.backup.id: d.action for d in view.retention}
    assert "keep" in decisions.values() and "remove" in decisions.values()
    assert html.escape(POLICY.describe()) in page
    # the point-in-time window of the Neon drill: 7 days back from the drill
    [neon] = [r for r in shop.drills if r.source_kind == "neon"]
    assert f'<tr data-drill="{neon.id}">' in page and 'data-seconds="604800"' in page
    # the unreadable record is listed, not fatal
    assert "drills/20261015T000000000Z-broken.json" in page.split('id="problems"')[1]


def test_no_window_section_without_point_in_time_drills(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    shop = write_shop(store, days=20)
    for r in shop.drills:
        if r.window_earliest is not None:
            store.delete(record_key(r.id))
    page = render_site([("shop", read_view(store, POLICY, THRESHOLDS, NOW))])["index.html"]
    assert 'id="window"' not in page and "Point-in-time window" not in page


def test_a_page_is_self_contained(shop_store: tuple[LocalStore, Shop]) -> None:
    page = render_site([("shop", shop_view(shop_store[0]))])["index.html"]
    assert "<script" not in page
    assert re.findall(r'href="([^"]*)"', page) == [f"#{s}" for s in (
        "alerts", "drills", "calendar", "backups", "retention", "window", "problems")]
    assert not re.search(r'\ssrc=', page)  # no image, frame or script from anywhere
    assert "@import" not in page and "url(" not in page  # the style sheet loads nothing either
    assert "default-src 'none'" in html.unescape(page) and "@media print" in page


def test_everything_from_the_store_is_escaped(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "hostile")
    evil = '<script>alert("db")</script>'
    shop = write_shop(store, days=20, database=evil, detail_prefix='<img src=x onerror="alert(1)">',
                      owners=["</td><b>owner</b>"])
    last: DrillRecord = shop.drills[-1]
    store.put_bytes(record_key(last.id), last.model_copy(update={"run_url": "javascript:alert(1)"}).to_json().encode())
    m = shop.backups[-1]
    store.put_bytes(manifest_key(m.id), m.model_copy(update={"tags": ['"><svg onload=alert(2)>']}).to_json().encode())
    page = render_site(views([(None, store)], Policy(keep_last=3), THRESHOLDS, NOW))["index.html"]
    assert "<script" not in page and "<img" not in page and "<svg onload" not in page and "<b>" not in page
    assert html.escape(evil) in page  # shown, as text
    assert 'href="javascript' not in page


def test_a_fleet_gets_an_index_and_a_page_per_database(tmp_path: Path) -> None:
    a, b = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    write_shop(a, days=30)
    write_shop(b, days=10, now=NOW - timedelta(days=3), database="billing")
    files = render_site([(name, dataclasses.replace(v, store=f"s3://acme/{name}"))
                         for name, v in views([("shop", a), ("Billing (EU)", b)], POLICY, THRESHOLDS, NOW)])
    assert sorted(files) == ["billing-eu.html", "index.html", "shop.html"]
    index = files["index.html"]
    assert '<a href="shop.html">shop</a>' in index and '<a href="billing-eu.html">Billing (EU)</a>' in index
    assert 'href="index.html"' in files["shop.html"]  # back to the fleet
    assert "BackupTooOld" in index.split('data-database="Billing (EU)"')[1].split("</tr>")[0]
    check_golden("fleet-index.html", index)


def test_slugs_are_unique_file_names() -> None:
    taken: set[str] = set()
    assert [slug(n, taken) for n in ("Shop", "shop", "../etc", "index", "")] == [
        "shop", "shop-2", "etc", "index-2", "database"]


def test_write_site_replaces_files_and_refuses_a_file(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(out, {"index.html": "one"})
    write_site(out, {"index.html": "two"})
    assert (out / "index.html").read_text() == "two" and sorted(p.name for p in out.iterdir()) == ["index.html"]
    (tmp_path / "file").write_text("x")
    from pgdrill.errors import ConfigError

    with pytest.raises(ConfigError, match="is a file"):
        write_site(tmp_path / "file", {"index.html": "x"})
