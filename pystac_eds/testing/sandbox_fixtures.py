"""pytest fixtures that run users' tests against the local EDS sandbox.

``eds_sandbox`` starts one :class:`~pystac_eds.sandbox.Sandbox` per test session (a
second or two) and skips the requesting tests, with the reason, when the ``[sandbox]``
extra is not installed. ``eds_sandbox_env`` points the ``EDS_*`` variables at it for one
test and switches the disk token cache off, so nothing leaks between tests or into the
user's real cache::

    def test_my_pipeline(eds_sandbox_env):
        catalog = pystac_eds.open()
        ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pystac_eds.sandbox import Sandbox, SandboxUnavailable


@pytest.fixture(scope="session")
def eds_sandbox() -> Iterator[Sandbox]:
    """A running sandbox shared by the whole session (tokens live an hour)."""
    sandbox = Sandbox()
    try:
        sandbox.start()
    except SandboxUnavailable as error:
        pytest.skip(f"EDS sandbox unavailable: {error}")
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def eds_sandbox_env(eds_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's four settings, set in ``os.environ`` for this test only."""
    settings = eds_sandbox.settings
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EDS_TOKEN_CACHE", "off")
    return settings
