"""Generate the sandbox's sample STAC data, deterministically.

Writes ``pystac_eds/sandbox/data/``: one ``<collection>.json`` per collection and one
``<collection>.ndjson`` holding its items. The same seed always gives byte-identical
files, so the output is committed and regenerating it shows no diff:

    python scripts/make_sandbox_data.py

Only the standard library is used, and the files are json/ndjson rather than
stac-geoparquet because ``rustac serve`` loads a ``.parquet`` file through DuckDB,
which tries to download extensions (and so hangs offline).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "pystac_eds" / "sandbox" / "data"
SEED = 20240601
START = datetime(2023, 1, 1, tzinfo=timezone.utc)
END = datetime(2024, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
# Reserved TLD: asset links look real but can never reach a network.
ASSET_ROOT = "https://assets.eds-sandbox.invalid"
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


REGIONS = (
    Region("quebec-farmland", -72.9, 45.6, 32618),
    Region("central-valley", -120.4, 36.8, 32610),
    Region("beauce-france", 1.6, 48.3, 32631),
    Region("western-kenya", 34.8, 0.5, 32636),
)


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    description: str
    platforms: tuple[str, ...]
    constellation: str
    instrument: str
    gsd: float
    footprint_deg: float  # side of the (square-ish) footprint in degrees
    count: int
    bands: tuple[tuple[str, str, float], ...]  # asset key, common name, centre wavelength µm
    license: str


SPECS = (
    Spec(
        id="sentinel-2-l2a",
        title="Sentinel-2 Level-2A",
        description="Sentinel-2 surface reflectance (sandbox sample, not real data).",
        platforms=("sentinel-2a", "sentinel-2b"),
        constellation="sentinel-2",
        instrument="msi",
        gsd=10.0,
        footprint_deg=1.0,
        count=160,
        bands=(
            ("blue", "blue", 0.49),
            ("green", "green", 0.56),
            ("red", "red", 0.665),
            ("nir", "nir", 0.842),
            ("swir16", "swir16", 1.61),
        ),
        license="proprietary",
    ),
    Spec(
        id="landsat-c2l2-sr",
        title="Landsat Collection 2 Level-2 Surface Reflectance",
        description="Landsat 8/9 surface reflectance (sandbox sample, not real data).",
        platforms=("landsat-8", "landsat-9"),
        constellation="landsat",
        instrument="oli",
        gsd=30.0,
        footprint_deg=1.8,
        count=100,
        bands=(
            ("blue", "blue", 0.48),
            ("green", "green", 0.56),
            ("red", "red", 0.655),
            ("nir08", "nir08", 0.865),
        ),
        license="proprietary",
    ),
    Spec(
        id="venus-l2a",
        title="VENuS Level-2A",
        description="VENuS surface reflectance (sandbox sample, not real data).",
        platforms=("venus",),
        constellation="venus",
        instrument="vssc",
        gsd=5.0,
        footprint_deg=0.25,
        count=60,
        bands=(
            ("blue", "blue", 0.49),
            ("green", "green", 0.555),
            ("red", "red", 0.667),
            ("nir", "nir", 0.865),
        ),
        license="CC-BY-NC-4.0",
    ),
)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _item(spec: Spec, index: int, rng: random.Random) -> dict[str, Any]:
    region = rng.choice(REGIONS)
    # Jitter the footprint so items over one region overlap without being identical.
    half = spec.footprint_deg / 2
    lon = round(region.lon + rng.uniform(-0.6, 0.6), 4)
    lat = round(region.lat + rng.uniform(-0.4, 0.4), 4)
    west, east = round(lon - half, 4), round(lon + half, 4)
    south, north = round(lat - half * 0.9, 4), round(lat + half * 0.9, 4)
    seconds = rng.uniform(0, (END - START).total_seconds())
    moment = (START + timedelta(seconds=seconds)).replace(microsecond=0)
    platform = rng.choice(spec.platforms)
    item_id = f"{spec.id}-{region.name}-{moment:%Y%m%dT%H%M%S}-{index:04d}"
    prefix = f"{ASSET_ROOT}/{spec.id}/{moment:%Y/%m/%d}/{item_id}"
    assets: dict[str, Any] = {
        key: {
            "href": f"{prefix}/{key}.tif",
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "title": f"{common} band",
            "roles": ["data", "reflectance"],
            "eo:bands": [{"name": key, "common_name": common, "center_wavelength": wl}],
            "gsd": spec.gsd,
        }
        for key, common, wl in spec.bands
    }
    assets["thumbnail"] = {
        "href": f"{prefix}/thumbnail.jpg",
        "type": "image/jpeg",
        "title": "Thumbnail",
        "roles": ["thumbnail"],
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": STAC_EXTENSIONS,
        "id": item_id,
        "collection": spec.id,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[west, south], [east, south], [east, north], [west, north], [west, south]]
            ],
        },
        "bbox": [west, south, east, north],
        "properties": {
            "datetime": _iso(moment),
            "created": _iso(moment + timedelta(hours=rng.randint(2, 48))),
            "platform": platform,
            "constellation": spec.constellation,
            "instruments": [spec.instrument],
            "gsd": spec.gsd,
            "eo:cloud_cover": round(rng.betavariate(0.7, 1.6) * 100, 2),
            "view:sun_elevation": round(rng.uniform(20, 70), 2),
            "proj:epsg": region.epsg,
        },
        "links": [],
        "assets": assets,
    }


def _collection(spec: Spec, items: list[dict[str, Any]]) -> dict[str, Any]:
    bboxes = [item["bbox"] for item in items]
    datetimes = sorted(item["properties"]["datetime"] for item in items)
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": spec.id,
        "title": spec.title,
        "description": spec.description,
        "license": spec.license,
        "keywords": ["sandbox", spec.constellation, "surface reflectance"],
        "providers": [{"name": "pystac-eds sandbox", "roles": ["host"]}],
        "extent": {
            "spatial": {
                "bbox": [
                    [
                        min(b[0] for b in bboxes),
                        min(b[1] for b in bboxes),
                        max(b[2] for b in bboxes),
                        max(b[3] for b in bboxes),
                    ]
                ]
            },
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


def generate(out_dir: Path, seed: int = SEED) -> list[Path]:
    """Write every collection and its items to ``out_dir``; return the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for spec in SPECS:
        # One generator per collection, so changing one collection leaves the others alone.
        rng = random.Random(f"{seed}:{spec.id}")  # noqa: S311 - sample data, not crypto
        items = [_item(spec, index, rng) for index in range(spec.count)]
        items.sort(key=lambda item: (item["properties"]["datetime"], item["id"]))
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
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for path in generate(args.out, args.seed):
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
