"""`pgdrill demo` runs a drill after the backup and prints its report."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.runner import pgdrill


def test_demo_runs_a_drill_and_records_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = tmp_path / "demo-store"
    r = pgdrill(capsys, "demo", "--store", str(store))
    assert r.code == 0, r.err
    assert "drill " in r.out and ": PASSED (demo)" in r.out
    assert "PASS  smoke: app signs up a customer" in r.out
    assert "PASS  cleanup" in r.out and "dropped with everything restored into it" in r.out
    assert "RTO " in r.out and "target 15m: met" in r.out

    r = pgdrill(capsys, "demo", "--store", str(store), "--json")
    assert r.code == 0, r.err
    drill = r.json()["drill"]
    assert drill["passed"] is True and drill["environment"] == "demo"
    assert {c["name"]: c["status"] for c in drill["checks"]}["migration head"] == "pass"
    assert "signed up customer 2001 in pgdrill_drill_" in {c["name"]: c for c in drill["checks"]}[
        "smoke: app signs up a customer"]["output"]
    assert [t["passed"] for t in drill["trend"]] == [True, True]  # the first demo's drill is in the trend

    r = pgdrill(capsys, "drills", "--store", str(store), "--json")
    assert r.code == 0 and len(r.json()["drills"]) == 2
