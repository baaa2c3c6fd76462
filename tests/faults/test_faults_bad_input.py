"""Case 7: bad input. Each one exits 2 (the user must fix the input) or 3 (something is unreachable)
with one line that names the problem and what to do — never a traceback (only with --debug), never
the password that came with the bad input, never a new backup."""

from __future__ import annotations

import time

import pytest

from pgdrill.pg.cluster import free_port

from .conftest import Case


def _backup(case: Case, *args: str) -> list[str]:
    return ["backup", "--store", case.store_url, *args]


@pytest.mark.parametrize(
    ("url_text", "fragment"),
    [
        ("postgresql://postgres:{pw}@127.0.0.1:notaport/app", "non-numeric port"),
        ("host=127.0.0.1 password={pw} port", "malformed"),
        ("postgresql://postgres:{pw}@[::1/app", "malformed"),
        ("postgresql://po%zzstgres:{pw}@127.0.0.1/app", "malformed"),
        ("host='127.0.0.1 password={pw}", "malformed"),
        ("mysql://root:{pw}@127.0.0.1/app", "scheme 'mysql://'"),
    ],
)
def test_malformed_database_url(local_case: Case, url_text: str, fragment: str) -> None:
    url = url_text.format(pw=local_case.secrets.db_password)
    r = local_case.run(*_backup(local_case, "--database-url", url))
    line = local_case.assert_failed_cleanly(r, 2, "--database-url", fragment, restore=False)
    assert "postgresql://user:pass@host:5432/dbname" in line or "host:5432" in line


def test_unknown_store_scheme(local_case: Case) -> None:
    r = local_case.run("backup", "--database-url", local_case.source.url.conninfo(), "--store", "ftp://files/backups")
    local_case.assert_failed_cleanly(r, 2, "unknown store scheme 'ftp://'", "s3://bucket/prefix", restore=False)


def test_missing_bucket(s3_case: Case) -> None:
    # A bucket that does not exist is the user's to fix (a typo, or create it): exit 2.
    r = s3_case.run("backup", "--database-url", s3_case.source.url.conninfo(), "--store", "s3://no-such-bucket-pgd/x")
    s3_case.assert_failed_cleanly(r, 2, "bucket no-such-bucket-pgd does not exist", "create it", restore=False)
    r = s3_case.run("list", "--store", "s3://no-such-bucket-pgd/x")
    s3_case.assert_failed_cleanly(r, 2, "bucket no-such-bucket-pgd does not exist", restore=False)


def test_unreachable_database_host(local_case: Case) -> None:
    url = f"postgresql://postgres:{local_case.secrets.db_password}@127.0.0.1:{free_port()}/app"
    r = local_case.run(*_backup(local_case, "--database-url", url))
    local_case.assert_failed_cleanly(r, 3, "cannot connect to source database postgresql://postgres@127.0.0.1:",
                                     "check the URL, the network", restore=False)


def test_unreachable_s3_endpoint_is_not_retried_forever(s3_case: Case) -> None:
    t0 = time.monotonic()
    r = s3_case.run_process(*_backup(s3_case, "--database-url", s3_case.source.url.conninfo()),
                            env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    took = time.monotonic() - t0
    s3_case.assert_failed_cleanly(r, 3, "cannot reach the S3 endpoint", "check AWS_ENDPOINT_URL", restore=False)
    # boto3's standard mode: 6 attempts with capped exponential backoff, then give up
    assert took < 90, took


def test_wrong_password(local_case: Case) -> None:
    wrong = "Wr0ng-" + local_case.secrets.db_password[::-1]
    local_case.scanner.secrets["wrong database password"] = wrong
    url = local_case.source.url.params
    text = f"postgresql://{url['user']}:{wrong}@{url['host']}:{url['port']}/{url['dbname']}"
    r = local_case.run(*_backup(local_case, "--database-url", text))
    local_case.assert_failed_cleanly(r, 3, "password authentication failed", "check the user and password",
                                     restore=False)


@pytest.mark.parametrize(
    ("yaml_text", "fragments"),
    [
        ("store: [unclosed\ndatabase_url: {url}\n", ("pgdrill.yml line", "YAML", "fix the YAML syntax")),
        ("database_url: {url}\n  store: ./x\n", ("pgdrill.yml line", "YAML")),
        ("database_url: {url}\nobject_lock_days: many\n", ("object_lock_days", "integer")),
        ("database_url: {url}\ntags: {{nightly: yes}}\n", ("tags", "list")),
        ("database_url: {url}\nstorage: s3://typo\n", ("storage", "unknown key")),
        ("- database_url: {url}\n", ("top level must be a mapping",)),
        ("database_url: {url}\nenvironments: [prod]\n", ("environments", "mapping")),
    ],
)
def test_bad_config_file(local_case: Case, yaml_text: str, fragments: tuple[str, ...]) -> None:
    (local_case.tmp / "cfg").mkdir()
    cfg = local_case.tmp / "cfg" / "pgdrill.yml"
    # The file carries a real password next to the mistake: the message must not quote it.
    cfg.write_text(yaml_text.format(url=local_case.source.url.conninfo().replace(" ", "%20")))
    r = local_case.run("backup", "--config", str(cfg), "--store", local_case.store_url)
    line = local_case.assert_failed_cleanly(r, 2, *fragments, restore=False)
    assert local_case.secrets.db_password not in line


def test_unknown_flag(local_case: Case) -> None:
    r = local_case.run("backup", "--frobnicate", "--store", local_case.store_url)
    local_case.assert_failed_cleanly(r, 2, "No such option", "--frobnicate", "pgdrill backup --help", restore=False)


def test_restore_confirm_names_the_wrong_database(local_case: Case) -> None:
    target = local_case.pg.create_database()
    try:
        local_case.run("--quiet", "restore", "latest", "--store", local_case.store_url,
                       "--target-url", target.conninfo())
        r = local_case.run("restore", "latest", "--store", local_case.store_url, "--target-url", target.conninfo(),
                           "--clean", "--confirm", "production")
        local_case.assert_failed_cleanly(r, 2, f"--confirm names 'production' but the target database is "
                                               f"'{target.dbname}'", "exact database name", restore=False)
    finally:
        local_case.pg.drop_database(target.dbname)


def test_traceback_only_with_debug(local_case: Case) -> None:
    args = _backup(local_case, "--database-url", f"postgresql://postgres@127.0.0.1:{free_port()}/app")
    plain = local_case.run_process(*args)
    assert plain.code == 3 and "Traceback" not in plain.err
    debug = local_case.run_process("--debug", *args)
    assert debug.code == 3 and "Traceback (most recent call last)" in debug.err
    assert [ln for ln in debug.err.splitlines() if ln.startswith("pgdrill: error:")] == \
        [ln for ln in plain.err.splitlines() if ln.startswith("pgdrill: error:")]
    local_case.assert_previous_intact(restore=False)


