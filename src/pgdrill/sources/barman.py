"""The barman-cloud source: a base backup that ``barman-cloud-backup`` (or CloudNativePG, which uses
it) wrote to object storage, restored with ``barman-cloud-restore`` into a fresh data directory and
recovered to ``--at`` with ``restore_command = 'barman-cloud-wal-restore …'``.

    pgdrill drill --barman-cloud-url s3://bucket/path --barman-server-name pg-main [--at …]

Credentials come from the environment (AWS_* variables, OIDC web identity, a profile), the endpoint
from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when set. The restored copy starts with archiving off:
its configuration still carries ``barman-cloud-wal-archive``, which would otherwise push the copy's
new timeline into the production bucket. The bucket is only listed and read.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pgdrill.errors import ConfigError, StoreError, ToolMissing
from pgdrill.pg.cluster import cluster_user, run_as_prefix
from pgdrill.settings import Settings
from pgdrill.sources.base import RestoredCopy
from pgdrill.sources.physical import (
    ArchivedWal,
    BaseBackup,
    PhysicalRecoverySource,
    Repository,
    ToolRun,
    conf_quote,
    newest_segment,
    pg_time,
    physical_options,
    run_tool,
)

TOOLS = ("barman-cloud-backup-list", "barman-cloud-restore", "barman-cloud-wal-restore")


def find_tool(name: str) -> str:
    """A barman-cloud command: next to this Python (``pip install 'pgdrill[barman]'``), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise ToolMissing(f"{name} is not installed on this runner",
                          "pip install 'barman[cloud]' (or pgdrill[barman]), or the barman-cli-cloud package")
    return found


def endpoint_url() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


@dataclass
class BarmanCloudSource(PhysicalRecoverySource):
    url: str = ""  # s3://bucket/path, the barman-cloud destination
    server_name: str = ""
    kind: str = field(default="barman", init=False)

    def describe(self) -> str:
        return f"barman-cloud server {self.server_name} in {self.url}"

    def _common(self) -> list[str]:
        ep = endpoint_url()
        return ["--endpoint-url", ep] if ep else []

    def _check_tools(self) -> None:
        if not self.url or not self.server_name:
            raise ConfigError("a barman-cloud source needs --barman-cloud-url and --barman-server-name")
        if urlsplit(self.url).scheme != "s3" or not urlsplit(self.url).netloc:
            raise ConfigError(f"--barman-cloud-url '{self.url}' is not an s3://bucket/path URL",
                              "pgdrill reads barman-cloud backups from S3 and S3-compatible storage")
        for name in TOOLS:
            find_tool(name)
        # The recovered server runs barman-cloud-wal-restore itself, as the cluster user.
        wal_restore = find_tool("barman-cloud-wal-restore")
        out = run_tool([wal_restore, "--version"])
        if out.returncode != 0:
            raise ToolMissing(f"the cluster user {cluster_user()} cannot run {wal_restore}: {out.error_line()}",
                              "install barman-cli-cloud where that user can run it (a venv it can read)")
        version = out.stdout.strip().split()[-1] if out.stdout.strip() else ""
        self._tool_version = f"barman-cloud-restore {version}".strip()

    def _inspect(self) -> Repository:
        out = run_tool([find_tool("barman-cloud-backup-list"), *self._common(), "--format", "json", self.url,
                        self.server_name], as_cluster_user=False)
        doc = out.json(f"barman-cloud-backup-list of {self.url} failed", "barman-cloud-backup-list did not print JSON",
                       "check the URL, the credentials (AWS_* or OIDC) and AWS_ENDPOINT_URL")
        backups = []
        for b in doc.get("backups_list") or []:
            if b.get("status") != "DONE":
                continue
            version = int(b.get("version") or 0)
            tablespaces = tuple((str(t[0]), str(t[2])) for t in b.get("tablespaces") or [] if len(t) >= 3)
            backups.append(BaseBackup(str(b["backup_id"]), _time(b["begin_time_iso"]), _time(b["end_time_iso"]),
                                      version // 10000, int(b.get("size") or b.get("cluster_size") or 0),
                                      tablespaces))
        backups.sort(key=lambda b: b.stopped_at)
        if not backups:
            raise ConfigError(f"{self.describe()} holds no complete backup",
                              "check --barman-cloud-url and --barman-server-name (barman-cloud-backup-list)")
        return Repository(tuple(backups), self._newest_wal(), self.describe())

    def _newest_wal(self) -> ArchivedWal | None:
        """The newest segment under ``<path>/<server>/wals/`` and when it was uploaded."""
        import boto3
        import botocore.exceptions

        parts = urlsplit(self.url)
        prefix = "/".join(p for p in (parts.path.strip("/"), self.server_name, "wals") if p) + "/"
        client = boto3.session.Session().client("s3", endpoint_url=endpoint_url())
        newest: tuple[str, datetime] | None = None
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=parts.netloc, Prefix=prefix):
                for obj in page.get("Contents", []):
                    name = obj["Key"].rsplit("/", 1)[-1]
                    seg = newest_segment([name])
                    if seg and (newest is None or seg > newest[0]):
                        newest = (seg, obj["LastModified"].astimezone(timezone.utc))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise StoreError(f"cannot list the WAL archive in {self.url}: {exc}") from None
        return ArchivedWal(*newest) if newest else None

    def _restore_files(self, copy: RestoredCopy, backup: BaseBackup, data_dir: Path) -> ToolRun:
        maps = []
        for name, _location in backup.tablespaces:
            maps += ["--tablespace", f"{name}:{data_dir.parent / 'tablespaces' / name}"]
        run = run_tool([find_tool("barman-cloud-restore"), *self._common(), *maps, self.url, self.server_name,
                        backup.id, str(data_dir)], cwd=data_dir.parent)
        if run.returncode == 0:
            self._configure_recovery(data_dir)
        return run

    def _configure_recovery(self, data_dir: Path) -> None:
        wal_restore = " ".join([find_tool("barman-cloud-wal-restore"), *self._common(), self.url, self.server_name,
                                "%f", "%p"])
        lines = ["", "# recovery settings written by pgdrill", f"restore_command = {conf_quote(wal_restore)}",
                 "archive_mode = 'off'", "recovery_target_timeline = 'latest'"]
        if self.at is not None:
            lines += [f"recovery_target_time = {conf_quote(pg_time(self.at))}", "recovery_target_action = 'promote'"]
        auto = data_dir / "postgresql.auto.conf"
        with auto.open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        signal = data_dir / "recovery.signal"
        signal.write_text("", encoding="utf-8")
        prefix = run_as_prefix()
        if prefix:
            import pwd

            owner = pwd.getpwnam(prefix[2])
            for p in (auto, signal):
                os.chown(p, owner.pw_uid, owner.pw_gid)


def _time(value: Any) -> datetime:
    t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def from_settings(s: Settings, purpose: str) -> BarmanCloudSource:
    """``--barman-cloud-url`` and ``--barman-server-name``, ``--at``, the ``pitr:`` section."""
    o = physical_options(s, purpose, "barman-cloud")
    return BarmanCloudSource(url=str(s.require("barman_cloud_url")), server_name=str(s.require("barman_server_name")),
                             at=o.at, settings=o.settings, production_databases=o.production_databases,
                             target_url=o.target_url)
