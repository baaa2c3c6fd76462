"""Cases 1 and 8: the S3 endpoint dies mid-multipart-upload; S3 answers 5xx/SlowDown for a while,
for good, or refuses outright; GitHub answers 5xx while a failure is being reported.

The S3 faults come from a proxy process in front of the test S3 server (tests/faults/s3proxy.py):
killing it with SIGKILL is an endpoint crashing mid-upload (connections reset, then refused), while
the server behind it keeps the store's data, as a real S3 or MinIO keeps its disks."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgdrill.prune import PruneRequest, run_prune
from pgdrill.retention import Policy
from pgdrill.store.s3 import DEFAULT_TOTAL_ATTEMPTS

from .conftest import Case
from .s3proxy import s3_proxy
from support.github_server import FakeGitHub
from support.s3 import S3Server

ARCHIVE_PUT = {"method": "PUT", "path": r"/backups/[^/]+/archive\.pgdump$"}


def _archive_puts(requests: list[dict[str, object]]) -> list[object]:
    return [r["status"] for r in requests if r["method"] == "PUT" and str(r["path"]).endswith("/archive.pgdump")]


def test_s3_endpoint_killed_mid_multipart_upload(big_s3_case: Case, s3_server: S3Server, tmp_path: Path) -> None:
    case = big_s3_case
    # parts after the first crawl, so the endpoint surely dies with the upload half done
    slow = [{"method": "PUT", "query": r"partNumber=[2-9]", "delay": 30, "times": -1}]
    with s3_proxy(s3_server.port, tmp_path / "proxy.log", slow) as proxy:
        # uncompressed: ~23 MB, three 8 MiB parts; two attempts per request keep the dead-endpoint
        # retries short (the default count is checked below)
        proc = case.spawn("backup", "--database-url", case.source.url.conninfo(), "--store", case.store_url,
                          "--compress", "0", env={"AWS_ENDPOINT_URL": proxy.endpoint, "AWS_MAX_ATTEMPTS": "2"})
        case.wait_for("the first part to be stored", lambda: any(
            r["method"] == "PUT" and "partNumber" in str(r["query"]) for r in proxy.requests()), proc=proc)
        proxy.kill()
        r = case.finish(proc, timeout=120)
    case.assert_failed_cleanly(r, 3, "cannot reach the S3 endpoint", "check AWS_ENDPOINT_URL and the network")
    # The endpoint was gone for the abort too: the multipart upload is left over, listed by no one...
    left = list(case.store.incomplete())
    assert [u.key for u in left] in ([], [left[0].key]) and all(u.key.endswith("archive.pgdump") for u in left)
    # ...a prune now keeps it (it moved seconds ago: it could be a running backup), the next day's removes it.
    policy = Policy.model_validate({"keep_within": "3d"})
    now = datetime.now(timezone.utc)
    assert run_prune(PruneRequest(case.store, policy, now=now)).deleted == []
    assert len(list(case.store.incomplete())) == len(left)
    assert run_prune(PruneRequest(case.store, policy, now=now + timedelta(hours=25))).deleted == []
    assert list(case.store.incomplete()) == []
    case.assert_previous_intact()


def test_transient_slowdown_is_retried(s3_case: Case, s3_server: S3Server, tmp_path: Path) -> None:
    case = s3_case
    rules = [{**ARCHIVE_PUT, "status": 503, "code": "SlowDown", "times": 2}]
    with s3_proxy(s3_server.port, tmp_path / "proxy.log", rules) as proxy:
        r = case.run_process("--quiet", "backup", "--database-url", case.source.url.conninfo(),
                             "--store", case.store_url, env={"AWS_ENDPOINT_URL": proxy.endpoint})
        assert r.code == 0, r.err
        puts = [q for q in proxy.requests() if q["method"] == "PUT" and str(q["path"]).endswith("/archive.pgdump")]
        assert [q["status"] for q in puts] == [503, 503, 200]
        # boto3 numbers its tries: pgdrill's default budget is the first try and six retries
        assert [q["headers"]["amz-sdk-request"].split("; ")[-2:] for q in puts] == [
            [f"attempt={n}", f"max={DEFAULT_TOTAL_ATTEMPTS}"] for n in (1, 2, 3)]
    case.assert_previous_intact(extra=1)


@pytest.mark.parametrize(
    ("status", "code", "attempts", "fragments"),
    [
        (503, "SlowDown", 3, ("SlowDown", "retried with backoff and still failing")),
        (403, "AccessDenied", 1, ("access denied", "check the AWS credentials and the bucket policy")),
    ],
)
def test_permanent_s3_error_is_not_retried_forever(s3_case: Case, s3_server: S3Server, tmp_path: Path,
                                                   status: int, code: str, attempts: int,
                                                   fragments: tuple[str, ...]) -> None:
    case = s3_case
    rules = [{**ARCHIVE_PUT, "status": status, "code": code, "times": -1}]
    with s3_proxy(s3_server.port, tmp_path / "proxy.log", rules) as proxy:
        t0 = time.monotonic()
        # AWS_MAX_ATTEMPTS is honoured (3 tries, not the default 7, keeps this case short)
        r = case.run_process("backup", "--database-url", case.source.url.conninfo(), "--store", case.store_url,
                             env={"AWS_ENDPOINT_URL": proxy.endpoint, "AWS_MAX_ATTEMPTS": "3"})
        took = time.monotonic() - t0
        assert _archive_puts(proxy.requests()) == [status] * attempts
    # a permanent error ends the backup: 4xx at once, 5xx after the retry budget (backoff <= 1 s + 2 s here)
    assert took < 30, took
    case.assert_failed_cleanly(r, 3, *fragments)
    case.assert_prune_refuses()


@pytest.mark.parametrize("github_down", ["for a moment", "for good"])
def test_github_5xx_while_reporting_a_failed_backup(local_case: Case, github_server: FakeGitHub,
                                                    monkeypatch: pytest.MonkeyPatch, github_down: str) -> None:
    """The backup's own failure stays the one error line and the exit code; GitHub trouble is a warning."""
    case = local_case
    env = github_server.env()
    case.scanner.secrets["GitHub token (stand-in)"] = env["GITHUB_TOKEN"]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    if github_down == "for a moment":
        # reads are retried; a POST that got a 502 is not blindly repeated (it may have opened the issue)
        github_server.fail("GET", r"/repos/acme/shop/issues$", 502, "Server Error", times=2)
    else:
        github_server.fail("POST", r"/repos/acme/shop/issues$", 502, "Server Error", times=1000)
    url = f"postgresql://postgres:{case.secrets.db_password}@127.0.0.1:1/app"
    r = case.run("backup", "--database-url", url, "--store", case.store_url)
    case.assert_failed_cleanly(r, 3, "cannot connect to source database", restore=False)
    posts = github_server.calls("POST", r"/repos/acme/shop/issues$")
    if github_down == "for a moment":
        assert [g.status for g in github_server.calls("GET", r"/repos/acme/shop/issues$")][:3] == [502, 502, 200]
        assert [p.status for p in posts] == [201]
        assert len(github_server.issues("acme/shop")) == 1
    else:
        assert 1 < len(posts) < 10 and all(p.status == 502 for p in posts)
        assert any("warning" in ln and "GitHub" in ln for ln in r.err.splitlines()), r.err
    for secret in (case.secrets.db_password, env["GITHUB_TOKEN"]):
        assert secret not in github_server.sent_text()
    case.assert_prune_refuses()


#: an S3-compatible server without multipart listing (some MinIO gateways, older Ceph, small appliances)
NO_MULTIPART_LISTING = [
    {"method": "GET", "query": r"(^|&)uploads(=|&|$)", "status": 501, "code": "NotImplemented", "times": -1},
    {"method": "DELETE", "query": r"uploadId=", "status": 405, "code": "MethodNotAllowed", "times": -1},
]


def test_prune_applies_retention_on_a_server_without_multipart_listing(s3_case: Case, s3_server: S3Server,
                                                                      tmp_path: Path) -> None:
    case = s3_case
    with s3_proxy(s3_server.port, tmp_path / "proxy.log", NO_MULTIPART_LISTING) as proxy:
        r = case.run_process("prune", "--store", case.store_url, "--keep-last", "1",
                             env={"AWS_ENDPOINT_URL": proxy.endpoint})
        listed = [q for q in proxy.requests() if q["method"] == "GET" and "uploads" in str(q["query"])]
    assert r.code == 0, r.err
    assert listed and all(q["status"] == 501 for q in listed)
    warnings = [ln for ln in r.err.splitlines() if ln.startswith("pgdrill: warning:")]
    assert any("cannot list unfinished uploads (ListMultipartUploads answered 501 NotImplemented)" in w
               and "were not swept" in w for w in warnings), r.err
    assert "1 kept, 1 removed" in r.out
    from pgdrill import catalog

    assert [b.id for b in catalog.load(case.store).backups] == [case.previous.id]


def test_a_failed_abort_is_reported_in_the_backups_error(big_s3_case: Case, s3_server: S3Server,
                                                         tmp_path: Path) -> None:
    case = big_s3_case
    rules = [*NO_MULTIPART_LISTING,
             {"method": "PUT", "query": r"partNumber=2", "status": 400, "code": "InvalidArgument", "times": -1}]
    with s3_proxy(s3_server.port, tmp_path / "proxy.log", rules) as proxy:
        r = case.run_process("backup", "--database-url", case.source.url.conninfo(), "--store", case.store_url,
                             "--compress", "0", env={"AWS_ENDPOINT_URL": proxy.endpoint})
        aborts = [q for q in proxy.requests() if q["method"] == "DELETE" and "uploadId" in str(q["query"])]
    line = case.assert_failed_cleanly(r, 3, "cannot upload", "InvalidArgument", "could not be aborted",
                                      "AbortMultipartUpload answered 405 MethodNotAllowed",
                                      "AbortIncompleteMultipartUpload")
    assert aborts and all(q["status"] == 405 for q in aborts)
    # the failed attempt carries the same sentence, for monitor and the post-mortem
    failed = [a for a in case.attempts() if a.started_at > case.previous.created_at]
    assert failed and "could not be aborted" in failed[-1].error
    # and the parts really are still there, on the server behind the proxy
    left = list(case.store.incomplete())
    assert [u.key for u in left] and all(u.key.endswith("archive.pgdump") for u in left)
    assert "pgdrill: error:" in line
