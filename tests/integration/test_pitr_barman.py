"""Point-in-time drills of real barman-cloud backups in the S3-compatible test server (moto): a
PostgreSQL cluster archiving with ``barman-cloud-wal-archive``, a ``barman-cloud-backup``, rows
inserted at known instants with the WAL switched between them (tests/support/pitr.py).

The copy is restored with ``barman-cloud-restore`` and recovered with ``barman-cloud-wal-restore`` as
its restore_command. Its restored configuration still carries the live ``barman-cloud-wal-archive``:
the tests check that the bucket is left exactly as it was (the copy's new timeline is never pushed).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pgdrill.checks import ChecksConfig
from pgdrill.drill import DrillRequest, DrillResult, run_drill
from pgdrill.errors import ConfigError, StoreError
from pgdrill.sources.barman import BarmanCloudSource

from support.pitr import BarmanBucket, assert_no_secrets
from support.runner import pgdrill
from support.s3 import S3Server

pytestmark = pytest.mark.slow


def rows_are(ids: list[int]) -> ChecksConfig:
    listed = ",".join(str(i) for i in ids) or "none"
    return ChecksConfig.model_validate({"sql": [
        {"name": "rows present", "sql": "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), 'none') "
                                        "FROM app.items", "expect": listed}]})


def drill(bucket: BarmanBucket, root: Path, at: object, checks: ChecksConfig | None = None,
          url: str | None = None) -> DrillResult:
    source = BarmanCloudSource(root=root, url=url or bucket.url_prefix, server_name=bucket.server, at=at)  # type: ignore[arg-type]
    return run_drill(source, DrillRequest(checks=checks or ChecksConfig()))


def check(result: DrillResult, name: str) -> tuple[str, str]:
    c = next(c for c in result.record.checks if c.name == name)
    return c.status, c.detail


def test_a_drill_at_an_instant_holds_the_rows_before_it_and_the_bucket_is_untouched(
        barman_bucket: BarmanBucket, s3_env: S3Server, copies_root: Path) -> None:
    before = barman_bucket.objects()
    result = drill(barman_bucket, copies_root, barman_bucket.instants["first"], rows_are([1]))
    assert result.passed, result.record.failures
    r = result.record
    assert r.source_kind == "barman" and r.restore_tool and r.restore_tool.startswith("barman-cloud-restore")
    assert check(result, "point-in-time")[0] == "pass"
    assert r.fetch_seconds > 0 and r.replay_seconds > 0
    # barman-cloud-wal-archive in the restored config would have pushed timeline 2 here
    after = barman_bucket.objects()
    assert after == before, set(after) ^ set(before)
    assert not any(k.endswith(".history") for k in after)
    assert list(copies_root.iterdir()) == []


def test_a_drill_at_latest_holds_every_row(barman_bucket: BarmanBucket, s3_env: S3Server, copies_root: Path) -> None:
    result = drill(barman_bucket, copies_root, None, rows_are([1, 2, 3]))
    assert result.passed, result.record.failures
    assert result.record.rpo_detail and barman_bucket.newest_segment in result.record.rpo_detail
    assert list(copies_root.iterdir()) == []


def test_a_target_before_the_backup_is_refused_not_silently_recovered(
        barman_bucket: BarmanBucket, s3_env: S3Server, copies_root: Path) -> None:
    # PostgreSQL would stop at the first commit after the backup and look successful.
    source = BarmanCloudSource(root=copies_root, url=barman_bucket.url_prefix, server_name=barman_bucket.server,
                               at=barman_bucket.backup_end - timedelta(minutes=20))
    with pytest.raises(ConfigError) as info:
        run_drill(source, DrillRequest())
    assert "before the oldest base backup" in info.value.message
    assert list(copies_root.iterdir()) == []


def test_a_missing_wal_segment_fails_the_drill(barman_bucket: BarmanBucket, s3_env: S3Server,
                                               copies_root: Path) -> None:
    broken = barman_bucket.broken_copy(missing_row=2)
    result = drill(barman_bucket, copies_root, barman_bucket.instants["second"], rows_are([1, 2]), url=broken)
    assert not result.passed
    status, detail = check(result, "recovery")
    assert status == "fail" and "recovery target" in detail, detail
    assert list(copies_root.iterdir()) == []


def test_cli_drill_and_errors(barman_bucket: BarmanBucket, s3_env: S3Server, copies_root: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    at = barman_bucket.instants["second"].isoformat()  # an offset, not Z: both are accepted
    run = pgdrill(capsys, "drill", "--barman-cloud-url", barman_bucket.url_prefix, "--barman-server-name",
                  barman_bucket.server, "--at", at, "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["passed"] and doc["source_kind"] == "barman"
    assert_no_secrets(run.text, s3_env.env()["AWS_SECRET_ACCESS_KEY"])
    run = pgdrill(capsys, "drill", "--barman-cloud-url", barman_bucket.url_prefix, "--barman-server-name", "nope")
    assert run.code == 2 and "holds no complete backup" in run.err
    run = pgdrill(capsys, "drill", "--barman-cloud-url", "s3://no-such-bucket-pgdrill/x", "--barman-server-name",
                  barman_bucket.server)
    assert run.code == 3 and "barman-cloud-backup-list" in run.err
    run = pgdrill(capsys, "drill", "--barman-cloud-url", "/tmp/not-s3", "--barman-server-name", "x")
    assert run.code == 2 and "s3://bucket/path" in run.err
    assert list(copies_root.iterdir()) == []


def test_an_unreachable_bucket_is_infrastructure(barman_bucket: BarmanBucket, copies_root: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    source = BarmanCloudSource(root=copies_root, url=barman_bucket.url_prefix, server_name=barman_bucket.server)
    with pytest.raises(StoreError):
        source.prepare(barman_bucket.backup_end)
    assert list(copies_root.iterdir()) == []
