"""Outcome: the neutral result every job hands to the publishers."""

from __future__ import annotations

import pytest

from pgdrill.errors import SourceError
from pgdrill.report.outcome import Outcome


def test_lists_and_mappings_are_copied_and_normalised() -> None:
    failures = ["row counts:\n orders 10 != 12", "  ", "migration head"]
    outputs = {"backup-id": "b1", "rto-seconds": 42}
    outcome = Outcome(
        job="drill", passed=0, title="drill  failed\n(2 checks)", failures=failures,  # type: ignore[arg-type]
        outputs=outputs, environment="  ", details={"RTO": "4m\n(target 30m)"},
    )
    failures.append("later")
    outputs["later"] = "x"
    assert outcome.passed is False
    assert outcome.title == "drill failed (2 checks)"
    assert outcome.failures == ("row counts: orders 10 != 12", "migration head")
    assert outcome.outputs == {"backup-id": "b1", "rto-seconds": "42"}
    assert outcome.environment is None
    assert outcome.details == {"RTO": "4m (target 30m)"}
    assert outcome.verdict == "failed"


@pytest.mark.parametrize("job", ["", "Drill", "drill job", "drill:prod", "x" * 41])
def test_job_kind_must_be_plain(job: str) -> None:
    with pytest.raises(ValueError, match="must be a lowercase kind"):
        Outcome(job=job, passed=True, title="t")


@pytest.mark.parametrize("key", ["backup_id", "BackupId", "backup id", "-x", "x-", "a--b", "a=b"])
def test_output_names_must_be_kebab_case(key: str) -> None:
    with pytest.raises(ValueError, match="must be kebab-case"):
        Outcome(job="backup", passed=True, title="t", outputs={key: "v"})


def test_from_error_keeps_the_hint_in_one_line() -> None:
    err = SourceError("could not connect to db.internal:5432", "check DATABASE_URL")
    outcome = Outcome.from_error("backup", err, environment="prod")
    assert not outcome.passed
    assert outcome.failures == ("could not connect to db.internal:5432 — check DATABASE_URL",)
    assert outcome.title.startswith("backup failed: could not connect")
    assert outcome.outputs == {"passed": "false"}
    assert "could not connect" in outcome.markdown


def test_dict_round_trip_and_unknown_fields() -> None:
    outcome = Outcome(
        job="monitor", passed=False, title="stale", markdown="# m", environment="prod",
        outputs={"passed": "false"}, failures=["backup age 30h > 26h"], warnings=["size -60%"],
        backup_id="b1", run_url="https://github.com/a/b/actions/runs/1", details={"RPO": "30h (target 26h)"},
    )
    assert Outcome.from_dict(outcome.to_dict()) == outcome
    with pytest.raises(ValueError, match="unknown field 'verdict'"):
        Outcome.from_dict({**outcome.to_dict(), "verdict": "x"})
    with pytest.raises(ValueError, match="missing 'passed'"):
        Outcome.from_dict({"job": "drill", "title": "t"})
