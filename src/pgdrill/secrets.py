"""Values that must never be printed.

Every secret pgdrill sees goes through :func:`register`, so that reporters can scrub it
from any text they emit (and, in GitHub Actions, mask it before anything prints).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

_lock = threading.Lock()
_known: set[str] = set()
_listeners: list[Callable[[str], None]] = []


class Secret:
    """A string that shows as ``***`` in repr/str/format; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def register(value: str | None) -> None:
    """Remember a secret value (too-short values would scrub innocent text, so skip them)."""
    if not value or len(value) < 4:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        listeners = list(_listeners)
    for listener in listeners:
        listener(value)


def on_register(listener: Callable[[str], None]) -> None:
    """Call ``listener(value)`` for every secret, past and future (used for ``::add-mask::``)."""
    with _lock:
        _listeners.append(listener)
        known = list(_known)
    for value in known:
        listener(value)


def off_register(listener: Callable[[str], None]) -> None:
    """Stop calling ``listener`` (one command run is over; the next may not be in Actions)."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def known() -> Iterable[str]:
    with _lock:
        return sorted(_known, key=len, reverse=True)


def scrub(text: str) -> str:
    """Replace every registered secret in ``text`` with ``***``."""
    for value in known():
        if value in text:
            text = text.replace(value, "***")
    return text


def reset_for_tests() -> None:
    with _lock:
        _known.clear()
        _listeners.clear()
