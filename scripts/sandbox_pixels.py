"""Synthetic but land-like pixels for the sandbox: fields, forest, a town, a river, a lake,
seasons and clouds, written as small Cloud-Optimized GeoTIFFs and PNG thumbnails.

Used by ``make_sandbox_data.py``; needs the ``[pixels]`` extra (rasterio, numpy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from rasterio.io import MemoryFile
from rasterio.shutil import copy as gdal_copy
from rasterio.warp import transform as reproject_points

Season = Literal["dormant", "green-up", "peak"]


@dataclass(frozen=True)
class Look:
    """One scene of a tile's pool: the land in ``season`` under ``clouds`` (the fraction
    of the tile meant to be cloud, 0 to 1; the measured cover is what the item says)."""

    season: Season
    clouds: float = 0.0

    @property
    def name(self) -> str:
        """The folder of its files: ``peak`` for a clear look, ``peak-clouds-35`` for 35 %."""
        return self.season if self.clear else f"{self.season}-clouds-{self.percent:02d}"

    @property
    def clear(self) -> bool:
        """A clear pass: no cloud, or a few small cumulus (under 5 %)."""
        return self.clouds < 0.05

    @property
    def percent(self) -> int:
        return round(self.clouds * 100)


# Surface reflectance x 10 000 in blue, green, red, near infrared.
SOIL = np.array([900, 1200, 1600, 2300])
LEAF = np.array([300, 750, 280, 4300])
FOREST = np.array([230, 420, 220, 2900])
TOWN = np.array([1100, 1150, 1250, 1550])
WATER = np.array([520, 460, 260, 110])
CLOUD = np.array([7400, 7500, 7600, 7700])
# How green each land class is in each season.
GREENNESS = {
    "dormant": {"crop": 0.05, "pasture": 0.3, "forest": 0.75},
    "green-up": {"crop": 0.5, "pasture": 0.65, "forest": 0.9},
    "peak": {"crop": 1.0, "pasture": 0.8, "forest": 1.0},
}
SEASONS: tuple[Season, ...] = ("dormant", "green-up", "peak")
CROP, PASTURE, FOREST_CLASS, TOWN_CLASS, WATER_CLASS = range(5)


@dataclass(frozen=True)
class Tile:
    """A square of ``size`` x ``size`` pixels of ``pixel`` metres in UTM ``epsg``."""

    name: str
    epsg: int
    west: float
    north: float
    pixel: float
    size: int

    @staticmethod
    def utm(lon: float, lat: float, epsg: int) -> tuple[float, float]:
        xs, ys = reproject_points("EPSG:4326", f"EPSG:{epsg}", [lon], [lat])
        return float(xs[0]), float(ys[0])

    def transform(self) -> tuple[float, float, float, float, float, float]:
        return (self.pixel, 0.0, self.west, 0.0, -self.pixel, self.north)

    def footprint(self) -> list[list[float]]:
        """The tile's corners in longitude/latitude, a closed counter-clockwise ring."""
        side = self.pixel * self.size
        xs = [self.west, self.west + side, self.west + side, self.west, self.west]
        ys = [self.north - side, self.north - side, self.north, self.north, self.north - side]
        lons, lats = reproject_points(f"EPSG:{self.epsg}", "EPSG:4326", xs, ys)
        return [[round(lon, 6), round(lat, 6)] for lon, lat in zip(lons, lats, strict=True)]


def land_cover(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(class per pixel, a per-field factor in [0.6, 1]) for one tile."""
    cuts_x = np.cumsum(rng.integers(4, 11, size=size))
    cuts_y = np.cumsum(rng.integers(4, 11, size=size))
    col = np.searchsorted(cuts_x, np.arange(size), side="right")
    row = np.searchsorted(cuts_y, np.arange(size), side="right")
    field = row[:, None] * size + col[None, :]
    kinds = rng.choice([CROP, PASTURE, FOREST_CLASS], p=[0.6, 0.25, 0.15], size=size * size)
    factor = rng.uniform(0.6, 1.0, size=size * size)
    cover = kinds[field]
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    town_y, town_x = rng.uniform(0.2, 0.8, 2) * size
    cover[(yy - town_y) ** 2 + (xx - town_x) ** 2 < (size * 0.07) ** 2] = TOWN_CLASS
    river = size * (0.5 + 0.25 * np.sin(xx / size * rng.uniform(4, 8) + rng.uniform(0, 6)))
    cover[np.abs(yy - river) < 1.2] = WATER_CLASS
    lake_y, lake_x = rng.uniform(0.15, 0.85, 2) * size
    lake = ((yy - lake_y) / (size * 0.08)) ** 2 + ((xx - lake_x) / (size * 0.13)) ** 2 < 1
    cover[lake] = WATER_CLASS
    return cover, factor[field]


def smooth_noise(size: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """White noise blurred to features about ``scale`` pixels across (periodic, by FFT),
    scaled to mean 0 and standard deviation 1."""
    frequency = np.fft.fftfreq(size)
    blur = np.exp(
        -((frequency[:, None] ** 2 + frequency[None, :] ** 2) * (2 * np.pi * scale) ** 2) / 2
    )
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(size, size))) * blur))
    return (field - field.mean()) / field.std()


def cloud_opacity(size: int, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Clouds over ``fraction`` of the tile: a smooth random field (cells of cumulus on a
    larger pattern) cut at the height that leaves that fraction above it, with soft
    edges. Opacity is above 0.5 exactly where the field is above the cut."""
    if fraction <= 0:
        return np.zeros((size, size))
    field = smooth_noise(size, rng, size * 0.05) + 0.5 * smooth_noise(size, rng, size * 0.015)
    cut = np.quantile(field, 1 - fraction)
    return np.clip((field - cut) / 0.35 + 0.5, 0, 1)


def reflectance(look: Look, seed: int, size: int) -> tuple[np.ndarray, float]:
    """(bands x rows x cols uint16 reflectance, cloud cover in %) for one look of a tile.
    The land (``seed``) is the same in every look; season and clouds are not."""
    cover, factor = land_cover(size, np.random.default_rng(seed))
    green = GREENNESS[look.season]
    greenness = np.select(
        [cover == CROP, cover == PASTURE, cover == FOREST_CLASS],
        [green["crop"] * factor, green["pasture"] * factor, np.full(cover.shape, green["forest"])],
        default=0.0,
    )
    surface = SOIL[:, None, None] * (1 - greenness) + LEAF[:, None, None] * greenness
    canopy = FOREST[:, None, None] * (0.6 + 0.4 * greenness)
    surface = np.where(cover == FOREST_CLASS, canopy, surface)
    surface = np.where(cover == TOWN_CLASS, TOWN[:, None, None], surface)
    surface = np.where(cover == WATER_CLASS, WATER[:, None, None], surface)
    weather = np.random.default_rng([seed, SEASONS.index(look.season), look.percent])
    surface = surface * weather.normal(1.0, 0.012, size=(1, size, size))
    # Thick cloud is flat white once stretched, and flat is cheap to store (the budget).
    opacity = cloud_opacity(size, weather, look.clouds)
    pixels = surface * (1 - opacity) + CLOUD[:, None, None] * opacity
    cover_pct = round(float((opacity > 0.5).mean() * 100), 2)
    # Steps of 20 (0.2 % reflectance) keep the files small at no visible cost.
    stepped = np.round(pixels / 20) * 20
    return np.clip(stepped, 20, 10000).astype("uint16"), cover_pct


def true_colour(bands: np.ndarray) -> np.ndarray:
    """red, green, blue as uint8, stretched like Sentinel-2's TCI (0-2500 -> 0-255)."""
    rgb = bands[[2, 1, 0]].astype(float) / 2500 * 255
    return np.clip(rgb, 0, 255).astype("uint8")


def write_cog(path: Path, data: np.ndarray, tile: Tile, nodata: int | None) -> None:
    """A COG of 64-pixel tiles with one overview: lossless bands, JPEG for true colour
    (as Sentinel-2's own TCI is lossy), so both reads by range and the budget work."""
    profile = {
        "driver": "GTiff",
        "width": tile.size,
        "height": tile.size,
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": f"EPSG:{tile.epsg}",
        "transform": rasterio.Affine(*tile.transform()),
        "nodata": nodata,
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(data)
        if data.dtype == np.uint8:
            options = {"compress": "JPEG", "quality": 88}
        else:
            options = {"compress": "DEFLATE", "predictor": 2}
        gdal_copy(memory.name, str(path), driver="COG", blocksize=64, **options)


def write_scene(
    folder: Path, tile: Tile, look: Look, seed: int, band_keys: list[str], visual: bool
) -> float:
    """Write one look of a tile: a COG per band, ``visual.tif`` if asked, and
    ``thumbnail.png``. Returns the look's cloud cover in %."""
    folder.mkdir(parents=True, exist_ok=True)
    bands, cloud_cover = reflectance(look, seed, tile.size)
    for index, key in enumerate(band_keys):
        write_cog(folder / f"{key}.tif", bands[index : index + 1], tile, nodata=0)
    rgb = true_colour(bands)
    if visual:
        write_cog(folder / "visual.tif", rgb, tile, nodata=None)
    small = rgb[:, ::2, ::2]
    profile = {"driver": "PNG", "width": small.shape[2], "height": small.shape[1]}
    with rasterio.open(folder / "thumbnail.png", "w", count=3, dtype="uint8", **profile) as png:
        png.write(small)
    for sidecar in folder.glob("*.aux.xml"):
        sidecar.unlink()
    return cloud_cover
