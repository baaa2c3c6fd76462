"""The dashboard in a real browser: headless Chromium loads the pages `pgdrill report --html` wrote,
from disk (file://), with no network. The rendered DOM must hold the store's real figures, the page
must cause no console error (its Content-Security-Policy turns any outside load, and a style sheet
that does not match its hash, into one), it must print, and a screenshot is saved in .cache/browser/.

The README's screenshot (docs/images/dashboard.png) is committed with the sha256 of the structure of
the page it was taken from (docs/images/dashboard.sha256: every element with its id and classes, no
text or figures): pixels differ between Chromium builds and fonts, a page's structure does not, so the
test redraws the page from the same demo store and compares. A new section, table column or chart
fails it; a new field in the drill records (which changes their sha256 on the page) does not. When the
dashboard changes, PGDRILL_UPDATE_SCREENSHOT=1 retakes the picture.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import struct
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from cdp import Chromium, Page

from pgdrill.overview import read_view, write_site
from pgdrill.report.dashboard import render_site
from pgdrill.report.format import human_size
from pgdrill.store.local import LocalStore

from support.dashboard import NOW, POLICY, THRESHOLDS, Shop, write_shop
from support.runner import pgdrill_process

ROOT = Path(__file__).resolve().parents[2]
#: where the tests leave their screenshots for people to look at (ignored by git)
SHOTS = ROOT / ".cache" / "browser"
README_SHOT = ROOT / "docs" / "images" / "dashboard.png"
README_SHOT_SOURCE = ROOT / "docs" / "images" / "dashboard.sha256"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Shop]:
    """The shop's store, drawn by the real command line."""
    base = tmp_path_factory.mktemp("site")
    store = LocalStore(base / "store")
    shop = write_shop(store, now=NOW)
    config = base / "pgdrill.yml"
    config.write_text("retention:\n  keep_daily: 7\n  keep_weekly: 4\n  keep_monthly: 12\n"
                      "  keep_tags: {pre-deploy: 30d}\nmonitor:\n  schedule: 24h\n")
    r = pgdrill_process("--config", str(config), "report", "--store", str(store.root), "--html", str(base / "site"))
    assert r.code == 0, r.err
    return base / "site", shop


@pytest.fixture
def page(browser: Chromium) -> Iterator[Page]:
    with browser.page() as p:
        yield p


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


FIGURES = """(() => {
  const dots = id => [...document.querySelectorAll(`#${id} circle.dot`)].map(c => ({
    id: c.dataset.id, value: Number(c.dataset.value), title: c.querySelector('title').textContent}));
  const box = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  return {
    title: document.title,
    size: dots('chart-size'), rows: dots('chart-rows'), duration: dots('chart-duration'),
    rto: [...document.querySelectorAll('#chart-rto rect.bar')].map(b => ({
      id: b.dataset.id, value: Number(b.dataset.value), status: b.dataset.status})),
    chartBox: box(document.querySelector('#chart-size')),
    failFill: getComputedStyle(document.querySelector('#chart-rto rect.bar.fail')).fill,
    firstBackupRow: document.querySelector('#backups-table tbody tr').innerText,
    alerts: [...document.querySelectorAll('#alerts-table tr[data-alert]')].map(r => r.dataset.alert),
    failedDays: [...document.querySelectorAll('table.month td[data-verdict="fail"]')].map(td => td.dataset.date),
    tiles: Object.fromEntries([...document.querySelectorAll('.tile dd')].map(d => [d.id, d.innerText])),
    retention: [...document.querySelectorAll('#retention-table tr[data-action]')].map(r => r.dataset.action),
    window: document.querySelector('#window-latest')?.innerText,
    scripts: document.scripts.length,
  };
})()"""


def test_the_dashboard_shows_the_stores_figures(page: Page, site: tuple[Path, Shop]) -> None:
    folder, shop = site
    page.open(folder / "index.html")
    f: dict[str, Any] = page.evaluate(FIGURES)
    assert page.console_errors() == []
    assert f["title"] == "pgdrill: backups of shop" and f["scripts"] == 0
    assert [(d["id"], d["value"]) for d in f["size"]] == [(b.id, b.size) for b in shop.backups]
    assert [(d["id"], d["value"]) for d in f["rows"]] == [(b.id, b.total_rows) for b in shop.backups]
    assert [d["value"] for d in f["duration"]] == [b.duration_seconds for b in shop.backups]
    assert human_size(shop.backups[-1].size) in f["size"][-1]["title"]
    assert [(b["id"], b["value"], b["status"]) for b in f["rto"]] == [
        (r.id, r.rto.measured, r.rto.status) for r in shop.drills]
    assert f["chartBox"][0] > 400 and f["chartBox"][1] > 100  # drawn, at a readable size
    assert f["failFill"] == "rgb(207, 34, 46)"  # the style sheet applied: its CSP hash matched
    newest = shop.backups[-1]
    assert newest.id in f["firstBackupRow"] and human_size(newest.size) in f["firstBackupRow"]
    assert f["alerts"] == ["ScheduleGap", "DrillFailed"]
    assert f["failedDays"] == sorted({r.started_at.date().isoformat() for r in shop.drills if not r.passed})
    assert f["tiles"]["backup-count"] == str(len(shop.backups)) and f["tiles"]["alert-count"] == "2"
    assert f["retention"].count("keep") == 13 and "remove" in f["retention"]
    assert f["window"] and "a window of 7d" in f["window"]
    shot = page.screenshot(SHOTS / "dashboard.png")
    width, height = _png_size(shot)
    assert width == 1200 and height > 2000


def test_it_prints(page: Page, site: tuple[Path, Shop]) -> None:
    page.open(site[0] / "index.html", media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "none"
    assert page.console_errors() == []
    pdf = page.pdf()
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pdf.startswith(b"%PDF") and pages >= 3, pages  # the whole page, on A4 sheets
    (SHOTS / "dashboard.pdf").write_bytes(pdf)


def test_the_console_check_sees_a_page_that_loads_from_outside(page: Page, tmp_path: Path) -> None:
    """The check above can fail: the same policy on a page that loads an image from elsewhere."""
    from pgdrill.report.html import document, el

    bad = tmp_path / "bad.html"
    bad.write_text(document("bad", el("p", "x")).replace("<p>x</p>", '<img src="https://example.invalid/x.png">'))
    page.open(bad)
    errors = page.console_errors()
    assert any("Content Security Policy" in e and "example.invalid" in e for e in errors), errors


def test_a_fleet_index_links_every_database(page: Page, tmp_path: Path) -> None:
    """`pgdrill report --fleet --html` over pgdrill.yml's databases: a page per readable store, and the
    one that cannot be read listed with its reason."""
    stores = {name: LocalStore(tmp_path / "stores" / name) for name in ("shop", "billing")}
    write_shop(stores["shop"], days=30)
    write_shop(stores["billing"], days=12, database="billing")
    config = tmp_path / "pgdrill.yml"
    config.write_text(f"store_prefix: {tmp_path / 'stores'}\ndatabases:\n  shop: {{}}\n  billing: {{}}\n  lost: {{}}\n")
    r = pgdrill_process("--config", str(config), "report", "--fleet", "--html", str(tmp_path / "site"))
    assert r.code == 0, r.err
    assert "lost: store unreadable" in r.err
    page.open(tmp_path / "site" / "index.html")
    links = page.evaluate("[...document.querySelectorAll('#fleet-table a')].map(a => [a.innerText, a.href])")
    assert [name for name, _ in links] == ["shop", "billing"]
    lost = page.evaluate("document.querySelector('#fleet-table tr[data-database=\"lost\"]').innerText")
    assert "unreadable" in lost and "does not exist" in lost
    assert page.evaluate("document.querySelector('h1').innerText") == "Backups of 3 databases"
    assert page.console_errors() == []
    for name, href in links:
        page.open(Path(href.removeprefix("file://")))
        assert page.evaluate("document.querySelector('h1').innerText") == f"Backups of {name}"
        assert page.evaluate("document.querySelector('nav a').getAttribute('href')") == "index.html"
        assert page.console_errors() == []


class _Outline(HTMLParser):
    """Elements, nesting, ids and classes: what a screenshot shows the shape of."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        keep = " ".join(f"{k}={v}" for k, v in attrs if k in ("id", "class"))
        self.lines.append(f"{'  ' * self.depth}{tag} {keep}".rstrip())
        if tag not in ("meta", "br", "circle", "rect", "line", "polyline"):
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        self.depth -= 1


def structure(page: str) -> str:
    outline = _Outline()
    outline.feed(page)
    return "\n".join(outline.lines)


def readme_page(tmp_path: Path) -> Path:
    """The README's dashboard: the demo shop's store, drawn at a fixed instant under a fixed name."""
    store = LocalStore(tmp_path / "demo-store")
    write_shop(store, now=NOW)
    view = dataclasses.replace(read_view(store, POLICY, THRESHOLDS, NOW), store="s3://acme-backups/shop")
    write_site(tmp_path / "readme-site", render_site([("shop", view)]))
    return tmp_path / "readme-site" / "index.html"


def test_the_readme_screenshot_is_of_the_current_dashboard(page: Page, tmp_path: Path) -> None:
    index = readme_page(tmp_path)
    digest = hashlib.sha256(structure(index.read_text()).encode()).hexdigest()
    if os.environ.get("PGDRILL_UPDATE_SCREENSHOT") == "1":
        page.open(index, width=1200, height=1000)
        assert page.console_errors() == []
        page.screenshot(README_SHOT, full_page=False, clip_height=1500)
        README_SHOT_SOURCE.write_text(f"{digest}  sha256 of the structure of the page dashboard.png shows\n")
    assert README_SHOT.exists(), "docs/images/dashboard.png is missing: PGDRILL_UPDATE_SCREENSHOT=1 takes it"
    assert _png_size(README_SHOT) == (1200, 1500)
    recorded = README_SHOT_SOURCE.read_text().split()[0]
    assert recorded == digest, ("the dashboard changed since docs/images/dashboard.png was taken: retake it with "
                                "PGDRILL_UPDATE_SCREENSHOT=1 pytest tests/browser -k readme, and commit both files")
    assert "docs/images/dashboard.png" in (ROOT / "README.md").read_text()
