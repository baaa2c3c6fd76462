"""Dumps made the way teams' own scripts make them — the bare tools, no pgdrill — and a fingerprint
of an archive set to prove pgdrill left it exactly as it was."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from pgdrill.pg import binaries
from pgdrill.pg.conn import DatabaseUrl

from support.postgres import PgServer

USERS = 500
ORDERS = 300

SCHEMA = f"""
CREATE SCHEMA app;
CREATE TABLE app.users (id serial PRIMARY KEY, email text NOT NULL);
CREATE TABLE app.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                         user_id int REFERENCES app.users(id), total numeric(10,2));
CREATE TABLE public."Audit Log" (at timestamptz DEFAULT now(), what text);
INSERT INTO app.users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, {USERS}) g;
INSERT INTO app.orders (user_id, total) SELECT 1 + g % {USERS}, g * 1.5 FROM generate_series(1, {ORDERS}) g;
INSERT INTO public."Audit Log" (what) VALUES ('made');
CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO public.alembic_version VALUES ('ae1027a6acf');
"""


@dataclass
class SourceDb:
    url: DatabaseUrl
    major: int

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url.conninfo(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    @property
    def bin(self) -> Path:
        return binaries.for_dump(self.major).bin_dir

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.url.subprocess_env(), "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}"}

    def shell(self, script: str, cwd: Path) -> None:
        """Run a backup script line as a cron job would: `pg_dump` is the server's major, $DB the database
        (the folder a `> dir/file` redirect writes into is made first, as the script's setup would)."""
        cwd.mkdir(parents=True, exist_ok=True)
        for target in re.findall(r"(?:>|-f)\s*([^\s|;&]+)", script):
            (cwd / target).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["bash", "-o", "pipefail", "-c", script], cwd=cwd, check=True, timeout=120,
                       env={**self.env(), "DB": self.url.conninfo_without_password()})

    def dump_stream(self, *args: str) -> subprocess.Popen[bytes]:
        """pg_dump writing to a pipe (what `pg_dump … | aws s3 cp - s3://…` reads)."""
        return subprocess.Popen([str(self.bin / "pg_dump"), *args, f"--dbname={self.url.conninfo_without_password()}"],
                                stdout=subprocess.PIPE, env=self.env())


def make_source(pg: PgServer) -> SourceDb:
    url = pg.create_database()
    source = SourceDb(url, pg.major)
    source.execute(SCHEMA)
    return source


def stream_to_s3(client: Any, proc: subprocess.Popen[bytes], bucket: str, key: str) -> None:
    """`pg_dump --format=custom | aws s3 cp - s3://bucket/key`: streamed, never a file."""
    assert proc.stdout is not None
    client.upload_fileobj(proc.stdout, bucket, key)
    assert proc.wait() == 0


def local_fingerprint(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file below ``root``: sha256, size, modification time (ns)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_size,
                                                      st.st_mtime_ns)
    return out


def s3_objects(client: Any, bucket: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        yield from page.get("Contents", [])


def s3_fingerprint(client: Any, bucket: str) -> dict[str, tuple[str, int, str]]:
    """Every object of the bucket: ETag, size, sha256 of its bytes; and no multipart upload left open."""
    out = {}
    for obj in s3_objects(client, bucket):
        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        out[obj["Key"]] = (obj["ETag"], obj["Size"], hashlib.sha256(body).hexdigest())
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert not uploads
    return out
