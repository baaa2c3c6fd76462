"""Drilling the dumps teams already have: archives made by the bare tools exactly as the runbooks'
scripts make them, then `pgdrill list/verify/drill/monitor/restore --archives` — and the set is
byte-for-byte what it was after every command.

- 002: ``pg_dump --format=custom | aws s3 cp - s3://…/db/$(date +%Y/%m)/sago-factu-$(date +%Y%m%d).dump``
- 004: ``pg_dump | gzip > backups/bloom_backup_YYYYMMDD_HHMMSS.sql.gz``, synced to ``production/YYYY/MM/``
- 001: ``npm run db:backup`` writing ``backups/*.dump`` (here a directory-format dump and zstd plain SQL)
- 003: ``pg_dump -Fc`` into ``.backups/backup_manual_20251025_143000.sql`` (the extension lies)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from support.archives import ORDERS, USERS, SourceDb, local_fingerprint, make_source, s3_fingerprint, stream_to_s3
from support.postgres import PgServer
from support.runner import Run, pgdrill
from support.s3 import S3Server


@pytest.fixture
def source(pg: PgServer) -> Iterator[SourceDb]:
    src = make_source(pg)
    yield src
    pg.drop_database(src.url.dbname)


def _leftover_scratch(pg: PgServer) -> set[str]:
    return {d for d in pg.databases() if d.startswith("pgdrill_drill_")}


def _drill(capsys: pytest.CaptureFixture[str], pg: PgServer, pattern: str, *args: str) -> Run:
    return pgdrill(capsys, "--quiet", "drill", "--archives", pattern, "--scratch-url", pg.admin_url.conninfo(),
                   "--json", *args)


def _check(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["name"] == name)


def _count(url: Any, table: str) -> int:
    with psycopg.connect(url.conninfo()) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[arg-type]
        assert row is not None
        return int(row[0])


# -- 002: custom format piped to S3 under dated prefixes ----------------------------------------------
@pytest.mark.slow
def test_custom_dumps_streamed_to_s3_drill_and_flag_a_row_drop(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                               source: SourceDb, s3_env: S3Server,
                                                               tmp_path: Path) -> None:
    client = s3_env.client()
    bucket = s3_env.create_bucket()
    for month in ("2025/08", "2025/09"):
        key = f"db/{month}/sago-factu-{month.replace('/', '')}25.dump"
        stream_to_s3(client, source.dump_stream("--format=custom"), bucket, key)
    client.put_object(Bucket=bucket, Key="db/README.txt", Body=b"not a dump")
    client.put_object(Bucket=bucket, Key="db/2025/09/sago-factu-20250926.dump.partial", Body=b"half")
    pattern = f"s3://{bucket}/db/*/*/sago-factu-*.dump"
    records = str(tmp_path / "records")
    before = s3_fingerprint(client, bucket)

    listed = pgdrill(capsys, "list", "--archives", pattern, "--json")
    assert listed.code == 0, listed.err
    doc = listed.json()
    assert [a["name"] for a in doc["archives"]] == ["2025/08/sago-factu-20250825.dump",
                                                    "2025/09/sago-factu-20250925.dump"]
    assert {a["time_from"] for a in doc["archives"]} == {"name"}  # uploaded today: the name tells the day
    assert doc["latest"] == "2025/09/sago-factu-20250925.dump"
    text = pgdrill(capsys, "list", "--archives", pattern)
    assert "FROM" in text.out and "name" in text.out

    first = _drill(capsys, pg, pattern, "--store", records)
    assert first.code == 0, first.out + first.err
    rec = first.json()
    assert rec["backup_id"] == f"s3://{bucket}/db/2025/09/sago-factu-20250925.dump"
    assert rec["source_kind"] == "archive" and rec["source_host"] == pattern
    assert rec["table_rows"]["app.users"] == USERS and rec["table_rows"]["app.orders"] == ORDERS
    assert rec["pg_restore_version"] and rec["backup_sha256"] == before[
        "db/2025/09/sago-factu-20250925.dump"][2]
    assert _check(rec, "row counts")["status"] == "pass"
    assert "4 tables with data in the dump restored" in _check(rec, "row counts")["detail"]
    assert _check(rec, "migration head")["status"] == "pass"
    assert _check(rec, "archive")["status"] == "pass"

    # Someone deletes most users; the next nightly dump is taken as always.
    source.execute("DELETE FROM app.orders; DELETE FROM app.users WHERE id > 100")
    stream_to_s3(client, source.dump_stream("--format=custom"), bucket, "db/2025/10/sago-factu-20251025.dump")
    before = s3_fingerprint(client, bucket)
    second = _drill(capsys, pg, pattern, "--store", records)
    assert second.code == 1, second.out
    drop = _check(second.json(), "row drop")
    assert drop["status"] == "fail"
    assert "app.users: 500 → 100 (-80%)" in drop["items"] and "app.orders: 300 → 0 (-100%)" in drop["items"]
    assert "sago-factu-20250925.dump" in drop["detail"]  # compared with the previous archive
    assert "check 'row drop' failed" in second.err

    monitor = pgdrill(capsys, "monitor", "--archives", pattern, "--store", records, "--max-age", "100000d",
                      "--format", "json")
    health = json.loads(monitor.out)
    assert health["last_backup_id"] == "2025/10/sago-factu-20251025.dump" and health["backup_count"] == 3
    assert health["last_drill"]["passed"] is False and "DrillFailed" in {a["name"] for a in health["alerts"]}
    assert s3_fingerprint(client, bucket) == before  # read-only: nothing written, renamed or deleted
    assert _leftover_scratch(pg) == set()


# -- 004: plain SQL piped into gzip --------------------------------------------------------------------
def test_plain_sql_gz_drills_and_restores_through_psql(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                       source: SourceDb, tmp_path: Path, target_db: Any) -> None:
    backups = tmp_path / "backups"
    source.shell('pg_dump "$DB" | gzip > backups/bloom_backup_20251025_143000.sql.gz', tmp_path)
    source.shell('pg_dump "$DB" | gzip > backups/bloom_backup_20251026_143000.sql.gz', tmp_path)
    pattern = f"{backups}/bloom_backup_*.sql.gz"
    before = local_fingerprint(backups)

    run = _drill(capsys, pg, pattern)
    assert run.code == 0, run.out + run.err
    rec = run.json()
    assert rec["backup_id"] == f"{backups}/bloom_backup_20251026_143000.sql.gz"
    assert rec["restore_tool"].startswith("psql ") and rec["pg_restore_version"] is None
    assert _check(rec, "restore")["detail"] == "psql finished with 0 errors"
    assert _check(rec, "sequences")["status"] == "pass"
    assert rec["table_rows"]["public.Audit Log"] == 1
    assert rec["record_key"] is None  # no --store: reported, never written into the set

    restored = pgdrill(capsys, "restore", "latest", "--archives", pattern, "--target-url", target_db.conninfo(),
                       "--json")
    assert restored.code == 0, restored.err
    assert _count(target_db, "app.users") == USERS and restored.json()["tool"].startswith("psql")
    again = pgdrill(capsys, "restore", "latest", "--archives", pattern, "--target-url", target_db.conninfo())
    assert again.code == 2 and "is not empty" in again.err
    assert local_fingerprint(backups) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups"]  # nothing written beside it either


# -- 003: a custom archive named .sql --------------------------------------------------------------------
def test_a_custom_archive_named_sql_is_restored_by_pg_restore(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                              source: SourceDb, tmp_path: Path) -> None:
    source.shell("pg_dump -Fc \"$DB\" > .backups/backup_manual_20251025_143000.sql", tmp_path)
    pattern = f"{tmp_path}/.backups/backup_manual_*.sql"
    before = local_fingerprint(tmp_path)
    verified = pgdrill(capsys, "verify", "latest", "--archives", pattern, "--json")
    assert verified.code == 0, verified.err
    v = verified.json()
    assert (v["format"], v["compression"]) == ("custom", "none") and "app.users" in v["tables_with_data"]
    assert v["tool"].startswith("pg_restore ")
    run = _drill(capsys, pg, pattern)
    assert run.code == 0, run.out + run.err
    rec = run.json()
    assert rec["pg_restore_version"] and "custom-format archive" in _check(rec, "archive")["detail"]
    assert local_fingerprint(tmp_path) == before


# -- 001: a directory-format dump, in a folder and under an S3 prefix; zstd plain SQL --------------------
@pytest.mark.slow
def test_directory_dumps_from_a_folder_and_from_a_prefix(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                         source: SourceDb, s3_env: S3Server, tmp_path: Path) -> None:
    source.shell('pg_dump -Fd -f backups/app_20251025 "$DB"', tmp_path)
    local = _drill(capsys, pg, f"{tmp_path}/backups/app_*")
    assert local.code == 0, local.out + local.err
    assert "directory-format dump" in _check(local.json(), "archive")["detail"]

    client = s3_env.client()
    bucket = s3_env.create_bucket()
    for f in sorted((tmp_path / "backups" / "app_20251025").iterdir()):
        client.upload_file(str(f), bucket, f"dumps/app_20251025/{f.name}")
    before = s3_fingerprint(client, bucket)
    remote = _drill(capsys, pg, f"s3://{bucket}/dumps/app_*")
    assert remote.code == 0, remote.out + remote.err
    rec = remote.json()
    assert rec["backup_id"] == f"s3://{bucket}/dumps/app_20251025"
    assert rec["backup_sha256"] == local.json()["backup_sha256"]  # the same files, the same digest
    assert rec["table_rows"]["app.orders"] == ORDERS
    assert s3_fingerprint(client, bucket) == before


def test_zstd_plain_sql(capsys: pytest.CaptureFixture[str], pg: PgServer, source: SourceDb, tmp_path: Path) -> None:
    source.shell('pg_dump "$DB" | zstd -q > backups/app_202510251430.sql.zst', tmp_path)
    source.shell('pg_dump "$DB" | lz4 -q > backups/app_202510261430.sql.lz4', tmp_path)
    source.shell('pg_dump "$DB" | bzip2 > backups/app_202510271430.sql.bz2', tmp_path)
    for name, compression in (("app_202510251430.sql.zst", "zstd"), ("app_202510261430.sql.lz4", "lz4"),
                              ("app_202510271430.sql.bz2", "bzip2")):
        v = pgdrill(capsys, "verify", name, "--archives", f"{tmp_path}/backups/*", "--json")
        assert v.code == 0 and v.json()["compression"] == compression, v.err
    run = _drill(capsys, pg, f"{tmp_path}/backups/*.zst")
    assert run.code == 0, run.out + run.err
    assert "zstd-compressed" in _check(run.json(), "archive")["detail"]


# -- broken archives ---------------------------------------------------------------------------------------
def test_a_corrupted_newest_archive_fails_the_drill_and_is_named(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                                 source: SourceDb, tmp_path: Path) -> None:
    source.execute("INSERT INTO app.users (email) SELECT md5(g::text) FROM generate_series(1, 20000) g")
    source.shell('pg_dump -Fc "$DB" > backups/app-20251024.dump', tmp_path)
    source.shell('pg_dump -Fc "$DB" > backups/app-20251025.dump', tmp_path)
    newest = tmp_path / "backups" / "app-20251025.dump"
    data = bytearray(newest.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A  # a flipped stretch in the middle of the compressed rows
    newest.write_bytes(bytes(data))
    before = local_fingerprint(tmp_path / "backups")
    run = _drill(capsys, pg, f"{tmp_path}/backups/*.dump")
    assert run.code == 1
    assert f"of {newest} failed" in run.err  # the one line names the archive
    rec = run.json()
    assert rec["backup_id"] == str(newest) and _check(rec, "restore")["status"] == "fail"
    verify = pgdrill(capsys, "verify", "latest", "--archives", f"{tmp_path}/backups/*.dump")
    assert verify.code == 1 and str(newest) in verify.err and "cannot be read to its end" in verify.err
    older = pgdrill(capsys, "verify", "app-20251024.dump", "--archives", f"{tmp_path}/backups/*.dump")
    assert older.code == 0
    assert local_fingerprint(tmp_path / "backups") == before
    assert _leftover_scratch(pg) == set()


def test_a_truncated_gzip(capsys: pytest.CaptureFixture[str], pg: PgServer, source: SourceDb, tmp_path: Path) -> None:
    source.shell('pg_dump "$DB" | gzip > backups/bloom_backup_20251025_030000.sql.gz', tmp_path)
    path = tmp_path / "backups" / "bloom_backup_20251025_030000.sql.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])  # the upload died two thirds in
    pattern = f"{tmp_path}/backups/*.sql.gz"
    verify = pgdrill(capsys, "verify", "latest", "--archives", pattern)
    assert verify.code == 1 and "is truncated" in verify.err and len(verify.err.strip().splitlines()) == 1
    run = _drill(capsys, pg, pattern)
    assert run.code == 1
    restore = _check(run.json(), "restore")
    assert restore["status"] == "fail" and "truncated" in restore["detail"]
    assert _check(run.json(), "row counts")["status"] == "skip"  # nothing from it is trusted
    assert _leftover_scratch(pg) == set()


def test_a_file_that_is_no_dump_fails_verify_with_one_line(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    import zipfile

    (tmp_path / "backups").mkdir()
    with zipfile.ZipFile(tmp_path / "backups" / "app-20251025.sql", "w") as z:
        z.writestr("dump.sql", "SELECT 1;")
    run = pgdrill(capsys, "verify", "latest", "--archives", f"{tmp_path}/backups/*.sql")
    assert run.code == 1
    assert run.err.strip().splitlines() == [run.err.strip()] and "zip-compressed" in run.err


# -- big sets, empty sets -------------------------------------------------------------------------------
@pytest.mark.slow
def test_more_than_a_thousand_objects_under_the_prefix(capsys: pytest.CaptureFixture[str], s3_env: S3Server) -> None:
    client = s3_env.client()
    bucket = s3_env.create_bucket()
    keys = [f"production/2025/{1 + i // 400:02d}/bloom_backup_2025{1 + i // 400:02d}{1 + i % 28:02d}_"
            f"{i % 24:02d}{i % 60:02d}00.sql.gz" for i in range(1100)]
    keys += [f"production/logs/run-{i}.log" for i in range(150)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    run = pgdrill(capsys, "list", "--archives", f"s3://{bucket}/production/*/*/bloom_backup_*.sql.gz", "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert len(doc["archives"]) == len(set(keys[:1100]))
    assert doc["latest"] == max(k[len("production/"):] for k in set(keys[:1100])
                                if k.startswith("production/2025/03/bloom_backup_20250328"))


@pytest.mark.parametrize("command", [["list"], ["verify", "latest"], ["restore", "latest", "--target-url",
                                                                     "postgresql://x@127.0.0.1:1/x"]])
def test_a_pattern_that_matches_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        command: list[str]) -> None:
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "notes.txt").write_text("hello")
    run = pgdrill(capsys, *command, "--archives", f"{tmp_path}/backups/*.dump")
    assert run.code == 2  # before anything else is looked at (the restore's target is not even reachable)
    assert f"--archives {tmp_path}/backups/*.dump matches no archive" in run.err


def test_a_drill_of_a_pattern_that_matches_nothing(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                   tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    run = _drill(capsys, pg, f"{tmp_path}/b/*.dump")
    assert run.code == 2 and "matches no archive" in run.err
    assert _leftover_scratch(pg) == set()


# -- what the records remember -----------------------------------------------------------------------
def test_a_dump_that_changes_after_its_drill_is_reported(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                         source: SourceDb, tmp_path: Path) -> None:
    source.shell('pg_dump -Fc "$DB" > backups/app-20251025.dump', tmp_path)
    pattern, records = f"{tmp_path}/backups/*.dump", str(tmp_path / "records")
    assert _drill(capsys, pg, pattern, "--store", records).code == 0
    source.execute("INSERT INTO app.users (email) VALUES ('late@example.com')")
    source.shell('pg_dump -Fc "$DB" > backups/app-20251025.dump', tmp_path)  # rewritten under the same name
    verify = pgdrill(capsys, "verify", "latest", "--archives", pattern, "--store", records)
    assert verify.code == 0 and "changed since drill" in verify.err
    again = _drill(capsys, pg, pattern, "--store", records)
    assert again.code == 0 and _check(again.json(), "archive")["status"] == "warn"


def test_compare_url_checks_counts_within_a_tolerance(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                      source: SourceDb, tmp_path: Path) -> None:
    source.shell('pg_dump -Fc "$DB" > backups/app-20251025.dump', tmp_path)
    pattern = f"{tmp_path}/backups/*.dump"
    source.execute("INSERT INTO app.users (email) SELECT 'new' || g FROM generate_series(1, 20) g")  # +4%
    near = _drill(capsys, pg, pattern, "--compare-url", source.url.conninfo())
    assert near.code == 0, near.out
    assert "within 10% of the comparison database" in _check(near.json(), "row counts")["detail"]
    source.execute("INSERT INTO app.users (email) SELECT 'more' || g FROM generate_series(1, 200) g")  # +44%
    far = _drill(capsys, pg, pattern, "--compare-url", source.url.conninfo(), "--compare-tolerance", "5%")
    assert far.code == 1
    assert any(i.startswith("app.users: comparison database") for i in _check(far.json(), "row counts")["items"])


def test_archives_in_pgdrill_yml_per_environment(capsys: pytest.CaptureFixture[str], pg: PgServer,
                                                 source: SourceDb, tmp_path: Path) -> None:
    source.shell('pg_dump "$DB" > prod/app_20251025.sql', tmp_path)
    source.shell('pg_dump -Fc "$DB" > staging/app_20251025.dump', tmp_path)
    config = tmp_path / "pgdrill.yml"
    config.write_text(f"store: {tmp_path}/records\narchives: {tmp_path}/staging/*.dump\n"
                      f"environments:\n  prod:\n    archives: {tmp_path}/prod/*.sql\n")
    listed = pgdrill(capsys, "--config", str(config), "list", "-e", "prod", "--json")
    assert [a["name"] for a in listed.json()["archives"]] == ["app_20251025.sql"]
    run = pgdrill(capsys, "--quiet", "--config", str(config), "drill", "--scratch-url", pg.admin_url.conninfo(),
                  "--json")
    assert run.code == 0, run.err
    assert run.json()["backup_id"] == f"{tmp_path}/staging/app_20251025.dump"
    assert run.json()["record_key"]  # the store keeps the drill records
    assert list((tmp_path / "records" / "drills").glob("*.json"))
