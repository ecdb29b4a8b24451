"""Isolation for every test: no EDS settings from the developer's shell or files, no disk
token cache shared between tests, and nothing learnt about token URLs carried over."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from pystac_eds.cache import TokenCache

# Before anything creates the process-wide cache: no disk store unless a test asks.
os.environ["EDS_TOKEN_CACHE"] = "off"

CANARY_SECRET = "canary-SECRET-7f3a9c1e5b2d4f60"

# Property tests in CI must not pass or fail by luck: the "ci" profile derives every example
# from the test itself (the same examples on every run and machine). Locally the default
# profile keeps exploring new random examples and prints the seed/blob of any failure so it
# can be replayed. Select explicitly with `pytest --hypothesis-profile=ci`.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(
    "ci" if os.environ.get("CI", "").lower() not in ("", "0", "false", "no") else "dev"
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in (
        "EDS_CLIENT_ID",
        "EDS_SECRET",
        "EDS_AUTH_URL",
        "EDS_API_URL",
        "EDS_CLIENT_AUTH",
        "EDS_SCOPE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EDS_TOKEN_CACHE", "off")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # no EDS.env or .env of the developer's is read
    TokenCache.default().clear()  # tokens and learnt client-auth methods
    yield
    TokenCache.default().clear()


@pytest.fixture
def sigint_not_ignored() -> Iterator[None]:
    """For tests that interrupt a child with SIGINT. A shell starts background jobs (and
    some CI runners their steps) with SIGINT ignored; children inherit an ignored signal
    across exec, and Python then never raises KeyboardInterrupt, as POSIX intends. A
    handler of ours is reset to the default across exec, so the child can be interrupted."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if before is not None:
            signal.signal(signal.SIGINT, before)
