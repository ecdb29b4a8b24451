"""Helpers for pixel tests: small COGs that match the test kit's sample items."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and rasterio come with the [pixels] extra; import them late
    import numpy as np

SIZE = 64


def item_pixels(index: int, size: int = SIZE) -> np.ndarray:
    """Distinct, deterministic pixels for sample item ``index``."""
    import numpy as np

    rows, cols = np.mgrid[0:size, 0:size]
    return ((rows * 7 + cols * 13 + index * 101) % 4096).astype("uint16")


def cog(pixels: np.ndarray, bbox: list[float]) -> bytes:
    """A tiled GeoTIFF in EPSG:4326 covering ``bbox`` (as the sample item's footprint)."""
    from rasterio.io import MemoryFile
    from rasterio.transform import from_bounds

    height, width = pixels.shape
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": str(pixels.dtype),
        "crs": "EPSG:4326",
        "transform": from_bounds(*bbox, width, height),
        "tiled": True,
        "blockxsize": 32,
        "blockysize": 32,
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(pixels, 1)
        return bytes(memory.read())


def stock(stac: Any, assets: Any, collection: str, count: int, size: int = SIZE) -> None:
    """Put a COG behind the ``visual`` asset of the first ``count`` items of ``collection``
    (``size`` pixels square: 512 makes GDAL read it in several ranges)."""
    for index, item in enumerate(stac.collections[collection][:count]):
        pixels = item_pixels(index, size)
        visual = item["assets"]["visual"]
        visual["type"] = "image/tiff; application=geotiff; profile=cloud-optimized"
        visual["roles"] = ["data"]  # what odc-stac looks for to call it a band
        assets.put(visual["href"], cog(pixels, item["bbox"]))
