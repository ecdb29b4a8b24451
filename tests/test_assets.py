"""Presigned hrefs: expiry parsing and the modifier, on hand-made EDS-shaped items."""

from __future__ import annotations

import copy
import logging
import pickle
from datetime import datetime, timezone
from typing import Any

import pystac
import pytest

from pystac_eds.assets import (
    TIMESTAMPS_EXTENSION,
    PresignedModifier,
    parse_rfc3339,
    url_expiry,
    use_presigned_hrefs,
)

EPOCH = 1_795_000_000  # 2026-11-18T11:06:40Z
WHEN = datetime.fromtimestamp(EPOCH, tz=timezone.utc)


def sigv2(
    key: str = "b/k.tif", expires: int | str = EPOCH, host: str = "bkt.s3.amazonaws.com"
) -> str:
    return f"https://{host}/{key}?AWSAccessKeyId=AKIA&Signature=abc%2Fd%3D&Expires={expires}"


def sigv4(date: str = "20261118T050000Z", seconds: int | str = 43200) -> str:
    return (
        "https://bkt.s3.us-east-1.amazonaws.com/b/k.tif?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIA%2F20261118%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date={date}"
        f"&X-Amz-Expires={seconds}&X-Amz-SignedHeaders=host&X-Amz-Signature=0123abcd"
    )


def eds_item(item_id: str = "S2A_1", signed: str | None = None, **assets: Any) -> dict[str, Any]:
    """An item as EDS returns it with X-Signed-Asset-Urls: True."""
    signed = signed if signed is not None else sigv2()
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": item_id,
        "collection": "sentinel-2-l2a",
        "geometry": None,
        "properties": {"datetime": "2024-06-01T17:50:00Z"},
        "links": [],
        "assets": assets
        or {
            "red": {
                "href": "s3://bkt/b/k.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "alternate": {"download": {"href": signed}},
            }
        },
    }


# -- expiry ------------------------------------------------------------------------------


def test_sigv2_expiry_is_the_expires_epoch() -> None:
    assert url_expiry(sigv2()) == WHEN


def test_sigv4_expiry_is_date_plus_expires() -> None:
    assert url_expiry(sigv4("20261118T050000Z", 43200)) == datetime(
        2026, 11, 18, 17, 0, 0, tzinfo=timezone.utc
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://bkt.s3.amazonaws.com/b/k.tif",  # unsigned
        "https://bkt.s3.amazonaws.com/b/k.tif?Expires=1795000000",  # no signature
        "https://bkt.s3.amazonaws.com/b/k.tif?Signature=x",  # no expiry
        sigv2(expires="soon"),
        sigv2(expires="-5"),
        sigv2(expires="99999999999999"),
        sigv2(expires=12),  # 1970: garbage, not a date
        sigv2() + "&Expires=1795000001",  # repeated: which one counts?
        sigv2(expires="%31%37%39%35%30%30%30%30%30%30"),  # encoded: S3 and we may differ
        sigv2().replace("Expires=", "Expire%73="),  # an encoded name is not the name
        sigv2().replace("https", "ftp"),
        sigv2().replace("bkt.s3", "user@bkt.s3"),
        sigv2() + " ",
        sigv2().replace("/b/", "\\b/"),
        sigv2().replace("k.tif", "k\u00e9.tif"),
        sigv4(date="2026-11-18T05:00:00Z"),
        sigv4(date="20261318T050000Z"),  # month 13
        sigv4(seconds=0),
        sigv4(seconds=8 * 24 * 3600),  # AWS caps SigV4 at 7 days
        "s3://bkt/b/k.tif",
        "",
    ],
)
def test_malformed_or_unsigned_urls_have_no_expiry(url: str) -> None:
    assert url_expiry(url) is None


# -- the modifier on dicts -----------------------------------------------------------------


def test_presigned_url_becomes_href_and_original_is_kept() -> None:
    item = eds_item()
    use_presigned_hrefs(item)
    red = item["assets"]["red"]
    assert red["href"] == sigv2()
    assert red["alternate"]["s3"] == {"href": "s3://bkt/b/k.tif"}
    assert red["alternate"]["download"] == {"href": sigv2()}
    assert red["expires"] == "2026-11-18T11:06:40Z"
    assert parse_rfc3339(red["expires"]) == WHEN
    assert TIMESTAMPS_EXTENSION in item["stac_extensions"]


def test_applying_twice_changes_nothing_more() -> None:
    once = eds_item()
    use_presigned_hrefs(once)
    twice = copy.deepcopy(once)
    use_presigned_hrefs(twice)
    assert twice == once


def test_a_fresher_download_url_replaces_the_href_but_not_the_kept_original() -> None:
    item = eds_item()
    use_presigned_hrefs(item)
    item["assets"]["red"]["alternate"]["download"]["href"] = sigv2(expires=EPOCH + 3600)
    use_presigned_hrefs(item)
    red = item["assets"]["red"]
    assert red["href"] == sigv2(expires=EPOCH + 3600)
    assert red["alternate"]["s3"] == {"href": "s3://bkt/b/k.tif"}
    assert "original" not in red["alternate"]


def test_non_s3_original_is_kept_as_original() -> None:
    item = eds_item(
        thumb={"href": "https://cdn.example/t.png", "alternate": {"download": {"href": sigv2()}}}
    )
    use_presigned_hrefs(item)
    assert item["assets"]["thumb"]["alternate"]["original"] == {"href": "https://cdn.example/t.png"}


def test_search_page_dicts_are_modified_feature_by_feature() -> None:
    page = {"type": "FeatureCollection", "features": [eds_item("a"), eds_item("b")], "links": []}
    use_presigned_hrefs(page)
    assert [f["assets"]["red"]["href"] for f in page["features"]] == [sigv2(), sigv2()]


def test_collection_assets_are_modified() -> None:
    collection = {"type": "Collection", "id": "c", "assets": eds_item()["assets"]}
    use_presigned_hrefs(collection)
    assert collection["assets"]["red"]["href"] == sigv2()


# -- bad input: left untouched -------------------------------------------------------------


def test_asset_without_alternate_is_untouched() -> None:
    item = eds_item(red={"href": "s3://bkt/b/k.tif"}, bad={"href": "s3://x", "alternate": "no"})
    before = copy.deepcopy(item)
    use_presigned_hrefs(item)
    assert item == before


def test_unsigned_download_url_is_untouched_and_logged_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    item = eds_item(signed="https://bkt.s3.amazonaws.com/b/k.tif")
    before = copy.deepcopy(item)
    with caplog.at_level(logging.DEBUG, logger="pystac_eds.assets"):
        use_presigned_hrefs(item)
    assert item == before
    assert "not a presigned URL" in caplog.text


@pytest.mark.parametrize("odd", [None, 3, "x", [], {"features": "no"}, {"assets": []}])
def test_odd_objects_are_ignored(odd: Any) -> None:
    before = copy.deepcopy(odd)
    use_presigned_hrefs(odd)
    assert odd == before


# -- pystac objects --------------------------------------------------------------------------


def test_every_asset_of_a_pystac_item_is_modified() -> None:
    two = eds_item()["assets"]["red"]
    item = pystac.Item.from_dict(eds_item("a", red=dict(two), nir=copy.deepcopy(two)))
    use_presigned_hrefs(item)
    assert [a.href for a in item.assets.values()] == [sigv2(), sigv2()]


def test_pystac_item_and_item_collection() -> None:
    item = pystac.Item.from_dict(eds_item("a"))
    collection = pystac.ItemCollection([pystac.Item.from_dict(eds_item("b"))])
    use_presigned_hrefs(item)
    use_presigned_hrefs(collection)
    for it in (item, *collection):
        red = it.assets["red"]
        assert red.href == sigv2()
        assert red.extra_fields["alternate"]["s3"] == {"href": "s3://bkt/b/k.tif"}
        assert red.extra_fields["expires"] == "2026-11-18T11:06:40Z"
        assert "href" not in red.extra_fields
        assert TIMESTAMPS_EXTENSION in it.stac_extensions
    # and it survives a round trip through JSON, as odc-stac and files see it
    assert pystac.Item.from_dict(item.to_dict()).assets["red"].href == sigv2()


def test_users_modifier_runs_after_ours_and_the_chain_pickles() -> None:
    seen: list[str] = []
    chain = PresignedModifier(_RecordHref(seen))
    chain(eds_item())
    assert seen == [sigv2()]
    assert pickle.loads(pickle.dumps(PresignedModifier())) == PresignedModifier()


class _RecordHref:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def __call__(self, obj: dict[str, Any]) -> None:
        self.seen.append(obj["assets"]["red"]["href"])
