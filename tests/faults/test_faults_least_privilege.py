"""The least-privilege set-up of docs/security.md, run for real: the database role SQL against the
test cluster, and the IAM policies against an S3 server that enforces IAM (a private moto server
with authorization switched on). The SQL and JSON are read from the doc, so the doc cannot drift."""

from __future__ import annotations

import json
import re
import secrets as pysecrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import psycopg
import pytest
import urllib3

from pgdrill.pg.conn import DatabaseUrl

from .conftest import Case, Secrets, Source, Template, restored_counts
from support.postgres import PgServer
from support.runner import Run, pgdrill_process
from support.s3 import CREDENTIALS, S3Server, start_s3_server
from support.secret_scan import scanner_for

DENIED = r"AccessDenied|Forbidden|403"
DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def doc_block(marker: str) -> str:
    """The fenced block right after ``<!-- test:marker -->`` in docs/security.md."""
    text = DOC.read_text(encoding="utf-8")
    at = text.index(f"<!-- test:{marker} -->")
    found = re.search(r"```[a-z]*\n(.*?)```", text[at:], re.S)
    assert found, marker
    return found.group(1)


WRITES = [
    "INSERT INTO accounts (id, email) VALUES (-1, 'x@example.com')",
    "UPDATE accounts SET email = email",
    "DELETE FROM orders",
    "TRUNCATE events",
    "CREATE TABLE sneaky (id int)",
    "DROP TABLE events",
    "CREATE DATABASE sneaky",
]


@pytest.fixture
def backup_role(local_case: Case) -> Iterator[tuple[str, str]]:
    name = "pgdrill_backup"
    password = "pw-" + pysecrets.token_urlsafe(16)
    local_case.scanner.secrets["backup role password"] = password
    yield name, password
    db = local_case.source.url.dbname
    for dbname in (db, "postgres"):
        local_case.pg.execute(f"DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') "
                              f"THEN EXECUTE 'DROP OWNED BY {name}'; END IF; END $$", dbname)
    local_case.pg.execute(f"DROP ROLE IF EXISTS {name}")


@pytest.mark.parametrize("marker", ["backup-role-sql", "backup-role-sql-13"])
def test_backup_role_sql_from_the_docs(local_case: Case, backup_role: tuple[str, str], marker: str) -> None:
    case = local_case
    name, password = backup_role
    db = case.source.url.dbname
    sql = (doc_block(marker).replace("'change-me'", f"'{password}'")
           .replace("ON DATABASE app TO", f'ON DATABASE "{db}" TO')
           .replace("FOR ROLE app_owner", "FOR ROLE postgres"))
    case.pg.execute(sql, db)
    role_url = DatabaseUrl({**case.source.url.params, "user": name, "password": password})

    for stmt in WRITES:
        for prelude in ("", "SET default_transaction_read_only = off"):
            with psycopg.connect(role_url.conninfo(), autocommit=True) as conn:
                if prelude:
                    conn.execute(prelude)
                with pytest.raises(psycopg.Error) as err:
                    conn.execute(stmt)
            refused = psycopg.errors.InsufficientPrivilege | psycopg.errors.ReadOnlySqlTransaction
            assert isinstance(err.value, refused), (stmt, prelude, err.value)

    r = case.run("--quiet", "backup", "--database-url", role_url.conninfo(), "--store", case.store_url, "--json")
    assert r.code == 0, r.err
    backup_id = r.json()["id"]
    assert r.json()["tables"] == case.source.counts
    assert restored_counts(case.pg, case.store_url, backup_id) == case.source.counts
    case.assert_previous_intact(extra=1, restore=False)


# -- S3 ----------------------------------------------------------------------------------------
def _moto_quirks(policy: dict[str, Any]) -> dict[str, Any]:
    """moto authorizes HeadBucket as an action of its own; AWS authorizes it with s3:ListBucket."""
    for st in policy["Statement"]:
        if "s3:ListBucket" in st["Action"]:
            st["Action"] = [*st["Action"], "s3:HeadBucket"]
    return policy


@pytest.fixture
def iam_s3(tmp_path: Path) -> Iterator[S3Server]:
    server = start_s3_server()
    try:
        yield server
    finally:
        server.stop()


def test_s3_policies_from_the_docs(iam_s3: S3Server, pg: PgServer, small_source: Source, small_template: Template,
                                   fault_secrets: Secrets, tmp_path: Path) -> None:
    server = iam_s3
    root = server.client()  # type: ignore[no-untyped-call]
    root.create_bucket(Bucket="acme-backups")  # the doc's own bucket name: its ARNs apply unchanged
    for path in sorted(small_template.path.rglob("*")):
        if path.is_file():
            root.upload_file(str(path), "acme-backups", f"prod/{path.relative_to(small_template.path).as_posix()}")
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    keys: dict[str, dict[str, str]] = {}
    for job in ("backup", "drill"):
        iam.create_user(UserName=f"pgdrill-{job}")
        policy = _moto_quirks(json.loads(doc_block(f"iam-{job}")))
        iam.put_user_policy(UserName=f"pgdrill-{job}", PolicyName=job, PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=f"pgdrill-{job}")["AccessKey"]
        keys[job] = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                     "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.endpoint}
    iam.create_user(UserName="pgdrill-admin")  # to look at the bucket as it is, once auth is on
    iam.put_user_policy(UserName="pgdrill-admin", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    admin_key = iam.create_access_key(UserName="pgdrill-admin")["AccessKey"]
    # from now on every request is checked against the caller's IAM policies
    urllib3.PoolManager().request("POST", f"{server.endpoint}/moto-api/reset-auth", body=b"0")

    scanner = scanner_for({**fault_secrets.as_dict(),
                           "backup job's AWS secret": keys["backup"]["AWS_SECRET_ACCESS_KEY"],
                           "drill job's AWS secret": keys["drill"]["AWS_SECRET_ACCESS_KEY"]})
    store = "s3://acme-backups/prod"

    def run(job: str, *args: str) -> Run:
        r = pgdrill_process(*args, env={**keys[job], "PGDRILL_DEBUG": ""}, cwd=str(tmp_path))
        scanner.add(f"pgdrill {' '.join(args[:2])} as {job}", r.out + r.err)
        return r

    def s3_as(job: str) -> Any:
        return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                            aws_access_key_id=keys[job]["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=keys[job]["AWS_SECRET_ACCESS_KEY"])

    previous = small_template.manifest.object_key
    # The backup job adds a backup, but can neither read nor delete what is there.
    r = run("backup", "--quiet", "backup", "--database-url", small_source.url.conninfo(), "--store", store, "--json")
    assert r.code == 0, r.err
    new_id = json.loads(r.out)["id"]
    calls: list[Callable[[Any], object]] = [
        lambda c: c.get_object(Bucket="acme-backups", Key=f"prod/{previous}"),
        lambda c: c.delete_object(Bucket="acme-backups", Key=f"prod/{previous}"),
        lambda c: c.put_object(Bucket="acme-backups", Key="prod/drills/forged.json", Body=b"{}"),
    ]
    for call in calls:
        with pytest.raises(botocore.exceptions.ClientError, match=DENIED):
            call(s3_as("backup"))
    r = run("backup", "list", "--store", store)
    assert r.code == 3 and "access denied" in r.err, r.err

    # The drill job reads and checks the new backup, and records the drill; it cannot add or delete backups.
    r = run("drill", "--quiet", "verify", new_id, "--store", store)
    assert r.code == 0, r.err
    prefix = f"f_iam_{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "pgdrill.yml"
    cfg.write_text(f"drill:\n  scratch_prefix: {prefix}\n")
    r = run("drill", "--quiet", "drill", "--store", store, "--scratch-url", pg.admin_url.conninfo(), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["backup_id"] == new_id and "could not be saved" not in r.err
    assert s3_as("drill").list_objects_v2(Bucket="acme-backups", Prefix="prod/drills/")["KeyCount"] == 1
    r = run("drill", "backup", "--database-url", small_source.url.conninfo(), "--store", store)
    assert r.code == 3 and "access denied" in r.err, r.err
    with pytest.raises(botocore.exceptions.ClientError, match=DENIED):
        s3_as("drill").delete_object(Bucket="acme-backups", Key=f"prod/{previous}")

    # `pgdrill check` with each role says what will and will not work, and writes nothing.
    root = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=admin_key["AccessKeyId"], aws_secret_access_key=admin_key["SecretAccessKey"])
    before = sorted(o["Key"] for o in root.list_objects_v2(Bucket="acme-backups")["Contents"])
    r = run("backup", "check", "--store", store, "--json")
    assert r.code == 0, r.err  # a backup-only role is the recommended set-up: warnings, not failures
    items = {i["name"]: i for i in json.loads(r.out)["items"]}
    assert [items[k]["status"] for k in ("store list", "store write", "store read", "store delete")] == [
        "ok", "ok", "warn", "warn"]
    assert items["store access"]["status"] == "warn"
    assert "write-only credentials" in items["store access"]["detail"]
    assert "backup will work; drill, restore, verify, list, monitor, prune will not" in items["store access"]["detail"]
    r = run("drill", "check", "--store", store, "--json")
    assert r.code == 0, r.err
    items = {i["name"]: i for i in json.loads(r.out)["items"]}
    assert [items[k]["status"] for k in ("store list", "store write", "store read", "store delete")] == [
        "ok", "warn", "ok", "warn"]
    assert "drill, restore, verify, list, monitor will work; backup, prune will not" in items["store access"]["detail"]
    assert sorted(o["Key"] for o in root.list_objects_v2(Bucket="acme-backups")["Contents"]) == before
    assert root.list_multipart_uploads(Bucket="acme-backups").get("Uploads", []) == []
    scanner.assert_clean()
