"""stackstac reads proxy hrefs through gdal_env(), as the docs say, across token lifetimes:
the same pixels as the presigned hrefs, and no bearer at storage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import pystac_eds
from pystac_eds import header_file
from pystac_eds.cache import TokenCache
from pystac_eds.testing import AssetServer, StacServer, TokenServer

from .pixels import item_pixels, stock

stackstac = pytest.importorskip("stackstac")
np = pytest.importorskip("numpy")

S2 = "sentinel-2-l2a"
LIFETIME = 600.0
SIZE = 128
IDS = [f"{S2}-{i:05d}" for i in range(3)]


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _no_refreshers_left() -> Iterator[None]:
    yield
    header_file.stop_all()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tokens(clock: FakeClock) -> Iterator[TokenServer]:
    with TokenServer(lifetime=LIFETIME, clock=clock) as server:
        yield server


@pytest.fixture
def assets() -> Iterator[AssetServer]:
    with AssetServer() as server:
        yield server


@pytest.fixture
def stac(tokens: TokenServer, assets: AssetServer) -> Iterator[StacServer]:
    with StacServer(tokens, assets=assets) as server:
        stock(server, assets, S2, len(IDS), SIZE)
        yield server


def pixels(item: Any, gdal_env: Any) -> Any:
    """The ``visual`` band of one item on its own footprint, read by stackstac's threads."""
    stack = stackstac.stack(
        [item],
        assets=["visual"],
        epsg=4326,
        resolution=(item.bbox[2] - item.bbox[0]) / SIZE,
        bounds=tuple(item.bbox),
        dtype="float64",
        rescale=False,
        gdal_env=gdal_env,
    )
    return stack.compute(scheduler="threads").values[0, 0]


def test_stackstac_reads_proxy_pixels_across_token_lifetimes(
    tokens: TokenServer, stac: StacServer, assets: AssetServer, clock: FakeClock
) -> None:
    cache = TokenCache(clock=clock, store=None)
    credentials = tokens.credentials(stac.url)
    presigned = list(pystac_eds.open(credentials=credentials, cache=cache).search(ids=IDS).items())
    proxied = pystac_eds.open(credentials=credentials, asset_access="proxy", cache=cache)
    items = list(proxied.search(ids=IDS).items())
    assert all(i.assets["visual"].href.startswith(stac.base_url) for i in items)
    env = stackstac.DEFAULT_GDAL_ENV.updated(always=pystac_eds.gdal_env(credentials, cache=cache))
    header = header_file.ensure_fresh(credentials, cache)
    for lifetime, (signed, proxy) in enumerate(zip(presigned, items, strict=True)):
        if lifetime:
            clock.now += LIFETIME  # the previous token has expired at the API
            header.refresh()  # what the refresher thread does a margin before expiry
        expected = pixels(signed, stackstac.DEFAULT_GDAL_ENV)
        assert np.array_equal(expected, item_pixels(lifetime, SIZE))
        assert np.array_equal(pixels(proxy, env), expected)
        bearers = [h.get("Authorization", "") for _, p, h in stac.seen if "/asset-proxy/" in p]
        assert bearers and bearers[-1] == f"Bearer {tokens.issued_tokens[-1]}"
    assert tokens.issued == len(IDS)  # one token per lifetime, shared by API and GDAL
    assert stac.rejected == 0  # no read ever carried an expired token
    assert assets.seen and all("Authorization" not in r.headers for r in assets.seen)
