"""Against the sandbox with short-lived URLs and tokens (issue 12, "done when"): items from
``pystac_eds.open()`` load with odc-stac and rasterio with no set-up; after expiry
``resign`` makes them load again in one request; proxy hrefs load through ``gdal_env()``
across token expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import pystac_eds
from pystac_eds import header_file
from pystac_eds.assets import url_expiry
from pystac_eds.sandbox import Sandbox, SandboxUnavailable

pytestmark = pytest.mark.sandbox
rasterio = pytest.importorskip("rasterio")
odc_stac = pytest.importorskip("odc.stac")

BOULDER = [-105.3, 39.9, -105.1, 40.1]
SUMMER = "2024-06-01T00:00:00Z/2024-08-31T23:59:59Z"
TTL = 5


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox(token_ttl=TTL, asset_url_ttl=TTL)
    try:
        box.start()
    except SandboxUnavailable as error:
        pytest.skip(f"EDS sandbox unavailable: {error}")
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name, value in sandbox.settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EDS_TOKEN_CACHE", "off")
    yield sandbox.settings
    header_file.stop_all()


def search(catalog: Any) -> Any:
    return catalog.search(collections=["sentinel-2-l2a"], bbox=BOULDER, datetime=SUMMER)


def load(items: Any, band: str) -> Any:
    return odc_stac.load(items, bands=[band], bbox=BOULDER, chunks={})[band].compute()


def wait_until_refused(href: str) -> None:
    """Poll storage until it says the URL has expired (its clock, not ours)."""
    deadline = time.monotonic() + 10 * TTL
    while time.monotonic() < deadline:
        if requests.get(href, headers={"Range": "bytes=0-0"}, timeout=10).status_code == 403:
            return
        time.sleep(0.2)
    raise AssertionError("the presigned URL never expired")


def test_presigned_items_load_expire_and_load_again_after_resign(env: dict[str, str]) -> None:
    sent: list[str] = []

    def count(request: Any) -> None:
        sent.append(f"{request.method} {request.url}")

    catalog = pystac_eds.open()
    items = search(catalog).item_collection()
    assert len(items) >= 2
    red = items[0].assets["red"].href
    with rasterio.open(red) as dataset:  # GDAL's defaults, no Env
        assert dataset.read(1).any()
    assert float(load(items, "red").mean()) > 0

    blue = items[0].assets["blue"].href  # not read yet: GDAL has nothing of it cached
    wait_until_refused(blue)
    with pytest.raises(rasterio.errors.RasterioIOError), rasterio.open(blue):
        pass
    fresh_catalog = pystac_eds.open(request_modifier=count)  # as on a new worker
    before = len(sent)
    fresh = pystac_eds.resign(items, catalog=fresh_catalog)
    (request,) = sent[before:]  # ⌈n / limit⌉ with n ≤ limit, and nothing else
    assert request == f"POST {env['EDS_API_URL']}/search"
    assert url_expiry(fresh[0].assets["red"].href) > url_expiry(red)  # type: ignore[operator]
    assert float(load(fresh, "green").mean()) > 0


def test_proxy_items_load_with_gdal_env_across_token_expiry(env: dict[str, str]) -> None:
    catalog = pystac_eds.open(asset_access="proxy")
    items = search(catalog).item_collection()
    assert items[0].assets["red"].href.startswith(env["EDS_API_URL"])
    options = pystac_eds.gdal_env()
    header = header_file.ensure_fresh(catalog._stac_io.auth.credentials)
    first = header.path.read_text()
    with rasterio.Env(**options):
        for round_, band in enumerate(["red", "green", "blue"]):  # new files: no GDAL cache
            if round_:
                writes = header.writes
                deadline = time.monotonic() + 10 * TTL
                while header.writes == writes and time.monotonic() < deadline:
                    time.sleep(0.05)  # until the refresher has put in the next token
                assert header.writes > writes
            assert float(load(items, band).mean()) > 0
    assert header.path.read_text() != first
