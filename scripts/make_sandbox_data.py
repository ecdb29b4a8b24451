"""Generate the sandbox's sample STAC data and its pixels, deterministically.

Writes ``pystac_eds/sandbox/data/``: one ``<collection>.json`` per collection, one
``<collection>.ndjson`` holding its items, and ``assets/``: small Cloud-Optimized
GeoTIFFs (bands, a true-colour ``visual`` for Sentinel-2) and PNG thumbnails. Run it
with the ``[pixels]`` extra (rasterio, numpy)::

    python scripts/make_sandbox_data.py

Items sit on a fixed tile grid (MGRS-like 109.8 km UTM squares for Sentinel-2, WRS-like
185 km scenes for Landsat, 27.5 km sites for VENuS), at each platform's overpass hour.
Pixels come from a *pool*: every tile has a few looks (dormant, green-up, peak season, a
cloudy pass), made of fields, forest, a town, a river and a lake, and each item points at
the look its date calls for, so a true-colour plot or an NDVI map is recognisable and
changes with the seasons while what ships stays under the 5 MB budget. Items on one tile
share its grid, so every item's geometry and ``proj:*`` fields match its files.

Files are json/ndjson rather than stac-geoparquet because ``rustac serve`` loads a
``.parquet`` file through DuckDB, which tries to download extensions (and so hangs
offline). The same seed and the same GDAL give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_pixels import Look, Tile, write_scene

DATA_DIR = Path(__file__).resolve().parent.parent / "pystac_eds" / "sandbox" / "data"
ASSET_DIR = "assets"
BUCKET = "eds-sandbox-assets"
SEED = 20240601
START = date(2023, 1, 3)
BUDGET_BYTES = 5_000_000
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
    season: str  # "north" (summer peak) or "equatorial" (two rainy seasons)


REGIONS = (
    Region("boulder-colorado", -105.2, 40.0, 32613, "13TDE", (34, 32), "north"),
    Region("quebec-farmland", -72.9, 45.6, 32618, "18TXR", (14, 28), "north"),
    Region("central-valley", -120.4, 36.8, 32610, "10SGF", (43, 34), "north"),
    Region("beauce-france", 1.6, 48.3, 32631, "31UCP", (199, 26), "north"),
    Region("western-kenya", 34.8, 0.5, 32636, "36NXF", (170, 60), "equatorial"),
)


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
    overpass_hour: float  # local mean solar time
    bands: tuple[tuple[str, str, float], ...]  # asset key, common name, centre wavelength µm
    visual: bool
    license: str


SPECS = (
    Spec(
        "sentinel-2-l2a", "Sentinel-2 Level-2A (EDS sandbox sample)",
        ("sentinel-2a", "sentinel-2b"), "sentinel-2", "msi", 10.0, 109_800, 122, 32, 23, 10.5,
        (("blue", "blue", 0.49), ("green", "green", 0.56), ("red", "red", 0.665),
         ("nir", "nir", 0.842)),
        True, "proprietary",
    ),
    Spec(
        "landsat-c2l2-sr", "Landsat Collection 2 Level-2 SR (EDS sandbox sample)",
        ("landsat-8", "landsat-9"), "landsat", "oli", 30.0, 185_000, 100, 20, 32, 10.2,
        (("blue", "blue", 0.48), ("green", "green", 0.56), ("red", "red", 0.655),
         ("nir08", "nir08", 0.865)),
        False, "proprietary",
    ),
    Spec(
        "venus-l2a", "VENuS Level-2A (EDS sandbox sample)", ("venus",), "venus", "vssc", 5.0,
        27_500, 110, 12, 60, 10.8,
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
        name = f"{path:03d}{row:03d}" if spec.id.startswith("landsat") else region.name
    return Tile(name, region.epsg, west, north, spec.tile_m / spec.pixels, spec.pixels)


def look_for(spec: Spec, region: Region, day: date, index: int) -> Look:
    """The pool look an item's date calls for: every fifth pass is cloudy; otherwise the
    season (north: peak Jun-Aug; equatorial: green in the two rainy seasons)."""
    if index % 5 == 3:
        return "cloudy"
    if region.season == "equatorial":
        seasons: tuple[tuple[int, ...], ...] = ((4, 5, 11, 12), (1, 2, 6, 7, 8, 9))
    else:
        seasons = ((6, 7, 8), (11, 12, 1, 2, 3))
    peak, dormant = seasons
    look: Look = "peak" if day.month in peak else "dormant" if day.month in dormant else "green-up"
    # Only Sentinel-2 ships a green-up look (the size budget); the others show peak.
    return "peak" if look == "green-up" and spec.id != "sentinel-2-l2a" else look


def acquired(spec: Spec, region: Region, day: date, index: int) -> datetime:
    """Overpass: the platform's local solar hour at the region's longitude, in UTC."""
    hour = spec.overpass_hour - region.lon / 15 + ((index * 37) % 7 - 3) / 60
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return (midnight + timedelta(hours=hour)).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _item_id(spec: Spec, tile: Tile, moment: datetime, index: int) -> str:
    if spec.id == "sentinel-2-l2a":
        return f"S2{'AB'[index % 2]}_{tile.name}_{moment:%Y%m%d}_0_L2A"
    if spec.id == "landsat-c2l2-sr":
        return f"LC0{8 + index % 2}_L2SR_{tile.name}_{moment:%Y%m%d}_02_T1"
    return f"VENUS-XS_{moment:%Y%m%d}-{moment:%H%M%S}_L2A_{tile.name.upper()}"


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


def _item(
    spec: Spec, region: Region, tile: Tile, index: int, cloud: dict[str, float]
) -> dict[str, Any]:
    phase = REGIONS.index(region) * 3
    day = START + timedelta(days=phase + index * spec.revisit_days)
    moment = acquired(spec, region, day, index)
    look = look_for(spec, region, day, index)
    footprint = tile.footprint()
    lons = [p[0] for p in footprint]
    lats = [p[1] for p in footprint]
    properties: dict[str, Any] = {
        "datetime": _iso(moment),
        "created": _iso(moment + timedelta(hours=6 + index % 30)),
        "platform": spec.platforms[index % len(spec.platforms)],
        "constellation": spec.constellation,
        "instruments": [spec.instrument],
        "gsd": spec.gsd,
        "eo:cloud_cover": cloud[look],
        "view:sun_elevation": round(65 - 25 * abs(day.month - 6.5) / 5.5, 2),
        "proj:epsg": tile.epsg,
        "proj:shape": [tile.size, tile.size],
        "proj:transform": list(tile.transform()),
        "grid:code": f"{'MGRS' if spec.id.startswith('sentinel') else 'WRS2'}-{tile.name}",
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
        "assets": _assets(spec, f"{spec.id}/{tile.name}/{look}"),
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
        folder = out_dir / ASSET_DIR / spec.id / tile.name
        scene_seed = seed + 1000 * SPECS.index(spec) + number
        keys = [key for key, _, _ in spec.bands]
        cloud = {
            look: write_scene(folder / look, tile, look, scene_seed, keys, spec.visual)
            for look in ("dormant", "green-up", "peak", "cloudy")
            if spec.id == "sentinel-2-l2a" or look != "green-up"
        }
        items += [_item(spec, region, tile, i, cloud) for i in range(spec.per_tile)]
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
    return written + sorted(p for p in (out_dir / ASSET_DIR).rglob("*") if p.is_file())


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
