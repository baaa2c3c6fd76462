"""Copies that are a private PostgreSQL server of their own: a data directory on the runner, a server
started on it for the run, stopped and deleted afterwards.

This is how physical backups are drilled (a restore tool fills the data directory, PostgreSQL replays
WAL up to the target instant), and how tests make throwaway copies. Each copy is a folder under
:func:`copies_root` holding the data directory, the server's socket folder and log, and a marker file
naming the process that made it — so the next run can stop and delete the servers and folders of a
run that was killed. The server listens on loopback only, on a free port, with its socket in the
copy's own folder.

:class:`DataDirectorySource` owns that lifecycle; a subclass fills the data directory
(:meth:`DataDirectorySource._populate`) and may wait for the started server to be ready for checks
(:meth:`DataDirectorySource._started`).
"""

from __future__ import annotations

import abc
import contextlib
import os
import secrets as pysecrets
import shutil
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pgdrill.checks import CheckResult
from pgdrill.errors import ConfigError, PgdrillError
from pgdrill.pg.cluster import LocalCluster
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.sources.base import CopyOptions, Leftover, RestoredCopy, Source
from pgdrill.sources.markers import Marker
from pgdrill.streams import Progress

MARKER_FILE = "pgdrill-copy.json"


def copies_root() -> Path:
    """Where private copies live: ``PGDRILL_COPIES_DIR``, else ``<temp>/pgdrill-copies``."""
    return Path(os.environ.get("PGDRILL_COPIES_DIR") or Path(tempfile.gettempdir()) / "pgdrill-copies")


def stop_server(data_dir: Path, timeout: float = 15.0) -> None:
    """Stop the postmaster running on ``data_dir`` (immediate shutdown), if any; wait until it is gone."""
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def remove_copy_folder(folder: Path) -> None:
    stop_server(folder / "data")
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        raise PgdrillError(f"{folder} could not be deleted")


@dataclass
class DataDirectorySource(Source):
    """A source whose copy is a private server on a fresh data directory under ``root``."""

    root: Path | None = None  # default: copies_root()
    bin_dir: Path | None = None  # the server binaries (initdb, pg_ctl, postgres) of the copy's major
    production_databases: tuple[str, ...] = ()
    target_url: DatabaseUrl | None = None  # never accepted: the private server is the copy
    dbname: str = "postgres"  # the database checks connect to
    _cluster: LocalCluster | None = field(default=None, init=False, repr=False)

    def _root(self) -> Path:
        return self.root or copies_root()

    def refuse_target(self) -> None:
        self.refuse_production(self.target_url, self.production_databases)
        if self.target_url is not None:
            raise ConfigError(f"--target-url does not apply to a {self.kind} drill",
                              "the copy is a private server of its own, made and removed by the drill")

    # -- for subclasses -----------------------------------------------------------------------
    @abc.abstractmethod
    def _server_bin(self) -> Path:
        """The folder of the server binaries to run the copy with."""

    @abc.abstractmethod
    def _populate(self, copy: RestoredCopy, cluster: LocalCluster, progress: Progress | None) -> None:
        """Fill ``cluster.data_dir`` (initdb, or a restore tool); the server is not running yet."""

    def _started(self, copy: RestoredCopy, cluster: LocalCluster, progress: Progress | None) -> None:
        """The server is up: wait until it is ready for the checks, fill ``copy``. Default: nothing."""
        return None

    def _start(self, cluster: LocalCluster) -> None:
        cluster.start()

    # -- Source hooks -------------------------------------------------------------------------
    def _new_copy(self, opts: CopyOptions, now: datetime) -> RestoredCopy:
        name = f"{self.kind}-{opts.purpose}-{now:%Y%m%d-%H%M%S}-{pysecrets.token_hex(3)}"
        return RestoredCopy(self.kind, name, self.origin(), opts.marker(now), target_kind="private")

    def _folder(self, copy: RestoredCopy) -> Path:
        return self._root() / copy.name

    def _make(self, copy: RestoredCopy, opts: CopyOptions, progress: Progress | None) -> None:
        folder = self._folder(copy)
        self._root().mkdir(parents=True, exist_ok=True)
        os.chmod(self._root(), 0o755)  # noqa: S103 - the cluster user must reach the copy's folder
        copy.created = True  # before the folder exists: an interrupt right after mkdir must still remove it
        folder.mkdir()
        (folder / MARKER_FILE).write_text(copy.marker.to_text() + "\n", encoding="utf-8")
        self._cluster = cluster = LocalCluster(self.bin_dir or self._server_bin(), base=folder)
        self._populate(copy, cluster, progress)
        self._start(cluster)
        if progress:
            progress(f"private server for {copy.name} started on 127.0.0.1:{cluster.port}")
        copy.url = cluster.url(self.dbname)
        self._started(copy, cluster, progress)

    def _destroy(self, copy: RestoredCopy) -> CheckResult:
        t0 = time.monotonic()
        folder = self._folder(copy)
        try:
            if self._cluster is not None:
                self._cluster.stop("immediate")
            remove_copy_folder(folder)
        except PgdrillError as exc:
            return CheckResult("cleanup", "fail", f"could not remove the copy {folder}: {exc.message}",
                               round(time.monotonic() - t0, 3))
        return CheckResult("cleanup", "pass", f"private server stopped and data directory {folder} deleted",
                           round(time.monotonic() - t0, 3))

    def _kept(self, copy: RestoredCopy) -> str:
        folder = self._folder(copy)
        port = self._cluster.port if self._cluster else "?"
        return (f"private server on 127.0.0.1:{port} and data directory {folder} kept (--keep); remove them with: "
                f"pg_ctl -D {folder / 'data'} stop -m immediate && rm -rf {folder}")

    def _leftovers(self, opts: CopyOptions) -> Sequence[Leftover]:
        root = self._root()
        if not root.is_dir():
            return []
        out = []
        for folder in sorted(root.iterdir()):
            marker_file = folder / MARKER_FILE
            if not folder.is_dir() or not folder.name.startswith(f"{self.kind}-") or not marker_file.is_file():
                continue
            try:
                marker = Marker.from_text(marker_file.read_text(encoding="utf-8").strip())
            except OSError:
                marker = None
            out.append(Leftover(folder.name, marker, _FolderRemoval(folder),
                                hint=f"pg_ctl -D {folder / 'data'} stop -m immediate && rm -rf {folder}"))
        return out


@dataclass(frozen=True)
class _FolderRemoval:
    folder: Path

    def __call__(self) -> str:
        remove_copy_folder(self.folder)
        return "server stopped and folder deleted"
