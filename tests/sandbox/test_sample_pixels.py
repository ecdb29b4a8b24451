"""The sandbox's shipped pixels: COGs whose georeferencing matches the items, that look
like land, change with the seasons, and are reproducible. Needs the ``[pixels]`` extra."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .test_sample_data import BOULDER, DATA, SCRIPT, asset_path, items, manifest, overlaps

rasterio = pytest.importorskip("rasterio")
np = pytest.importorskip("numpy")


def test_georeferencing_matches_each_items_metadata() -> None:
    from rasterio.warp import transform

    checked: set[tuple[str, str]] = set()
    for item in items():
        props = item["properties"]
        for key, asset in item["assets"].items():
            if key == "thumbnail" or (asset["href"], item["bbox"][0]) in checked:
                continue
            checked.add((asset["href"], item["bbox"][0]))
            with rasterio.open(asset_path(asset["href"])) as dataset:
                assert dataset.crs.to_epsg() == props["proj:epsg"]
                assert list(dataset.transform)[:6] == props["proj:transform"]
                assert [dataset.height, dataset.width] == props["proj:shape"]
                assert dataset.overviews(1), "a COG with overviews"
                left, bottom, right, top = dataset.bounds
            # The footprint joins the corners; so does the bbox.
            xs, ys = transform(
                dataset.crs, "EPSG:4326", [left, right, right, left], [bottom, bottom, top, top]
            )
            bounds = [min(xs), min(ys), max(xs), max(ys)]
            assert np.allclose(bounds, item["bbox"], atol=1e-4), (item["id"], key)


def read(href: str) -> Any:
    with rasterio.open(asset_path(href)) as dataset:
        return dataset.read().astype(float)


def test_pixels_look_like_land_and_change_with_the_seasons() -> None:
    boulder = {
        item["properties"]["datetime"][:7]: item
        for item in items("sentinel-2-l2a")
        if overlaps(item["bbox"], BOULDER)
    }
    summer, winter = boulder["2024-07"], boulder["2024-01"]

    def ndvi(item: dict[str, Any]) -> Any:
        red, nir = read(item["assets"]["red"]["href"])[0], read(item["assets"]["nir"]["href"])[0]
        return (nir - red) / (nir + red)

    green, bare = ndvi(summer), ndvi(winter)
    assert np.median(green) > 0.5 > np.median(bare)
    assert (green < 0).mean() > 0.005  # water: a river and a lake
    visual = read(summer["assets"]["visual"]["href"])
    assert visual.shape[0] == 3 and visual.std() > 10  # an image, not a flat colour


def test_cloud_cover_is_the_cloud_in_the_pixels() -> None:
    """Every look of every tile: the share of pixels at least half cloud (blue reflectance
    above 0.39, which no land here reaches) is the items' ``eo:cloud_cover``."""
    covers: dict[str, set[float]] = {}
    for item in items():
        covers.setdefault(item["assets"]["blue"]["href"], set()).add(
            item["properties"]["eo:cloud_cover"]
        )
    for href, stated in covers.items():
        assert len(stated) == 1, href  # one look, one cover
        measured = float((read(href)[0] > 3900).mean() * 100)
        assert abs(measured - stated.pop()) < 0.75, (href, measured)


def test_items_on_one_tile_differ_between_dates() -> None:
    hrefs = {
        item["assets"]["red"]["href"]
        for item in items("sentinel-2-l2a")
        if item["properties"].get("grid:code") == "MGRS-13TDE"
    }
    assert len(hrefs) >= 4
    pixels = [read(href) for href in sorted(hrefs)]
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(pixels))


def test_regenerating_gives_the_same_data(tmp_path: Path) -> None:
    """Byte for byte, every file (bands, true colour, thumbnails, items): the manifests of
    both runs list the same SHA-256s. Another GDAL may write other bytes for the same
    pixels; then every image's pixels (thumbnails too) must still be equal."""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    made_by, shipped = manifest(DATA)
    made_by_here, regenerated = manifest(tmp_path)
    assert sorted(regenerated) == sorted(shipped)
    if made_by_here == made_by:
        assert regenerated == shipped
        return
    for relative, digest in shipped.items():
        if relative.endswith((".tif", ".png")):
            assert np.array_equal(read_path(DATA / relative), read_path(tmp_path / relative))
        else:
            assert regenerated[relative] == digest, relative


def read_path(path: Path) -> Any:
    with rasterio.open(path) as dataset:
        return dataset.read()
