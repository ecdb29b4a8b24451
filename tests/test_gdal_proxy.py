"""gdal_env over loopback: GDAL reads proxy hrefs with a bearer that keeps being valid, and
the bearer reaches only the API's origin — never storage, never another host."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import pystac_eds
from pystac_eds import gdal, header_file
from pystac_eds.cache import TokenCache
from pystac_eds.testing import AssetServer, StacServer, TokenServer
from pystac_eds.testing._http import Reply, _Handler, _Server

from .clock import FakeClock
from .pixels import item_pixels, stock

rasterio = pytest.importorskip("rasterio")

S2 = "sentinel-2-l2a"
LIFETIME = 600.0
#: Big enough (512 KB) that GDAL reads each file in several range requests.
SIZE = 512


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
        stock(server, assets, S2, 4, SIZE)
        yield server


def read(href: str, options: dict[str, str]) -> Any:
    # VSI_CACHE off so every read goes to the network; EMPTY_DIR is in the options already
    # (it also avoids a GIL deadlock with servers in this process, see test_assets_client).
    with rasterio.Env(**options, VSI_CACHE="FALSE"), rasterio.open(href) as dataset:
        return dataset.read(1)


def proxy_bearers(stac: StacServer) -> list[str]:
    return [
        headers.get("Authorization", "")
        for _, path, headers in stac.seen
        if "/asset-proxy/" in path
    ]


def test_proxy_hrefs_read_across_token_lifetimes(
    tokens: TokenServer, stac: StacServer, assets: AssetServer, clock: FakeClock
) -> None:
    cache = TokenCache(clock=clock, store=None)
    credentials = tokens.credentials(stac.url)
    catalog = pystac_eds.open(credentials=credentials, asset_access="proxy", cache=cache)
    items = list(catalog.search(ids=[f"{S2}-{i:05d}" for i in range(4)]).items())
    options = pystac_eds.gdal_env(credentials, cache=cache)
    header = header_file.ensure_fresh(credentials, cache)
    for lifetime, item in enumerate(items[:3]):
        if lifetime:
            clock.now += LIFETIME  # the previous token has expired at the API
            header.refresh()  # what the refresher thread does a margin before expiry
        pixels = read(item.assets["visual"].href, options)
        assert (pixels == item_pixels(lifetime, SIZE)).all()
        assert proxy_bearers(stac)[-1] == f"Bearer {tokens.issued_tokens[-1]}"
    assert tokens.issued == 3  # the API token and the file share one token per lifetime
    # several range reads per file, every one through the proxy with the bearer
    assert len(proxy_bearers(stac)) >= 3 * 3
    # storage never saw a bearer: GDAL did not forward it across the 307
    assert assets.seen and all("Authorization" not in r.headers for r in assets.seen)


def test_the_bearer_is_not_sent_to_other_hosts_in_the_same_env(
    tokens: TokenServer, stac: StacServer, assets: AssetServer
) -> None:
    credentials = tokens.credentials(stac.url)
    options = pystac_eds.gdal_env(credentials, cache=TokenCache(store=None))
    presigned = assets.presign(f"s3://eds-test/{S2}/00003.tif")
    assert (read(presigned, options) == item_pixels(3, SIZE)).all()
    assert all("Authorization" not in r.headers for r in assets.seen)


def test_without_gdal_env_a_proxy_href_is_refused(tokens: TokenServer, stac: StacServer) -> None:
    catalog = pystac_eds.open(credentials=tokens.credentials(stac.url), asset_access="proxy")
    (item,) = catalog.search(ids=[f"{S2}-00001"]).items()
    with pytest.raises(rasterio.errors.RasterioIOError):
        read(item.assets["visual"].href, {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"})
    assert proxy_bearers(stac) and proxy_bearers(stac)[-1] == ""


def test_a_proxy_href_refused_before_gdal_env_reads_once_it_is_set_up(
    tokens: TokenServer, stac: StacServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The natural first try in a notebook: read, get a 401, add gdal_env(), read again.
    # GDAL remembers the 401 for the process unless gdal_env() makes it forget.
    monkeypatch.setattr(gdal, "_cleared", set())  # as in a new process
    catalog = pystac_eds.open(credentials=tokens.credentials(stac.url), asset_access="proxy")
    (item,) = catalog.search(ids=[f"{S2}-00002"]).items()
    href = item.assets["visual"].href
    plain = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}  # GDAL's caches as a user has them
    with rasterio.Env(**plain), pytest.raises(rasterio.errors.RasterioIOError, match="401"):
        rasterio.open(href)
    options = pystac_eds.gdal_env(tokens.credentials(stac.url), cache=TokenCache(store=None))
    with rasterio.Env(**options), rasterio.open(href) as dataset:
        assert (dataset.read(1) == item_pixels(2, SIZE)).all()


def test_the_refresher_thread_rewrites_the_file_before_expiry(tokens: TokenServer) -> None:
    tokens.lifetime = 2.0  # real seconds: the thread runs on the real clock
    tokens.clock = time.time
    credentials = tokens.credentials("http://127.0.0.1:9/")
    cache = TokenCache(store=None)
    pystac_eds.gdal_env(credentials, cache=cache)
    header = header_file.ensure_fresh(credentials, cache)
    first = header.path.read_text()
    deadline = time.monotonic() + 30
    while header.writes < 2 and time.monotonic() < deadline:  # wait on the thread's work
        time.sleep(0.02)
    assert header.writes >= 2, "the refresher thread did not rewrite the file"
    current = header.path.read_text().split()[-1]
    assert header.path.read_text() != first and tokens.is_valid(current)


# -- what must hold outside the Env too ----------------------------------------------------
#
# The header file is attached to the API's URLs for the whole process, so the options that
# keep the bearer away from the 307 target must hold for the whole process. These tests use
# SigV4 storage: GDAL takes a SigV4 URL for an S3 URL on any host (as it takes EDS's
# presigned URLs on *.s3.amazonaws.com), caches a redirect to it, and the signature covers
# the method, so S3 refuses a HEAD with it.


@pytest.fixture
def sigv4_assets() -> Iterator[AssetServer]:
    with AssetServer(signature="v4") as server:
        yield server


@pytest.fixture
def sigv4_stac(tokens: TokenServer, sigv4_assets: AssetServer) -> Iterator[StacServer]:
    with StacServer(tokens, assets=sigv4_assets) as server:
        stock(server, sigv4_assets, S2, 4, SIZE)
        yield server


#: Any Env but gdal_env()'s (EMPTY_DIR only for the in-process servers, see `read`).
PLAIN = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


def proxy_href(stac: StacServer, index: int) -> str:
    return f"{stac.base_url}/asset-proxy/eds-test/{S2}/{index:05d}.tif"


def test_the_307_target_never_sees_the_bearer_inside_or_outside_the_env(
    tokens: TokenServer, sigv4_stac: StacServer, sigv4_assets: AssetServer
) -> None:
    options = pystac_eds.gdal_env(tokens.credentials(sigv4_stac.url), cache=TokenCache(store=None))
    plain = PLAIN
    # One file per way of reading, so nothing GDAL remembers of one helps the next.
    assert (read(proxy_href(sigv4_stac, 0), options) == item_pixels(0, SIZE)).all()
    assert (read(proxy_href(sigv4_stac, 1), plain) == item_pixels(1, SIZE)).all()
    with rasterio.Env(**plain):  # the user's own Env around ours: ours exits first
        assert (read(proxy_href(sigv4_stac, 2), options) == item_pixels(2, SIZE)).all()
        assert (read(proxy_href(sigv4_stac, 3), plain) == item_pixels(3, SIZE)).all()
    assert len(proxy_bearers(sigv4_stac)) >= 4 * 3  # every range read went through the proxy
    assert all(b.startswith("Bearer ") for b in proxy_bearers(sigv4_stac))
    assert sigv4_assets.seen
    assert all("Authorization" not in r.headers for r in sigv4_assets.seen)
    # and storage was never asked with HEAD, which a GET-signed URL does not open
    assert {(r.method, r.status) for r in sigv4_assets.seen} <= {("GET", 200), ("GET", 206)}


def test_gdal_env_sets_the_redirect_options_for_the_whole_process(
    tokens: TokenServer, sigv4_stac: StacServer
) -> None:
    from pystac_eds._libgdal import config_option_getter

    pystac_eds.gdal_env(tokens.credentials(sigv4_stac.url), cache=TokenCache(store=None))
    get = config_option_getter()
    assert get is not None
    assert {key: get(key) for key in gdal.PROCESS_OPTIONS} == gdal.PROCESS_OPTIONS


# -- environment proxies ---------------------------------------------------------------------


class RecordingProxy(_Server):
    """An HTTP proxy on loopback that records what it is asked and forwards nothing."""

    def __init__(self) -> None:
        super().__init__(_ProxyHandler)
        self.seen: list[tuple[str, str, str]] = []

    @property
    def url(self) -> str:
        return self.base_url


class _ProxyHandler(_Handler):
    def do_GET(self) -> None:
        app: RecordingProxy = self.app
        with app.lock:
            app.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
        self.send(Reply(502, b"not forwarded"))

    do_HEAD = do_GET
    do_CONNECT = do_GET


@pytest.fixture
def environment_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    with RecordingProxy() as proxy:
        # curl reads the lower-case http_proxy (the upper case only for https), and ALL_PROXY
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        yield proxy


def test_loopback_proxy_reads_never_go_through_an_environment_proxy(
    tokens: TokenServer, stac: StacServer, assets: AssetServer, environment_proxy: RecordingProxy
) -> None:
    options = pystac_eds.gdal_env(tokens.credentials(stac.url), cache=TokenCache(store=None))
    assert (read(proxy_href(stac, 0), options) == item_pixels(0, SIZE)).all()
    assert (read(proxy_href(stac, 1), PLAIN) == item_pixels(1, SIZE)).all()
    assert environment_proxy.seen == []
    assert proxy_bearers(stac) and assets.seen  # read straight from the API and storage


def test_without_path_specific_options_loopback_reads_still_skip_the_proxy(
    tokens: TokenServer,
    stac: StacServer,
    environment_proxy: RecordingProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gdal, "path_option_setter", lambda: None)
    options = pystac_eds.gdal_env(tokens.credentials(stac.url), cache=TokenCache(store=None))
    assert (read(proxy_href(stac, 0), options) == item_pixels(0, SIZE)).all()
    assert environment_proxy.seen == []


# -- stackstac ---------------------------------------------------------------------------

STACKSTAC_IDS = [f"{S2}-{i:05d}" for i in range(3)]


def stackstac_pixels(item: Any, gdal_env: Any) -> Any:
    """The ``visual`` band of one item on its own footprint, read by stackstac's threads."""
    import stackstac

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
    """stackstac reads proxy hrefs through gdal_env(), as the docs say: the same pixels as
    the presigned hrefs, and no bearer at storage."""
    stackstac = pytest.importorskip("stackstac")
    import numpy as np

    cache = TokenCache(clock=clock, store=None)
    credentials = tokens.credentials(stac.url)
    presigned = list(
        pystac_eds.open(credentials=credentials, cache=cache).search(ids=STACKSTAC_IDS).items()
    )
    proxied = pystac_eds.open(credentials=credentials, asset_access="proxy", cache=cache)
    items = list(proxied.search(ids=STACKSTAC_IDS).items())
    assert all(i.assets["visual"].href.startswith(stac.base_url) for i in items)
    env = stackstac.DEFAULT_GDAL_ENV.updated(always=pystac_eds.gdal_env(credentials, cache=cache))
    header = header_file.ensure_fresh(credentials, cache)
    for lifetime, (signed, proxy) in enumerate(zip(presigned, items, strict=True)):
        if lifetime:
            clock.now += LIFETIME  # the previous token has expired at the API
            header.refresh()  # what the refresher thread does a margin before expiry
        expected = stackstac_pixels(signed, stackstac.DEFAULT_GDAL_ENV)
        assert np.array_equal(expected, item_pixels(lifetime, SIZE))
        assert np.array_equal(stackstac_pixels(proxy, env), expected)
        bearers = [h.get("Authorization", "") for _, p, h in stac.seen if "/asset-proxy/" in p]
        assert bearers and bearers[-1] == f"Bearer {tokens.issued_tokens[-1]}"
    assert tokens.issued == len(STACKSTAC_IDS)  # one token per lifetime, shared by API and GDAL
    assert stac.rejected == 0  # no read ever carried an expired token
    assert assets.seen and all("Authorization" not in r.headers for r in assets.seen)
