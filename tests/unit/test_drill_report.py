"""Drill report rendering against golden files (tests/golden/drill/).

After an intended change to a report, regenerate with PGDRILL_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgdrill.checks import CheckResult
from pgdrill.drill import DrillRecord, DrillResult, History, evaluate, failure_reasons
from pgdrill.report import drill as render

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "drill"
T0 = datetime(2026, 3, 2, 4, 17, 5, tzinfo=timezone.utc)
H = 3600.0


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PGDRILL_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {path} missing (run with PGDRILL_UPDATE_GOLDEN=1 once, then review it)"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def record(day: int, *, passed: bool = True, rto: float = 95.0, checks: list[CheckResult] | None = None,
           **kw: object) -> DrillRecord:
    started = T0 + timedelta(days=day)
    base: dict[str, object] = dict(
        id=f"{started:%Y%m%dT%H%M%S}000Z-{day:012x}", passed=passed, started_at=started,
        finished_at=started + timedelta(seconds=rto + 3), environment="production",
        backup_id=f"{started - timedelta(hours=1):%Y%m%dT%H%M%S}123Z-a1b2c3d4e5f6", backup_created_at=started
        - timedelta(hours=1, minutes=12), backup_size=48_318_382, backup_sha256="9f" * 32,
        backup_tags=["nightly"], source_database="shop", source_host="db.internal", source_port=5432,
        source_server_version="16.4", pg_dump_version="16.4", tables=14, rows=1_204_331,
        target="postgresql://postgres@localhost:5432/pgdrill_drill_20260302_041705_0a1b2c", target_kind="scratch",
        scratch_database="pgdrill_drill_20260302_041705_0a1b2c",
        cleanup="scratch database pgdrill_drill_20260302_041705_0a1b2c dropped with everything restored into it",
        target_server_version="16.4", pg_restore_version="16.4", restore_seconds=rto * 0.8,
        checks_seconds=rto * 0.2, rto=evaluate(rto, 15 * 60), rpo=evaluate(1.2 * H + 4.3 * H, 6 * H),
        backup_age_seconds=1.2 * H, worst_gap_seconds=4.3 * H, checks=checks or [], owners=["@acme/dba"],
        run_url="https://github.com/acme/shop/actions/runs/123456789/attempts/1", git_sha="0123456789abcdef0123",
    )
    base.update(kw)
    reasons = failure_reasons(checks or [], base["rto"], base["rpo"])  # type: ignore[arg-type]
    base.setdefault("failures", reasons)
    base["passed"] = not reasons if passed else False
    return DrillRecord.model_validate(base)


PASSING_CHECKS = [
    CheckResult("restore", "pass", "pg_restore finished with 0 errors", 72.1),
    CheckResult("schemas", "pass", "3 schemas present: app, audit, public", 0.01),
    CheckResult("extensions", "pass", "2 extensions present: citext, plpgsql", 0.01),
    CheckResult("row counts", "pass", "14 tables, 1204331 rows, all equal to the manifest", 9.8),
    CheckResult("sequences", "pass", "9 serial/identity sequences ahead of their columns", 0.4),
    CheckResult("migration head", "pass", "alembic head 7c2d1e9a4b10 in app.alembic_version, as in the backup",
                0.01),
    CheckResult("sql: admins exist", "pass", "at least 1 row(s), as expected", 0.02),
    CheckResult("smoke: pytest tests/smoke", "pass", "exit 0 in 12.1s", 12.1, (),
                "tests/smoke/test_login.py ..\ntests/smoke/test_orders.py ...\n5 passed in 11.90s"),
    CheckResult("cleanup", "pass",
                "scratch database pgdrill_drill_20260302_041705_0a1b2c dropped with everything restored into it", 0.1),
]


def passing() -> DrillResult:
    history = [record(d, rto=r, passed=r < 900) for d, r in ((-28, 310.0), (-21, 95.5), (-14, 1240.0), (-7, 101.0))]
    current = record(0, rto=95.0, checks=PASSING_CHECKS)
    return DrillResult(current, [*history, current], [], "drills/x.json")


def failing() -> DrillResult:
    checks = [
        CheckResult("restore", "fail", "pg_restore reported 2 error(s); first: pg_restore: error: could not execute "
                    "query: ERROR: extension \"postgis\" is not available", 80.0,
                    ("pg_restore: error: could not execute query: ERROR:  extension \"postgis\" is not available",
                     "pg_restore: error: could not execute query: ERROR:  type \"geometry\" does not exist")),
        CheckResult("row counts", "fail", "2 of 14 tables differ: app.orders: manifest 6000, restored 5990; "
                    "app.\"we|rd_<b>\": manifest 3, restored absent", 9.1,
                    ("app.orders: manifest 6000, restored 5990", "app.we|rd_<b>*name*: manifest 3, restored absent")),
        CheckResult("extensions", "warn", "versions differ: citext: source 1.6, restored 1.5", 0.01,
                    ("citext: source 1.6, restored 1.5",)),
        CheckResult("migration head", "skip", "no migration table found (alembic, prisma, flyway, django, knex, goose, "
                    "schema_migrations)", 0.01),
        CheckResult("sql: no orphan <items>", "fail", "expected no rows, got at least one: (42, 'x|y')", 0.2),
        CheckResult("smoke: ./bin/health | grep ok", "fail", "exit 1: FAILED tests/smoke/test_login.py", 30.5, (),
                    "```\n<script>alert(1)</script>\n| not | a | table |\nFAILED tests/smoke/test_login.py"),
        CheckResult("cleanup", "pass",
                    "scratch database pgdrill_drill_20260302_041705_0a1b2c dropped with everything restored into it",
                    0.1),
    ]
    rec = record(0, passed=False, rto=1100.0, checks=checks, environment="prod|eu", source_database="shop_*main*",
                 rpo=evaluate(27.5 * H, 26 * H), backup_age_seconds=2.5 * H, worst_gap_seconds=25 * H,
                 owners=["@acme/dba", "ana_ops"], backup_tags=[], run_url=None, git_sha=None)
    return DrillResult(rec, [rec], ["newer backup 20260302T031700000Z-ffffffffffff was skipped: archive is 10 bytes, "
                                    "manifest says 20"], "drills/y.json")


def test_passing_markdown_golden() -> None:
    check_golden("passed.md", render.drill_markdown(passing()))


def test_failing_markdown_golden() -> None:
    check_golden("failed.md", render.drill_markdown(failing()))


def test_text_goldens() -> None:
    check_golden("passed.txt", render.drill_text(passing()) + "\n")
    check_golden("failed.txt", render.drill_text(failing()) + "\n")


def test_markdown_starts_with_the_verdict() -> None:
    assert render.drill_markdown(passing()).startswith("## ✅ Restore drill passed — production\n")
    md = render.drill_markdown(failing())
    assert md.startswith("## ❌ Restore drill failed — prod\\|eu\n\n**Why:** check 'restore' failed;")


def test_markdown_escapes_database_strings() -> None:
    md = render.drill_markdown(failing())
    # table cells: a '|' from the database must not open a new column, '<' must not open a tag
    assert 'app."we\\|rd\\_\\<b\\>": manifest 3' in md
    assert "- app.we\\|rd\\_\\<b\\>\\*name\\*: manifest 3, restored absent" in md
    outside_fences = re.sub(r"````text\n.*?\n````", "", md, flags=re.S)
    assert "<script>" not in outside_fences and "| not | a | table |" not in outside_fences
    assert "<summary>sql: no orphan &lt;items&gt;" not in md  # no items → no details block for it
    assert "<summary>smoke: ./bin/health | grep ok: output (last 4 lines)</summary>" in md
    # the output's own ``` cannot close the fence: a longer fence is used
    assert "````text\n```\n<script>alert(1)</script>" in md
    assert "**shop\\_\\*main\\*" not in md  # failing lead does not repeat the database; backup table escapes it
    assert "| Source | shop\\_\\*main\\* on db.internal:5432" in md


def test_trend_table_newest_first_and_mermaid_chart() -> None:
    md = render.drill_markdown(passing())
    trend = md.split("### Trend (last 5 drills)", 1)[1]
    dates = re.findall(r"^\| (2026-\d\d-\d\d) ", trend, re.M)
    assert dates == sorted(dates, reverse=True) and len(dates) == 5
    chart = trend.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert chart.startswith("xychart-beta\n")
    assert 'x-axis ["02-02 04:17", "02-09 04:17", "02-16 04:17", "02-23 04:17", "03-02 04:17"]' in chart
    assert "bar [5.17, 1.59, 20.67, 1.68, 1.58]" in chart  # minutes: one drill took 20m 40s
    assert "line [15, 15, 15, 15, 15]" in chart


def test_single_drill_has_no_chart() -> None:
    assert "```mermaid" not in render.drill_markdown(failing())


def test_json_is_the_record_plus_trend_and_serialises() -> None:
    doc = render.drill_json(passing())
    text = json.dumps(doc)
    assert doc["passed"] is True and doc["rto"]["status"] == "pass" and doc["rpo"]["target"] == 6 * H
    assert [t["rto_seconds"] for t in doc["trend"]] == [310.0, 95.5, 1240.0, 101.0, 95.0]
    assert doc["checks"][7]["output"].endswith("5 passed in 11.90s")
    assert doc["record_key"] == "drills/x.json"
    back = {k: v for k, v in json.loads(text).items() if k not in ("trend", "warnings", "record_key")}
    assert DrillRecord.model_validate(back) == passing().record


def test_history_renderers() -> None:
    h = History([passing().record, failing().record], [("drills/bad.json", "not valid JSON")])
    text = render.drills_text(h)
    lines = text.splitlines()
    assert lines[0].startswith("ID") and len(lines) == 3
    assert "FAILED" in lines[1] and "7 (4 failed)" in lines[1]
    assert render.drills_warnings(h) == ["skipped drill record drills/bad.json: not valid JSON"]
    assert [d["passed"] for d in render.drills_json(h)["drills"]] == [True, False]
    assert render.drills_text(History()) == "no drills recorded"


@pytest.mark.parametrize(("rto", "target", "expect_line"), [(30.0, 900.0, False), (400.0, 900.0, True)])
def test_chart_hides_a_target_that_would_flatten_the_bars(rto: float, target: float, expect_line: bool) -> None:
    rows = [record(d, rto=rto) for d in range(3)]
    chart = render.rto_chart(rows, target)
    assert ("line [" in chart) is expect_line


def test_outcome_for_the_publishers() -> None:
    ok = render.drill_outcome(passing(), "drill-report.md")
    assert ok.job == "drill" and ok.passed and ok.environment == "production"
    assert ok.title == "drill of 20260302T031705123Z-a1b2c3d4e5f6 passed in 1m 35s"
    assert dict(ok.outputs) == {"passed": "true", "rto-seconds": "95", "rpo-seconds": "19800",
                                "backup-id": "20260302T031705123Z-a1b2c3d4e5f6",
                                "drill-id": "20260302T041705000Z-000000000000", "report-path": "drill-report.md"}
    assert ok.markdown == render.drill_markdown(passing()) and ok.failures == ()
    assert ok.details["RTO"] == "1m 35s (target 15m)" and ok.details["Owners"] == "@acme/dba"
    saved = passing()
    saved.saved_sha256 = "5e" * 32
    assert render.drill_outcome(saved).outputs["record-sha256"] == "5e" * 32  # for an artifact attestation
    bad = render.drill_outcome(failing())
    assert not bad.passed and bad.outputs["passed"] == "false" and "report-path" not in bad.outputs
    assert bad.failures[0].startswith("restore: pg_restore reported 2 error(s)")
    assert bad.failures[-2:] == ("RTO 18m 20s over target 15m", "RPO 27h 30m over target 26h")
    assert len(bad.failures) == 6
    assert bad.warnings[0] == "extensions: versions differ: citext: source 1.6, restored 1.5"
    assert bad.warnings[1].startswith("newer backup 20260302T031700000Z-ffffffffffff was skipped")
