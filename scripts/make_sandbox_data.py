"""Generate the sandbox's sample STAC data and its pixels, deterministically.

Writes ``pystac_eds/sandbox/data/``: one ``<collection>.json`` per collection, one
``<collection>.ndjson`` holding its items, and ``assets/``: small Cloud-Optimized
GeoTIFFs (bands, a true-colour ``visual`` for Sentinel-2) and PNG thumbnails. Run it
with the ``[pixels]`` extra (rasterio, numpy)::

    python scripts/make_sandbox_data.py

Items sit on a fixed tile grid (MGRS-like 109.8 km UTM squares for Sentinel-2, WRS-like
185 km scenes for Landsat, 27.5 km named sites for VENuS, which images sites rather than
a world grid), at each platform's overpass hour, from January 2023 to December 2024, with
the sun where it was (``view:sun_elevation``, ``view:sun_azimuth``).
Pixels come from a *pool*: every tile has a few looks — clear passes in each season
(dormant, green-up, peak), a few partly cloudy ones and overcast ones — made of fields,
forest, a town, a river and a lake. Each pass is cloudy or not by the odds of its place and
month (western Kenya's rains, California's dry summer), and points at a look to match, so
a true-colour plot or an NDVI map is recognisable and changes with the seasons, while what
ships stays under the 5 MB budget. ``eo:cloud_cover`` is measured from the look's pixels.
Items on one tile share its grid, so every item's geometry and ``proj:*`` fields match its
files.

Files are json/ndjson rather than stac-geoparquet because ``rustac serve`` loads a
``.parquet`` file through DuckDB, which tries to download extensions (and so hangs
offline). The same seed and the same GDAL give byte-identical files: ``MANIFEST.txt``
lists each file's SHA-256 and size, and the GDAL that made them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_pixels import Look, Season, Tile, write_scene

DATA_DIR = Path(__file__).resolve().parent.parent / "pystac_eds" / "sandbox" / "data"
ASSET_DIR = "assets"
BUCKET = "eds-sandbox-assets"
SEED = 20240601
START = date(2023, 1, 3)
BUDGET_BYTES = 5_000_000
MANIFEST = "MANIFEST.txt"
STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
]


@dataclass(frozen=True)
class Region:
    name: str
    lon: float
    lat: float
    epsg: int
    mgrs: str  # the Sentinel-2 tile (MGRS-like code)
    wrs: tuple[int, int]  # the Landsat scene (WRS-2-like path, row)
    site: str  # the VENuS site: VENuS names the sites it images, it has no world grid
    season: str  # "north" (summer peak) or "equatorial" (two rainy seasons)
    cloudy_months: tuple[int, ...]  # the rainy (cloudier) season
    cloud_odds: tuple[float, float]  # chance that a pass is cloudy: in, out of those months


REGIONS = (
    Region(
        "boulder-colorado", -105.2, 40.0, 32613, "13TDE", (34, 32), "BOULDER", "north",
        (3, 4, 5, 6), (0.45, 0.25),
    ),
    Region(
        "quebec-farmland", -72.9, 45.6, 32618, "18TXR", (14, 28), "MONTEREGIE", "north",
        (10, 11, 12, 1, 2, 3, 4), (0.55, 0.35),
    ),
    Region(
        "central-valley", -120.4, 36.8, 32610, "10SGF", (43, 34), "FRESNO", "north",
        (11, 12, 1, 2, 3), (0.45, 0.06),
    ),
    Region(
        "beauce-france", 1.6, 48.3, 32631, "31UCP", (199, 26), "BEAUCE", "north",
        (10, 11, 12, 1, 2, 3), (0.55, 0.3),
    ),
    Region(
        "western-kenya", 34.8, 0.5, 32636, "36NXF", (170, 60), "KISUMU", "equatorial",
        (3, 4, 5, 10, 11, 12), (0.65, 0.25),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    platforms: tuple[str, ...]
    constellation: str
    instrument: str
    gsd: float
    tile_m: float  # side of a tile in metres
    pixels: int  # side of a tile in pixels (the files are small: see the module docstring)
    per_tile: int  # items per tile
    revisit_days: int  # between this sample's items on one tile
    # (items, revisit days) for a densely observed region: the tutorials page through
    # western Kenya's Sentinel-2 passes (12 pages of 4 in 02-long-running).
    dense: tuple[str, int, int] | None
    overpass_hour: float  # local mean solar time
    bands: tuple[tuple[str, str, float], ...]  # asset key, common name, centre wavelength µm
    visual: bool
    license: str


SPECS = (
    Spec(
        "sentinel-2-l2a", "Sentinel-2 Level-2A (EDS sandbox sample)",
        ("sentinel-2a", "sentinel-2b"), "sentinel-2", "msi", 10.0, 109_800, 122, 28, 26,
        ("western-kenya", 48, 15), 10.5,
        (("blue", "blue", 0.49), ("green", "green", 0.56), ("red", "red", 0.665),
         ("nir", "nir", 0.842)),
        True, "proprietary",
    ),
    Spec(
        "landsat-c2l2-sr", "Landsat Collection 2 Level-2 SR (EDS sandbox sample)",
        ("landsat-8", "landsat-9"), "landsat", "oli", 30.0, 185_000, 100, 23, 32, None, 10.2,
        (("blue", "blue", 0.48), ("green", "green", 0.56), ("red", "red", 0.655),
         ("nir08", "nir08", 0.865)),
        False, "proprietary",
    ),
    Spec(
        "venus-l2a", "VENuS Level-2A (EDS sandbox sample)", ("venus",), "venus", "vssc", 5.0,
        27_500, 110, 12, 60, None, 10.8,
        (("blue", "blue", 0.49), ("green", "green", 0.555), ("red", "red", 0.667),
         ("nir", "nir", 0.865)),
        False, "CC-BY-NC-4.0",
    ),
)  # fmt: skip


def tile_for(spec: Spec, region: Region, utm_xy: tuple[float, float]) -> Tile:
    """The fixed grid square of ``spec`` over ``region``: S2 squares start 40 m west of a
    100 km line as MGRS tiles do; Landsat and VENuS are centred on a 5 km grid."""
    x, y = utm_xy
    if spec.id == "sentinel-2-l2a":
        west = round((x - spec.tile_m / 2) / 100_000) * 100_000 - 40
        north = round((y + spec.tile_m / 2) / 100_000) * 100_000
        name = region.mgrs
    else:
        west = round(x / 5000) * 5000 - spec.tile_m / 2
        north = round(y / 5000) * 5000 + spec.tile_m / 2
        path, row = region.wrs
        name = f"{path:03d}{row:03d}" if spec.id.startswith("landsat") else region.site
    return Tile(name, region.epsg, west, north, spec.tile_m / spec.pixels, spec.pixels)


def season_of(spec: Spec, region: Region, day: date) -> Season:
    """The land's season on ``day`` (north: peak Jun-Aug; equatorial: green in the two
    rainy seasons). Only Sentinel-2 ships a green-up look (the budget): the others show
    the peak then."""
    if region.season == "equatorial":
        seasons: tuple[tuple[int, ...], ...] = ((4, 5, 11, 12), (1, 2, 6, 7, 8, 9))
    else:
        seasons = ((6, 7, 8), (11, 12, 1, 2, 3))
    peak, dormant = seasons
    season: Season = (
        "peak" if day.month in peak else "dormant" if day.month in dormant else "green-up"
    )
    return "peak" if season == "green-up" and spec.id != "sentinel-2-l2a" else season


def pool(spec: Spec, region: Region, rng: np.random.Generator) -> tuple[list[Look], list[Look]]:
    """A tile's looks: (one clear look per season, the cloudy looks). Clear passes carry
    at most a few small cumulus (under 1.5 %); cloudy ones are partly cloudy (20-70 %)
    or overcast (86-100 %). Overcast looks are cheap to store, partly cloudy ones are not:
    the tutorials' tile (western Kenya, Sentinel-2) gets two of those, the others one."""
    seasons: tuple[Season, ...] = ("dormant", "peak")
    if spec.id == "sentinel-2-l2a":
        seasons = ("dormant", "green-up", "peak")
    clear = [Look(season, _few_cumulus(rng)) for season in seasons]
    dense = spec.dense is not None and spec.dense[0] == region.name
    partly: tuple[Season, ...] = ("dormant", "peak") if dense else (seasons[1],)
    cloudy = [Look(season, round(float(rng.uniform(0.2, 0.7)), 4)) for season in partly]
    overcast = [(0.86, 0.93), (0.95, 1.0)] if spec.id == "sentinel-2-l2a" else [(0.88, 1.0)]
    cloudy += [Look("peak", round(float(rng.uniform(*span)), 4)) for span in overcast]
    return clear, cloudy


def _few_cumulus(rng: np.random.Generator) -> float:
    return 0.0 if rng.random() < 0.4 else round(float(rng.uniform(0.002, 0.014)), 4)


def look_for(
    spec: Spec,
    region: Region,
    day: date,
    rng: np.random.Generator,
    looks: tuple[list[Look], list[Look]],
) -> Look:
    """The look of a pass on ``day``: cloudy by the odds of the region and month (a draw
    from ``rng``), else the clear look of the season."""
    clear, cloudy = looks
    odds = region.cloud_odds[0 if day.month in region.cloudy_months else 1]
    if rng.random() < odds:
        return cloudy[int(rng.integers(len(cloudy)))]
    season = season_of(spec, region, day)
    return next(look for look in clear if look.season == season)


def sun_position(lon: float, lat: float, moment: datetime) -> tuple[float, float]:
    """(elevation, azimuth) of the sun in degrees at ``moment`` (UTC), by NOAA's solar
    equations (declination and equation of time from the fractional year): good to a
    fraction of a degree, in either hemisphere."""
    start = datetime(moment.year, 1, 1, tzinfo=timezone.utc)
    hours = (moment - start).total_seconds() / 3600
    gamma = 2 * math.pi / 365 * (hours / 24 - 0.5)
    declination = (
        0.006918 - 0.399912 * math.cos(gamma) + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma) + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma) + 0.00148 * math.sin(3 * gamma)
    )  # fmt: skip
    equation_of_time = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )  # minutes; fmt: skip
    solar_minutes = moment.hour * 60 + moment.minute + moment.second / 60
    hour_angle = math.radians((solar_minutes + equation_of_time + 4 * lon) / 4 - 180)
    phi = math.radians(lat)
    elevation = math.asin(
        math.sin(phi) * math.sin(declination)
        + math.cos(phi) * math.cos(declination) * math.cos(hour_angle)
    )
    azimuth = math.atan2(
        -math.sin(hour_angle),
        math.tan(declination) * math.cos(phi) - math.sin(phi) * math.cos(hour_angle),
    )
    return round(math.degrees(elevation), 2), round(math.degrees(azimuth) % 360, 2)


def acquired(spec: Spec, region: Region, day: date, index: int) -> datetime:
    """Overpass: the platform's local solar hour at the region's longitude, in UTC."""
    hour = spec.overpass_hour - region.lon / 15 + ((index * 37) % 7 - 3) / 60
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return (midnight + timedelta(hours=hour)).replace(microsecond=0)


def _schedule(spec: Spec, region: Region) -> tuple[int, int]:
    """(items, days between them) of ``spec`` over ``region``."""
    if spec.dense is not None and spec.dense[0] == region.name:
        return spec.dense[1], spec.dense[2]
    return spec.per_tile, spec.revisit_days


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _item_id(spec: Spec, tile: Tile, moment: datetime, index: int) -> str:
    if spec.id == "sentinel-2-l2a":
        return f"S2{'AB'[index % 2]}_{tile.name}_{moment:%Y%m%d}_0_L2A"
    if spec.id == "landsat-c2l2-sr":
        return f"LC0{8 + index % 2}_L2SR_{tile.name}_{moment:%Y%m%d}_02_T1"
    # Theia's naming: date-time, the site, C (complete), the processing version.
    return f"VENUS-XS_{moment:%Y%m%d-%H%M%S}-000_L2A_{tile.name}_C_V3-1"


def _assets(spec: Spec, prefix: str) -> dict[str, Any]:
    cog = "image/tiff; application=geotiff; profile=cloud-optimized"
    assets: dict[str, Any] = {
        key: {
            "href": f"s3://{BUCKET}/{prefix}/{key}.tif",
            "type": cog,
            "title": f"{common} band",
            "roles": ["data", "reflectance"],
            "eo:bands": [{"name": key, "common_name": common, "center_wavelength": wl}],
            "gsd": spec.gsd,
        }
        for key, common, wl in spec.bands
    }
    if spec.visual:
        assets["visual"] = {
            "href": f"s3://{BUCKET}/{prefix}/visual.tif",
            "type": cog,
            "title": "True colour image",
            "roles": ["visual"],
            "eo:bands": [{"name": n, "common_name": n} for n in ("red", "green", "blue")],
        }
    assets["thumbnail"] = {
        "href": f"s3://{BUCKET}/{prefix}/thumbnail.png",
        "type": "image/png",
        "title": "Thumbnail",
        "roles": ["thumbnail"],
    }
    return assets


_GRIDS = {"sentinel-2-l2a": "MGRS", "landsat-c2l2-sr": "WRS2", "venus-l2a": "VENUS"}


def _day(spec: Spec, region: Region, index: int) -> date:
    phase = REGIONS.index(region) * 3
    return START + timedelta(days=phase + index * _schedule(spec, region)[1])


def _item(
    spec: Spec, region: Region, tile: Tile, index: int, look: Look, cloud_cover: float
) -> dict[str, Any]:
    moment = acquired(spec, region, _day(spec, region, index), index)
    footprint = tile.footprint()
    lons = [p[0] for p in footprint]
    lats = [p[1] for p in footprint]
    elevation, azimuth = sun_position(sum(lons[:4]) / 4, sum(lats[:4]) / 4, moment)
    properties: dict[str, Any] = {
        "datetime": _iso(moment),
        "created": _iso(moment + timedelta(hours=6 + index % 30)),
        "platform": spec.platforms[index % len(spec.platforms)],
        "constellation": spec.constellation,
        "instruments": [spec.instrument],
        "gsd": spec.gsd,
        "eo:cloud_cover": cloud_cover,
        "view:sun_elevation": elevation,
        "view:sun_azimuth": azimuth,
        "proj:epsg": tile.epsg,
        "proj:shape": [tile.size, tile.size],
        "proj:transform": list(tile.transform()),
        "grid:code": f"{_GRIDS[spec.id]}-{tile.name}",
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": STAC_EXTENSIONS,
        "id": _item_id(spec, tile, moment, index),
        "collection": spec.id,
        "geometry": {"type": "Polygon", "coordinates": [footprint]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": properties,
        "links": [],
        "assets": _assets(spec, f"{spec.id}/{tile.name}/{look.name}"),
    }


def _collection(spec: Spec, items: list[dict[str, Any]]) -> dict[str, Any]:
    bboxes = [item["bbox"] for item in items]
    datetimes = sorted(item["properties"]["datetime"] for item in items)
    west, south = min(b[0] for b in bboxes), min(b[1] for b in bboxes)
    east, north = max(b[2] for b in bboxes), max(b[3] for b in bboxes)
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": spec.id,
        "title": spec.title,
        "description": f"{spec.title}: synthetic pixels served by the pystac-eds sandbox, "
        "a local look-alike of the EarthDaily Earth Data Store. Not real data.",
        "license": spec.license,
        "keywords": ["EDS sandbox", spec.constellation, "surface reflectance"],
        "providers": [{"name": "pystac-eds sandbox (EDS look-alike)", "roles": ["host"]}],
        "extent": {
            "spatial": {"bbox": [[west, south, east, north]]},
            "temporal": {"interval": [[datetimes[0], datetimes[-1]]]},
        },
        "summaries": {
            "platform": list(spec.platforms),
            "constellation": [spec.constellation],
            "instruments": [spec.instrument],
            "gsd": [spec.gsd],
        },
        "links": [],
    }


def _spec_items(spec: Spec, out_dir: Path, seed: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for number, region in enumerate(REGIONS):
        tile = tile_for(spec, region, Tile.utm(region.lon, region.lat, region.epsg))
        scene_seed = seed + 1000 * SPECS.index(spec) + number
        weather = np.random.default_rng([seed, SPECS.index(spec), number])
        looks = pool(spec, region, weather)
        count = _schedule(spec, region)[0]
        passes = [
            look_for(spec, region, _day(spec, region, i), weather, looks) for i in range(count)
        ]
        # Only the looks some pass shows are written: the budget.
        keys = [key for key, _, _ in spec.bands]
        folder = out_dir / ASSET_DIR / spec.id / tile.name
        cover = {
            look: write_scene(folder / look.name, tile, look, scene_seed, keys, spec.visual)
            for look in sorted(set(passes), key=lambda look: look.name)
        }
        items += [_item(spec, region, tile, i, look, cover[look]) for i, look in enumerate(passes)]
    items.sort(key=lambda item: (item["properties"]["datetime"], item["id"]))
    return items


def generate(out_dir: Path, seed: int = SEED) -> list[Path]:
    """Write every collection, its items and their pixels to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / ASSET_DIR, ignore_errors=True)
    written: list[Path] = []
    for spec in SPECS:
        items = _spec_items(spec, out_dir, seed)
        collection_path = out_dir / f"{spec.id}.json"
        collection_path.write_text(
            json.dumps(_collection(spec, items), indent=1, sort_keys=True) + "\n"
        )
        items_path = out_dir / f"{spec.id}.ndjson"
        items_path.write_text(
            "".join(
                json.dumps(item, separators=(",", ":"), sort_keys=True) + "\n" for item in items
            )
        )
        written += [collection_path, items_path]
    written += sorted(p for p in (out_dir / ASSET_DIR).rglob("*") if p.is_file())
    return [*written, write_manifest(out_dir, written, seed)]


def write_manifest(out_dir: Path, files: list[Path], seed: int) -> Path:
    """``MANIFEST.txt``: what made the files, then ``sha256  bytes  path`` for each (so a
    regeneration can be compared byte for byte, and shipped files checked), then totals."""
    header = (
        f"# pystac-eds sandbox sample data: scripts/make_sandbox_data.py --seed {seed}, "
        f"GDAL {rasterio.__gdal_version__}\n# sha256  bytes  path\n"
    )
    rows = []
    for path in sorted(files, key=lambda p: p.relative_to(out_dir).as_posix()):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        rows.append(f"{digest}  {len(data)}  {path.relative_to(out_dir).as_posix()}\n")
    total = sum(path.stat().st_size for path in files)
    footer = f"# {len(files)} files, {total} bytes (this one not included)\n"
    manifest = out_dir / MANIFEST
    manifest.write_text(header + "".join(rows) + footer)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    files = generate(args.out, args.seed)
    total = sum(path.stat().st_size for path in files)
    print(f"{len(files)} files, {total} bytes (budget {BUDGET_BYTES})")
    return 0 if total <= BUDGET_BYTES else 1


if __name__ == "__main__":
    raise SystemExit(main())
