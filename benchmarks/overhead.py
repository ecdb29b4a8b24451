"""1. Per-request overhead: one paged search through pystac_eds.open() vs a static header.

Both clients hit the same loopback STAC server with the same request headers (the
asset-access header pystac-eds sends by default is given to pystac-client too, so the
server does the same work). Only the search is timed, not ``open``; pages are consumed
as dicts so client-side parsing dilutes the difference as little as possible.

The goal is about the auth, so it compares like with like: pystac-eds with
``asset_access="raw"`` leaves hrefs as the static client does. The default
(``"presigned"``) also rewrites every asset so that its href can be read, work the
static client does not do (its hrefs stay ``s3://``): that row is shown with its cost
per asset, not held to the goal.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import requests
from _common import COLLECTION, loopback, median, spread, table
from pystac_client import Client

import pystac_eds
from pystac_eds.client import ASSET_ACCESS_HEADERS, AssetAccess

SIGNED = ASSET_ACCESS_HEADERS["presigned"]


@dataclass
class Result:
    items: int
    page_size: int
    eds: list[float]
    static: list[float]
    presigned: list[float]
    assets: int  # assets per search, each rewritten by the presigned default
    auth_call: float = 0.0  # seconds EDSAuth spends stamping one request (cached token)

    @property
    def ratio(self) -> float:
        return median(self.eds) / median(self.static)


def _static_token(tokens: pystac_eds.testing.servers.TokenServer) -> str:
    reply = requests.post(
        tokens.token_url,
        data={"grant_type": "client_credentials"},
        auth=(tokens.client_id, tokens.client_secret),
        timeout=10,
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


def _search(client: Client, page_size: int) -> Callable[[], int]:
    def run() -> int:
        search = client.search(collections=[COLLECTION], limit=page_size)
        return sum(1 for _ in search.items_as_dicts())

    return run


def _auth_cost(client: Client, url: str, calls: int = 20_000) -> float:
    # The per-request cost pystac-eds adds, without the server's noise around it:
    # scope check, cache lookup, header and hook, on an already prepared request.
    assert client._stac_io is not None
    session = client._stac_io.session
    auth = session.auth
    assert isinstance(auth, pystac_eds.EDSAuth)
    prepared = session.prepare_request(requests.Request("GET", url))
    start = time.perf_counter()
    with warnings.catch_warnings():  # the header it set on the first call, replaced again
        warnings.simplefilter("ignore")
        for _ in range(calls):
            auth(prepared)
    return (time.perf_counter() - start) / calls


def measure(*, items: int = 2000, page_size: int = 100, runs: int = 15) -> Result:
    with loopback(items=items, page_size=page_size) as (tokens, stac):
        creds = pystac_eds.Credentials(
            client_id=tokens.client_id,
            client_secret=tokens.client_secret,
            auth_url=tokens.token_url,
            api_url=stac.url,
        )

        def eds_client(asset_access: AssetAccess) -> Client:
            cache = pystac_eds.TokenCache(store=None)
            return pystac_eds.open(
                credentials=creds, cache=cache, asset_access=asset_access, headers=SIGNED
            )

        eds, presigned = eds_client("raw"), eds_client("presigned")
        static = Client.open(
            stac.url, headers={"Authorization": f"Bearer {_static_token(tokens)}", **SIGNED}
        )
        contenders = {
            "eds": _search(eds, page_size),
            "static": _search(static, page_size),
            "presigned": _search(presigned, page_size),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for run in contenders.values():  # warm-up: connections, caches, lazy imports
            assert run() == items
            run()
        for i in range(runs):
            # ABBA ordering cancels slow drift (thermal, other load) between the two.
            order = ("eds", "static", "presigned")
            order = order if i % 2 == 0 else order[::-1]
            for name in order:
                start = time.perf_counter()
                count = contenders[name]()
                times[name].append(time.perf_counter() - start)
                assert count == items
        auth_call = _auth_cost(eds, stac.url + "search")
        assets = sum(
            len(item["assets"])
            for item in static.search(collections=[COLLECTION], limit=page_size).items_as_dicts()
        )
    return Result(
        items, page_size, times["eds"], times["static"], times["presigned"], assets, auth_call
    )


def report(result: Result) -> str:
    pages = -(-result.items // result.page_size)
    presigned_ratio = median(result.presigned) / median(result.static)
    rows = [
        ['pystac_eds.open(asset_access="raw")', spread(result.eds), f"**{result.ratio:.3f}**"],
        ['pystac-client `Client.open(headers={"Authorization": ...})`', spread(result.static), "1"],
        [
            "pystac_eds.open() (default: presigned hrefs made readable)",
            spread(result.presigned),
            f"{presigned_ratio:.3f}",
        ],
    ]
    title = (
        f"### 1. Per-request overhead: paged search, {result.items} items, "
        f"{pages} pages of {result.page_size}, {len(result.eds)} runs each (goal ≤ 1.05)\n\n"
    )
    per_page = median(result.static) / pages
    per_asset = (median(result.presigned) - median(result.eds)) / result.assets
    note = (
        f"\n\nEDSAuth itself costs {result.auth_call * 1e6:.1f} µs per request with a cached "
        f"token ({result.auth_call / per_page:.2%} of a {per_page * 1e3:.2f} ms page here). "
        f"Making hrefs readable (the default) costs {per_asset * 1e6:.1f} µs per asset: "
        f"for a Sentinel-2 item with about 20 assets, {per_asset * 20e3:.2f} ms, which shows "
        "on loopback, where a page costs next to nothing, more than across a network."
    )
    return title + table(["client", "search time, median (min-max)", "ratio"], rows) + note
