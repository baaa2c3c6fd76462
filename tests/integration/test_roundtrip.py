"""Backup → restore is exact: fingerprints of source and restored databases are identical."""

from __future__ import annotations

import pytest

from pgdrill.pg.conn import DatabaseUrl

from support.fingerprint import fingerprint, load_hard_content
from support.postgres import PgServer
from support.runner import pgdrill


@pytest.fixture(scope="module")
def hard_source(pg: PgServer):  # type: ignore[no-untyped-def]
    url = pg.create_database()
    load_hard_content(url)
    yield url
    pg.drop_database(url.dbname)


def test_hard_content_round_trip_is_identical(capsys, hard_source: DatabaseUrl, target_db: DatabaseUrl,
                                              store_url: str) -> None:
    r = pgdrill(capsys, "backup", "--database-url", hard_source.conninfo(), "--store", store_url,
                "--tag", "nightly", "--json")
    assert r.code == 0, r.err
    doc = r.json()
    for key in ("id", "created_at", "size", "sha256", "tables", "server_version", "pg_dump_version", "tags"):
        assert key in doc
    assert doc["tags"] == ["nightly"]
    assert doc["tables"]["app.everything"] == 3004
    assert doc["tables"]["Billing.Invoice"] == 501
    assert doc["tables"]["app.parent_t"] == 1 and doc["tables"]["app.child_t"] == 1
    assert "app.events" not in doc["tables"]  # partitioned parent: rows live in the partitions
    assert sum(v for k, v in doc["tables"].items() if k.startswith("app.events_")) == 2000
    assert doc["migration_head"] == "3f2a9c1b7d4e"
    assert {"app", "Billing", "audit"} <= set(doc["schemas"])
    assert {"hstore", "citext", "pg_trgm"} <= set(doc["extensions"])

    r = pgdrill(capsys, "restore", doc["id"], "--store", store_url, "--target-url", target_db.conninfo(), "--json")
    assert r.code == 0, r.err
    assert r.json()["error_count"] == 0

    assert fingerprint(target_db) == fingerprint(hard_source)


def test_verify_and_list(capsys, hard_source: DatabaseUrl, store_url: str) -> None:
    ids = []
    for _ in range(2):
        r = pgdrill(capsys, "backup", "--database-url", hard_source.conninfo(), "--store", store_url, "--json")
        assert r.code == 0, r.err
        ids.append(r.json()["id"])
    assert ids[0] < ids[1]
    r = pgdrill(capsys, "list", "--store", store_url, "--json")
    assert [b["id"] for b in r.json()["backups"]] == ids
    r = pgdrill(capsys, "verify", "latest", "--store", store_url, "--json")
    assert r.code == 0, r.err
    assert r.json()["id"] == ids[1] and r.json()["toc_entries"] > 20


def test_password_never_printed(capsys, pg: PgServer, hard_source: DatabaseUrl, target_db: DatabaseUrl,
                                store_url: str) -> None:
    password = hard_source.password
    assert password
    outputs = []
    for args in (
        ["backup", "--database-url", hard_source.conninfo(), "--store", store_url],
        ["backup", "--database-url", hard_source.conninfo(), "--store", store_url, "--json"],
        ["restore", "latest", "--store", store_url, "--target-url", target_db.conninfo()],
        ["restore", "latest", "--store", store_url, "--target-url", target_db.conninfo()],  # refused
        ["list", "--store", store_url, "--json"],
    ):
        r = pgdrill(capsys, *args)
        outputs.append(r.text)
    assert all(password not in o for o in outputs)
    assert "postgresql://postgres@127.0.0.1" in outputs[0]
