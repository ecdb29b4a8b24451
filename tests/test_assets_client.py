"""Items from a pystac-eds client are ready to read: presigned hrefs, over loopback HTTP."""

from __future__ import annotations

from typing import Any

import pystac
import pytest
import requests
from pystac_client import Client

import pystac_eds
from pystac_eds.assets import parse_rfc3339, url_expiry
from pystac_eds.testing import AssetServer, StacServer, TokenServer

from .pixels import item_pixels, stock

S2 = "sentinel-2-l2a"


def open_catalog(tokens: TokenServer, stac: StacServer, **kwargs: Any) -> Client:
    return pystac_eds.open(credentials=tokens.credentials(stac.url), **kwargs)


def assert_presigned(item: pystac.Item, assets: AssetServer) -> None:
    visual = item.assets["visual"]
    assert visual.href.startswith(assets.base_url + "/")
    assert visual.extra_fields["alternate"]["download"]["href"] == visual.href
    assert visual.extra_fields["alternate"]["s3"]["href"].startswith("s3://eds-test/")
    assert parse_rfc3339(visual.extra_fields["expires"]) == url_expiry(visual.href)


def test_every_way_of_getting_items_gives_presigned_hrefs(
    eds_token_server: TokenServer, eds_stac_server: StacServer, eds_asset_server: AssetServer
) -> None:
    catalog = open_catalog(eds_token_server, eds_stac_server)
    ids = [f"{S2}-00001", f"{S2}-00002"]
    got = {
        "items": list(catalog.search(collections=[S2], max_items=3).items()),
        "item_collection": list(catalog.search(ids=ids).item_collection()),
        "pages": [i for p in catalog.search(ids=ids).pages() for i in p],
        "get_items": list(catalog.get_items(*ids)),
        "collection.get_items": list(catalog.get_collection(S2).get_items(*ids)),
        "get_item": [catalog.get_collection(S2).get_item(ids[0])],
    }
    for how, items in got.items():
        assert items, how
        for item in items:
            assert_presigned(item, eds_asset_server)


def test_presigned_hrefs_read_as_is(
    eds_token_server: TokenServer, eds_stac_server: StacServer, eds_asset_server: AssetServer
) -> None:
    rasterio = pytest.importorskip("rasterio")
    stock(eds_stac_server, eds_asset_server, S2, 2)
    catalog = open_catalog(eds_token_server, eds_stac_server)
    (item,) = catalog.search(ids=[f"{S2}-00001"]).items()
    # EMPTY_DIR only because the server runs in this process: rasterio asks GDAL for
    # sidecar files while holding the GIL, and GDAL's directory listing would then wait
    # on a server thread that needs the GIL (a test-harness deadlock, not a user's).
    env = rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR")
    with env, rasterio.open(item.assets["visual"].href) as dataset:
        assert (dataset.read(1) == item_pixels(1)).all()
    # and no bearer ever went to storage
    assert all("Authorization" not in r.headers for r in eds_asset_server.seen)


def test_users_modifier_runs_after_ours(
    eds_token_server: TokenServer, eds_stac_server: StacServer
) -> None:
    seen: list[str] = []

    def mine(obj: Any) -> None:
        for feature in obj.get("features", []) if isinstance(obj, dict) else []:
            seen.append(feature["assets"]["visual"]["href"])

    catalog = open_catalog(eds_token_server, eds_stac_server, modifier=mine)
    list(catalog.search(ids=[f"{S2}-00001"]).items())
    assert len(seen) == 1 and url_expiry(seen[0]) is not None


def test_raw_changes_nothing(eds_token_server: TokenServer, eds_stac_server: StacServer) -> None:
    catalog = open_catalog(eds_token_server, eds_stac_server, asset_access="raw")
    (item,) = catalog.search(ids=[f"{S2}-00001"]).items()
    assert item.assets["visual"].href == f"s3://eds-test/{S2}/00001.tif"
    assert "expires" not in item.assets["visual"].extra_fields
    assert "alternate" not in item.assets["visual"].extra_fields


def test_proxy_hrefs_are_left_for_gdal_env(
    eds_token_server: TokenServer, eds_stac_server: StacServer
) -> None:
    catalog = open_catalog(eds_token_server, eds_stac_server, asset_access="proxy")
    (item,) = catalog.search(ids=[f"{S2}-00001"]).items()
    assert item.assets["visual"].href.startswith(eds_stac_server.base_url)
    assert "expires" not in item.assets["visual"].extra_fields


def test_existing_code_gets_the_same_with_the_modifier(
    eds_token_server: TokenServer, eds_stac_server: StacServer, eds_asset_server: AssetServer
) -> None:
    io = pystac_eds.stac_io(credentials=eds_token_server.credentials(eds_stac_server.url))
    catalog = Client.open(eds_stac_server.url, stac_io=io, modifier=pystac_eds.use_presigned_hrefs)
    for item in catalog.search(collections=[S2], max_items=2).items():
        assert_presigned(item, eds_asset_server)


def test_presigned_url_works_with_plain_requests_and_not_after_expiry(
    eds_token_server: TokenServer, eds_stac_server: StacServer, eds_asset_server: AssetServer
) -> None:
    pytest.importorskip("rasterio")  # to write the file
    stock(eds_stac_server, eds_asset_server, S2, 1)
    catalog = open_catalog(eds_token_server, eds_stac_server)
    (item,) = catalog.search(ids=[f"{S2}-00000"]).items()
    href = item.assets["visual"].href
    assert requests.get(href, timeout=10).status_code == 200
    expires = url_expiry(href)
    assert expires is not None
    eds_asset_server.clock = lambda: expires.timestamp() + 1
    assert requests.get(href, timeout=10).status_code == 403


def test_collection_assets_through_the_client_are_presigned(
    eds_token_server: TokenServer, eds_stac_server: StacServer, eds_asset_server: AssetServer
) -> None:
    thumbnail = {"href": f"s3://eds-test/{S2}/thumbnail.png", "roles": ["thumbnail"]}
    eds_stac_server.collection_assets[S2] = {"thumbnail": thumbnail}
    eds_asset_server.put(thumbnail["href"], b"png")
    catalog = open_catalog(eds_token_server, eds_stac_server)
    collections = {
        "get_collection": catalog.get_collection(S2),
        "get_collections": next(c for c in catalog.get_collections() if c.id == S2),
    }
    for how, collection in collections.items():
        asset = collection.assets["thumbnail"]
        assert asset.href.startswith(eds_asset_server.base_url + "/"), how
        assert asset.extra_fields["alternate"]["s3"]["href"] == thumbnail["href"], how
        assert parse_rfc3339(asset.extra_fields["expires"]) == url_expiry(asset.href), how
        assert requests.get(asset.href, timeout=10).content == b"png", how
    raw = open_catalog(eds_token_server, eds_stac_server, asset_access="raw")
    assert raw.get_collection(S2).assets["thumbnail"].href == thumbnail["href"]
