"""`pgdrill demo` runs a drill after the backup and prints its report."""

from __future__ import annotations

import re
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


def test_demo_ends_with_what_to_try_next(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import shlex

    import yaml

    from pgdrill import config
    from pgdrill.report.demo import STARTER_CONFIG

    store = tmp_path / "demo-store"
    r = pgdrill(capsys, "demo", "--store", str(store))
    assert r.code == 0, r.err
    # each check's result is printed once: in the report, not again among the progress lines
    assert "PASS  row counts" in r.out and "row counts" in r.err and "pass —" not in r.err
    assert not any(line in r.err for line in r.out.splitlines() if line.strip().startswith("PASS"))
    # sizes in one style
    assert " bytes" not in r.out and re.search(r"backup       \S+  [\d.]+ KiB  sha256", r.out)
    tail = r.out.split("try next, on the demo's store", 1)[1]
    commands = [ln.strip() for ln in tail.splitlines() if ln.strip().startswith("pgdrill ")]
    assert len(commands) == 5
    for command in commands:  # every suggestion works on the demo's store as printed
        ran = pgdrill(capsys, *shlex.split(command)[1:])
        assert ran.code == 0, (command, ran.err)
    assert "  store: s3://your-bucket/prod" in tail
    assert config.problems(tmp_path / "pgdrill.yml", yaml.safe_load(STARTER_CONFIG)) == []
