"""The custom-format header parser against real archives written by pg_dump 14-18.

The archives in data/archives/ are tiny real dumps (one table of three rows) made by each major's
pg_dump, default compression, --compress=0 and, from 16 on, --compress=zstd; one is pg_dump 18
dumping a PostgreSQL 15 server, so the server and pg_dump versions must not be mixed up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdrill.errors import IntegrityError
from pgdrill.pg.archive import HEADER_PEEK, parse_header

ARCHIVES = Path(__file__).parent / "data" / "archives"
FORMAT = {14: (1, 14, 0), 15: (1, 14, 0), 16: (1, 15, 0), 17: (1, 16, 0), 18: (1, 16, 0)}
CASES = sorted(p.name for p in ARCHIVES.glob("pg*.pgdump") if "-of-" not in p.name)


def test_every_major_has_an_archive() -> None:
    assert {int(name[2:4]) for name in CASES} == set(FORMAT)


@pytest.mark.parametrize("name", CASES)
def test_real_archive_headers(name: str) -> None:
    major = int(name[2:4])
    header = parse_header((ARCHIVES / name).read_bytes()[:HEADER_PEEK])
    assert header.format_version == FORMAT[major]
    assert header.pg_dump_major == major and header.server_major == major
    assert header.dbname == "shop"
    # 17 and 18 share format 1.16: only the "dumped by" string tells them apart.
    assert header.pg_dump_version.startswith(f"{major}.")


def test_newer_pg_dump_of_older_server() -> None:
    header = parse_header((ARCHIVES / "pg18-of-pg15-server.pgdump").read_bytes())
    assert header.pg_dump_major == 18 and header.server_major == 15
    assert header.dbname == "Tienda ñ"


@pytest.mark.parametrize("name", ["pg14.pgdump", "pg16-zstd.pgdump", "pg18.pgdump"])
def test_every_truncation_is_an_integrity_error(name: str) -> None:
    data = (ARCHIVES / name).read_bytes()
    full = parse_header(data)
    server_at = data.index(full.server_version.encode())
    end = data.index(full.pg_dump_version.encode(), server_at + len(full.server_version)) + len(full.pg_dump_version)
    for cut in range(end):
        with pytest.raises(IntegrityError):
            parse_header(data[:cut])
    assert parse_header(data[:end]) == full


@pytest.mark.parametrize("data", [b"", b"age-encryption.org/v1\n", b"--\n-- PostgreSQL database dump\n",
                                  b"PGDMP\x01\x10\x00\x09\x08\x01"])
def test_not_a_custom_archive(data: bytes) -> None:
    with pytest.raises(IntegrityError):
        parse_header(data)


def test_tar_format_is_refused() -> None:
    data = bytearray((ARCHIVES / "pg17.pgdump").read_bytes())
    data[10] = 3  # archTar
    with pytest.raises(IntegrityError, match="not in custom format"):
        parse_header(bytes(data))


def _listed(path: Path) -> dict[int, str]:
    """dump id → the rest of its line ("KIND schema name owner"), as pg_restore --list prints them."""
    import re
    import shutil
    import subprocess

    tool = next((p for p in (Path(f"/var/cache/pgdrill/postgresql/{m}/bin/pg_restore") for m in (18, 17, 16))
                 if p.exists()), None) or shutil.which("pg_restore")
    if tool is None or subprocess.run([str(tool), "--version"], capture_output=True).returncode != 0:
        pytest.skip("no pg_restore 16+ to compare with")
    out = subprocess.run([str(tool), "--list", str(path)], capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(\d+); \d+ \d+ (.+)$", line)
        if m:
            rows[int(m.group(1))] = m.group(2)
    return rows


@pytest.mark.parametrize("name", [*CASES, "pg18-of-pg15-server.pgdump"])
def test_the_toc_of_real_archives(name: str) -> None:
    from pgdrill.pg.archive import read_toc

    path = ARCHIVES / name
    with open(path, "rb") as f:
        head = f.read(64)  # less than the header and TOC: the rest is pulled as the reader needs it
        header = parse_header(path.read_bytes()[:HEADER_PEEK])
        toc = read_toc(head, header, f.read)
    by_id = {e.dump_id: e for e in toc}
    listed = _listed(path)
    assert listed and set(listed) <= set(by_id)
    for dump_id, rest in listed.items():
        e = by_id[dump_id]
        assert rest.startswith(f"{e.desc} {e.namespace or '-'} {e.tag} "), (rest, e)
    assert [(e.namespace, e.tag) for e in toc if e.desc == "TABLE DATA"] == [("public", "item")]


def test_a_truncated_toc_is_an_integrity_error() -> None:
    from pgdrill.pg.archive import read_toc

    data = (ARCHIVES / "pg17.pgdump").read_bytes()
    header = parse_header(data[:HEADER_PEEK])
    with pytest.raises(IntegrityError, match="truncated"):
        read_toc(data[: header.toc_start + 40], header, lambda n: b"")
