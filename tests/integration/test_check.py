"""`pgdrill check`: one line per item, exit 0/2/3, nothing written — against a real server, real stores
(a folder, S3 through a proxy that lacks multipart listing) and the GitHub stand-in."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
from pyrage import x25519

from faults.s3proxy import s3_proxy
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import open_store

from support.postgres import PgServer
from support.runner import Run, pgdrill
from support.s3 import S3Server


def items(r: Run) -> dict[str, dict[str, str]]:
    return {i["name"]: i for i in json.loads(r.out)["items"]}


def objects(store_url: str) -> list[tuple[str, int]]:
    return sorted((o.key, o.size) for o in open_store(store_url).list(""))


@pytest.fixture
def setup(capsys: pytest.CaptureFixture[str], db: DatabaseUrl, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> tuple[str, DatabaseUrl, str, str]:
    """A store with one encrypted backup of ``db``, the recipient and the identity file."""
    monkeypatch.chdir(tmp_path)
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)")
    identity = x25519.Identity.generate()
    key = tmp_path / "identity.txt"
    key.write_text(str(identity) + "\n")
    store = str(tmp_path / "store")
    r = pgdrill(capsys, "--quiet", "backup", "--database-url", db.conninfo(), "--store", store,
                "--encrypt-to", str(identity.to_public()))
    assert r.code == 0, r.err
    return store, db, str(identity.to_public()), str(key)


def test_a_ready_set_up(capsys: pytest.CaptureFixture[str], pg: PgServer, setup: tuple[str, DatabaseUrl, str, str],
                        tmp_path: Path) -> None:
    store, db, recipient, key = setup
    (tmp_path / "pgdrill.yml").write_text(
        f"store: {store}\ndatabase_url: {db.conninfo()}\nencrypt_to: [{recipient}]\n"
        "checks:\n  row_counts: warn\nmonitor:\n  max_age: 26h\nretention:\n  keep_daily: 7\n")
    before = objects(store)
    r = pgdrill(capsys, "check", "--scratch-url", pg.admin_url.conninfo(), "--age-identity-file", key)
    assert r.code == 0, r.out + r.err
    lines = r.out.splitlines()
    assert lines[-1] == "ready"
    assert all(ln.split()[0] in ("ok", "skip") for ln in lines[:-1]), r.out
    names = [ln.split()[1] for ln in lines[:-1]]
    assert names[:4] == ["config", "database", "database", "pg_dump"]
    assert "pgdrill.yml is valid (checks, retention, monitor)" in r.out
    assert "direct connection" in r.out and "the role can read all 1 tables" in r.out
    assert "the identity matches 1 of them" in r.out and "the role may create databases" in r.out
    assert r.err == ""
    assert objects(store) == before  # nothing written
    assert pg.admin_url.password is None or pg.admin_url.password not in r.text


def test_every_problem_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                              setup: tuple[str, DatabaseUrl, str, str], tmp_path: Path) -> None:
    store, db, _recipient, key = setup
    other = str(x25519.Identity.generate().to_public())
    (tmp_path / "pgdrill.yml").write_text(
        f"store: {store}\nchecks:\n  row_count: warn\nmonitor:\n  max_age: 26 hours\n")
    role = f"no_createdb_{uuid.uuid4().hex[:6]}"
    pg.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'check-pw-123'")
    pg.execute(f"REVOKE ALL ON TABLE t FROM PUBLIC; GRANT CONNECT ON DATABASE {db.dbname} TO {role}", db.dbname)
    weak = pg.admin_url.with_dbname(db.dbname).params
    weak_url = DatabaseUrl({**weak, "user": role, "password": "check-pw-123"})
    scratch = DatabaseUrl({**pg.admin_url.params, "user": role, "password": "check-pw-123"})
    r = pgdrill(capsys, "check", "--json", "--database-url", weak_url.conninfo(), "--scratch-url",
                scratch.conninfo(), "--encrypt-to", other, "--age-identity-file", key)
    assert r.code == 2, r.err
    doc = json.loads(r.out)
    fails = [(i["name"], i["detail"], i["hint"]) for i in doc["items"] if i["status"] == "fail"]
    assert [f[0] for f in fails] == ["config", "config", "database read", "encryption", "scratch"]
    assert fails[0][1].endswith("checks.row_count: unknown key") and fails[0][2].startswith("did you mean 'row_counts'")
    assert fails[1][1].endswith("monitor.max_age: '26 hours' is not a duration (use e.g. 90s, 15m, 1h30m, 26h or 7d)")
    assert "cannot read 1 of 1 tables: public.t" in fails[2][1]
    assert "matches none of the recipients" in fails[3][1]
    assert f"the role {role} cannot create databases" in fails[4][1]
    assert "check found 5 problem(s): config, database read, encryption, scratch" in r.err
    assert "check-pw-123" not in r.text


def test_infrastructure_problems_exit_3_and_poolers_are_named(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = pgdrill(capsys, "check", "--database-url", "postgresql://u:pw-123456@127.0.0.1:1/app")
    assert r.code == 3 and "FAIL  database" in r.out and "Connection refused" in r.out
    r = pgdrill(capsys, "check", "--database-url", "postgresql://u:pw-123456@db.example-pooler.neon.tech/app")
    assert r.code == 2 and "looks like a connection pooler" in r.out
    (tmp_path / "passwd").write_text("root:x:0:0\n")
    r = pgdrill(capsys, "check", "--store", str(tmp_path / "passwd"))
    assert r.code == 2 and "is a file, not a store folder" in r.out
    (tmp_path / "pgdrill.yml").write_text("environments:\n  prod:\n    store: ./x\n")
    r = pgdrill(capsys, "check", "-e", "staging")
    assert r.code == 2 and "environment 'staging' is not defined" in r.out


def test_s3_store_without_multipart_listing(capsys: pytest.CaptureFixture[str], s3_env: S3Server, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bucket = s3_env.create_bucket()
    s3_env.client().put_object(Bucket=bucket, Key="prod/attempts/x.json", Body=b"{}")
    rules = [{"method": "GET", "query": r"(^|&)uploads(=|&|$)", "status": 501, "code": "NotImplemented",
              "times": -1}]
    with s3_proxy(s3_env.port, tmp_path / "proxy.log", rules) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        r = pgdrill(capsys, "check", "--store", f"s3://{bucket}/prod", "--json")
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3_env.endpoint)
    assert r.code == 0, r.err
    got = items(r)
    assert got["store write"]["status"] == "ok" and got["store delete"]["status"] == "ok"
    assert got["store uploads"]["status"] == "warn"
    assert "ListMultipartUploads answered 501 NotImplemented" in got["store uploads"]["detail"]
    # the write probe was a multipart upload, aborted: nothing left behind
    client = s3_env.client()
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["prod/attempts/x.json"]
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # a bucket that does not exist is the user's to fix
    r = pgdrill(capsys, "check", "--store", "s3://pgdrill-no-such-bucket/prod")
    assert r.code == 2 and "FAIL  store" in r.out and "bucket pgdrill-no-such-bucket does not exist" in r.out


@pytest.mark.parametrize("permission", ["write", "read"])
def test_in_actions_the_token_and_oidc_are_checked(capsys: pytest.CaptureFixture[str], github_server,  # type: ignore[no-untyped-def]
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   permission: str) -> None:
    monkeypatch.chdir(tmp_path)
    token = "ghs_read_only_token_000111222" if permission == "read" else github_server.token
    github_server.tokens[token] = permission
    for k, v in github_server.env(token=token).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    if permission == "write":
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:1/token")
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "oidc-request-token-123")
    r = pgdrill(capsys, "check", "--json")
    assert r.code == 0, r.err
    got = items(r)
    if permission == "write":
        assert got["github token"]["status"] == "ok" and got["github oidc"]["status"] == "ok"
    else:
        assert got["github token"]["status"] == "warn" and "may not open issues" in got["github token"]["detail"]
        assert got["github oidc"]["status"] == "skip"
    assert github_server.issues("acme/shop") == []  # the probe opened nothing
    assert [c.status for c in github_server.calls("POST", r"/issues$")] == [422 if permission == "write" else 403]
    assert "pgdrill check: ready" in (tmp_path / "summary.md").read_text()
