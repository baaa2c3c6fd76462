"""Archive sets without a database or a network: patterns, timestamps in names, the set's listing,
format sniffing, decompression, the plain SQL filter and the TOC."""

from __future__ import annotations

import bz2
import gzip
import io
import os
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import lz4.frame
import pytest
from backports import zstd

from pgdrill.archives.listing import ArchiveSet, LocalFolder, collect
from pgdrill.archives.names import archive_time, name_time
from pgdrill.archives.pattern import parse, translate
from pgdrill.archives.readers import Decompressed
from pgdrill.archives.script import ScriptReader, table_name
from pgdrill.archives.sniff import sniff
from pgdrill.archives.toc import Toc
from pgdrill.errors import ConfigError, IntegrityError, NotFound
from pgdrill.store.base import ObjectInfo

DATA = Path(__file__).parent / "data" / "archives"
UTC = timezone.utc


def t(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- patterns -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("glob", "path", "hit"), [
    ("*.dump", "a.dump", True),
    ("*.dump", "x/a.dump", False),  # * never crosses /
    ("*/*/app-*.dump", "2025/10/app-20251025.dump", True),
    ("*/*/app-*.dump", "2025/10/25/app-1.dump", False),
    ("**/app-*.dump", "app-1.dump", True),  # ** matches zero folders
    ("**/app-*.dump", "a/b/c/app-1.dump", True),
    ("db/**", "db/a/b.sql", True),
    ("backup_?.sql", "backup_1.sql", True),
    ("backup_?.sql", "backup_12.sql", False),
    ("backup_[0-9].sql", "backup_7.sql", True),
    ("backup_[!0-9].sql", "backup_x.sql", True),
    ("backup_[!0-9].sql", "backup_7.sql", False),
    ("*.sql", ".partial.sql", False),  # a leading dot needs a pattern that starts with one
    (".*.sql", ".hidden.sql", True),
    ("a[b", "a[b", True),  # an unclosed bracket is a literal
    ("x.sql", "x_sql", False),  # the dot is literal
])
def test_globs_have_shell_semantics(glob: str, path: str, hit: bool) -> None:
    import re

    assert (re.match(translate(glob), path) is not None) is hit


def test_an_s3_pattern_splits_into_bucket_root_and_glob() -> None:
    p = parse("s3://sago-factu-backups/db/*/*/sago-factu-*.dump")
    assert (p.scheme, p.bucket, p.root, p.glob, p.listing_prefix) == (
        "s3", "sago-factu-backups", "db/", "*/*/sago-factu-*.dump", "db/")
    assert p.url("2025/10/sago-factu-20251025.dump") == "s3://sago-factu-backups/db/2025/10/sago-factu-20251025.dump"
    # the literal start of the first wildcard segment narrows the listing
    assert parse("s3://b/db/app-*.dump").listing_prefix == "db/app-"
    # a prefix means every archive directly inside it
    assert parse("s3://bloom-backups/production/").glob == "*"


def test_a_local_pattern_resolves_its_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    p = parse("./backups/bloom_backup_*.sql.gz")
    assert p.scheme == "local" and p.root == str(tmp_path / "backups") and p.glob == "bloom_backup_*.sql.gz"
    (tmp_path / "dumps").mkdir()
    assert parse("dumps").glob == "*"  # a folder: what is directly inside
    (tmp_path / "dumps" / "d1").mkdir()
    (tmp_path / "dumps" / "d1" / "toc.dat").write_bytes(b"PGDMP")
    q = parse("dumps/d1")  # a directory-format dump named exactly: one archive
    assert q.root.endswith("/dumps") and q.glob == "d1"


@pytest.mark.parametrize("bad", ["", "s3:///x.dump", "s3://buck*t/x", "gs://b/x.dump"])
def test_bad_patterns_are_usage_errors(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(bad)
    assert info.value.exit_code == 2


# -- names --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "start", "precision"), [
    ("db/2025/10/sago-factu-20251025.dump", t(2025, 10, 25), timedelta(days=1)),
    ("backups/bloom_backup_20251025_143000.sql.gz", t(2025, 10, 25, 14, 30), timedelta(seconds=1)),
    (".backups/backup_manual_20251025_143000.sql", t(2025, 10, 25, 14, 30), timedelta(seconds=1)),
    ("backup_202510251430.sql", t(2025, 10, 25, 14, 30), timedelta(minutes=1)),
    ("app-2025-10-25T14:30:00Z.sql", t(2025, 10, 25, 14, 30), timedelta(seconds=1)),
    ("app-2025-10-25T14:30:00+02:00.sql", t(2025, 10, 25, 12, 30), timedelta(seconds=1)),
    ("d_2025-10-25_14-30-00.sql.gz", t(2025, 10, 25, 14, 30), timedelta(seconds=1)),
    ("production/2025/10/latest.sql.gz", t(2025, 10, 1), timedelta(days=31)),  # YYYY/MM folders
    ("2025/10/25/db.sql", t(2025, 10, 25), timedelta(days=1)),
])
def test_timestamps_in_names(path: str, start: datetime, precision: timedelta) -> None:
    found = name_time(path)
    assert found is not None and (found.start, found.precision) == (start, precision)


@pytest.mark.parametrize("path", ["backup.sql", "app-v20251399.sql", "item_12345678.sql", "dump-123.sql"])
def test_names_without_a_date(path: str) -> None:
    assert name_time(path) is None


def test_a_day_from_the_name_takes_the_time_of_day_from_the_modification_time() -> None:
    # streamed to S3 at 03:05 by a cron job named by $(date +%Y%m%d)
    assert archive_time("db/2025/10/app-20251025.dump", t(2025, 10, 25, 3, 5)) == (t(2025, 10, 25, 3, 5),
                                                                                   "name+modified")
    # synced weeks later: the modification time says nothing, the name's day stays
    assert archive_time("db/2025/10/app-20251025.dump", t(2025, 11, 20)) == (t(2025, 10, 25), "name")
    # a name to the second wins over any modification time
    assert archive_time("b_20251025_143000.sql", t(2025, 10, 25, 14, 31)) == (t(2025, 10, 25, 14, 30), "name")
    assert archive_time("backup.sql", t(2025, 10, 25, 14, 31)) == (t(2025, 10, 25, 14, 31), "modified")


# -- the set ------------------------------------------------------------------------------------
NEW_YEAR = t(2026, 1, 1)


def _obj(key: str, size: int = 10, when: datetime = NEW_YEAR) -> ObjectInfo:
    return ObjectInfo(key, size, when)


def test_collect_orders_by_name_time_and_folds_directory_dumps() -> None:
    p = parse("s3://b/db/**")
    archives = collect(p, [
        _obj("2025/10/app-20251025.dump", when=t(2025, 11, 1)),
        _obj("2025/09/app-20250925.dump", when=t(2025, 11, 2)),  # synced later, older by name
        _obj("dir-20251001/toc.dat", 5, t(2025, 10, 1, 2)),
        _obj("dir-20251001/3001.dat.gz", 7, t(2025, 10, 1, 3)),
    ])
    assert [a.name for a in archives] == ["2025/09/app-20250925.dump", "dir-20251001", "2025/10/app-20251025.dump"]
    folder = archives[1]
    assert folder.directory and folder.size == 12 and folder.modified == t(2025, 10, 1, 3)
    assert folder.time == t(2025, 10, 1, 3) and folder.time_source == "name+modified"


def test_a_directory_dump_counts_when_the_pattern_matches_the_folder_or_its_files() -> None:
    entries = [_obj("app_1/toc.dat"), _obj("app_1/1.dat.gz"), _obj("other.txt")]  # relative to the root
    assert [a.name for a in collect(parse("s3://b/dumps/app_*"), entries)] == ["app_1"]
    assert [a.name for a in collect(parse("s3://b/dumps/*/toc.dat"), entries)] == ["app_1"]
    assert [a.name for a in collect(parse("s3://b/dumps/*.txt"), entries)] == ["other.txt"]
    assert [a.name for a in collect(parse("s3://b/dumps/*"), entries)] == ["app_1", "other.txt"]


def test_local_listing_stops_where_the_pattern_stops(tmp_path: Path) -> None:
    (tmp_path / "deep" / "deeper").mkdir(parents=True)
    for rel in ("a_20250101.sql", "b_20250102.sql", "deep/c_20250103.sql", "deep/deeper/d.sql", ".a_tmp.sql"):
        (tmp_path / rel).write_text("SELECT 1;\n")
    one = ArchiveSet.load(f"{tmp_path}/*.sql")
    assert [a.name for a in one.archives] == ["a_20250101.sql", "b_20250102.sql"]
    deep = ArchiveSet.load(f"{tmp_path}/**/*.sql")
    assert {a.name for a in deep.archives} == {"a_20250101.sql", "b_20250102.sql", "deep/c_20250103.sql",
                                               "deep/deeper/d.sql"}
    assert one.find("latest").name == "b_20250102.sql"
    assert one.find("a_20250101.sql").url == f"{tmp_path}/a_20250101.sql"
    assert one.find(f"{tmp_path}/a_20250101.sql").name == "a_20250101.sql"
    with pytest.raises(NotFound):
        one.find("nope.sql")


def test_modification_time_orders_names_without_dates(tmp_path: Path) -> None:
    for i, name in enumerate(("zzz.sql", "aaa.sql")):
        path = tmp_path / name
        path.write_text("SELECT 1;\n")
        os.utime(path, (1_700_000_000 + i * 3600, 1_700_000_000 + i * 3600))
    s = ArchiveSet.load(f"{tmp_path}/*.sql")
    assert [a.name for a in s.archives] == ["zzz.sql", "aaa.sql"]
    assert {a.time_source for a in s.archives} == {"modified"}


def test_a_pattern_that_matches_nothing_is_a_usage_error(tmp_path: Path) -> None:
    s = ArchiveSet.load(f"{tmp_path}/*.dump")
    with pytest.raises(ConfigError) as info:
        s.find("latest")
    assert info.value.exit_code == 2 and "matches no archive" in info.value.message
    with pytest.raises(ConfigError):
        ArchiveSet.load(f"{tmp_path}/missing/*.dump")


def test_the_location_has_no_way_to_write() -> None:
    writers = {"put", "put_bytes", "delete", "discard", "rename", "write"}
    assert not writers & set(dir(LocalFolder))
    from pgdrill.archives.listing import S3Prefix

    assert not writers & set(dir(S3Prefix))


# -- sniffing -----------------------------------------------------------------------------------
SQL = (b"--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 16.4\n"
       b"-- Dumped by pg_dump version 16.4\n\nSET statement_timeout = 0;\nCREATE TABLE public.t (id int);\n"
       b"COPY public.t (id) FROM stdin;\n1\n2\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n")


def _sniff(data: bytes):  # type: ignore[no-untyped-def]
    return sniff(io.BytesIO(data), "x")


def test_custom_format_is_known_by_its_bytes_whatever_the_name() -> None:
    s = _sniff((DATA / "pg16.pgdump").read_bytes())
    assert s.format == "custom" and s.compression == "none" and s.pg_dump_version.startswith("16")
    assert s.describe().startswith("custom-format archive (pg_dump 16")


@pytest.mark.parametrize(("compress", "name"), [
    (gzip.compress, "gzip"), (bz2.compress, "bzip2"), (zstd.compress, "zstd"), (lz4.frame.compress, "lz4"),
    (lambda b: b, "none"),
])
def test_plain_sql_as_is_or_compressed(compress, name) -> None:  # type: ignore[no-untyped-def]
    s = _sniff(compress(SQL))
    assert (s.format, s.compression, s.pg_dump_version, s.server_version) == ("plain", name, "16.4", "16.4")
    assert s.pg_dump_script


def test_a_custom_archive_inside_gzip() -> None:
    s = _sniff(gzip.compress((DATA / "pg16.pgdump").read_bytes()))
    assert (s.format, s.compression) == ("custom", "gzip")


def test_tar_format() -> None:
    buf = io.BytesIO()
    toc = (DATA / "pg16.pgdump").read_bytes()
    toc = toc[:10] + b"\x03" + toc[11:]  # the same header with the tar format byte
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("toc.dat")
        info.size = len(toc)
        tf.addfile(info, io.BytesIO(toc))
    assert _sniff(buf.getvalue()).format == "tar"


@pytest.mark.parametrize(("data", "says"), [
    (b"", "is empty (0 bytes)"),
    (gzip.compress(b""), "empty gzip stream"),
    (b"PK\x03\x04rest of a zip", "zip-compressed"),
    (b"\xfd7zXZ\x00\x00", "xz-compressed"),
    (b"\x00\x01\x02binary", "neither a pg_dump archive nor SQL text"),
    (b"hello, this is a README\n", "neither a pg_dump archive nor SQL"),
    (b"--\n-- PostgreSQL database cluster dump\n--\n", "pg_dumpall cluster dump"),
    (b"-- just a comment\n", "holds no SQL statement"),
])
def test_anything_else_fails_with_one_clear_line(data: bytes, says: str) -> None:
    with pytest.raises(IntegrityError) as info:
        _sniff(data)
    assert says in info.value.message and "\n" not in info.value.one_line()
    assert info.value.exit_code == 1


def test_a_truncated_gzip_is_named_as_truncated() -> None:
    data = gzip.compress(SQL * 2000)
    reader = Decompressed(io.BytesIO(data[: len(data) // 2]), "gzip", "s3://b/x.sql.gz")
    with pytest.raises(IntegrityError) as info:
        while reader.read(1 << 16):
            pass
    assert "s3://b/x.sql.gz is truncated" in info.value.message


# -- the plain SQL filter -------------------------------------------------------------------------
def _run(script: bytes, size: int = 1 << 20, **kw: bool) -> tuple[bytes, ScriptReader]:
    class Chunks:
        def __init__(self) -> None:
            self.buf = io.BytesIO(script)

        def read(self, n: int = -1) -> bytes:
            return self.buf.read(size)

    r = ScriptReader(Chunks(), "x.sql", **kw)
    out = b""
    while chunk := r.read():
        out += chunk
    return out, r


FULL = (b"-- PostgreSQL database dump\n\\restrict k\nSET transaction_timeout = 0;\n"
        b"CREATE DATABASE app WITH TEMPLATE = template0;\nALTER DATABASE app OWNER TO app;\n\\connect app\n"
        b"CREATE SCHEMA billing;\nALTER SCHEMA billing OWNER TO app;\n"
        b"CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;\n"
        b'CREATE TABLE billing."Invoices" (id int);\nCOPY billing."Invoices" (id) FROM stdin;\n1\n'
        b"GRANT not a statement inside COPY data\n\\.\nGRANT SELECT ON billing.\"Invoices\" TO reader;\n"
        b"INSERT INTO public.notes VALUES (1);\n\\unrestrict k\n-- PostgreSQL database dump complete\n")


@pytest.mark.parametrize("size", [1, 2, 5, 64, 1 << 20])
def test_the_filter_learns_the_contents_and_drops_owners_at_any_chunking(size: int) -> None:
    out, r = _run(FULL, size, pg_dump_script=True, drop_transaction_timeout=True)
    assert r.facts.data_tables == ["billing.Invoices", "public.notes"]
    assert r.facts.schemas == ["billing"] and r.facts.extensions == ["pgcrypto"]
    assert r.facts.complete_marker and r.facts.ended
    assert b"OWNER TO" not in out and b"GRANT SELECT" not in out and b"CREATE DATABASE" not in out
    assert b"\\connect" not in out and b"transaction_timeout" not in out
    assert b"GRANT not a statement inside COPY data\n" in out  # COPY rows pass untouched
    assert b"\\restrict k\n" in out


def test_keep_owners_keeps_them() -> None:
    out, _ = _run(FULL, keep_owners=True, pg_dump_script=True)
    assert b"ALTER SCHEMA billing OWNER TO app;" in out and b"GRANT SELECT" in out


@pytest.mark.parametrize(("extra", "says"), [
    (b"\\connect other\n", "connects to a second database"),
    (b"\\! curl example.invalid\n", "meta-command pgdrill does not run"),
    (b"\\i other.sql\n", "meta-command pgdrill does not run"),
])
def test_the_filter_refuses_what_would_leave_the_database(extra: bytes, says: str) -> None:
    with pytest.raises(IntegrityError) as info:
        _run(FULL.replace(b"CREATE SCHEMA billing;\n", b"CREATE SCHEMA billing;\n" + extra), pg_dump_script=True)
    assert says in info.value.message


def test_a_pg_dump_script_without_its_last_line_is_truncated() -> None:
    with pytest.raises(IntegrityError) as info:
        _run(FULL[: FULL.index(b"-- PostgreSQL database dump complete")], pg_dump_script=True)
    assert "truncated" in info.value.message
    with pytest.raises(IntegrityError) as info:
        _run(FULL[: FULL.index(b"GRANT not")], pg_dump_script=True)
    assert "inside the rows of a COPY" in info.value.message
    # a script that never said pg_dump wrote it has no last line to expect
    _run(b"CREATE TABLE t (id int);\n")


@pytest.mark.parametrize(("raw", "name"), [
    (b"public.users", "public.users"), (b'"My Schema"."Users"', "My Schema.Users"), (b"users", "public.users"),
    (b'public."a""b"', 'public.a"b'),
])
def test_table_names(raw: bytes, name: str) -> None:
    assert table_name(raw) == name


def test_toc_listing() -> None:
    toc = Toc.from_listing(
        ";\n; Archive created at 2025-10-25\n;\n"
        "5; 2615 16385 SCHEMA - app postgres\n2; 3079 16386 EXTENSION - pgcrypto \n"
        "4215; 0 0 COMMENT - EXTENSION pgcrypto \n220; 1259 16398 TABLE app users postgres\n"
        "4207; 0 16398 TABLE DATA app users postgres\n4208; 0 16399 TABLE DATA public My Table postgres\n"
        "4209; 0 16399 SEQUENCE SET public users_id_seq postgres\n")
    assert toc.data_tables == ["app.users", "public.My Table"]
    assert toc.schemas == ["app", "public"] and toc.extensions == ["pgcrypto"] and toc.entries == 7
