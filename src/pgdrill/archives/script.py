"""Plain SQL dumps on their way to psql: one streaming, COPY-aware line filter that learns what the
dump holds and keeps the restore to the one database pgdrill made for it.

What it does, line by line, outside ``COPY … FROM stdin`` data (which passes through untouched):

- records the tables that get rows (``COPY t``, ``INSERT INTO t``), the schemas and the extensions the
  script creates — the plain-SQL counterpart of an archive's TOC, for the checks;
- drops ownership and privileges (``ALTER … OWNER TO``, ``GRANT``, ``REVOKE``, ``ALTER DEFAULT
  PRIVILEGES``, ``SET SESSION AUTHORIZATION``) unless ``keep_owners`` — what ``pg_restore --no-owner
  --no-privileges`` does: a dump made by another tool carries no list of the roles it needs (pgdrill's
  own backups do, and keep owners and grants), and the source's roles rarely exist on a scratch server;
- drops what ``pg_dump --create`` adds around the database itself (``CREATE/ALTER/DROP/COMMENT ON
  DATABASE`` and the one ``\\connect`` to it), as pg_restore does without ``--create``; a second
  ``\\connect`` (a script restoring several databases) and psql meta-commands other than harmless
  ones (``\\!`` runs a shell, ``\\i`` reads other files) stop the restore with an error naming the line;
- notes pg_dump's closing ``-- PostgreSQL database dump complete``: a script that says pg_dump wrote it
  but does not end that way was cut short (``pg_dump > file.sql`` keeps what was written when pg_dump
  died).

The ``transaction_timeout`` line of pg_dump 17+ is dropped in the preamble for older servers, as
:mod:`pgdrill.pg.compat` does for pg_restore's scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pgdrill.errors import IntegrityError
from pgdrill.pg.compat import ScriptFilter
from pgdrill.store.base import Readable
from pgdrill.streams import CHUNK

_IDENT = r'(?:"(?:[^"]|"")+"|[^\s."(,;]+)'
_QUALIFIED = re.compile(rf"({_IDENT})(?:\.({_IDENT}))?")
_COPY = re.compile(rb"^COPY\s+(.+?)\s*(?:\(.*\))?\s+FROM\s+stdin", re.IGNORECASE)
_INSERT = re.compile(rb"^INSERT\s+INTO\s+(\S+)", re.IGNORECASE)
_SCHEMA = re.compile(rb"^CREATE\s+SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?(\S+?)\s*(?:AUTHORIZATION\s+\S+\s*)?;",
                     re.IGNORECASE)
_EXTENSION = re.compile(rb"^CREATE\s+EXTENSION\s+(?:IF\s+NOT\s+EXISTS\s+)?(\S+?)(?:\s|;)", re.IGNORECASE)
_OWNERSHIP = re.compile(
    rb"^(?:ALTER\s+.+\s+OWNER\s+TO\s+.+;|GRANT\s|REVOKE\s|ALTER\s+DEFAULT\s+PRIVILEGES\s|"
    rb"SET\s+SESSION\s+AUTHORIZATION\s|RESET\s+SESSION\s+AUTHORIZATION)", re.IGNORECASE)
_DATABASE = re.compile(rb"^(?:CREATE|ALTER|DROP)\s+DATABASE\s|^COMMENT\s+ON\s+DATABASE\s|"
                       rb"^UPDATE\s+pg_catalog\.pg_database\s", re.IGNORECASE)
_CONNECT = re.compile(rb"^\\(?:connect|c)(?:\s|$)")
#: meta-commands pg_dump writes, or that only change psql's own settings
_HARMLESS = re.compile(rb"^\\(?:restrict|unrestrict|set|unset|encoding|pset|echo|qecho|timing)(?:\s|$)")
COMPLETE = b"-- PostgreSQL database dump complete"


def _unquote(part: str) -> str:
    return part[1:-1].replace('""', '"') if part.startswith('"') else part


def table_name(raw: bytes) -> str | None:
    """``public.users``, ``"My Schema"."Users"`` → schema.table (public when unqualified)."""
    m = _QUALIFIED.match(raw.decode("utf-8", "replace").strip())
    if not m:
        return None
    first, second = m.group(1), m.group(2)
    return f"{_unquote(first)}.{_unquote(second)}" if second else f"public.{_unquote(first)}"


@dataclass
class ScriptFacts:
    """What a plain SQL script was seen to hold (complete once it was read to the end)."""

    data_tables: list[str] = field(default_factory=list)  # tables that get rows, in script order
    schemas: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    lines: int = 0
    dropped: int = 0  # ownership/privilege and database-level statements left out
    complete_marker: bool = False  # pg_dump's closing comment was seen
    ended: bool = False  # the stream was read to its end


class ScriptReader:
    """Reads the filtered script from ``source`` (the plain SQL bytes)."""

    def __init__(self, source: Readable, what: str, *, keep_owners: bool = False,
                 drop_transaction_timeout: bool = False, pg_dump_script: bool = False) -> None:
        self.source = source
        self.what = what
        self.keep_owners = keep_owners
        self.pg_dump_script = pg_dump_script
        self.facts = ScriptFacts()
        self._compat = ScriptFilter() if drop_transaction_timeout else None
        self._buf = b""
        self._eof = False
        self._in_copy = False
        self._connected = False
        self._seen: set[str] = set()

    # -- the filter -----------------------------------------------------------------------------
    def _refuse(self, line: bytes, why: str) -> IntegrityError:
        shown = line.decode("utf-8", "replace").strip()[:80]
        return IntegrityError(f"{self.what} line {self.facts.lines}: {why} ('{shown}')", "pgdrill restores the dump "
                              "of one database into the database it made for it; dump with pg_dump -d NAME")

    def _line(self, line: bytes) -> bytes:
        self.facts.lines += 1
        text = line.rstrip(b"\r\n")
        if not text or text.startswith(b"--"):
            if text.startswith(COMPLETE):
                self.facts.complete_marker = True
            return line
        if text.startswith(b"\\"):
            if _CONNECT.match(text):
                if self._connected:
                    raise self._refuse(text, "the script connects to a second database")
                self._connected = True
                self.facts.dropped += 1
                return b""
            if not _HARMLESS.match(text):
                raise self._refuse(text, "psql meta-command pgdrill does not run")
            return self._compat.line(line) if self._compat else line
        m = _COPY.match(text)
        if m:
            self._in_copy = True
            self._data(m.group(1))
            return line
        if _DATABASE.match(text):
            self.facts.dropped += 1
            return b""
        if not self.keep_owners and _OWNERSHIP.match(text):
            self.facts.dropped += 1
            return b""
        m = _INSERT.match(text)
        if m:
            self._data(m.group(1))
        elif (m := _SCHEMA.match(text)) is not None:
            name = table_name(m.group(1) + b".x")
            if name:
                self.facts.schemas.append(name.rsplit(".", 1)[0])
        elif (m := _EXTENSION.match(text)) is not None:
            self.facts.extensions.append(_unquote(m.group(1).decode("utf-8", "replace")))
        return self._compat.line(line) if self._compat else line

    def _data(self, raw: bytes) -> None:
        name = table_name(raw)
        if name and name not in self._seen:
            self._seen.add(name)
            self.facts.data_tables.append(name)

    def _copy_end(self, pos: int) -> int:
        """Where the line after the COPY terminator starts, or -1 if it is not in the buffer yet."""
        buf = self._buf
        start = pos
        while True:
            if buf.startswith((b"\\.\n", b"\\.\r\n"), start):
                return buf.index(b"\n", start) + 1
            i = buf.find(b"\n\\.", start)
            if i < 0:
                return -1
            start = i + 1

    def _process(self, final: bool) -> bytes:
        out: list[bytes] = []
        pos = 0
        buf = self._buf
        while pos < len(buf):
            if self._in_copy:
                end = self._copy_end(pos)
                if end < 0:
                    if final:
                        raise IntegrityError(f"{self.what} ends inside the rows of a COPY: the dump is truncated",
                                             "drill an older archive")
                    cut = buf.rfind(b"\n", pos) + 1
                    if cut > pos:  # pass the complete lines on; keep the last, maybe partial one
                        self.facts.lines += buf.count(b"\n", pos, cut)
                        out.append(buf[pos:cut])
                        pos = cut
                    break
                self.facts.lines += buf.count(b"\n", pos, end)
                out.append(buf[pos:end])
                pos = end
                self._in_copy = False
                continue
            nl = buf.find(b"\n", pos)
            if nl < 0:
                if not final:
                    break
                nl = len(buf) - 1
            out.append(self._line(buf[pos:nl + 1]))
            pos = nl + 1
        self._buf = buf[pos:]
        return b"".join(out)

    # -- the reader ---------------------------------------------------------------------------------
    def read(self, size: int = -1) -> bytes:
        while True:
            if self._eof:
                return b""
            chunk = self.source.read(CHUNK)
            if not chunk:
                self._eof = True
                data = self._process(final=True)
                self.facts.ended = True
                self._check_complete()
                return data
            self._buf += chunk
            data = self._process(final=False)
            if data:
                return data

    def _check_complete(self) -> None:
        if self._in_copy:
            raise IntegrityError(f"{self.what} ends inside the rows of a COPY: the dump is truncated",
                                 "drill an older archive")
        if self.pg_dump_script and not self.facts.complete_marker:
            raise IntegrityError(f"{self.what} is truncated: it was written by pg_dump but does not end with "
                                 f"'{COMPLETE.decode()}' (pg_dump died while writing it, or the copy was cut short)",
                                 "drill an older archive; in the script, use `set -o pipefail` and check pg_dump's "
                                 "exit code")
