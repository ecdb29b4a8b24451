"""Dask: one client from ``pystac_eds.open()`` fanned out to worker processes.

The client is scattered to a real ``LocalCluster`` (separate processes, several threads
each) that has no EDS settings; every worker searches its share and the results are
checked for completeness. The token endpoint's counter says what the fan-out cost: with a
shared disk cache one token serves the whole cluster, without it one per process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import pystac_eds
from pystac_eds import TokenCache
from pystac_eds.client import EDSStacApiIO
from pystac_eds.disk import DiskStore
from pystac_eds.testing import StacServer, TokenServer

pytest.importorskip(
    "distributed",
    reason="needs dask[distributed] for a LocalCluster: pip install 'dask[distributed]'",
)

N_WORKERS = 2
S2 = [f"sentinel-2-l2a-{i:05d}" for i in range(95)]
LANDSAT = [f"landsat-c2l2-sr-{i:05d}" for i in range(30)]


def search_share(catalog: Any, share: dict[str, Any], pause: float = 0.0) -> dict[str, Any]:
    """Runs on a worker: one search (by ids or by collection), paged by the server,
    ``pause`` seconds between pages (to make tasks outlive short tokens)."""
    found = []
    for page in catalog.search(**share).pages():
        found += [item.id for item in page]
        time.sleep(pause)
    token = catalog._stac_io.auth.token()  # from the worker's own process-wide cache
    return {
        "ids": found,
        "pid": os.getpid(),
        "has_settings": any(k.startswith("EDS_") and k != "EDS_TOKEN_CACHE" for k in os.environ),
        # A hash, so the token itself never leaves the worker.
        "token_sha": hashlib.sha256(token.encode()).hexdigest(),
        "token_requests": TokenCache.default().token_requests,  # this worker's count
    }


def shares() -> list[dict[str, Any]]:
    """Sentinel-2 by id ranges of 12 (3 pages each at 5 a page), Landsat by collection."""
    by_ids = [{"ids": S2[i : i + 12]} for i in range(0, len(S2), 12)]
    return [*by_ids, {"collections": ["landsat-c2l2-sr"]}]


@pytest.fixture
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[TokenServer, StacServer]]:
    """The token server and the API. With a ``param``, tokens are *announced* to live that
    many seconds (``expires_in``) but stay valid for a minute: clients must refresh on the
    announced lifetime, and a request a loaded machine delays past it is still served."""
    advertised = getattr(request, "param", None)
    lifetime = 3600 if advertised is None else 60
    with TokenServer(lifetime=lifetime) as tokens, StacServer(tokens, page_size=5) as api:
        if advertised is not None:
            tokens.extra_fields["expires_in"] = advertised
        yield tokens, api


def as_if_restarted(setting: str) -> None:
    """Runs on each worker: its environment gets ``EDS_TOKEN_CACHE=setting`` and its
    process-wide cache is dropped, so the next one is built from that environment with no
    token in memory, as in a freshly started worker (restarting real workers for each
    test would double the run time)."""
    from pystac_eds import TokenCache

    os.environ["EDS_TOKEN_CACHE"] = setting
    with TokenCache._default_lock:
        TokenCache._default = None


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One LocalCluster for the module: 2 worker processes of 2 threads each."""
    from distributed import Client, LocalCluster

    # Module fixtures run before conftest's per-test isolation: clear the developer's EDS
    # settings here, as workers keep the environment they are spawned with.
    with pytest.MonkeyPatch.context() as env:
        for name in [k for k in os.environ if k.startswith("EDS_")]:
            env.delenv(name)
        env.setenv("EDS_TOKEN_CACHE", "off")
        local = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=N_WORKERS,
            threads_per_worker=2,
            processes=True,
            # Loopback only, no dashboard: nothing listens beyond this machine. The scheduler
            # still serves health checks over HTTP: on a free loopback port, not :8787,
            # which another cluster may hold.
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
    # (distributed's constructors are untyped.)
    with local, Client(local) as dask_client:  # type: ignore[no-untyped-call]
        yield dask_client


@pytest.fixture
def workers(cluster: Any, request: pytest.FixtureRequest) -> Callable[[str], Any]:
    """The cluster's client, after setting the workers' ``EDS_TOKEN_CACHE``."""

    def configure(setting: str) -> Any:
        cluster.run(as_if_restarted, setting)
        return cluster

    request.addfinalizer(lambda: cluster.run(as_if_restarted, "off"))
    return configure


def fan_out(dask_client: Any, catalog: Any, pause: float = 0.0) -> list[dict[str, Any]]:
    # One copy per worker process, shared by its threads.
    [remote] = dask_client.scatter([catalog], broadcast=True, hash=False)
    futures = [dask_client.submit(search_share, remote, s, pause, pure=False) for s in shares()]
    results: list[dict[str, Any]] = dask_client.gather(futures)
    return results


def check_complete(results: list[dict[str, Any]]) -> None:
    found = [i for r in results for i in r["ids"]]
    assert len(found) == len(set(found)), "an item was returned twice"
    assert sorted(found) == sorted(S2 + LANDSAT), "an item was lost"
    for share, result in zip(shares(), results, strict=True):
        assert result["ids"] == share.get("ids", LANDSAT)  # each share, in order
    assert not any(r["has_settings"] for r in results)  # credentials came in the pickle


def worker_requests(results: list[dict[str, Any]]) -> dict[int, int]:
    """Token requests per worker process (each counter only grows, so take the max)."""
    per_pid: dict[int, int] = {}
    for r in results:
        per_pid[r["pid"]] = max(per_pid.get(r["pid"], 0), r["token_requests"])
    return per_pid


def test_dask_fan_out_with_a_shared_disk_cache_uses_one_token(
    servers: tuple[TokenServer, StacServer],
    workers: Callable[[str], Any],
    tmp_path: Path,
    record_property: Any,
) -> None:
    tokens, api = servers
    folder = tmp_path / "token-cache"
    dask_client = workers(str(folder))  # the workers' caches all use this folder
    cache = TokenCache(store=DiskStore(folder))  # this process, as it would with the env var
    catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=cache)
    io = catalog._stac_io
    assert isinstance(io, EDSStacApiIO)
    parent_token = io.auth.token()

    results = fan_out(dask_client, catalog)

    check_complete(results)
    per_pid = worker_requests(results)
    record_property("token_requests", tokens.issued)
    record_property("worker_processes", len(per_pid))
    print(f"disk cache: {tokens.issued} token request(s) for {len(per_pid)} worker process(es)")
    # The parent's token, saved on disk, served every worker: no worker asked for one.
    assert tokens.issued == len(tokens.requests) == 1
    assert set(per_pid.values()) == {0}
    assert {r["token_sha"] for r in results} == {hashlib.sha256(parent_token.encode()).hexdigest()}
    assert api.rejected == 0


def test_dask_fan_out_without_disk_cache_costs_one_token_per_process(
    servers: tuple[TokenServer, StacServer],
    workers: Callable[[str], Any],
    record_property: Any,
) -> None:
    tokens, api = servers
    dask_client = workers("off")  # workers share nothing on disk
    catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=TokenCache())

    results = fan_out(dask_client, catalog)

    check_complete(results)
    per_pid = worker_requests(results)
    record_property("token_requests", tokens.issued)
    record_property("worker_processes", len(per_pid))
    print(f"no disk cache: {tokens.issued} token request(s) for {len(per_pid)} worker process(es)")
    # The pickle carries no token: each worker process fetches exactly one, shared by its
    # threads (single flight), on top of the one this process used to open the catalog.
    assert set(per_pid.values()) == {1}
    assert tokens.issued == len(tokens.requests) == 1 + len(per_pid) <= 1 + N_WORKERS
    assert api.rejected == 0


@pytest.mark.parametrize("servers", [2], indirect=True, ids=["2s-tokens"])
def test_dask_workers_keep_refreshing_together_across_expiry(
    servers: tuple[TokenServer, StacServer],
    workers: Callable[[str], Any],
    tmp_path: Path,
    record_property: Any,
) -> None:
    tokens, api = servers
    folder = tmp_path / "token-cache"
    dask_client = workers(str(folder))
    started = time.monotonic()
    catalog = pystac_eds.open(
        credentials=tokens.credentials(api.url), cache=TokenCache(store=DiskStore(folder))
    )

    # 30 pages over 4 threads: one thread makes at least 8, and its 8th request starts at
    # least 7 pauses (1.75 s) after the first token was issued, past the 1.5 s a 2-second
    # token is used for (it is refreshed 0.5 s early). So the work outlives its first
    # token however the tasks are scheduled, and however slow the machine.
    results = fan_out(dask_client, catalog, pause=0.25)

    elapsed = time.monotonic() - started
    check_complete(results)
    record_property("token_requests", tokens.issued)
    record_property("elapsed", round(elapsed, 1))
    print(f"2 s tokens, disk cache: {tokens.issued} token request(s) in {elapsed:.1f} s")
    assert elapsed > 1.8 and tokens.issued >= 2  # refreshed on the announced lifetime
    assert api.rejected == 0  # (the server still honours old tokens: never a 401 by luck)
    # The cluster refreshes as one: about one token per 1.5 s of wall time, however many
    # processes and threads need it (+2: the first token, and rounding at the ends).
    assert tokens.issued <= elapsed / 1.5 + 2
