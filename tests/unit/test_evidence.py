"""The evidence report (pgdrill report --period): periods, what a period holds (drills, gaps from
monitor's schedule evaluation, failed attempts, retained backups), golden Markdown, HTML and JSON
with the sign-off block, escaping, and the command line.

After an intended change, regenerate with PGDRILL_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from pgdrill import __version__
from pgdrill.drill import record_key
from pgdrill.errors import ConfigError
from pgdrill.evidence import Evidence, collect, parse_period
from pgdrill.overview import StoreView, read_view
from pgdrill.report import evidence as render
from pgdrill.store.local import LocalStore

from support.dashboard import NOW, POLICY, THRESHOLDS, Shop, write_shop
from support.runner import pgdrill

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "evidence"
UTC = timezone.utc


def check_golden(name: str, text: str) -> None:
    text = text.replace(__version__, "VERSION")
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


def view_of(store: LocalStore, now: datetime = NOW) -> StoreView:
    return dataclasses.replace(read_view(store, POLICY, THRESHOLDS, now), store="s3://acme-backups/shop")


def evidence(store: LocalStore, period: str, now: datetime = NOW) -> Evidence:
    return collect("shop", view_of(store, now), parse_period(period))


# -- periods -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label", "start", "end"), [
    ("2026-11", "2026-11", datetime(2026, 11, 1), datetime(2026, 12, 1)),
    ("2026-12", "2026-12", datetime(2026, 12, 1), datetime(2027, 1, 1)),
    ("2026-Q4", "2026-Q4", datetime(2026, 10, 1), datetime(2027, 1, 1)),
    (" 2027-q1 ", "2027-Q1", datetime(2027, 1, 1), datetime(2027, 4, 1)),
])
def test_periods(text: str, label: str, start: datetime, end: datetime) -> None:
    p = parse_period(text)
    assert (p.label, p.start, p.end) == (label, start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))
    assert p.holds(p.start) and not p.holds(p.end) and p.holds(p.end - timedelta(microseconds=1))


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-Q5", "2026", "Q4-2026", "nov", "", "2026-11-01"])
def test_bad_periods_say_what_to_write(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a month or a quarter") as exc:
        parse_period(text)
    assert exc.value.hint == "use e.g. 2026-11 or 2026-Q4"


# -- what a period holds ---------------------------------------------------------------------------
def test_november_holds_its_drills_gaps_and_failed_attempt(shop_store: tuple[LocalStore, Shop]) -> None:
    store, shop = shop_store
    ev = evidence(store, "2026-11")
    assert [d.record.id for d in ev.drills] == [r.id for r in shop.drills if r.started_at.month == 11]
    assert [d.sha256 for d in ev.drills] == [hashlib.sha256(shop.record_bytes[d.record.id]).hexdigest()
                                             for d in ev.drills]
    assert ev.backups == [b for b in shop.backups if b.created_at.month == 11]
    # monitor's schedule evaluation: the nights of the 24th and 25th were missed
    [gap] = ev.gaps
    assert (gap.start, gap.end, gap.missed) == (datetime(2026, 11, 23, 3, 17, tzinfo=UTC),
                                               datetime(2026, 11, 26, 3, 17, tzinfo=UTC), 2)
    assert [a.id for a in ev.failed_attempts] == shop.attempts
    assert ev.complete and len(ev.retained) == sum(1 for d in view_of(store).retention if d.keep)
    assert [(d.record.id, name) for d, name in ev.targets_missed] == [
        (r.id, "RPO") for r in shop.drills if r.started_at.month == 11 and r.rpo.status == "fail"]


def test_september_has_no_gap_and_a_gap_running_past_the_period_end_is_cut_there(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    write_shop(store)
    assert evidence(store, "2026-09").gaps == []
    # backups stop on 2026-10-20: October ends on an open gap, reported up to the period's end
    for key in [o.key for o in store.list("backups/") if o.key[8:16] > "20261020"]:
        store.delete(key)
    ev = evidence(store, "2026-10")
    [gap] = ev.gaps
    assert gap.open and gap.end == datetime(2026, 11, 1, tzinfo=UTC) and gap.missed == 11
    assert "the end of the period" in render.render_markdown([ev])


def test_the_current_period_is_in_progress_and_a_future_one_is_refused(shop_store: tuple[LocalStore, Shop]) -> None:
    store, _ = shop_store
    ev = evidence(store, "2026-12")
    assert not ev.complete and "in progress: up to 2026-12-01 09:00 UTC" in render.render_markdown([ev])
    with pytest.raises(ConfigError, match="has not started yet"):
        evidence(store, "2027-01")


# -- golden documents -------------------------------------------------------------------------------
@pytest.mark.parametrize("period", ["2026-11", "2026-Q4"])
def test_golden_evidence(shop_store: tuple[LocalStore, Shop], period: str) -> None:
    ev = evidence(shop_store[0], period)
    check_golden(f"shop-{period}.md", render.render_markdown([ev]))
    check_golden(f"shop-{period}.html", render.render_html([ev]))
    check_golden(f"shop-{period}.json", json.dumps(render.render_json([ev]), indent=2, ensure_ascii=False) + "\n")


def test_the_report_carries_what_an_auditor_asks_for(shop_store: tuple[LocalStore, Shop]) -> None:
    store, _ = shop_store
    ev = evidence(store, "2026-11")
    md = render.render_markdown([ev])
    for d in ev.drills:
        r = d.record
        assert r.id in md and r.backup_id in md and d.sha256 in md and r.run_url and r.run_url in md
        if r.backup_sha256:
            assert r.backup_sha256 in md
    assert "@acme/dba, oncall@acme.example" in md and "target 15m: met" in md and "target 26h: MISSED" in md
    assert "- [ ] **Point-in-time recovery tested** — drill " in md and "result PASS" in md
    assert "- [ ] **Disaster recovery (a new database) tested** — provider: \\_\\_\\_\\_\\_\\_\\_" in md
    assert md.rstrip().endswith("| Responsible | Date | Sign-off |\n|---|---|---|\n|   |   |   |".rstrip())
    doc = render.render_json([ev])
    assert doc["sign_off"]["responsible"] is None and doc["sign_off"]["checklist"][0]["done"] is None
    assert [d["record_sha256"] for d in doc["databases"][0]["drills"]] == [d.sha256 for d in ev.drills]
    [gap] = doc["databases"][0]["schedule"]["gaps"]
    assert gap["missed_runs"] == 2


def test_several_databases_share_one_sign_off(shop_store: tuple[LocalStore, Shop], tmp_path: Path) -> None:
    other = LocalStore(tmp_path / "billing")
    write_shop(other, days=40, database="billing")
    items = [evidence(shop_store[0], "2026-11"),
             collect("billing", read_view(other, POLICY, THRESHOLDS, NOW), parse_period("2026-11"))]
    md = render.render_markdown(items)
    assert md.startswith("# Backup and restore evidence: 2 databases, 2026-11")
    assert "## shop" in md and "## billing" in md and md.count("## Sign-off") == 1
    assert "**shop: Backup restoration tested**" in md and "**billing: Backup restoration tested**" in md
    page = render.render_html(items)
    assert page.count('class="database"') == 2 and page.count('id="sign-off"') == 1


def test_everything_from_the_store_is_escaped(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    shop = write_shop(store, database="<b>shop</b>", detail_prefix="<img src=x onerror=alert(1)>|",
                      owners=["[x](javascript:alert(1))"])
    last = shop.drills[-1]
    store.put_bytes(record_key(last.id), last.model_copy(update={"run_url": "javascript:alert(1)"}).to_json().encode())
    ev = collect("<b>shop</b>", read_view(store, POLICY, THRESHOLDS, NOW), parse_period("2026-11"))
    page = render.render_html([ev])
    assert "<img" not in page and "<b>" not in page and 'href="javascript' not in page
    assert html.escape("<img src=x onerror=alert(1)>|") in page
    md = render.render_markdown([ev])
    assert not re.search(r"(?<!\\)<(img|b)", md) and "\\<b\\>shop\\</b\\>" in md
    assert not re.search(r"(?<!\\)\]\(javascript", md)  # escaped brackets: not a link
    assert "\\[x\\](javascript:alert(1))" in md


# -- the command line -------------------------------------------------------------------------------
def test_cli_writes_the_evidence_and_the_dashboard(capsys: pytest.CaptureFixture[str],
                                                    shop_store: tuple[LocalStore, Shop], tmp_path: Path) -> None:
    store, shop = shop_store
    cfg = tmp_path / "pgdrill.yml"
    cfg.write_text(yaml.safe_dump({"retention": {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12,
                                                 "keep_tags": {"pre-deploy": "30d"}},
                                   "monitor": {"schedule": "24h"}}))
    r = pgdrill(capsys, "report", "--store", str(store.root), "--config", str(cfg), "--period", "2026-11",
                "--format", "json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["period"]["label"] == "2026-11"
    assert doc["databases"][0]["retention"]["policy"] == POLICY.describe()
    assert doc["databases"][0]["schedule"]["inferred"] is False  # monitor.schedule of pgdrill.yml
    out = tmp_path / "evidence.md"
    r = pgdrill(capsys, "report", "--store", str(store.root), "--period", "2026-Q4", "--output", str(out),
                "--html", str(tmp_path / "site"))
    assert r.code == 0 and r.out == "", r.err
    assert out.read_text().startswith("# Backup and restore evidence: shop, 2026-Q4")
    drills_table = (tmp_path / "site" / "index.html").read_text().split('id="drills-table"')[1].split("</table>")[0]
    assert drills_table.count("<tr data-drill=") == len(shop.drills)
    assert "dashboard written" in r.err and "evidence for 2026-Q4 written" in r.err


@pytest.mark.parametrize(("args", "message"), [
    (("--html", "site", "--format", "prometheus"), "--format applies to the evidence report"),
    (("--period", "2026-11", "--format", "prometheus"), "--format prometheus is not a format of the evidence report"),
    (("--period", "2026-13"), "--period '2026-13' is not a month or a quarter"),
    (("--html", "site", "--format", "json"), "--format applies to the evidence report"),
    (("--html", "site", "--output", "x.md"), "--output applies to the evidence report"),
    (("--period", "2026-11", "--format", "pdf"), "Invalid value for '--format'"),
])
def test_cli_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...],
                          message: str) -> None:
    r = pgdrill(capsys, "report", "--store", str(tmp_path / "store"), *args)
    assert r.code == 2 and message in r.err and r.out == "", r.err
    assert not (tmp_path / "site").exists()


def test_cli_on_an_empty_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # a store that does not exist is an error, as for every command but backup
    r = pgdrill(capsys, "report", "--store", str(tmp_path / "empty"), "--html", str(tmp_path / "site"))
    assert r.code == 2 and "does not exist" in r.err
    (tmp_path / "empty").mkdir()
    r = pgdrill(capsys, "report", "--store", str(tmp_path / "empty"), "--html", str(tmp_path / "site"))
    assert r.code == 0, r.err
    page = (tmp_path / "site" / "index.html").read_text()
    assert "The store holds no complete backup." in page and '<tr data-alert="NoBackup">' in page
