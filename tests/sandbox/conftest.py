"""Fixtures for the sandbox tests: a short-token sandbox and a no-orphans check."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pystac_eds.sandbox import Sandbox

from .helpers import descendants, need_extra


@pytest.fixture(scope="module")
def short_sandbox() -> Iterator[Sandbox]:
    """A sandbox whose tokens live 3 seconds, for expiry tests."""
    need_extra()
    with Sandbox(token_ttl=3) as sandbox:
        yield sandbox


@pytest.fixture
def own_children() -> Iterator[set[int]]:
    """This process's children before the test; after it, none may be new."""
    before = descendants(os.getpid())
    yield before
    leftover = descendants(os.getpid()) - before
    assert not leftover, f"processes left behind: {sorted(leftover)}"
