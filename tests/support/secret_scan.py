"""Find secrets where they must never be: printed output, summary/output files, stored objects.

Every fault case feeds what it saw into a :class:`SecretScanner`; at the end nothing may contain the
database password, the AWS secret key, the age identity or the GitHub token — not even URL-encoded,
base64'd or split across a line break that a renderer added.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from pgdrill.store.base import Store

#: GitHub's runner consumes these lines itself and masks the value from then on: printing a secret
#: there is how masking works, not a leak.
_MASK_COMMAND = "::add-mask::"


def _forms(value: str) -> set[str]:
    """The ways a value may show up once it went through a URL, JSON or a header."""
    forms = {value, quote(value, safe=""), quote(value)}
    raw = value.encode()
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    return {f for f in forms if len(f) >= 8}


@dataclass(frozen=True)
class Finding:
    secret: str
    where: str
    context: str

    def __str__(self) -> str:
        return f"{self.secret} found in {self.where}: …{self.context}…"


@dataclass
class SecretScanner:
    secrets: dict[str, str]
    texts: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def add_file(self, path: Path) -> None:
        if path not in self.files:
            self.files.append(path)

    def add_store(self, store: Store) -> None:
        if all(s.url != store.url for s in self.stores):
            self.stores.append(store)

    def _scan(self, where: str, data: str | bytes) -> Iterable[Finding]:
        raw = data.encode() if isinstance(data, str) else data
        mask = _MASK_COMMAND.encode()
        if mask in raw:
            raw = b"\n".join(ln for ln in raw.split(b"\n") if not ln.startswith(mask))
        # A renderer may wrap long lines: look at the text with line breaks removed too.
        for candidate in (raw, raw.replace(b"\n", b"")):
            for name, value in self.secrets.items():
                for form in _forms(value):
                    at = candidate.find(form.encode())
                    if at >= 0:
                        context = candidate[max(0, at - 40): at + len(form) + 40].decode("utf-8", "replace")
                        yield Finding(name, where, context)
                        break

    def findings(self) -> list[Finding]:
        found: list[Finding] = []
        for where, text in self.texts:
            found += self._scan(where, text)
        for path in self.files:
            if path.is_file():
                found += self._scan(str(path), path.read_bytes())
        for store in self.stores:
            for obj in store.list(""):
                found += self._scan(f"{store.url}/{obj.key}", store.get_bytes(obj.key))
        # one finding per (secret, place) is enough to act on
        unique = {(f.secret, f.where): f for f in found}
        return list(unique.values())

    def assert_clean(self) -> None:
        found = self.findings()
        assert not found, "secrets leaked:\n" + "\n".join(str(f) for f in found)


def scanner_for(values: Mapping[str, str | None]) -> SecretScanner:
    return SecretScanner({k: v for k, v in values.items() if v})
