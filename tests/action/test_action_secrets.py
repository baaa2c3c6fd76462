"""A database password given to the action as a plain input shows up nowhere: not in the runner's
log, not in the job summary, not in any step output, not in the stored backup's files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from act_runner import Act, ActResult, project_venv

from pgdrill.store import open_store

from support.postgres import PgServer
from support.secret_scan import scanner_for

#: characters that URLs must encode, so the encoded and decoded forms differ
PASSWORD = "Pw-7f3@k:q/Zx%2!leak"
ROLE = "leaky_app"


@pytest.fixture(scope="module")
def leaky_url(pg: PgServer) -> Iterator[tuple[str, str]]:
    url = pg.create_database()
    pg.execute(f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'hello')")
    text = f"postgresql://{ROLE}:{quote(PASSWORD, safe='')}@{url.host}:{url.port}/{url.dbname}"
    yield text, url.dbname
    pg.drop_database(url.dbname)
    pg.execute(f"DROP ROLE IF EXISTS {ROLE}")


def _scan(r: ActResult, extra: dict[str, str]) -> None:
    scanner = scanner_for({"password": PASSWORD, **extra})
    scanner.add("act output (without the ::add-mask:: echoes)", r.without_mask_commands())
    for e in r.events:
        if e.get("command") == "summary":
            scanner.add(f"summary of {e.get('stepID')}", str(e.get("content", "")))
        if e.get("command") == "set-output":
            scanner.add(f"output {e.get('name')} of {e.get('stepID')}", str(e.get("arg", "")))
    scanner.assert_clean()


def _masked_before_first_output(r: ActResult) -> None:
    """The runner was told to hide the password before pgdrill printed its first line."""
    masks = {arg: i for i, arg in reversed(r.add_masks())}
    assert PASSWORD in masks, f"no ::add-mask:: for the password: {list(masks)}"
    first_line = next(i for i, e in enumerate(r.events)
                      if e.get("raw_output") and (e.get("stepID") or [None])[0] == "backup")
    assert masks[PASSWORD] < first_line


def test_password_given_as_input_never_shows(act: Act, leaky_url: tuple[str, str], tmp_path: Path) -> None:
    url, _ = leaky_url
    store = str(tmp_path / "store")
    r = act.run("t-backup.yml", inputs={"store": store, "database-url": url, "venv": str(project_venv())})

    assert r.code == 0, r.explain()
    outputs = r.outputs("backup")
    assert outputs["backup-id"]
    assert "pgdrill backup" in r.summary("backup")
    _masked_before_first_output(r)
    # the runner's log and the summary show where the backup came from, without the password
    assert ROLE in r.summary("backup") or ROLE in r.text
    _scan(r, {"url": url})

    scanner = scanner_for({"password": PASSWORD, "url": url})
    scanner.add_store(open_store(store))
    scanner.assert_clean()
    manifest = next(Path(store).rglob("manifest.json"))
    assert json.loads(manifest.read_text())  # the scan above read real files


def test_password_stays_hidden_when_the_job_fails(act: Act, leaky_url: tuple[str, str], tmp_path: Path) -> None:
    url, dbname = leaky_url
    missing = url.replace(f"/{dbname}", "/no_such_database")
    r = act.run("t-backup.yml", inputs={"store": str(tmp_path / "store"), "database-url": missing,
                                        "venv": str(project_venv())})

    assert r.code != 0, r.explain()
    assert r.result("backup") == "failure"
    outputs = r.outputs("backup")
    assert outputs["passed"] == "false"
    assert outputs["exit-code"] == "2", outputs  # a database that does not exist is the user's to fix
    summary = r.summary("backup")
    assert "no_such_database" in summary, summary
    _masked_before_first_output(r)
    _scan(r, {"url": missing})
