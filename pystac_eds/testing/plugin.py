"""The pytest plugin (entry point ``pytest11``): fixtures for testing code that uses EDS."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ..cache import TokenCache
from ..settings import Credentials
from .assets import AssetServer

# The real-server fixtures; they need the [sandbox] extra only when a test uses them.
from .sandbox_fixtures import eds_sandbox, eds_sandbox_env  # noqa: F401
from .servers import StacServer, TokenServer


@pytest.fixture
def eds_token_server() -> Iterator[TokenServer]:
    """A client-credentials token endpoint on 127.0.0.1, one per test."""
    with TokenServer() as server:
        yield server


@pytest.fixture
def eds_asset_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[AssetServer]:
    """S3-like storage on 127.0.0.1: ``put("s3://bucket/key", data)``, then read it
    through ``presign(href)`` URLs (12-hour TTL; set ``.ttl`` or ``.clock`` to expire).

    The server runs in a thread of the test process, and rasterio holds Python's global
    interpreter lock while GDAL asks for a directory listing on open, which the server
    thread could then never answer (GDAL waits for its timeout). So for the test the
    environment has ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` (unless it sets that option
    itself): GDAL's other defaults stay as they are on EDS."""
    if "GDAL_DISABLE_READDIR_ON_OPEN" not in os.environ:
        monkeypatch.setenv("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    with AssetServer() as server:
        yield server


@pytest.fixture
def eds_stac_server(
    eds_token_server: TokenServer, eds_asset_server: AssetServer
) -> Iterator[StacServer]:
    """A small STAC API on 127.0.0.1 that accepts only ``eds_token_server``'s tokens and
    presents assets as EDS does, presigned by ``eds_asset_server``."""
    with StacServer(eds_token_server, assets=eds_asset_server) as server:
        yield server


@pytest.fixture
def eds_credentials(eds_token_server: TokenServer, eds_stac_server: StacServer) -> Credentials:
    """Credentials for the two servers above."""
    return eds_token_server.credentials(eds_stac_server.url)


@pytest.fixture
def eds_token_cache() -> TokenCache:
    """A fresh in-memory token cache (no disk), to pass as ``cache=``."""
    return TokenCache(store=None)


@pytest.fixture
def eds_env(
    monkeypatch: pytest.MonkeyPatch, eds_token_server: TokenServer, eds_stac_server: StacServer
) -> dict[str, str]:
    """The servers' settings as EDS_* environment variables, for this test only; the disk
    token cache is switched off so tests do not share tokens through it."""
    settings = eds_token_server.settings(eds_stac_server.url)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EDS_TOKEN_CACHE", "off")
    return settings
