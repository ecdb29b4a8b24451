"""The sandbox's shipped sample data: real pixels that match the metadata, on a tile
grid, at overpass hours under the sun of that hour, with weather that varies, covering the
documentation's examples, within the budget, as its manifest says."""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pystac_eds.sandbox.presign import split_s3_href

DATA = Path(__file__).resolve().parents[2] / "pystac_eds" / "sandbox" / "data"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_sandbox_data.py"
BUCKET = "eds-sandbox-assets"
BOULDER = (-105.3, 39.9, -105.1, 40.1)


def items(collection: str | None = None) -> Iterator[dict[str, Any]]:
    for path in sorted(DATA.glob("*.ndjson")):
        if collection is None or path.stem == collection:
            for line in path.read_text().splitlines():
                yield json.loads(line)


def asset_path(href: str) -> Path:
    bucket, key = split_s3_href(href)
    assert bucket == BUCKET
    return DATA / "assets" / key


def overlaps(bbox: list[float], other: tuple[float, ...]) -> bool:
    west, south, east, north = other
    return bbox[0] <= east and west <= bbox[2] and bbox[1] <= north and south <= bbox[3]


DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"


def shipped() -> dict[str, bytes]:
    return {
        path.relative_to(DATA).as_posix(): path.read_bytes()
        for path in sorted(DATA.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def manifest(folder: Path) -> tuple[str, dict[str, str]]:
    """(the line saying what made the files, {path: sha256}) from ``MANIFEST.txt``."""
    lines = (folder / "MANIFEST.txt").read_text().splitlines()
    rows = [line.split("  ") for line in lines if not line.startswith("#")]
    return lines[0], {path: digest for digest, _, path in rows}


def test_what_ships_fits_the_5_mb_budget_and_the_docs_say_how_much() -> None:
    total = sum(len(data) for data in shipped().values())
    assert total <= 5_000_000, total
    stated = re.search(r"about ([0-9.]+) MB today", " ".join(DOCS.read_text().split()))
    assert stated is not None and float(stated[1]) == round(total / 1e6, 1), total


def test_every_shipped_file_is_the_one_in_the_manifest() -> None:
    files = shipped()
    _, listed = manifest(DATA)
    assert sorted(listed) == sorted(set(files) - {"MANIFEST.txt"})
    for path, digest in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == digest, path


def test_every_asset_is_a_shipped_file() -> None:
    count = 0
    for item in items():
        for key, asset in item["assets"].items():
            assert asset_path(asset["href"]).is_file(), (item["id"], key)
            count += 1
    assert count > 1000


def test_sentinel_2_items_have_bands_visual_and_thumbnail() -> None:
    for item in items("sentinel-2-l2a"):
        assert {"blue", "green", "red", "nir", "visual", "thumbnail"} <= set(item["assets"])


def test_readme_and_help_examples_are_covered() -> None:
    """README: Boulder bbox, 2024-06/2024-08, `visual`; --help: June 2024; the dask
    example: every month of 2024; tests: Quebec in 2023."""
    boulder = [
        item
        for item in items("sentinel-2-l2a")
        if overlaps(item["bbox"], BOULDER) and item["properties"]["datetime"].startswith("2024")
    ]
    months = {item["properties"]["datetime"][:7] for item in boulder}
    assert months >= {f"2024-{m:02d}" for m in range(1, 13)}
    summer = [i for i in boulder if "2024-06" <= i["properties"]["datetime"][:7] <= "2024-08"]
    assert summer and all("visual" in item["assets"] for item in summer)
    assert any(item["properties"]["eo:cloud_cover"] < 5 for item in summer)
    quebec = [
        item
        for item in items("sentinel-2-l2a")
        if overlaps(item["bbox"], (-75, 44, -70, 47))
        and item["properties"]["datetime"].startswith("2023")
    ]
    assert quebec


def test_every_collection_spans_the_two_years_the_docs_say() -> None:
    spans = {
        collection: sorted(item["properties"]["datetime"][:7] for item in items(collection))
        for collection in ("sentinel-2-l2a", "landsat-c2l2-sr", "venus-l2a")
    }
    assert {c: (months[0], months[-1]) for c, months in spans.items()} == {
        "sentinel-2-l2a": ("2023-01", "2024-12"),
        "landsat-c2l2-sr": ("2023-01", "2024-12"),
        "venus-l2a": ("2023-01", "2024-11"),
    }


def test_grid_codes_are_each_platforms_own() -> None:
    patterns = {
        "sentinel-2-l2a": r"MGRS-\d{2}[C-X][A-Z]{2}",
        "landsat-c2l2-sr": r"WRS2-\d{6}",
        # VENuS images named sites (on Sentinel-2's UTM grid), it has no world grid
        "venus-l2a": r"VENUS-[A-Z]+",
    }
    for collection, pattern in patterns.items():
        for item in items(collection):
            code = item["properties"]["grid:code"]
            assert re.fullmatch(pattern, code), (item["id"], code)
            assert code.split("-", 1)[1] in item["id"], (item["id"], code)


def _sun_elevation(lat: float, lon: float, when: datetime) -> float:
    """A second sun, by other textbook formulas: Cooper's declination and the usual
    three-term equation of time (to about a degree)."""
    day = when.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day) / 365)
    b = 2 * math.pi * (day - 81) / 364
    equation_of_time = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)
    solar_hours = when.hour + when.minute / 60 + lon / 15 + equation_of_time / 60
    hour_angle = math.radians(15 * (solar_hours - 12))
    phi = math.radians(lat)
    return math.degrees(
        math.asin(
            math.sin(phi) * math.sin(declination)
            + math.cos(phi) * math.cos(declination) * math.cos(hour_angle)
        )
    )


def test_the_sun_is_where_it_was_at_each_acquisition() -> None:
    by_region: dict[str, list[float]] = {}
    for item in items():
        props = item["properties"]
        when = datetime.fromisoformat(props["datetime"].replace("Z", "+00:00"))
        lon, lat = (item["bbox"][0] + item["bbox"][2]) / 2, (item["bbox"][1] + item["bbox"][3]) / 2
        elevation = props["view:sun_elevation"]
        assert abs(elevation - _sun_elevation(lat, lon, when)) < 1.5, (item["id"], elevation)
        assert 0 <= props["view:sun_azimuth"] < 360
        by_region.setdefault("kenya" if abs(lat) < 5 else "north", []).append(elevation)
    # Near the equator the morning sun is high all year; at 40-48 N it swings with seasons.
    assert min(by_region["kenya"]) > 50 and max(by_region["kenya"]) < 75
    assert min(by_region["north"]) < 25 and max(by_region["north"]) > 60


def test_cloud_cover_varies_with_place_and_season() -> None:
    for collection in ("sentinel-2-l2a", "landsat-c2l2-sr", "venus-l2a"):
        covers = [item["properties"]["eo:cloud_cover"] for item in items(collection)]
        # Clear, a few cumulus, partly cloudy, overcast: not two values.
        assert len(set(covers)) >= 15, collection
        assert min(covers) == 0 and max(covers) > 95
        assert any(0 < c < 2 for c in covers) and any(20 < c < 70 for c in covers)
    kenya = [i for i in items("sentinel-2-l2a") if i["properties"]["grid:code"] == "MGRS-36NXF"]
    assert len({i["properties"]["eo:cloud_cover"] for i in kenya}) >= 6
    rainy = [i for i in kenya if int(i["properties"]["datetime"][5:7]) in (3, 4, 5, 10, 11, 12)]
    dry = [i for i in kenya if i not in rainy]
    mean = statistics.mean
    assert mean(i["properties"]["eo:cloud_cover"] for i in rainy) > mean(
        i["properties"]["eo:cloud_cover"] for i in dry
    )


@pytest.mark.parametrize(
    ("collection", "hours"),
    [
        ("sentinel-2-l2a", (10.0, 11.0)),
        ("landsat-c2l2-sr", (9.7, 10.7)),
        ("venus-l2a", (10.3, 11.3)),
    ],
)
def test_acquisitions_are_at_local_overpass_hours(
    collection: str, hours: tuple[float, float]
) -> None:
    for item in items(collection):
        when = datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
        lon = (item["bbox"][0] + item["bbox"][2]) / 2
        local = (when.hour + when.minute / 60 + lon / 15) % 24
        assert hours[0] <= local <= hours[1], (item["id"], local)


def test_footprints_sit_on_a_fixed_grid() -> None:
    for collection in ("sentinel-2-l2a", "landsat-c2l2-sr", "venus-l2a"):
        grids: dict[str, set[str]] = {}
        for item in items(collection):
            code = item["properties"].get("grid:code") or item["id"]
            grids.setdefault(json.dumps(item["geometry"]), set()).add(code)
        assert len(grids) == 5, collection  # one tile per region, revisited
        for transform in {json.dumps(i["properties"]["proj:transform"]) for i in items(collection)}:
            a, _, west, _, e, north = json.loads(transform)
            if collection == "sentinel-2-l2a":  # MGRS-like: 40 m west of a 100 km line
                assert (west + 40) % 100_000 == 0 and north % 100_000 == 0
            assert a == -e


def test_the_catalog_says_it_is_the_eds_sandbox() -> None:
    for path in DATA.glob("*.json"):
        collection = json.loads(path.read_text())
        assert "EDS sandbox" in collection["title"]
        assert "Not real data" in collection["description"]
