"""Presigned asset hrefs: make items ready to read, and know when their URLs run out.

EDS answers a request carrying ``X-Signed-Asset-Urls: True`` with each asset's ``href``
left as stored (``s3://bucket/key``) and the presigned HTTPS URL in
``asset["alternate"]["download"]["href"]``. Readers (odc-stac, stackstac, rasterio) read
``href``, so :func:`use_presigned_hrefs` moves the presigned URL there, keeps the original
href as an alternate (``alternate["s3"]`` for ``s3://`` hrefs, else
``alternate["original"]``), and records when the URL stops working in the asset's
``expires`` field (RFC 3339, STAC timestamps extension), parsed from the URL itself:
SigV2 ``Expires=<epoch>`` or SigV4 ``X-Amz-Date`` + ``X-Amz-Expires``.

Anything it cannot vouch for is left exactly as it was: an asset without
``alternate.download``, an unsigned or malformed URL (logged at DEBUG).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: The STAC timestamps extension, which defines the asset field ``expires``.
TIMESTAMPS_EXTENSION = "https://stac-extensions.github.io/timestamps/v1.1.0/schema.json"
#: Where EDS puts the presigned URL, and where the original href is kept.
DOWNLOAD = "download"
ORIGINAL_S3 = "s3"
ORIGINAL_OTHER = "original"

# AWS refuses SigV4 URLs valid longer than 7 days; anything beyond is not a real one.
_MAX_SIGV4_SECONDS = 7 * 24 * 3600
# Plausible expiry times (epoch seconds): 2001 .. 2286. Outside that a number is garbage.
_MIN_EPOCH, _MAX_EPOCH = 1_000_000_000, 10_000_000_000
_SIGV4_DATE = re.compile(r"\d{8}T\d{6}Z")
_DIGITS = re.compile(r"\d{1,12}")
# What a URL may contain (RFC 3986 characters and %): no spaces, controls, backslashes or
# non-ASCII, on which URL parsers disagree.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def url_expiry(url: str) -> datetime | None:
    """When the presigned S3-style ``url`` expires (UTC), or ``None`` when ``url`` is not a
    well-formed signed URL (no signature, no or malformed expiry, odd characters)."""
    query = _signed_query(url)
    if query is None:
        return None
    if "X-Amz-Signature" in query:
        return _sigv4_expiry(query)
    if "Signature" in query:
        return _sigv2_expiry(query)
    return None


def _signed_query(url: str) -> dict[str, str] | None:
    if not isinstance(url, str) or not _URL_CHARS.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
        return None
    # Names and values as sent, not unquoted: the values read here are digits and dates,
    # so a percent-encoded one fails their patterns and the URL is left alone. (Also what
    # keeps this cheap: it runs for every asset of every item of a search.)
    pairs = [pair.partition("=") for pair in parts.query.split("&")]
    query = {name: value for name, _, value in pairs}
    if len(query) != len(pairs):  # a repeated parameter: which one would S3 use?
        return None
    return query


def _sigv2_expiry(query: dict[str, str]) -> datetime | None:
    expires = query.get("Expires", "")
    if not _DIGITS.fullmatch(expires) or not _MIN_EPOCH <= int(expires) <= _MAX_EPOCH:
        return None
    return datetime.fromtimestamp(int(expires), tz=timezone.utc)


def _sigv4_expiry(query: dict[str, str]) -> datetime | None:
    signed_at, lifetime = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
    if not _SIGV4_DATE.fullmatch(signed_at) or not _DIGITS.fullmatch(lifetime):
        return None
    if not 1 <= int(lifetime) <= _MAX_SIGV4_SECONDS:
        return None
    try:
        start = datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:  # e.g. month 13
        return None
    return datetime.fromtimestamp(start.timestamp() + int(lifetime), tz=timezone.utc)


def rfc3339(when: datetime) -> str:
    """``2026-11-28T19:30:00Z``: the form STAC timestamps use."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: object) -> datetime | None:
    """The instant an ``expires`` field names, or ``None`` if it is not a timestamp."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


# -- the modifier ------------------------------------------------------------------------


def use_presigned_hrefs(obj: Any) -> None:
    """Make every asset of ``obj`` readable as is: a ``modifier=`` for pystac-client.

    ``obj`` is what pystac-client hands a modifier — a :class:`pystac.Item`,
    :class:`pystac.ItemCollection`, :class:`pystac.Collection`, or a dict (an item, a
    collection, or a page of search results). Changes it in place and returns ``None``.
    Safe to apply twice. Use it with an existing client::

        import pystac_eds
        from pystac_client import Client

        url = pystac_eds.Credentials.resolve().api_url
        catalog = Client.open(
            url, stac_io=pystac_eds.stac_io(), modifier=pystac_eds.use_presigned_hrefs
        )

    :func:`pystac_eds.open` does this by default (``asset_access="presigned"``).
    """
    if isinstance(obj, dict):
        _modify_dict(obj)
        return
    assets = getattr(obj, "assets", None)
    if isinstance(assets, dict):  # a pystac Item or Collection
        changed = [_promote_asset_object(asset) for asset in list(assets.values())]
        if any(changed):  # (a list first: `any` of a generator would stop at the first)
            extensions = getattr(obj, "stac_extensions", None)
            if isinstance(extensions, list) and TIMESTAMPS_EXTENSION not in extensions:
                extensions.append(TIMESTAMPS_EXTENSION)
        return
    items = getattr(obj, "items", None)  # a pystac ItemCollection
    if isinstance(items, list):
        for item in items:
            use_presigned_hrefs(item)


@dataclass(frozen=True)
class PresignedModifier:
    """:func:`use_presigned_hrefs`, then the user's own ``modifier`` (if any).

    A class rather than a closure so a client built by :func:`pystac_eds.open` still
    pickles (to dask workers, process pools).
    """

    then: Callable[[Any], object] | None = None

    def __call__(self, obj: Any) -> None:
        use_presigned_hrefs(obj)
        if self.then is not None:
            self.then(obj)


def _modify_dict(obj: dict[str, Any]) -> None:
    features = obj.get("features")
    if isinstance(features, list):  # a page of search results / a FeatureCollection
        for feature in features:
            if isinstance(feature, dict):
                _modify_dict(feature)
        return
    assets = obj.get("assets")
    if not isinstance(assets, dict):
        return
    changed = [promote(a) for a in assets.values() if isinstance(a, dict)]
    if any(changed):
        extensions = obj.setdefault("stac_extensions", [])
        if isinstance(extensions, list) and TIMESTAMPS_EXTENSION not in extensions:
            extensions.append(TIMESTAMPS_EXTENSION)


def _promote_asset_object(asset: Any) -> bool:
    # pystac's Asset keeps href as an attribute and the rest in extra_fields.
    fields = asset.extra_fields
    view = {**fields, "href": asset.href}
    if not promote(view):
        return False
    asset.href = view.pop("href")
    fields.update(view)
    return True


def promote(asset: MutableMapping[str, Any]) -> bool:
    """Make the presigned ``alternate.download.href`` of one asset dict its ``href``.

    The original href is kept as ``alternate["s3"]`` (or ``alternate["original"]`` when
    it is not an ``s3://`` URL) unless it is itself a presigned URL (an earlier
    promotion). Returns whether the asset now has a presigned href.
    """
    alternates = asset.get("alternate")
    download = alternates.get(DOWNLOAD) if isinstance(alternates, dict) else None
    signed = download.get("href") if isinstance(download, dict) else None
    if not isinstance(signed, str):
        return False
    expires = url_expiry(signed)
    if expires is None:
        log.debug("asset alternate is not a presigned URL with an expiry; href left as it is")
        return False
    assert isinstance(alternates, dict)
    original = asset.get("href")
    if isinstance(original, str) and original != signed and url_expiry(original) is None:
        name = ORIGINAL_S3 if original.startswith("s3://") else ORIGINAL_OTHER
        alternates.setdefault(name, {"href": original})
    asset["href"] = signed
    asset["expires"] = rfc3339(expires)
    return True
