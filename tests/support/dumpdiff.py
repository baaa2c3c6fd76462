"""Compare databases the way PostgreSQL's own tests compare dumps: the text pg_dump writes of each.

``pg_dump --create`` of the source and of two restored copies — one restored by pgdrill, one by a
bare ``pg_dump -Fc | pg_restore`` into a fresh database — compared as multisets of lines (rows
come back in another physical order; a multiset ignores that and nothing else). pgdrill may show
no difference the bare restore does not show too.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass

from pgdrill.pg import binaries
from pgdrill.pg.conn import DatabaseUrl

_RANDOM = re.compile(r"^\\(?:un)?restrict |^-- Dumped (?:from|by) ")
_DB_LINES = ("CREATE DATABASE ", "ALTER DATABASE ", "\\connect ", "COMMENT ON DATABASE ", "ALTER ROLE ",
             "GRANT ", "REVOKE ", "-- Name: ")


def dump_text(url: DatabaseUrl, major: int) -> list[str]:
    """pg_dump --create of ``url``, its database name replaced by DBNAME where it names the database."""
    client = binaries.for_dump(major)
    out = subprocess.run([client.tool("pg_dump"), "--create", f"--dbname={url.conninfo_without_password()}"],
                         capture_output=True, text=True, check=True, env={"PGPASSWORD": url.password or ""},
                         timeout=600)
    names = {url.dbname, f'"{url.dbname}"'}
    lines = []
    for line in out.stdout.splitlines():
        if _RANDOM.match(line):
            continue
        if line.startswith(_DB_LINES):
            for n in names:
                line = re.sub(rf"(?<![\w\"]){re.escape(n)}(?![\w\"])", "DBNAME", line)
        lines.append(line)
    return lines


def bare_restore(source: DatabaseUrl, target: DatabaseUrl, major: int) -> None:
    """What a user without pgdrill does: pg_dump -Fc | pg_restore into a fresh database."""
    client = binaries.for_dump(major)
    env = {"PGPASSWORD": source.password or ""}
    dump = subprocess.Popen([client.tool("pg_dump"), "-Fc", f"--dbname={source.conninfo_without_password()}"],
                            stdout=subprocess.PIPE, env=env)
    subprocess.run([client.tool("pg_restore"), f"--dbname={target.conninfo_without_password()}"], stdin=dump.stdout,
                   env=env, capture_output=True, check=False, timeout=600)
    assert dump.wait() == 0


@dataclass(frozen=True)
class Comparison:
    source_lines: int
    pgdrill_missing: Counter[str]
    pgdrill_extra: Counter[str]
    bare_missing: Counter[str]
    bare_extra: Counter[str]

    @property
    def unexplained(self) -> list[str]:
        """Differences of pgdrill's restore that the bare restore does not show too."""
        return sorted({*((self.pgdrill_missing - self.bare_missing).elements()),
                       *(f"+{x}" for x in (self.pgdrill_extra - self.bare_extra).elements())})

    def summary(self, what: str) -> str:
        return (f"{what}: pg_dump text {self.source_lines} lines; pgdrill restore differs in "
                f"{sum(self.pgdrill_missing.values())}+{sum(self.pgdrill_extra.values())} lines, a bare "
                f"pg_dump | pg_restore in {sum(self.bare_missing.values())}+{sum(self.bare_extra.values())}; "
                f"differences only pgdrill shows: {len(self.unexplained)}")


def compare(source: DatabaseUrl, via_pgdrill: DatabaseUrl, via_bare: DatabaseUrl, major: int) -> Comparison:
    s, p, b = (Counter(dump_text(u, major)) for u in (source, via_pgdrill, via_bare))
    return Comparison(sum(s.values()), s - p, p - s, s - b, b - s)
