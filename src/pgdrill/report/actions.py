"""The GitHub Actions runner's file and log protocols: job summary, step outputs, annotations, masks.

These are plain files and log lines, no API calls. Every function scrubs registered secrets
from what it writes (pgdrill.secrets), so a report that accidentally carries a password still never
reaches the summary, an output or the log.

Workflow commands (``::add-mask::``, ``::error``, ``::warning``) go to **stderr** by default. GitHub's
docs show them on stdout, but the runner reads commands from both streams (actions/runner,
ScriptHandler.cs: stdout and stderr each feed an OutputManager that hands lines to the
ActionCommandManager), and pgdrill's stdout is data: ``--json`` and Prometheus text that steps pipe
into files and ``jq``. A command there would corrupt that data and, redirected, never reach the
runner at all. stderr is also where a leaked secret would most likely appear (error messages), so a
mask there is processed in order with it. Callers may pass any stream.

Limits that GitHub enforces and that this module keeps (from GitHub's workflow-commands docs):

* ``$GITHUB_STEP_SUMMARY``: at most 1 MiB per step, otherwise the summary is dropped with an error;
  we truncate with a visible note instead.
* annotations: at most 10 ``error`` and 10 ``warning`` annotations per step are shown; we emit
  nine and a summarising tenth, so the count is never silently wrong.
* ``::add-mask::`` must reach the runner before the value appears anywhere in the log.
"""

from __future__ import annotations

import os
import re
import secrets as pysecrets
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import quote, unquote, urlsplit

from pgdrill import secrets

SUMMARY_LIMIT = 1024 * 1024
ANNOTATION_LIMIT = 10
OUTPUT_VALUE_LIMIT = 1024 * 1024
#: a single annotation is cut well before GitHub's own cut, so one noisy check cannot flood the log
ANNOTATION_MESSAGE_LIMIT = 4000

_TRUNCATION_NOTE = (
    "\n\n> [!WARNING]\n"
    "> This report was cut at GitHub's 1 MiB job summary limit ({dropped} bytes left out). "
    "The full report is in the job log.\n"
)


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS", "").lower() == "true"


# -- escaping ---------------------------------------------------------------------------------


def escape_data(text: str) -> str:
    """Escape a workflow command's message (the part after ``::``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (``title=…``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


# -- masking ----------------------------------------------------------------------------------


def _mask_lines(value: str) -> list[str]:
    # The runner masks line by line, so a multi-line secret (a PEM key, an age identity file) is
    # registered whole *and* per line; short lines are skipped like pgdrill.secrets does.
    values = [value]
    if "\n" in value or "\r" in value:
        values += [line.strip() for line in value.splitlines() if len(line.strip()) >= 4]
    return [f"::add-mask::{escape_data(v)}" for v in dict.fromkeys(values)]


def add_mask(value: str, stream: TextIO | None = None) -> None:
    out = stream if stream is not None else sys.stderr
    for line in _mask_lines(value):
        out.write(line + "\n")
    out.flush()


#: env variables whose whole value is a secret, whatever pgdrill does with them
_SECRET_ENV = re.compile(r"(^|_)(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|IDENTITY|CREDENTIALS?)$")
_SECRET_ENV_EXACT = {"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "NEON_API_KEY",
                     # whoever has a webhook or ping URL can post to the channel or silence the check
                     "PGDRILL_SLACK_WEBHOOK_URL", "PGDRILL_WEBHOOK_URL", "PGDRILL_PING_URL"}
_DSN_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def secrets_from_env(env: Mapping[str, str]) -> list[str]:
    """Secret values pgdrill may meet in its environment: tokens, keys and passwords inside URLs."""
    found: list[str] = []
    for name, value in env.items():
        if not value:
            continue
        upper = name.upper()
        # Judged by name alone, so a short value ("false", "none") is more likely a flag than a
        # secret, and scrubbing it would mangle every report.
        if (upper in _SECRET_ENV_EXACT or _SECRET_ENV.search(upper)) and len(value) >= 8:
            found.append(value)
        if "://" in value:
            try:
                password = urlsplit(value.strip()).password
            except ValueError:
                password = None
            if password:
                found += [unquote(password), password, quote(unquote(password), safe="")]
        match = _DSN_PASSWORD.search(value)
        if match:
            found.append(match.group(1).strip("'"))
    return found


def mask_secrets_early(
    env: Mapping[str, str] | None = None, stream: TextIO | None = None
) -> Callable[[str], None] | None:
    """Inside GitHub Actions, mask every secret pgdrill knows now or learns later.

    Call it before anything else prints: the runner only hides values it was told about *before*
    they appear. Secrets found in the environment are registered with pgdrill.secrets first, so
    reporters scrub them too. Returns the listener, for ``secrets.off_register`` when the run ends.
    """
    env = os.environ if env is None else env
    if not in_actions(env):
        return None
    for value in secrets_from_env(env):
        secrets.register(value)

    def listener(value: str) -> None:
        # Resolved at call time: click's runner and pytest swap sys.stderr after start-up.
        add_mask(value, stream)

    secrets.on_register(listener)
    return listener


# -- job summary ------------------------------------------------------------------------------


def close_open_blocks(text: str) -> str:
    # A cut inside a code fence or <details> would swallow the truncation note.
    if text.count("```") % 2:
        text += "\n```"
    opened = len(re.findall(r"<details\b", text)) - text.count("</details>")
    text += "\n</details>" * max(opened, 0)
    return text


def fit_summary(markdown: str, budget: int = SUMMARY_LIMIT) -> tuple[str, int]:
    """``markdown`` cut to ``budget`` UTF-8 bytes (note included); returns (text, bytes dropped)."""
    data = markdown.encode("utf-8")
    if len(data) <= budget:
        return markdown, 0
    dropped = len(data)
    # Leave room for the note and the closing of open blocks before cutting.
    room = max(budget - len(_TRUNCATION_NOTE.format(dropped=dropped).encode()) - 64, 0)
    kept = data[:room].decode("utf-8", errors="ignore")
    cut = kept.rfind("\n")
    if cut > room // 2:
        kept = kept[:cut]
    dropped = len(data) - len(kept.encode("utf-8"))
    text = close_open_blocks(kept) + _TRUNCATION_NOTE.format(dropped=dropped)
    if len(text.encode("utf-8")) > budget:
        # Budget too small even for the note (the step already filled its summary): write nothing.
        return "", len(data)
    return text, dropped


def append_summary(path: str | os.PathLike[str], markdown: str) -> int:
    """Append ``markdown`` to the step summary file, keeping the file under 1 MiB.

    Returns the number of bytes of the report that did not fit (0 when all of it did).
    """
    target = Path(path)
    existing = target.stat().st_size if target.exists() else 0
    text = secrets.scrub(markdown)
    if not text.endswith("\n"):
        text += "\n"
    separator = "\n" if existing else ""
    fitted, dropped = fit_summary(text, SUMMARY_LIMIT - existing - len(separator))
    if fitted:
        with target.open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(separator + fitted)
    return dropped


# -- step outputs -----------------------------------------------------------------------------


def _delimiter(value: str) -> str:
    while True:
        delimiter = f"ghadelimiter_{pysecrets.token_hex(16)}"
        if delimiter not in value:
            return delimiter


def format_output(name: str, value: str) -> str:
    """One ``$GITHUB_OUTPUT`` entry: ``name=value``, or the heredoc form for multi-line values."""
    if not name or any(ch in name for ch in "=\r\n<") or name != name.strip():
        raise ValueError(f"output name {name!r} cannot be written to $GITHUB_OUTPUT")
    if "\n" in value or "\r" in value:
        # A fresh random delimiter per value: a fixed one could be forged by the value itself.
        delimiter = _delimiter(value)
        return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
    return f"{name}={value}\n"


def write_outputs(path: str | os.PathLike[str], outputs: Mapping[str, str]) -> list[str]:
    """Append ``outputs`` to the ``$GITHUB_OUTPUT`` file; returns the names written."""
    chunks = []
    for name, raw in outputs.items():
        value = secrets.scrub(str(raw))
        encoded = value.encode("utf-8")
        if len(encoded) > OUTPUT_VALUE_LIMIT:
            value = encoded[:OUTPUT_VALUE_LIMIT].decode("utf-8", errors="ignore")
        chunks.append(format_output(name, value))
    with Path(path).open("a", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(chunks))
    return list(outputs)


# -- annotations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Annotation:
    level: str  # "error" | "warning" | "notice"
    message: str
    title: str | None = None

    def command(self) -> str:
        message = secrets.scrub(self.message)
        if len(message) > ANNOTATION_MESSAGE_LIMIT:
            message = message[: ANNOTATION_MESSAGE_LIMIT - 1] + "…"
        props = f" title={escape_property(secrets.scrub(self.title))}" if self.title else ""
        return f"::{self.level}{props}::{escape_data(message)}"


def capped(level: str, messages: Sequence[str], title: str | None, what: str) -> list[Annotation]:
    """At most ANNOTATION_LIMIT annotations; beyond that the last one says how many were left out."""
    if len(messages) <= ANNOTATION_LIMIT:
        return [Annotation(level, m, title) for m in messages]
    shown = ANNOTATION_LIMIT - 1
    rest = len(messages) - shown
    summary = f"…and {rest} more {what} ({len(messages)} in total); see the job summary for all of them"
    return [*(Annotation(level, m, title) for m in messages[:shown]), Annotation(level, summary, title)]


def emit(annotations: Iterable[Annotation], stream: TextIO | None = None) -> int:
    out = stream if stream is not None else sys.stderr
    count = 0
    for annotation in annotations:
        out.write(annotation.command() + "\n")
        count += 1
    out.flush()
    return count
