"""GDAL (through rasterio, with its default options) reads the test kit's presigned and
proxied assets: what users' pixel code will do. Needs the ``[pixels]`` extra."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pystac_eds.testing import AssetServer, StacServer, TokenServer

from .clock import FakeClock

#: Mid-2025: every URL signed at this time has long expired by the real clock.
MID_2025 = 1_750_000_000.0

rasterio = pytest.importorskip("rasterio")
np = pytest.importorskip("numpy")

HREF = "s3://eds-test/scene/red.tif"


def cog(pixels: np.ndarray) -> bytes:
    """A Cloud-Optimized GeoTIFF (every header up front, then tiles) of ``pixels``."""
    from affine import Affine
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy

    profile = {
        "driver": "GTiff",
        "width": pixels.shape[1],
        "height": pixels.shape[0],
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32613",
        "transform": Affine(10, 0, 470000, 0, -10, 4430000),
    }
    with MemoryFile() as source, MemoryFile() as target:
        with source.open(**profile) as dataset:
            dataset.write(pixels, 1)
        copy(source.name, target.name, driver="COG", blocksize=256, compress="DEFLATE")
        return bytes(target.read())


@pytest.fixture
def pixels() -> np.ndarray:
    rows, cols = np.mgrid[0:512, 0:512]
    return ((rows * 7 + cols * 13) % 4096).astype("uint16")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MID_2025)


@pytest.fixture
def storage(pixels: np.ndarray, clock: FakeClock) -> Iterator[AssetServer]:
    with AssetServer(ttl=60, clock=clock, files={HREF: cog(pixels)}) as server:
        yield server


#: GDAL's own defaults, stated: gdal_env() (run by other tests in this process) sets both
#: to NO for the whole process.
GDAL_DEFAULTS = {"CPL_VSIL_CURL_USE_HEAD": "YES", "CPL_VSIL_CURL_USE_S3_REDIRECT": "YES"}


def read(url: str, **options: str) -> np.ndarray:
    # No GDAL cache between tests: each read must reach the server.
    options = {**GDAL_DEFAULTS, **options}
    env = rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", VSI_CACHE="FALSE", **options)
    with env, rasterio.open(url) as dataset:
        result: np.ndarray = dataset.read(1)
        return result


def test_gdal_reads_a_presigned_url_with_default_options(
    storage: AssetServer, pixels: np.ndarray
) -> None:
    url = storage.presign(HREF)
    assert np.array_equal(read(url), pixels)
    # GDAL's first request to a URL off AWS's hosts is a HEAD (CPL_VSIL_CURL_USE_HEAD).
    assert (storage.seen[0].method, storage.seen[0].status) == ("HEAD", 200)
    assert all(r.status in (200, 206) for r in storage.seen), storage.seen
    assert any(r.status == 206 for r in storage.seen)  # read by range, as COGs are


def test_gdal_cannot_read_an_expired_url(storage: AssetServer, clock: FakeClock) -> None:
    url = storage.presign(HREF)
    clock.now += 61
    with pytest.raises(rasterio.errors.RasterioIOError):
        read(url + "&fresh=1")  # a URL GDAL has never seen: no cached answer
    assert storage.seen and all(r.status == 403 for r in storage.seen)


def test_gdal_reads_a_proxy_url_with_a_bearer(storage: AssetServer, pixels: np.ndarray) -> None:
    with TokenServer() as tokens, StacServer(tokens, assets=storage) as api:
        proxy = api.base_url + "/asset-proxy/eds-test/scene/red.tif"
        # GDAL caches the 307's target and would send the bearer there; S3 (and the
        # AssetServer) refuse two auth mechanisms, so the redirect must not be reused.
        options = {
            "GDAL_HTTP_HEADERS": f"Authorization: Bearer {tokens.mint()}",
            "CPL_VSIL_CURL_USE_S3_REDIRECT": "NO",
        }
        assert np.array_equal(read(proxy, **options), pixels)
    assert storage.seen and all("Authorization" not in r.headers for r in storage.seen)


@pytest.mark.parametrize(
    ("options", "leaks"),
    [
        ({}, True),  # HEAD refused (signed for GET), GDAL retries GET at the target directly
        ({"CPL_VSIL_CURL_USE_HEAD": "NO"}, True),  # the target is cached, then read directly
        ({"CPL_VSIL_CURL_USE_S3_REDIRECT": "NO"}, True),  # the HEAD retry again
        ({"CPL_VSIL_CURL_USE_HEAD": "NO", "CPL_VSIL_CURL_USE_S3_REDIRECT": "NO"}, False),
    ],
)
def test_gdal_sends_a_header_file_to_sigv4_storage_unless_both_options_are_no(
    options: dict[str, str], leaks: bool, tmp_path: Path
) -> None:
    # Why gdal_env() sets both options for the whole process (measured with GDAL 3.10):
    # GDAL takes a SigV4 URL for an S3 one on any host, as EDS's storage URLs are, and
    # sends a header file's headers (unlike GDAL_HTTP_HEADERS) to where it goes directly.
    # (Real time: GDAL caches a redirect only while the URL is valid by the server's Date.)
    # Noise, so the file does not compress into the first range GDAL reads.
    pixels = np.random.default_rng(12).integers(0, 4096, (512, 512), dtype="uint16")
    with (
        AssetServer(files={HREF: cog(pixels)}, signature="v4") as storage,
        TokenServer() as tokens,
        StacServer(tokens, assets=storage) as api,
    ):
        proxy = api.base_url + "/asset-proxy/eds-test/scene/red.tif"
        header_file = tmp_path / "headers"
        header_file.write_text(f"Authorization: Bearer {tokens.mint()}\n")
        bearer = {"GDAL_HTTP_HEADER_FILE": str(header_file)}
        if leaks:
            with pytest.raises(rasterio.errors.RasterioIOError):
                read(proxy, **bearer, **options)
        else:
            assert np.array_equal(read(proxy, **bearer, **options), pixels)
    assert any("Authorization" in r.headers for r in storage.seen) == leaks
