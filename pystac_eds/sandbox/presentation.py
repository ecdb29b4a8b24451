"""Present STAC items' assets the way EDS does, chosen by the asset-access headers.

* ``X-Signed-Asset-Urls: True``: every ``s3://`` asset keeps its ``href``; the presigned
  HTTPS URL goes to ``assets[k]["alternate"]["download"]["href"]``.
* ``X-Proxy-Asset-Urls: True``: ``href`` becomes a proxy URL on the API's own origin,
  which needs the bearer and answers ``307`` to a fresh presigned URL.
* Neither: hrefs as stored. A single item (``/collections/{c}/items/{id}``) is signed
  unless asked otherwise; ``/search`` and ``/items`` only with the header.

Standard library only (used by the test kit and by the sandbox's asset service).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import quote, unquote

SIGNED_HEADER = "X-Signed-Asset-Urls"
PROXY_HEADER = "X-Proxy-Asset-Urls"
ALTERNATE_ASSETS = "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json"
#: Where proxy URLs live, below the STAC root (``{root}/asset-proxy/{bucket}/{key}``).
PROXY_PREFIX = "/asset-proxy/"

Mode = Literal["signed", "proxy", "raw"]
#: ``(bucket, key) -> URL``
Signer = Callable[[str, str], str]


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() == "true"


def asset_mode(header: Callable[[str], str | None], *, single_item: bool) -> Mode:
    """Which presentation a request asked for; ``header`` looks a request header up."""
    signed = _flag(header(SIGNED_HEADER))
    if signed:
        return "signed"
    if _flag(header(PROXY_HEADER)):
        return "proxy"
    return "signed" if single_item and signed is None else "raw"


def proxy_url(root: str, bucket: str, key: str) -> str:
    """The proxy URL of ``s3://bucket/key`` for the STAC API at ``root``."""
    return f"{root.rstrip('/')}{PROXY_PREFIX}{quote(bucket, safe='')}/{quote(key, safe='/~')}"


def parse_proxy_path(path: str) -> tuple[str, str] | None:
    """``(bucket, key)`` of a proxy path relative to the STAC root, else ``None``."""
    if not path.startswith(PROXY_PREFIX):
        return None
    bucket, _, key = unquote(path[len(PROXY_PREFIX) :]).partition("/")
    return (bucket, key) if bucket and key else None


def present(item: dict[str, Any], mode: Mode, *, sign: Signer, proxy: Signer) -> dict[str, Any]:
    """A copy of ``item`` whose ``s3://`` assets are presented as ``mode`` says."""
    if mode == "raw":
        return item
    shown = copy.deepcopy(item)
    changed = False
    for asset in shown.get("assets", {}).values():
        href = asset.get("href", "")
        if not href.startswith("s3://"):
            continue
        bucket, _, key = href[len("s3://") :].partition("/")
        changed = True
        if mode == "proxy":
            asset["href"] = proxy(bucket, key)
        else:
            alternate = asset.setdefault("alternate", {})
            alternate["download"] = {"href": sign(bucket, key)}
    if changed and mode == "signed":
        extensions = shown.setdefault("stac_extensions", [])
        if ALTERNATE_ASSETS not in extensions:
            extensions.append(ALTERNATE_ASSETS)
    return shown
