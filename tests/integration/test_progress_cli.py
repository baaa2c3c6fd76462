"""Progress on stderr: a backup's percent of the table data, a restore's bytes and tables of the TOC,
what each long step of a drill is doing — and each check's result shown once (in the report)."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from pgdrill.pg.conn import DatabaseUrl

from support.postgres import PgServer
from support.runner import pgdrill


@pytest.fixture
def source(db: DatabaseUrl) -> DatabaseUrl:
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        for name in ("alpha", "beta", "gamma"):
            conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, pad text)")
            conn.execute(f"INSERT INTO {name} SELECT g, md5(g::text) FROM generate_series(1, 30000) g")
    return db


def progress(err: str) -> list[str]:
    return [ln.removeprefix("pgdrill: ") for ln in err.splitlines() if ln.startswith("pgdrill: ")]


def test_backup_restore_and_drill_say_how_far_they_are(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                       source: DatabaseUrl, target_db: DatabaseUrl, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGDRILL_PROGRESS_SECONDS", "0")  # a line on every read, to see them on a small database
    store = str(tmp_path / "store")
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store, "--compress", "0")
    assert r.code == 0, r.err
    dumping = [ln for ln in progress(r.err) if ln.startswith("dumping: ")]
    assert dumping, r.err
    assert re.fullmatch(r"dumping: \d+% of [\d.]+ [KM]iB of table data, table [1-3] of 3 "
                        r"\(public\.(alpha|beta|gamma)\), [\d.]+ [KM]?i?B written, [\d.]+ [KM]?i?B/s",
                        dumping[-1]), dumping[-1]

    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", target_db.conninfo())
    assert r.code == 0, r.err
    lines = progress(r.err)
    restoring = [ln for ln in lines if ln.startswith("restoring: ")]
    assert restoring
    assert re.fullmatch(r"restoring: [\d.]+ [KM]?i?B of [\d.]+ [KM]iB \(\d+%\), table [0-3] of 3.*", restoring[-1])
    assert re.fullmatch(r"restored [\d.]+ [KM]iB, table data of 3 of 3 tables", lines[-1]), lines

    r = pgdrill(capsys, "drill", "--store", store, "--scratch-url", pg.admin_url.conninfo(), "--jobs", "2")
    assert r.code == 0, r.err
    lines = progress(r.err)
    assert any(ln.startswith("archive read and checked") and "pg_restore --jobs 2 starts" in ln for ln in lines)
    assert any(re.fullmatch(r"restored [\d.]+ [KM]iB, table data of 3 of 3 tables", ln) for ln in lines), lines
    checks = [ln for ln in lines if ln.startswith("check ")]
    assert checks and all(re.fullmatch(r"check \d+ of \d+: .+", ln) for ln in checks), checks
    assert checks[0] == f"check 1 of {len(checks)}: restore"
    # each check's result appears once: in the report on stdout, not again on stderr
    assert "pass —" not in r.err and "PASS  row counts" in r.out
    assert any(ln.startswith("destroying the copy pgdrill_drill_") for ln in lines)
    assert "dropped with everything restored into it" not in r.err


def test_quiet_means_no_progress(capsys: pytest.CaptureFixture[str], source: DatabaseUrl, tmp_path: Path) -> None:
    r = pgdrill(capsys, "--quiet", "backup", "--database-url", source.conninfo(), "--store", str(tmp_path / "s"))
    assert r.code == 0 and r.err == ""
