"""resign(): fresh presigned hrefs in ⌈n / limit⌉ requests, only for items that need them."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pystac
import pytest
import requests
from pystac_client import Client

import pystac_eds
from pystac_eds import MissingItemsError, ResignError
from pystac_eds.assets import url_expiry
from pystac_eds.testing import AssetServer, Reply, StacServer, TokenServer

from .clock import FakeClock

#: Mid-2025: every URL signed at this time has long expired by the real clock.
MID_2025 = 1_750_000_000.0

S2 = "sentinel-2-l2a"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MID_2025)


@pytest.fixture
def assets(clock: FakeClock) -> Iterator[AssetServer]:
    with AssetServer(ttl=3600, clock=clock) as server:
        yield server


@pytest.fixture
def stac(eds_token_server: TokenServer, assets: AssetServer) -> Iterator[StacServer]:
    with StacServer(eds_token_server, assets=assets, collections={S2: 1000}) as server:
        yield server


@pytest.fixture
def catalog(eds_token_server: TokenServer, stac: StacServer) -> Client:
    return pystac_eds.open(credentials=eds_token_server.credentials(stac.url))


def searches(stac: StacServer) -> int:
    return sum(1 for method, path, _ in stac.seen if path.endswith("/search"))


def expired_items(catalog: Client, n: int) -> pystac.ItemCollection:
    return catalog.search(collections=[S2], max_items=n, limit=100).item_collection()


def test_expired_items_are_resigned_in_one_request_and_read_again(
    catalog: Client, stac: StacServer, assets: AssetServer, clock: FakeClock
) -> None:
    items = expired_items(catalog, 1000)
    before = searches(stac)
    old = [i.assets["visual"].href for i in items]
    assets.put(f"s3://eds-test/{S2}/00007.tif", b"pixels")
    clock.now += 3600 + 1  # the server's clock: the old URLs have run out
    fresh = pystac_eds.resign(items, catalog=catalog)
    assert searches(stac) - before == 1  # ⌈1000 / 1000⌉
    assert isinstance(fresh, pystac.ItemCollection) and len(fresh) == 1000
    assert [i.id for i in fresh] == [i.id for i in items]
    new = [i.assets["visual"].href for i in fresh]
    assert all(url_expiry(n) > url_expiry(o) for n, o in zip(new, old, strict=True))  # type: ignore[operator]
    assert requests.get(fresh[7].assets["visual"].href, timeout=10).content == b"pixels"
    assert requests.get(old[7], timeout=10).status_code == 403
    assert [i.assets["visual"].href for i in items] == old  # the input is untouched


def test_items_that_need_nothing_are_not_fetched(
    eds_token_server: TokenServer, catalog: Client, stac: StacServer, assets: AssetServer
) -> None:
    assets.clock = __import__("time").time  # real time: URLs valid for an hour
    items = list(expired_items(catalog, 5))
    before = searches(stac)
    assert pystac_eds.resign(items, catalog=catalog, margin=timedelta(minutes=30)) == items
    assert searches(stac) == before
    # but with a margin longer than their life left, they are
    fresh = pystac_eds.resign(items, catalog=catalog, margin=timedelta(hours=2))
    assert searches(stac) == before + 1 and isinstance(fresh, list)


def test_only_the_stale_items_are_fetched_and_the_rest_kept_as_they_are(
    catalog: Client, stac: StacServer, assets: AssetServer
) -> None:
    assets.clock = __import__("time").time
    items = list(expired_items(catalog, 10))
    for item in items[:3]:
        item.assets["visual"].extra_fields["expires"] = "2020-01-01T00:00:00Z"
    before = len(stac.seen)
    fresh = pystac_eds.resign(items, catalog=catalog, margin=timedelta(minutes=10))
    (request,) = stac.seen[before:]
    assert fresh[3:] == items[3:] and all(a is b for a, b in zip(fresh[3:], items[3:], strict=True))
    assert all(f.assets["visual"].extra_fields["expires"] > "2021" for f in fresh[:3])
    assert request[0] == "POST"


def test_one_item_in_one_item_out(catalog: Client, clock: FakeClock) -> None:
    (item,) = expired_items(catalog, 1)
    clock.now += 60
    fresh = pystac_eds.resign(item, catalog=catalog)
    assert isinstance(fresh, pystac.Item) and fresh.id == item.id
    assert fresh.assets["visual"].href != item.assets["visual"].href


def test_items_read_back_from_a_file(
    catalog: Client, stac: StacServer, clock: FakeClock, tmp_path: Path
) -> None:
    path = str(tmp_path / "items.json")
    expired_items(catalog, 20).save_object(dest_href=path)
    items = pystac.ItemCollection.from_file(path)
    clock.now += 60
    before = searches(stac)
    fresh = pystac_eds.resign(items, catalog=catalog)
    assert searches(stac) == before + 1
    assert all(url_expiry(i.assets["visual"].href) for i in fresh)
    assert fresh[0].assets["visual"].href != items[0].assets["visual"].href


def test_a_refused_limit_is_lowered_to_what_the_api_says(catalog: Client, stac: StacServer) -> None:
    items = expired_items(catalog, 120)
    refusal = {"code": "BadRequest", "description": "limit: must be less than or equal to 50"}
    stac.page_faults[1] = [Reply(400, refusal)]
    before = searches(stac)
    fresh = pystac_eds.resign(items, catalog=catalog)
    assert len(fresh) == 120
    assert searches(stac) - before == 1 + 3  # the refused one, then ⌈120 / 50⌉ pages


def test_a_refused_limit_with_no_maximum_stated_steps_down_through_common_caps(
    catalog: Client, stac: StacServer
) -> None:
    items = expired_items(catalog, 1000)
    stac.max_limit, stac.refuse_over_limit = 100, True  # "bad limit", no maximum named
    before = searches(stac)
    assert len(pystac_eds.resign(items, catalog=catalog)) == 1000
    # 1000, 500 and 250 refused, then ⌈1000 / 100⌉ pages (halving took 4 + 16 = 20)
    assert searches(stac) - before == 3 + 10
    # and the same client asks for what its API took straight away next time
    before = searches(stac)
    pystac_eds.resign(items, catalog=catalog)
    assert searches(stac) - before == 10


def test_a_silently_capped_limit_costs_no_extra_request(catalog: Client, stac: StacServer) -> None:
    items = expired_items(catalog, 1000)
    stac.max_limit = 100  # the STAC API spec's way: cap, and link the next page
    before = searches(stac)
    assert len(pystac_eds.resign(items, catalog=catalog)) == 1000
    assert searches(stac) - before == 10


def test_an_api_that_keeps_lowering_its_maximum_is_given_up_on(
    catalog: Client, stac: StacServer
) -> None:
    items = expired_items(catalog, 100)
    lower = [f"limit: must be less than or equal to {99 - n}" for n in range(50)]
    stac.page_faults[1] = [Reply(400, {"code": "BadRequest", "description": d}) for d in lower]
    with pytest.raises(ResignError, match="refused 10 page sizes"):
        pystac_eds.resign(items, catalog=catalog)
    assert len(stac.page_faults[1]) == 50 - 10  # a bounded number of requests


def test_a_single_item_saved_and_read_back_is_resigned(
    catalog: Client, stac: StacServer, clock: FakeClock, tmp_path: Path
) -> None:
    (item,) = expired_items(catalog, 1)
    path = tmp_path / "item.json"
    item.save_object(dest_href=str(path), include_self_link=True)
    saved = pystac.Item.from_file(str(path))
    assert saved.get_self_href() == str(path)  # a local path, not the API's
    clock.now += 60
    before = searches(stac)
    fresh = pystac_eds.resign(saved, catalog=catalog)
    assert searches(stac) == before + 1
    assert isinstance(fresh, pystac.Item)
    assert fresh.assets["visual"].href != saved.assets["visual"].href


def test_a_tuple_in_is_a_tuple_out(catalog: Client, clock: FakeClock) -> None:
    items = tuple(expired_items(catalog, 3))
    clock.now += 60
    fresh = pystac_eds.resign(items, catalog=catalog)
    assert isinstance(fresh, tuple) and [i.id for i in fresh] == [i.id for i in items]
    assert all(
        f.assets["visual"].href != i.assets["visual"].href
        for f, i in zip(fresh, items, strict=True)
    )


def test_items_the_api_no_longer_returns_are_named_and_the_rest_kept(
    catalog: Client, stac: StacServer, clock: FakeClock
) -> None:
    items = expired_items(catalog, 5)
    gone = stac.collections[S2].pop(2)["id"]
    clock.now += 60
    with pytest.raises(MissingItemsError, match=gone) as caught:
        pystac_eds.resign(items, catalog=catalog)
    assert caught.value.item_ids == (f"{S2}/{gone}",)
    rest = caught.value.items
    assert isinstance(rest, pystac.ItemCollection) and len(rest) == 5
    assert rest[0].assets["visual"].href != items[0].assets["visual"].href
    assert rest[2] is items[2]
    # From a dask worker or a process pool it comes back pickled: still naming the items.
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is MissingItemsError and str(again) == str(caught.value)
    assert again.item_ids == (f"{S2}/{gone}",) and [i.id for i in again.items] == [
        i.id for i in rest
    ]


def test_items_without_collection_are_refused_before_any_request(
    catalog: Client, stac: StacServer
) -> None:
    items = list(expired_items(catalog, 3))
    orphan = copy.deepcopy(items[1].to_dict())
    del orphan["collection"]
    items[1] = pystac.Item.from_dict(orphan)
    before = len(stac.seen)
    with pytest.raises(ResignError, match=items[1].id) as caught:
        pystac_eds.resign(items, catalog=catalog)
    assert caught.value.item_ids == (items[1].id,)
    assert pickle.loads(pickle.dumps(caught.value)).item_ids == (items[1].id,)
    assert len(stac.seen) == before


def test_items_of_another_api_are_refused(
    eds_token_server: TokenServer, catalog: Client, assets: AssetServer
) -> None:
    with StacServer(eds_token_server, assets=assets) as other_api:
        other = pystac_eds.open(credentials=eds_token_server.credentials(other_api.url))
        foreign = list(other.search(ids=[f"{S2}-00004"]).items())
    with pytest.raises(ResignError, match=f"{S2}-00004") as caught:
        pystac_eds.resign(foreign, catalog=catalog)
    assert caught.value.item_ids == (f"{S2}/{S2}-00004",)


def test_not_items_is_a_typed_error(catalog: Client) -> None:
    with pytest.raises(ResignError, match=r"takes a pystac\.ItemCollection"):
        pystac_eds.resign([{"id": "x"}], catalog=catalog)  # type: ignore[type-var]


def test_default_catalog_comes_from_the_environment(
    eds_env: dict[str, str], eds_stac_server: StacServer
) -> None:
    catalog = pystac_eds.open()
    items = list(catalog.search(ids=[f"{S2}-00001"]).items())
    fresh = pystac_eds.resign(items, margin=timedelta(days=1))
    assert fresh[0].id == items[0].id


def test_paging_stops_once_every_item_is_found(
    eds_token_server: TokenServer, catalog: Client, stac: StacServer
) -> None:
    # Many APIs (pgstac among them) link a next page after a full last page; once every
    # item is in hand, following it would cost a request for nothing.
    items = list(expired_items(catalog, 3))
    token = eds_token_server.mint()
    page = requests.post(
        stac.url + "search",
        json={"ids": [i.id for i in items], "limit": 3},
        headers={"Authorization": f"Bearer {token}", "X-Signed-Asset-Urls": "True"},
        timeout=10,
    ).json()
    page["links"] = [{"rel": "next", "href": stac.url + "search", "method": "POST", "body": {}}]
    stac.script.append(Reply(200, page))
    before = searches(stac)
    fresh = pystac_eds.resign(items, catalog=catalog)
    assert searches(stac) - before == 1
    assert [i.id for i in fresh] == [i.id for i in items]


def test_a_proxy_catalog_still_gets_presigned_hrefs(
    eds_token_server: TokenServer, stac: StacServer, clock: FakeClock
) -> None:
    signed = expired_items(pystac_eds.open(credentials=eds_token_server.credentials(stac.url)), 2)
    proxy = pystac_eds.open(
        credentials=eds_token_server.credentials(stac.url), asset_access="proxy"
    )
    clock.now += 60
    before = len(stac.seen)
    fresh = pystac_eds.resign(signed, catalog=proxy)
    (request,) = stac.seen[before:]
    assert request[2].get("X-Signed-Asset-Urls") == "True"
    # never both: which one would EDS honour?
    assert request[2].get("X-Proxy-Asset-Urls", "False") == "False"
    assert all(url_expiry(i.assets["visual"].href) for i in fresh)
