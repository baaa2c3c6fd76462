"""Usage errors: exit 2 with exactly one line, no traceback, no network or database touched."""

import pytest

from support.runner import pgdrill


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["backup", "--no-such-flag"], "--no-such-flag"),
        (["backup", "--store", "/tmp/x"], "missing --database-url"),
        (["list"], "missing --store"),
        (["list", "--store", "ftp://host/x"], "unknown store scheme 'ftp://'"),
        (["backup", "--database-url", "mysql://u:hunter22@h/d", "--store", "/tmp/x"], "scheme 'mysql://'"),
        (["restore", "latest", "--store", "/tmp/nonexistent-store-dir"], "missing --target-url"),
        # durations are refused when they are read, before anything runs
        (["drill", "--store", "/tmp/x", "--scratch-url", "postgresql://u@127.0.0.1:1/postgres", "--rto-target", "inf"],
         "--rto-target 'inf' is not a duration"),
        (["drill", "--store", "/tmp/x", "--scratch-url", "postgresql://u@127.0.0.1:1/postgres", "--rpo-target",
          "1e400"], "--rpo-target '1e400' is not a duration"),
        (["prune", "--store", "/tmp/x", "--max-age", "nan"], "--max-age 'nan' is not a duration"),
        (["prune", "--store", "/tmp/x", "--keep-within", "inf"], "--keep-within 'inf': 'inf' is not a duration"),
    ],
)
def test_usage_errors_are_one_line(capsys, monkeypatch, args: list[str], fragment: str) -> None:
    for var in ("PGDRILL_STORE", "PGDRILL_DATABASE_URL", "PGDRILL_TARGET_URL", "PGDRILL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    r = pgdrill(capsys, *args)
    assert r.code == 2
    assert r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("pgdrill: error:")
    assert fragment in r.err
    assert "hunter22" not in r.err and "Traceback" not in r.err


def test_empty_store_list(capsys, tmp_path) -> None:
    r = pgdrill(capsys, "list", "--store", str(tmp_path), "--json")
    assert r.code == 0 and r.json() == {"backups": [], "skipped": [], "incomplete": []}


def test_restore_from_empty_store_says_what_to_do(capsys, tmp_path) -> None:
    r = pgdrill(capsys, "verify", "latest", "--store", str(tmp_path))
    assert r.code == 2 and "no complete backup" in r.err and "pgdrill backup" in r.err
