"""The pgBackRest source: a stanza's base backup restored with ``pgbackrest restore`` into a fresh data
directory and recovered to ``--at`` by PostgreSQL with pgBackRest's own ``archive-get``.

    pgdrill drill --pgbackrest-stanza main [--pgbackrest-config /etc/pgbackrest/pgbackrest.conf] --at -15m

pgBackRest is run as the cluster user (the runner's user, or ``postgres`` when pgdrill is root), reads
the repository only (``info``, ``repo-ls``, ``restore``, ``archive-get``) and never writes to it: the
copy starts with archiving off. Tablespaces are mapped into the copy's own folder
(``--tablespace-map-all``), so nothing is written where production keeps them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pgdrill.errors import ConfigError, StoreError, ToolMissing
from pgdrill.settings import Settings
from pgdrill.sources.base import RestoredCopy
from pgdrill.sources.physical import (
    ArchivedWal,
    BaseBackup,
    PhysicalRecoverySource,
    Repository,
    ToolRun,
    newest_segment,
    pg_time,
    physical_options,
    run_tool,
)

#: pgbackrest info status codes that mean "the stanza is not what you think" (the user's to fix)
_STANZA_PROBLEMS = {1: "missing stanza path", 2: "no valid backups", 3: "missing stanza data"}


@dataclass
class PgBackRestSource(PhysicalRecoverySource):
    stanza: str = ""
    config: Path | None = None  # --pgbackrest-config; None: pgBackRest's own default
    executable: str = "pgbackrest"
    kind: str = field(default="pgbackrest", init=False)

    def describe(self) -> str:
        where = f" ({self.config})" if self.config else ""
        return f"pgBackRest stanza {self.stanza}{where}"

    def _tool(self) -> str:
        found = shutil.which(self.executable)
        if not found:
            raise ToolMissing("pgbackrest is not installed on this runner",
                              "install it (apt-get install pgbackrest, or the PGDG package) where the repository can "
                              "be reached")
        return found

    def _run(self, *args: str) -> ToolRun:
        cmd = [self._tool()]
        if self.config is not None:
            cmd.append(f"--config={self.config}")
        cmd += [f"--stanza={self.stanza}", "--log-level-console=warn", "--log-level-stderr=off", *args]
        return run_tool(cmd, cwd=Path("/"))

    def _check_tools(self) -> None:
        if not self.stanza:
            raise ConfigError("missing --pgbackrest-stanza")
        if self.config is not None and not self.config.is_file():
            raise ConfigError(f"pgBackRest configuration {self.config} does not exist", "fix --pgbackrest-config")
        out = run_tool([self._tool(), "version"])
        self._tool_version = out.stdout.strip() or "pgBackRest"  # "pgBackRest 2.45"

    def _info(self) -> dict[str, Any]:
        out = self._run("info", "--output=json")
        docs = out.json(f"pgbackrest info for stanza {self.stanza} failed",
                        f"pgbackrest info for stanza {self.stanza} did not print JSON",
                        "check the repository settings and that this runner can read the repository")
        doc = next((d for d in docs if isinstance(d, dict) and d.get("name") == self.stanza), None)
        if doc is None:
            raise ConfigError(f"pgBackRest knows no stanza '{self.stanza}'", "check --pgbackrest-stanza")
        status = doc.get("status") or {}
        code, message = int(status.get("code", 99)), str(status.get("message", "unknown"))
        # The stanza's message is a summary ("other"); each repository's own status says what failed.
        details = [str((r.get("status") or {}).get("message")) for r in doc.get("repo") or []
                   if int((r.get("status") or {}).get("code", 0)) not in (0, code if code in _STANZA_PROBLEMS else -1)]
        if details and code not in _STANZA_PROBLEMS:
            message = "; ".join(details)
        if code in _STANZA_PROBLEMS:
            raise ConfigError(f"pgBackRest stanza '{self.stanza}' cannot be restored: {message}",
                              "check --pgbackrest-stanza and the repository (pgbackrest info)")
        if code != 0:
            raise StoreError(f"pgBackRest cannot read the repository of stanza '{self.stanza}': {message}",
                             "check that this runner can read the repository (pgbackrest info)")
        return dict(doc)

    def _inspect(self) -> Repository:
        doc = self._info()
        versions = {int(d["id"]): str(d.get("version", "0")) for d in doc.get("db") or [] if "id" in d}
        backups = []
        for b in doc.get("backup") or []:
            if b.get("error"):
                continue  # pgBackRest marks backups with page errors; never recover from one
            ts = b.get("timestamp") or {}
            major = int(versions.get(int((b.get("database") or {}).get("id", 0)), "0").split(".")[0])
            backups.append(BaseBackup(str(b["label"]), _unix(ts["start"]), _unix(ts["stop"]), major,
                                      int((b.get("info") or {}).get("size") or 0)))
        backups.sort(key=lambda b: b.stopped_at)
        return Repository(tuple(backups), self._newest_wal(doc), self.describe())

    def _newest_wal(self, doc: dict[str, Any]) -> ArchivedWal | None:
        archives = [a for a in doc.get("archive") or [] if a.get("max")]
        if not archives:
            return None
        archive = archives[-1]  # the current database's archive (older ones precede it after an upgrade)
        newest = str(archive["max"])
        out = self._run("repo-ls", f"archive/{self.stanza}/{archive['id']}/{newest[:16]}", "--output=json")
        files: dict[str, Any] = out.json("pgbackrest repo-ls of the WAL archive failed",
                                         "pgbackrest repo-ls did not print JSON")
        names = [n for n, f in files.items() if isinstance(f, dict) and f.get("type") == "file"]
        segment = newest_segment(names) or newest
        entry = next((files[n] for n in names if n.startswith(segment)), None)
        if entry is None or "time" not in entry:
            return None
        return ArchivedWal(segment, _unix(entry["time"]))

    def _restore_files(self, copy: RestoredCopy, backup: BaseBackup, data_dir: Path) -> ToolRun:
        args = ["restore", f"--pg1-path={data_dir}", f"--set={backup.id}", "--archive-mode=off",
                f"--tablespace-map-all={data_dir.parent / 'tablespaces'}"]
        if self.at is not None:
            args += ["--type=time", f"--target={pg_time(self.at)}", "--target-action=promote"]
        else:
            args += ["--type=default"]
        return self._run(*args)


def _unix(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), timezone.utc)


def from_settings(s: Settings, purpose: str) -> PgBackRestSource:
    """``--pgbackrest-stanza`` (and ``--pgbackrest-config``), ``--at``, the ``pitr:`` section."""
    o = physical_options(s, purpose, "pgBackRest")
    config = s.text("pgbackrest_config")
    return PgBackRestSource(stanza=str(s.require("pgbackrest_stanza")), config=Path(config) if config else None,
                            at=o.at, settings=o.settings, production_databases=o.production_databases,
                            target_url=o.target_url)
