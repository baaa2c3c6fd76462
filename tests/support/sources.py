"""Sources for the source contract suite: a test-only source, and one way to build any source from a
plain JSON spec (so a separate process — one that will be SIGKILLed — can make the same copy).

``InitdbSource`` is the smallest real source: its copy is a private PostgreSQL server on a fresh data
directory (initdb), holding one small table. It exercises the data-directory lifecycle that physical
backups use (:class:`pgdrill.sources.private.DataDirectorySource`) without any backup tool.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg

from pgdrill.checks import Expected
from pgdrill.pg.cluster import LocalCluster
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.sources.base import Origin, RestoredCopy, RpoMeasure, Source
from pgdrill.sources.private import DataDirectorySource
from pgdrill.streams import Progress

ROWS = 42


@dataclass
class InitdbSource(DataDirectorySource):
    """A fresh cluster with ``ROWS`` rows in ``app.items``, as if restored from a backup taken at ``taken``."""

    server_bin: Path | None = None
    taken: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    kind: str = field(default="initdb", init=False)

    def describe(self) -> str:
        return "a fresh initdb cluster (tests)"

    def prepare(self, now: datetime) -> list[str]:
        self.refuse_target()
        return []

    def origin(self) -> Origin:
        return Origin(id=f"initdb@{self.taken:%Y%m%dT%H%M%SZ}", created_at=self.taken, point_in_time=self.taken,
                      tables=1, rows=ROWS)

    def rpo(self, now: datetime) -> RpoMeasure:
        return RpoMeasure(max(0.0, (now - self.taken).total_seconds()), 0.0, 0.0)

    def _server_bin(self) -> Path:
        assert self.server_bin is not None
        return self.server_bin

    def _populate(self, copy: RestoredCopy, cluster: LocalCluster, progress: Progress | None) -> None:
        cluster.init()

    def _started(self, copy: RestoredCopy, cluster: LocalCluster, progress: Progress | None) -> None:
        assert copy.url is not None
        with psycopg.connect(copy.url.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE SCHEMA app")
            conn.execute("CREATE TABLE app.items (id serial PRIMARY KEY, name text)")
            conn.execute(f"INSERT INTO app.items (name) SELECT 'item ' || g FROM generate_series(1, {ROWS}) g")
        copy.expected = Expected(tables={"app.items": ROWS}, schemas=["app"], extensions={})


def build(spec: dict[str, Any]) -> Source:
    """A source from a JSON spec; the same spec in two processes makes the same kind of copy."""
    kind = spec["kind"]
    if kind == "backup":
        from pgdrill.sources.backup import StoredBackupSource
        from pgdrill.store.local import LocalStore

        return StoredBackupSource(scratch_url=DatabaseUrl.parse(spec["scratch_url"]), prefix=spec["prefix"],
                                  store=LocalStore(spec["store"]), backup=spec.get("backup", "latest"))
    if kind == "neon":
        from pgdrill.providers.neon import NeonClient, NeonProvider
        from pgdrill.sources.branch import BranchSource

        client = NeonClient(spec["api_key"], spec["api_host"], backoff=0.01, max_backoff=0.08, sleep=lambda s: None)
        return BranchSource(NeonProvider(client, spec["project_id"], poll=0, failed_grace=0.0))
    if kind == "pgbackrest":
        from pgdrill.sources.pgbackrest import PgBackRestSource

        return PgBackRestSource(root=Path(spec["root"]), stanza=spec["stanza"], config=Path(spec["config"]))
    if kind == "barman":
        from pgdrill.sources.barman import BarmanCloudSource

        return BarmanCloudSource(root=Path(spec["root"]), url=spec["url"], server_name=spec["server"])
    if kind == "initdb":
        return InitdbSource(root=Path(spec["root"]), server_bin=Path(spec["server_bin"]))
    if kind == "archive":
        from pgdrill.sources.archives import ArchiveSource

        return ArchiveSource(scratch_url=DatabaseUrl.parse(spec["scratch_url"]), prefix=spec["prefix"],
                             archives=spec["archives"], archive=spec.get("archive", "latest"))
    raise ValueError(f"unknown source kind {kind}")


def main() -> None:
    """``python -m support.sources SPEC``: make a copy, say so, then die by SIGKILL inside it."""
    import os
    import signal

    from pgdrill.sources.base import CopyOptions

    source = build(json.loads(sys.argv[1]))
    source.prepare(datetime.now(timezone.utc))
    with source.restored(CopyOptions()) as copy:
        print(f"READY {copy.name}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
