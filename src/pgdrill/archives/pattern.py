"""Archive-set patterns: a glob over a local folder or an S3 prefix, with shell semantics.

``*`` and ``?`` never cross ``/``; ``**`` as a whole segment matches any number of folders; ``[abc]``,
``[!abc]`` and ``[a-z]`` are character classes; a leading ``.`` is only matched by a pattern segment
that starts with one (hidden files such as an upload tool's ``.partial`` stay out, as in a shell).

The pattern is split into a **root** — its leading segments without wildcards, where listing starts —
and the glob below it, matched against paths relative to the root. A pattern without wildcards names
one archive (a file, or a directory-format dump); a folder or a prefix ending in ``/`` means every
archive directly inside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pgdrill.errors import ConfigError

_WILD = re.compile(r"[*?\[]")


def has_wildcards(text: str) -> bool:
    return bool(_WILD.search(text))


def _segment(seg: str) -> str:
    """One path segment of a glob as a regular expression (never matching '/')."""
    out: list[str] = []
    if seg and seg[0] in "*?[":
        out.append(r"(?!\.)")  # shell rule: wildcards do not match a leading dot
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            while i + 1 < len(seg) and seg[i + 1] == "*":
                i += 1  # '**' inside a segment is a plain '*'
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            negate = j < len(seg) and seg[j] in "!^"
            if negate:
                j += 1
            if j < len(seg) and seg[j] == "]":
                j += 1  # a ']' right after '[' is a member of the class
            while j < len(seg) and seg[j] != "]":
                j += 1
            if j >= len(seg):
                out.append(re.escape("["))  # no closing bracket: a literal '[', as in a shell
            else:
                body = seg[i + 1 + (1 if negate else 0): j].replace("\\", "\\\\").replace("^", "\\^")
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = j
        elif c == "\\" and i + 1 < len(seg):
            i += 1
            out.append(re.escape(seg[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def translate(glob: str) -> str:
    """The regular expression (anchored) matching what ``glob`` matches."""
    parts = glob.split("/")
    out: list[str] = []
    for i, seg in enumerate(parts):
        last = i == len(parts) - 1
        if seg == "**":
            # zero or more folders (not hidden ones); at the end: anything below
            out.append(r"(?:(?!\.)[^/]+/)*" if not last else r"(?!\.)[^/]*(?:/(?!\.)[^/]*)*")
            continue
        out.append(_segment(seg) + ("" if last else "/"))
    return "".join(out) + r"\Z"


Scheme = Literal["local", "s3"]


@dataclass(frozen=True)
class Pattern:
    """A parsed ``--archives`` value."""

    text: str  # as the user gave it: what reports and drill records show
    scheme: Scheme
    bucket: str  # S3 only
    root: str  # local: the absolute folder; S3: the key prefix of the root folder ("" or ending in "/")
    root_text: str  # the root as written (its folder names may carry dates: db/2025/10/)
    glob: str  # relative to the root
    listing_prefix: str  # S3: the literal start of the keys to list (may end inside a segment)
    depth: int | None  # how many segments below the root the glob reaches (None: any, with **)

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(translate(self.glob))

    def matches(self, rel: str) -> bool:
        return self.regex.match(rel) is not None

    @property
    def root_url(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.root}"
        return self.root.rstrip("/") + "/"

    def url(self, rel: str) -> str:
        return self.root_url + rel


def _split(segments: list[str]) -> tuple[list[str], list[str]]:
    """Leading literal segments (the root) and the rest (the glob; at least one segment)."""
    for i, seg in enumerate(segments):
        if has_wildcards(seg):
            return segments[:i], segments[i:]
    return segments[:-1], segments[-1:]


def _depth(glob_parts: list[str]) -> int | None:
    return None if "**" in glob_parts else len(glob_parts)


def parse(text: str) -> Pattern:
    """``s3://bucket/db/*/*/app-*.dump``, ``./backups/app_*.sql.gz``, ``/var/backups/`` …"""
    raw = (text or "").strip()
    if not raw:
        raise ConfigError("--archives is empty", "give a glob such as './backups/*.sql.gz' or 's3://bucket/db/*.dump'")
    if raw.startswith("s3://"):
        rest = raw[len("s3://"):]
        bucket, _, key = rest.partition("/")
        if not bucket or has_wildcards(bucket):
            raise ConfigError(f"--archives {raw}: the bucket must be named, without wildcards",
                              "use s3://bucket/prefix/*.dump")
        if key == "" or key.endswith("/"):
            key += "*"  # a prefix: every archive directly inside it
        root_parts, glob_parts = _split([p for p in key.split("/")])
        root = "/".join(root_parts) + ("/" if root_parts else "")
        glob = "/".join(glob_parts)
        first = glob_parts[0]
        literal_start = first[: _WILD.search(first).start()] if has_wildcards(first) else first  # type: ignore[union-attr]
        return Pattern(raw, "s3", bucket, root, root, glob, root + literal_start, _depth(glob_parts))
    if "://" in raw:
        scheme = raw.split("://", 1)[0]
        if scheme != "file":
            raise ConfigError(f"--archives {raw}: unknown scheme '{scheme}://'",
                              "use a folder path (./backups/*.dump) or s3://bucket/prefix/*.dump")
        raw_path = raw[len("file://"):]
    else:
        raw_path = raw
    expanded = str(Path(raw_path).expanduser()) if raw_path.startswith("~") else raw_path
    trailing = expanded.endswith("/")
    parts = [p for p in expanded.split("/")]
    absolute = expanded.startswith("/")
    parts = [p for p in parts if p not in ("", ".")]
    if not has_wildcards(expanded):
        path = Path(expanded)
        if path.is_dir() and (trailing or not (path / "toc.dat").is_file()):
            parts.append("*")  # a folder: every archive directly inside it
    elif trailing:
        parts.append("*")
    if not parts:
        parts = ["*"]
    root_parts, glob_parts = _split(parts)
    if ".." in glob_parts:
        raise ConfigError(f"--archives {raw}: '..' may only appear before the first wildcard")
    root_text = ("/" if absolute else "") + "/".join(root_parts)
    root = str(Path(root_text or ".").absolute())
    return Pattern(raw, "local", "", root, root_text or ".", "/".join(glob_parts), "", _depth(glob_parts))
