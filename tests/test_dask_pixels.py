"""Pixels on dask: odc-stac loads on a LocalCluster of 2 worker processes, with presigned
hrefs as they come, and with proxy hrefs + gdal_env() across several real token lifetimes.

The servers run in this process; the workers read them over loopback. Tokens really
expire (8 s): every worker keeps its own header file fresh through the shared disk token
cache, and the API counts every 401 — there must be none. No token may sit in the task
graph that is pickled to the workers.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import pystac_eds
from pystac_eds import TokenCache, header_file
from pystac_eds.disk import DiskStore
from pystac_eds.gdal import PROCESS_OPTIONS, _WorkerSetup
from pystac_eds.header_sweep import HEADER_NAME
from pystac_eds.testing import AssetServer, StacServer, TokenServer

from .pixels import SIZE, item_pixels, stock

pytest.importorskip("distributed")
odc_stac = pytest.importorskip("odc.stac")
pytest.importorskip("rasterio")

S2 = "sentinel-2-l2a"
# Real seconds: short enough to cross several lifetimes in a test, long enough that the
# refresh margin (a quarter: 2 s) holds on a loaded 2-core machine.
LIFETIME = 8.0
ROUNDS = 3


@pytest.fixture(scope="module")
def token_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("token-cache")


@pytest.fixture(scope="module")
def dask_client(token_folder: Path) -> Iterator[Any]:
    """2 worker processes of 1 thread, spawned with a shared disk token cache folder and no
    EDS settings (the credentials travel in the worker plugin)."""
    from distributed import Client, LocalCluster

    with pytest.MonkeyPatch.context() as env:
        for name in [k for k in os.environ if k.startswith("EDS_")]:
            env.delenv(name)
        env.setenv("EDS_TOKEN_CACHE", str(token_folder))
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


@pytest.fixture(autouse=True)
def _no_refreshers_left(dask_client: Any) -> Iterator[None]:
    yield
    header_file.stop_all()  # this process's, and the workers':
    dask_client.run(header_file.stop_all)


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    with TokenServer(lifetime=LIFETIME) as server:
        yield server


@pytest.fixture
def assets() -> Iterator[AssetServer]:
    with AssetServer() as server:
        yield server


@pytest.fixture
def stac(tokens: TokenServer, assets: AssetServer) -> Iterator[StacServer]:
    with StacServer(tokens, assets=assets) as server:
        stock(server, assets, S2, ROUNDS + 1)
        yield server


def load(item: Any, **options: Any) -> Any:
    """A lazy odc-stac load of one item's ``visual`` band on its own pixel grid."""
    from odc.geo.geobox import GeoBox

    geobox = GeoBox.from_bbox(item.bbox, crs="EPSG:4326", shape=(SIZE, SIZE))
    return odc_stac.load([item], bands=["visual"], geobox=geobox, chunks={"x": 32, "y": 32})


def graph_bytes(data: Any) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(dict(data.__dask_graph__()))


def wait_for_new_token(tokens: TokenServer, count: int) -> None:
    """Until the token endpoint has issued ``count`` tokens (the workers refresh on their
    own); bounded, so a refresher that never runs fails the test instead of hanging it."""
    deadline = time.monotonic() + 10 * LIFETIME
    while tokens.issued < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tokens.issued >= count, "no worker refreshed its token"


def test_presigned_hrefs_load_on_dask_and_resign_runs_on_a_worker(
    dask_client: Any, tokens: TokenServer, stac: StacServer, assets: AssetServer
) -> None:
    catalog = pystac_eds.open(credentials=tokens.credentials(stac.url), cache=TokenCache())
    items = list(catalog.search(ids=[f"{S2}-{i:05d}" for i in range(2)]).items())
    for index, item in enumerate(items):
        data = load(item).visual.isel(time=0)
        assert (dask_client.compute(data).result().values == item_pixels(index)).all()
    fresh = dask_client.submit(
        pystac_eds.resign, items, margin=timedelta(days=1), catalog=catalog
    ).result()
    assert [i.id for i in fresh] == [i.id for i in items]
    assert all("Authorization" not in r.headers for r in assets.seen)


def test_proxy_hrefs_load_on_dask_across_token_lifetimes(
    dask_client: Any,
    tokens: TokenServer,
    stac: StacServer,
    assets: AssetServer,
    token_folder: Path,
) -> None:
    credentials = tokens.credentials(stac.url)
    cache = TokenCache(store=DiskStore(token_folder))  # what the env var gives this process
    catalog = pystac_eds.open(credentials=credentials, cache=cache, asset_access="proxy")
    items = list(catalog.search(ids=[f"{S2}-{i:05d}" for i in range(ROUNDS)]).items())
    options = pystac_eds.gdal_env(credentials, cache=cache, dask_client=dask_client)
    odc_stac.configure_rio(**options)  # captured into each load's graph
    for index, item in enumerate(items):
        if index:  # the token of the previous round has been replaced
            wait_for_new_token(tokens, index + 1)
        data = load(item).visual.isel(time=0)
        blob = graph_bytes(data)
        assert not [t for t in tokens.issued_tokens if t.encode() in blob]
        assert credentials.client_secret.encode() not in blob
        assert (dask_client.compute(data).result().values == item_pixels(index)).all()
    assert stac.rejected == 0  # no read ever reached the proxy with an expired token
    assert all("Authorization" not in r.headers for r in assets.seen)
    proxied = [h for _, p, h in stac.seen if "/asset-proxy/" in p]
    assert proxied and all(h.get("Authorization", "").startswith("Bearer ") for h in proxied)
    assert tokens.issued >= ROUNDS
    # each worker wrote its own header file, in the shared token-cache folder
    pids = set(dask_client.run(os.getpid).values())
    names = [HEADER_NAME.fullmatch(p.name) for p in token_folder.rglob("gdal-*.headers")]
    assert {int(match["pid"]) for match in names if match} >= pids
    # what set the workers up carries the credentials (like a pickled client), no token
    setup = pickle.dumps(_WorkerSetup(credentials, (stac.base_url,)))
    assert not [t for t in tokens.issued_tokens if t.encode() in setup]


def test_gdal_env_sets_up_the_current_clients_workers_by_itself(
    dask_client: Any, tokens: TokenServer, stac: StacServer
) -> None:
    from pystac_eds._libgdal import path_option_getter

    credentials = tokens.credentials(stac.url)
    pystac_eds.gdal_env(credentials, cache=TokenCache(store=None))  # no dask_client=

    def header_file_for(url: str) -> str | None:
        get = path_option_getter()
        return get(f"/vsicurl/{url}", "GDAL_HTTP_HEADER_FILE") if get else None

    on_workers = dask_client.run(header_file_for, stac.base_url + "/asset-proxy/x.tif")
    assert len(on_workers) == 2 and all(on_workers.values())
    assert not any(dask_client.run(header_file_for, "http://127.0.0.2:9/x.tif").values())

    def process_options() -> dict[str, str | None]:
        from pystac_eds._libgdal import config_option_getter

        get = config_option_getter()
        return {key: get(key) if get else None for key in PROCESS_OPTIONS}

    # what keeps the bearer from the 307 target holds on the workers too, outside any Env
    assert list(dask_client.run(process_options).values()) == [PROCESS_OPTIONS] * 2
