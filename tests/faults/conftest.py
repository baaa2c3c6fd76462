"""Fixtures for the fault-injection suite.

Every case starts from a store that already holds two good backups of a session-wide source database
(the newest is "the previous backup"; an older one gives retention something it could wrongly
remove), breaks something real, and ends with the same checks
(:meth:`Case.assert_failed_cleanly`): the exit code, exactly one ``pgdrill: error:`` line saying what
failed and what to do, no traceback, no manifest for the failed backup, the previous backup still
listed, byte-identical to what was proven restorable and actually restored again, nothing pruned,
and — at teardown — no secret in anything printed, written to a summary/output file or stored.
"""

from __future__ import annotations

import functools
import json
import os
import secrets as pysecrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pyrage import x25519

from pgdrill import catalog, cli, secrets
from pgdrill.backup import BackupRequest, run_backup
from pgdrill.manifest import Manifest, archive_key, manifest_key, new_id, roles_key
from pgdrill.pg import stats
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import Store, open_store

from support.postgres import PgServer
from support.runner import Run
from support.s3 import CREDENTIALS, S3Server
from support.secret_scan import SecretScanner, scanner_for

SOURCE_SQL = """
CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE, created_at timestamptz DEFAULT now());
INSERT INTO accounts (id, email) SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 1000) g;
CREATE TABLE orders (id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES accounts, total numeric(12,2));
INSERT INTO orders (account_id, total) SELECT 1 + g % 1000, g * 1.5 FROM generate_series(1, 5000) g;
CREATE TABLE events (id bigint, payload text);
INSERT INTO events SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, {events}) g;
"""

#: "small" keeps most cases fast; "big" holds ~23 MB of poorly compressible text, so a dump takes ~2 s
#: with gzip (a window to interrupt or kill it in) and spans more than one 8 MiB multipart part.
EVENTS = {"small": 20_000, "big": 300_000}


class FaultRun(Run):
    def json(self) -> Any:
        # In GitHub Actions pgdrill also prints workflow commands (::add-mask::, ::warning::) on stdout.
        return json.loads("\n".join(ln for ln in self.out.splitlines() if not ln.startswith("::")))


@dataclass(frozen=True)
class Source:
    url: DatabaseUrl
    counts: dict[str, int]


@dataclass(frozen=True)
class Template:
    """Two good backups: ``manifest`` (the newest, restored once and compared with the source) and
    ``older``, the same archive bytes under an id and time one day earlier."""

    path: Path
    manifest: Manifest
    older: Manifest


@dataclass(frozen=True)
class Secrets:
    db_password: str
    aws_secret: str
    age_identity: str
    age_recipient: str
    github_token: str

    def as_dict(self) -> dict[str, str]:
        return {
            "database password": self.db_password,
            "AWS secret key": self.aws_secret,
            "age identity": self.age_identity,
            "GitHub token": self.github_token,
        }


@pytest.fixture(scope="session")
def fault_secrets(pg: PgServer) -> Secrets:
    identity = x25519.Identity.generate()
    assert pg.admin_url.password, "the fault suite needs a password-protected server"
    return Secrets(
        db_password=pg.admin_url.password,
        aws_secret=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        age_identity=str(identity),
        age_recipient=str(identity.to_public()),
        github_token="ghp_" + pysecrets.token_hex(18),
    )


def _source(pg: PgServer, size: str) -> Iterator[Source]:
    url = pg.create_database(f"faults_{size}_{uuid.uuid4().hex[:6]}")
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute(SOURCE_SQL.format(events=EVENTS[size]))
        conn.execute("ANALYZE")
        counts = stats.count_rows(conn)
    yield Source(url, counts)
    pg.drop_database(url.dbname)


@pytest.fixture(scope="session")
def small_source(pg: PgServer) -> Iterator[Source]:
    yield from _source(pg, "small")


@pytest.fixture(scope="session")
def big_source(pg: PgServer) -> Iterator[Source]:
    yield from _source(pg, "big")


def restored_counts(pg: PgServer, store_url: str, backup_id: str) -> dict[str, int]:
    """Restore ``backup_id`` with the real CLI into a fresh database; its exact row counts."""
    target = pg.create_database()
    try:
        code = cli.main(["--quiet", "restore", backup_id, "--store", store_url, "--target-url", target.conninfo()])
        assert code == 0, f"restore of {backup_id} exited {code}"
        with psycopg.connect(target.conninfo()) as conn:
            return stats.count_rows(conn)
    finally:
        pg.drop_database(target.dbname)


def _template(pg: PgServer, source: Source, tmp_path_factory: pytest.TempPathFactory) -> Template:
    path = tmp_path_factory.mktemp("template-store")
    store = open_store(str(path))
    manifest = run_backup(BackupRequest(source.url, store, tags=("nightly",)))
    assert manifest.tables == source.counts
    assert restored_counts(pg, str(path), manifest.id) == source.counts
    day = timedelta(days=1)
    older_id = new_id(manifest.created_at - day)
    assert manifest.roles is not None
    older = manifest.model_copy(update={
        "id": older_id, "created_at": manifest.created_at - day, "finished_at": manifest.finished_at - day,
        "object_key": archive_key(older_id, False),
        "roles": manifest.roles.model_copy(update={"object_key": roles_key(older_id, False)}),
    })
    with store.open(manifest.object_key) as f:
        store.put(older.object_key, f)
    store.put_bytes(older.roles.object_key, store.get_bytes(manifest.roles.object_key))  # type: ignore[union-attr]
    store.put_bytes(manifest_key(older_id), older.to_json().encode())
    assert [b.id for b in catalog.load(store).backups] == [older.id, manifest.id]
    return Template(path, manifest, older)


@pytest.fixture(scope="session")
def small_template(pg: PgServer, small_source: Source, tmp_path_factory: pytest.TempPathFactory) -> Template:
    return _template(pg, small_source, tmp_path_factory)


@pytest.fixture(scope="session")
def big_template(pg: PgServer, big_source: Source, tmp_path_factory: pytest.TempPathFactory) -> Template:
    return _template(pg, big_source, tmp_path_factory)


@dataclass
class Case:
    """One fault case: a store holding the previous good backup, and the tools to break and check it."""

    kind: str  # "local" | "s3"
    store_url: str
    previous: Manifest
    older: Manifest
    pg: PgServer
    source: Source
    secrets: Secrets
    scanner: SecretScanner
    env: dict[str, str]  # for subprocesses; in-process runs get it through monkeypatch
    tmp: Path
    capsys: pytest.CaptureFixture[str]
    node: str = ""

    @functools.cached_property
    def store(self) -> Store:
        return open_store(self.store_url)

    # -- running pgdrill ------------------------------------------------------------------------
    def run(self, *args: str) -> Run:
        """The real CLI in this process. The secret registry starts empty, so scrubbing only hides
        what pgdrill itself registered — not what this test process happened to parse."""
        saved, listeners = set(secrets.known()), list(secrets._listeners)
        secrets.reset_for_tests()
        self.capsys.readouterr()
        try:
            code = cli.main(list(args))
        finally:
            cap = self.capsys.readouterr()
            with secrets._lock:
                secrets._known.update(saved)
                secrets._listeners[:] = listeners
        return self._record(FaultRun(code, cap.out, cap.err), args)

    def spawn(self, *args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "pgdrill", *args], env={**self.env, **(env or {})}, cwd=self.tmp,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
        )

    def finish(self, proc: subprocess.Popen[str], args: tuple[str, ...] = (), timeout: float = 180) -> Run:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"pgdrill still running after {timeout}s: {err[-2000:]}") from None
        return self._record(FaultRun(proc.returncode, out, err), args)

    def run_process(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> Run:
        return self.finish(self.spawn(*args, env=env), args, timeout)

    def _record(self, run: Run, args: tuple[str, ...]) -> Run:
        where = "pgdrill " + " ".join(a if "://" not in a else "<url>" for a in args)[:80]
        self.scanner.add(f"stdout of {where}", run.out)
        self.scanner.add(f"stderr of {where}", run.err)
        return run

    # -- checks ---------------------------------------------------------------------------------
    def error_line(self, run: Run) -> str:
        lines = [ln for ln in run.err.splitlines() if ln.startswith("pgdrill: error:")]
        assert len(lines) == 1, f"expected exactly one error line, got {len(lines)}:\n{run.err}"
        assert "Traceback" not in run.text, run.text
        assert "pgdrill: error:" not in run.out
        return lines[0]

    def assert_failed_cleanly(self, run: Run, code: int, *fragments: str, new_ok: int = 0,
                              restore: bool = True, pending: Collection[str] = ()) -> str:
        """The common end of every case; returns the error line for the case's own assertions."""
        assert run.code == code, f"exit {run.code}, expected {code}:\n{run.err}"
        line = self.error_line(run)
        for fragment in fragments:
            assert fragment in line, f"{fragment!r} not in {line!r}"
        # what to do: a hint after the dash, or click's pointer to --help
        assert " — " in line or "--help" in line, f"no advice in {line!r}"
        if os.environ.get("PGDRILL_FAULT_MATRIX"):
            # PGDRILL_FAULT_MATRIX=file collects each case's exit code and line, for docs/security.md
            with open(os.environ["PGDRILL_FAULT_MATRIX"], "a") as f:
                f.write(json.dumps({"case": self.node, "code": run.code, "line": line}) + "\n")
        self.assert_previous_intact(extra=new_ok, restore=restore, pending=pending)
        return line

    def assert_previous_intact(self, extra: int = 0, restore: bool = True, pending: Collection[str] = ()) -> None:
        """Listed, not pruned, no manifest for anything that failed, and restorable: byte-identical
        (sha256, read back in full) to the archive the session restored and compared with the source,
        readable by pg_restore, and — unless ``restore`` is off for input that never reached the
        store — restored again for real."""
        cat = catalog.load(self.store)
        ids = [b.id for b in cat.backups]
        # nothing pruned, and no failed backup got a manifest
        assert ids[:2] == [self.older.id, self.previous.id], ids
        assert len(ids) == 2 + extra, ids
        assert set(cat.pending) == set(pending), f"objects without a manifest left behind: {cat.pending}"
        listed = self.run("list", "--store", self.store_url, "--json")
        assert listed.code == 0, listed.err
        assert [b["id"] for b in listed.json()["backups"]][:2] == [self.older.id, self.previous.id]
        verified = self.run("--quiet", "verify", self.previous.id, "--store", self.store_url, "--json")
        assert verified.code == 0, verified.err
        assert verified.json()["sha256"] == self.previous.sha256
        if restore:
            assert restored_counts(self.pg, self.store_url, self.previous.id) == self.previous.tables

    def attempts(self) -> list[catalog.Attempt]:
        return catalog.failed_attempts(self.store)

    def assert_prune_refuses(self) -> None:
        """Right after a failed backup, a prune that would otherwise remove the older backup refuses."""
        failed = [a for a in self.attempts() if a.started_at > self.previous.created_at]
        assert failed, "the failed attempt was not recorded"
        r = self.run("prune", "--store", self.store_url, "--keep-last", "1")
        line = self.error_line(r)
        assert r.code == 1 and "prune refused: the newest backup attempt failed" in line, r.err
        assert [b.id for b in catalog.load(self.store).backups][:2] == [self.older.id, self.previous.id]

    def pg_dump_sessions(self) -> list[tuple[int, str, str]]:
        with psycopg.connect(self.pg.admin_url.conninfo(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid, state, coalesce(query, '') FROM pg_stat_activity "
                "WHERE application_name = 'pg_dump' AND datname = %s", (self.source.url.dbname,)
            ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 60,
                 proc: subprocess.Popen[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if proc is not None and proc.poll() is not None:
                err = proc.stderr.read() if proc.stderr else ""
                raise AssertionError(f"pgdrill exited ({proc.returncode}) before {what}: {err}")
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_copy_running(self, proc: subprocess.Popen[str]) -> int:
        """Block until pg_dump streams table data (COPY); returns its backend pid."""
        found: list[int] = []

        def copying() -> bool:
            for pid, state, query in self.pg_dump_sessions():
                if state == "active" and query.startswith("COPY"):
                    found.append(pid)
                    return True
            return False

        self.wait_for("pg_dump to stream table data", copying, proc=proc)
        return found[0]


def _s3_copy(server: S3Server, template: Template) -> str:
    bucket = server.create_bucket()
    url = f"s3://{bucket}/prod"
    client = server.client()  # type: ignore[no-untyped-call]
    local = open_store(str(template.path))
    for obj in local.list(""):
        client.upload_file(str(template.path / obj.key), bucket, f"prod/{obj.key}")
    return url


def _make_case(kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str], size: str = "small") -> Iterator[Case]:
    pg: PgServer = request.getfixturevalue("pg")
    src: Source = request.getfixturevalue(f"{size}_source")
    tmpl: Template = request.getfixturevalue(f"{size}_template")
    sec: Secrets = request.getfixturevalue("fault_secrets")
    env: dict[str, str] = {
        # Reporters that follow GitHub's conventions get somewhere to write, and a token to hide.
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "github-output.txt"),
        "GITHUB_TOKEN": sec.github_token,
        "PGDRILL_DEBUG": "",
    }
    if kind == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        env.update(server.env())
        store_url = _s3_copy(server, tmpl)
    else:
        store_url = str(tmp_path / "store")
        shutil.copytree(tmpl.path, store_url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray ./pgdrill.yml from the checkout
    scanner = scanner_for(sec.as_dict())
    case = Case(kind, store_url, tmpl.manifest, tmpl.older, pg, src, sec, scanner, {**os.environ, **env},
                tmp_path, capsys)
    case.node = request.node.nodeid
    scanner.add_file(tmp_path / "step-summary.md")
    scanner.add_file(tmp_path / "github-output.txt")
    yield case
    scanner.add_store(case.store)
    scanner.assert_clean()


@pytest.fixture
def local_case(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> Iterator[Case]:
    yield from _make_case("local", request, tmp_path, monkeypatch, capsys)


@pytest.fixture
def s3_case(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Iterator[Case]:
    yield from _make_case("s3", request, tmp_path, monkeypatch, capsys)



@pytest.fixture(params=["local", "s3"])
def big_case(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> Iterator[Case]:
    """A case whose source (and previous backup) is big enough to interrupt a dump of it."""
    yield from _make_case(request.param, request, tmp_path, monkeypatch, capsys, "big")


@pytest.fixture
def big_local_case(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> Iterator[Case]:
    yield from _make_case("local", request, tmp_path, monkeypatch, capsys, "big")


@pytest.fixture
def big_s3_case(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> Iterator[Case]:
    yield from _make_case("s3", request, tmp_path, monkeypatch, capsys, "big")
