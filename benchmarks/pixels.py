"""Pixels: reading assets, re-signing them, and what gdal_env() costs. One run, ratios.

python benchmarks/pixels.py            # a few minutes; writes benchmarks/pixels-results.md
python benchmarks/pixels.py --quick    # a smoke run (fewer repetitions, noisier)

1. Time to first pixel and MB/s on the sandbox (its servers are other processes, as EDS
   would be): presigned hrefs with GDAL's defaults, presigned hrefs with the GDAL options
   gdal_env() sets, and proxy hrefs + gdal_env(). The ratio compares proxy with presigned
   under the same options (like with like).
2. resign() of 1,000 expired items on the test kit's loopback STAC API: API requests
   (goal ⌈1000 / page limit⌉) and seconds, next to fetching each item on its own.
3. odc.stac.load of proxy hrefs with gdal_env() vs the same load with a static
   ``GDAL_HTTP_HEADERS`` bearer and the same options: ratio of medians (goal ≤ 1.05).

gdal_env() changes GDAL for the whole process (a path-specific header file, two process-
wide options), so each side runs in a process of its own: "defaults" never calls
gdal_env(), "gdal_env" does, "static" only sets its Env. The parent asks them in turn,
one timed step at a time, in an order that rotates each round so drift hits every side.
GDAL's caches are cleared before every timed step (``VSICurlClearCache``).
"""

from __future__ import annotations

import argparse
import ctypes
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import odc.stac  # noqa: E402
import rasterio  # noqa: E402
import rasterio._env  # noqa: E402
from _common import load, machine, median, table, version  # noqa: E402

import pystac_eds  # noqa: E402
from pystac_eds import gdal  # noqa: E402
from pystac_eds.sandbox import Sandbox  # noqa: E402
from pystac_eds.testing import AssetServer, Reply, StacServer, TokenServer  # noqa: E402

BBOX = [-105.8, 39.6, -104.8, 40.4]
SUMMER = "2024-06-01/2024-08-31"
BANDS = ["red", "green", "blue", "nir"]
MODES = ("defaults", "gdal_env", "static")


# -- the reading processes ----------------------------------------------------------------


def search(catalog: Any) -> Any:
    return catalog.search(
        collections=["sentinel-2-l2a"], bbox=BBOX, datetime=SUMMER
    ).item_collection()


def first_pixel(href: str) -> int:
    with rasterio.open(href) as dataset:
        return int(dataset.read(1, window=((0, 1), (0, 1))).nbytes)


def read_all(hrefs: list[str]) -> int:
    total = 0
    for href in hrefs:
        with rasterio.open(href) as dataset:
            total += dataset.read().nbytes
    return total


def steps_for(mode: str) -> tuple[dict[str, Callable[[], int]], int]:
    """What a process of ``mode`` can time, each step inside that mode's GDAL Env, and
    how many files "read all" reads."""
    signed = [i.assets[b].href for i in search(pystac_eds.open()) for b in BANDS]
    steps: dict[str, Callable[[], int]] = {
        "first pixel, presigned": lambda: first_pixel(signed[0]),
        "read all, presigned": lambda: read_all(signed),
    }
    if mode == "defaults":
        return steps, len(signed)  # no Env at all: what a user gets with no set-up
    catalog = pystac_eds.open(asset_access="proxy")
    items = search(catalog)
    proxied = [i.assets[b].href for i in items for b in BANDS]
    if mode == "gdal_env":
        options = pystac_eds.gdal_env()
    else:  # the same options, with a bearer GDAL copies at open (it would go stale in an hour)
        bearer = f"Authorization: Bearer {catalog._stac_io.auth.token()}"
        options = {**gdal.ENV_OPTIONS, **gdal.PROCESS_OPTIONS, "GDAL_HTTP_HEADERS": bearer}
    steps.update(
        {
            "first pixel, proxy": lambda: first_pixel(proxied[0]),
            "read all, proxy": lambda: read_all(proxied),
            "odc.stac.load, proxy": lambda: int(
                odc.stac.load(items, bands=BANDS, bbox=BBOX).compute().nbytes
            ),
        }
    )
    return {name: in_env(step, options) for name, step in steps.items()}, len(signed)


def in_env(step: Callable[[], int], options: dict[str, str]) -> Callable[[], int]:
    def run() -> int:
        with rasterio.Env(**options):
            return step()

    return run


def serve(conn: Connection, settings: dict[str, str], mode: str) -> None:
    """A reading process: set up ``mode``, then time the steps the parent names."""
    os.environ.update(settings)
    clear = ctypes.CDLL(rasterio._env.__file__).VSICurlClearCache
    steps, files = steps_for(mode)
    conn.send(files)
    while (name := conn.recv()) is not None:
        clear()  # forget everything GDAL cached of earlier reads
        start = time.perf_counter()
        result = steps[name]()
        conn.send((time.perf_counter() - start, result))


class Reader:
    """One reading process, driven over a pipe."""

    def __init__(self, mode: str, settings: dict[str, str]) -> None:
        self.conn, theirs = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=serve, args=(theirs, settings, mode), daemon=True
        )
        self.process.start()
        self.files: int = self.conn.recv()

    def time(self, step: str) -> tuple[float, int]:
        self.conn.send(step)
        seconds, result = self.conn.recv()
        return float(seconds), int(result)

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(timeout=30)


Key = tuple[str, str]  # (mode, step)


def rotate(readers: dict[str, Reader], keys: list[Key], runs: int) -> dict[Key, list[float]]:
    times: dict[Key, list[float]] = {key: [] for key in keys}
    for key in keys:  # warm-up: imports, connections, first tokens
        readers[key[0]].time(key[1])
    for run in range(runs):
        shift = run % len(keys)
        for key in keys[shift:] + keys[:shift]:
            times[key].append(readers[key[0]].time(key[1])[0])
    return times


def reading(readers: dict[str, Reader], runs: int) -> str:
    keys: list[Key] = []
    for step in ("first pixel", "read all"):
        keys += [("defaults", f"{step}, presigned"), ("gdal_env", f"{step}, presigned")]
        keys += [("gdal_env", f"{step}, proxy")]
    times = rotate(readers, keys, runs)
    _, nbytes = readers["defaults"].time("read all, presigned")
    mb = nbytes / 1e6

    def rate(key: Key) -> str:
        return f"{mb / median(times[key]):.1f}"

    first = [("defaults", "first pixel, presigned"), ("gdal_env", "first pixel, presigned")]
    first.append(("gdal_env", "first pixel, proxy"))
    whole = [(mode, step.replace("first pixel", "read all")) for mode, step in first]
    rows = [
        [
            "time to first pixel (ms)",
            *(ms(times[k]) for k in first),
            ratio(first[2], first[1], times),
        ],
        [f"read {readers['defaults'].files} files, {mb:.2f} MB of pixels: MB/s"]
        + [rate(k) for k in whole]
        + [ratio(whole[1], whole[2], times)],
    ]
    header = ["sandbox", "presigned, GDAL defaults", "presigned, gdal_env's options"]
    header += ["proxy + gdal_env()", "proxy / presigned (same options)"]
    return table(header, rows)


def overhead(readers: dict[str, Reader], runs: int) -> str:
    keys: list[Key] = [("gdal_env", "odc.stac.load, proxy"), ("static", "odc.stac.load, proxy")]
    times = rotate(readers, keys, runs)
    value = median(times[keys[0]]) / median(times[keys[1]])
    rows = [[ms(times[keys[0]]), ms(times[keys[1]]), f"{value:.3f}", "≤ 1.05"]]
    return table(["gdal_env() (ms)", "static header (ms)", "ratio", "goal"], rows)


def ms(times: list[float]) -> str:
    return f"{median(times) * 1e3:.1f}"


def ratio(top: Key, bottom: Key, times: dict[Key, list[float]]) -> str:
    return f"{median(times[top]) / median(times[bottom]):.2f}"


# -- 2. resign ----------------------------------------------------------------------------


def resigning(n: int = 1000) -> str:
    rows = []
    cases: list[tuple[str, int | None, bool, str]] = [
        ("API takes any limit", None, False, "1"),
        ("API caps at 100 (says so in its 400)", 100, True, "10 + 1 refused"),
        ("API caps at 100 (400, no maximum named)", 100, False, "10 + 3 refused"),
    ]
    for label, cap, stated, goal in cases:
        requests_made, seconds = _resign_once(n, cap, stated)
        rows.append([f"resign(), {label}", requests_made, goal, f"{seconds:.2f}"])
    rows.append(["get_item() for each item", n, "", f"{_one_by_one(n):.2f}"])
    return table([f"{n} items to re-sign", "API requests", "goal", "seconds"], rows)


def _resign_once(n: int, cap: int | None, stated: bool) -> tuple[int, float]:
    with _loopback(n) as (tokens, stac):
        catalog = pystac_eds.open(credentials=tokens.credentials(stac.url))
        items = catalog.search(max_items=n, limit=250).item_collection()
        if cap is not None and stated:  # refuses larger pages and says its maximum
            refusal = {"description": f"limit must be less than or equal to {cap}"}
            stac.page_faults[1] = [Reply(400, refusal)]
            stac.max_limit = cap
        elif cap is not None:  # refuses larger pages, says nothing useful
            stac.max_limit, stac.refuse_over_limit = cap, True
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


# -- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "pixels-results.md")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else 21
    load_before = load()
    with Sandbox() as sandbox:
        settings = {**sandbox.settings, "EDS_TOKEN_CACHE": "off"}
        readers = {mode: Reader(mode, settings) for mode in MODES}
        try:
            first = reading(readers, runs)
            third = overhead(readers, runs)
        finally:
            for reader in readers.values():
                reader.close()
    second = resigning()
    gdal_version = rasterio.__gdal_version__  # type: ignore[attr-defined]
    readers_line = ", ".join(f"{d} {version(d)}" for d in ("rasterio", "odc-stac", "stackstac"))
    text = "\n\n".join(
        [
            "### Pixel benchmarks (last run)",
            f"{machine()}; GDAL {gdal_version}, {readers_line}; load average {load_before} "
            f"before, {load()} after; {runs} runs; each side in a process of its own.",
            "#### 1. Reading: presigned vs proxy",
            first,
            "#### 2. resign() of 1,000 items",
            second,
            "#### 3. odc.stac.load: gdal_env() vs a static bearer header, same options",
            third,
        ]
    )
    print(text)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
