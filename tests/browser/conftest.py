from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cdp import Chromium, chromium_binary


def _missing(what: str) -> None:
    message = f"{what} is missing: run scripts/setup/65-browser.sh (the README's test command does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if chromium_binary() is None:
        _missing("chromium (Debian package)")
    try:
        import websockets  # noqa: F401
    except ImportError:
        _missing("websockets (the test extra)")
    with Chromium.start(tmp_path_factory.mktemp("chromium")) as b:
        yield b
