"""Pixels: reading assets, re-signing them, and what gdal_env() costs. One run, ratios.

python benchmarks/pixels.py            # ~1 minute; writes benchmarks/pixels-results.md
python benchmarks/pixels.py --quick    # a smoke run (fewer repetitions, noisier)

1. Time to first pixel and MB/s, presigned hrefs vs proxy hrefs + gdal_env(), on the
   sandbox (its servers are other processes, as EDS would be).
2. resign() of 1,000 expired items on the test kit's loopback STAC API: API requests
   (goal ⌈1000 / page limit⌉) and seconds, next to fetching each item on its own.
3. odc.stac.load of proxy hrefs with gdal_env() vs the same load with a static
   ``GDAL_HTTP_HEADERS`` bearer: ratio of medians (goal ≤ 1.05).

GDAL's caches are cleared before every timed read (``VSICurlClearCache``), so each run
goes to the servers; the two sides alternate so drift hits both.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import odc.stac  # noqa: E402
import rasterio  # noqa: E402
import rasterio._env  # noqa: E402
from _common import load, machine, median, table  # noqa: E402

import pystac_eds  # noqa: E402
from pystac_eds.sandbox import Sandbox  # noqa: E402
from pystac_eds.testing import AssetServer, Reply, StacServer, TokenServer  # noqa: E402

BBOX = [-105.8, 39.6, -104.8, 40.4]
SUMMER = "2024-06-01/2024-08-31"
BANDS = ["red", "green", "blue", "nir"]
_clear = ctypes.CDLL(rasterio._env.__file__).VSICurlClearCache


def cold() -> None:
    """Forget everything GDAL cached of earlier reads."""
    _clear()


def timed(step: Callable[[], Any]) -> float:
    cold()
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def alternate(a: Callable[[], Any], b: Callable[[], Any], runs: int) -> tuple[list[float], ...]:
    times_a, times_b = [], []
    timed(a), timed(b)  # warm-up: imports, connections, first tokens
    for run in range(runs):
        pair = [(times_a, a), (times_b, b)]
        for times, step in pair if run % 2 == 0 else reversed(pair):
            times.append(timed(step))
    return times_a, times_b


# -- 1. first pixel and throughput --------------------------------------------------------


def first_pixel(href: str) -> None:
    with rasterio.open(href) as dataset:
        dataset.read(1, window=((0, 1), (0, 1)))


def read_all(hrefs: list[str]) -> int:
    total = 0
    for href in hrefs:
        with rasterio.open(href) as dataset:
            total += dataset.read().nbytes
    return total


def reading(runs: int) -> str:
    presigned_items = search(pystac_eds.open())
    proxy_items = search(pystac_eds.open(asset_access="proxy"))
    signed = [i.assets[b].href for i in presigned_items for b in BANDS]
    proxied = [i.assets[b].href for i in proxy_items for b in BANDS]
    options = pystac_eds.gdal_env()
    megabytes = read_all(signed) / 1e6

    def with_env(step: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with rasterio.Env(**options):
                return step()

        return run

    fp_signed, fp_proxy = alternate(
        lambda: first_pixel(signed[0]), with_env(lambda: first_pixel(proxied[0])), runs
    )
    all_signed, all_proxy = alternate(
        lambda: read_all(signed), with_env(lambda: read_all(proxied)), runs
    )
    rows = [
        ["time to first pixel (ms)", ms(fp_signed), ms(fp_proxy), ratio(fp_proxy, fp_signed)],
        [
            f"read {len(signed)} files, {megabytes:.2f} MB of pixels: MB/s",
            f"{megabytes / median(all_signed):.1f}",
            f"{megabytes / median(all_proxy):.1f}",
            ratio(all_signed, all_proxy),
        ],
    ]
    return table(["sandbox", "presigned", "proxy + gdal_env()", "proxy / presigned"], rows)


def search(catalog: Any) -> Any:
    return catalog.search(
        collections=["sentinel-2-l2a"], bbox=BBOX, datetime=SUMMER
    ).item_collection()


def ms(times: list[float]) -> str:
    return f"{median(times) * 1e3:.1f}"


def ratio(top: list[float], bottom: list[float]) -> str:
    return f"{median(top) / median(bottom):.2f}"


# -- 2. resign ----------------------------------------------------------------------------


def resigning(n: int = 1000) -> str:
    rows = []
    for cap in (None, 100):
        requests_made, seconds = _resign_once(n, cap)
        limit = n if cap is None else cap
        label = "any limit" if cap is None else f"limit ≤ {cap} (400 above)"
        goal = f"{math.ceil(n / limit)}" + ("" if cap is None else " + 1 refused")
        rows.append([f"resign(), API takes {label}", requests_made, goal, f"{seconds:.2f}"])
    rows.append(["get_item() for each item", n, "", f"{_one_by_one(n):.2f}"])
    return table([f"{n} items to re-sign", "API requests", "goal", "seconds"], rows)


def _resign_once(n: int, cap: int | None) -> tuple[int, float]:
    with _loopback(n) as (tokens, stac):
        catalog = pystac_eds.open(credentials=tokens.credentials(stac.url))
        items = catalog.search(max_items=n, limit=250).item_collection()
        if cap is not None:  # an API that refuses larger pages and says its maximum
            refusal = {"description": f"limit must be less than or equal to {cap}"}
            stac.page_faults[1] = [Reply(400, refusal)]
        before = _searches(stac)
        start = time.perf_counter()
        fresh = pystac_eds.resign(items, margin=timedelta(days=1), catalog=catalog)
        seconds = time.perf_counter() - start
        assert len(fresh) == n
        return _searches(stac) - before, seconds


def _one_by_one(n: int) -> float:
    with _loopback(n) as (tokens, stac):
        catalog = pystac_eds.open(credentials=tokens.credentials(stac.url))
        ids = [item["id"] for item in stac.collections["sentinel-2-l2a"]]
        collection = catalog.get_collection("sentinel-2-l2a")
        start = time.perf_counter()
        for item_id in ids:  # the naive way: one request per item
            collection.get_item(item_id)
        return time.perf_counter() - start


@contextmanager
def _loopback(n: int) -> Iterator[tuple[TokenServer, StacServer]]:
    with (
        TokenServer() as tokens,
        AssetServer() as assets,
        StacServer(tokens, assets=assets, collections={"sentinel-2-l2a": n}) as stac,
    ):
        yield tokens, stac


def _searches(stac: StacServer) -> int:
    return sum(1 for _, path, _ in stac.seen if path.endswith("/search"))


# -- 3. gdal_env vs a static header --------------------------------------------------------


def overhead(runs: int) -> tuple[str, float]:
    catalog = pystac_eds.open(asset_access="proxy")
    items = search(catalog)
    options = pystac_eds.gdal_env()
    static = {**pystac_eds.gdal.STATIC_OPTIONS}
    static["GDAL_HTTP_HEADERS"] = f"Authorization: Bearer {catalog._stac_io.auth.token()}"

    def load_with(env: dict[str, str]) -> Callable[[], Any]:
        def run() -> Any:
            with rasterio.Env(**env):
                return odc.stac.load(items, bands=BANDS, bbox=BBOX).compute()

        return run

    with_gdal_env, with_static = alternate(load_with(options), load_with(static), runs)
    value = median(with_gdal_env) / median(with_static)
    rows = [[ms(with_gdal_env), ms(with_static), f"{value:.3f}", "≤ 1.05"]]
    header = ["gdal_env() (ms)", "static header (ms)", "ratio", "goal"]
    return table(header, rows), value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "pixels-results.md")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else 21
    load_before = load()
    with Sandbox() as sandbox:
        os.environ.update(sandbox.settings)
        os.environ["EDS_TOKEN_CACHE"] = "off"
        first = reading(runs)
        third, _ = overhead(runs)
    second = resigning()
    text = "\n\n".join(
        [
            "### Pixel benchmarks (last run)",
            f"{machine()}; load average {load_before} before, {load()} after; {runs} runs.",
            "#### 1. Reading: presigned vs proxy",
            first,
            "#### 2. resign() of 1,000 items",
            second,
            "#### 3. odc.stac.load: gdal_env() vs a static bearer header",
            third,
        ]
    )
    print(text)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
