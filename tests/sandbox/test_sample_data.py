"""The sandbox's shipped sample data: real pixels that match the metadata, on a tile
grid, at overpass hours, covering the documentation's examples, within the budget."""

from __future__ import annotations

import json
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


def test_what_ships_fits_the_5_mb_budget() -> None:
    total = sum(path.stat().st_size for path in DATA.rglob("*") if path.is_file())
    assert total <= 5_000_000, total


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
