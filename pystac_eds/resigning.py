"""resign(): fresh presigned hrefs for items whose URLs run out soon, in few API requests.

Presigned URLs live 12 hours on EDS. Items kept longer (a file, a long dask job) get
fresh URLs here: the items that expire within ``margin`` are looked up again with one
``POST /search`` by ``ids`` and ``collections`` — pages of the largest ``limit`` the API
accepts, never one request per item — and their assets' hrefs, ``alternate`` and
``expires`` are replaced. Everything else about the items (properties the user added,
assets the API does not know) is kept.
"""

from __future__ import annotations

import json
import logging
import re
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pystac
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO

from .assets import DOWNLOAD, parse_rfc3339, url_expiry, use_presigned_hrefs
from .errors import MissingItemsError, ResignError

log = logging.getLogger(__name__)

Items = TypeVar(
    "Items", pystac.Item, pystac.ItemCollection, list[pystac.Item], tuple[pystac.Item, ...]
)

#: The largest page we ask for. The STAC API spec says a server caps a larger ``limit``
#: at its own maximum (we then follow ``next`` links); some refuse it with a 400 instead,
#: which we read and retry below.
MAX_PAGE_LIMIT = 10_000
#: Where to step down to when an API refuses a limit without saying its maximum: the caps
#: STAC APIs commonly have (stac-fastapi 10000, Planetary Computer 1000, many 100, ...).
#: Each refusal costs a request, so few steps, each a likely maximum.
COMMON_CAPS = (10_000, 5_000, 1_000, 500, 250, 100, 50, 10, 1)
#: Item ids named in an error message; the error's ``item_ids`` has all of them.
_NAMED_IN_MESSAGE = 10
_LIMIT_IN_ERROR = re.compile(r"less than or equal to (\d+)|maximum[^0-9]{0,40}(\d+)", re.I)
#: Presigned hrefs whatever the catalog asked for. "False" rather than leaving the proxy
#: header out: a header the request sets wins over the session's and the auth's defaults.
_SIGNING = {"X-Signed-Asset-Urls": "True", "X-Proxy-Asset-Urls": "False"}


def resign(
    items: Items,
    *,
    margin: timedelta = timedelta(hours=1),
    catalog: Client | None = None,
) -> Items:
    """``items`` with fresh presigned hrefs for those whose ``expires`` falls within
    ``margin`` from now; the same shape back (an ``ItemCollection``, a list of ``Item``s,
    or one ``Item``). Items that need nothing are returned as they are, untouched and
    not fetched; re-signed ones are copies (the inputs are never changed).

    ``catalog`` is the client to ask (default: :func:`pystac_eds.open` from the
    environment, which is what a dask worker uses). Raises :class:`ResignError` for
    items of another API or with no ``collection``, and :class:`MissingItemsError`
    (holding all the items, the others re-signed) for items the API no longer returns.
    """
    given = _as_list(items)
    deadline = datetime.now(timezone.utc) + margin
    stale = [item for item in given if _expires_before(item, deadline)]
    if not stale:
        return items
    catalog = catalog if catalog is not None else _default_catalog()
    _check_provenance(stale, catalog)
    fresh = _fetch(catalog, stale)
    result, missing = [], []
    stale_ids = {id(item) for item in stale}
    for item in given:
        if id(item) not in stale_ids:
            result.append(item)
        elif (item.collection_id, item.id) in fresh:
            result.append(_refreshed(item, fresh[(item.collection_id, item.id)]))
        else:
            missing.append(f"{item.collection_id}/{item.id}")
            result.append(item)
    shaped: Items = _same_shape(items, result)
    if missing:
        raise MissingItemsError(
            f"The API no longer returns {len(missing)} item(s), so they could not be "
            f"re-signed: {_named(missing)}. The error's .items holds all the items, the "
            "others re-signed.",
            item_ids=missing,
            items=shaped,
        )
    return shaped


def _as_list(items: Any) -> list[pystac.Item]:
    if isinstance(items, pystac.Item):
        return [items]
    listed = list(items) if isinstance(items, (pystac.ItemCollection, list, tuple)) else None
    if listed is None or not all(isinstance(i, pystac.Item) for i in listed):
        raise ResignError(
            "resign() takes a pystac.ItemCollection, a list of pystac.Item, or one Item; "
            f"got {type(items).__name__}."
        )
    return listed


def _same_shape(items: Any, result: list[pystac.Item]) -> Any:
    if isinstance(items, pystac.Item):
        return result[0]
    if isinstance(items, pystac.ItemCollection):
        return pystac.ItemCollection(
            result, extra_fields=dict(items.extra_fields), clone_items=False
        )
    return tuple(result) if isinstance(items, tuple) else result


def asset_expiry(asset: pystac.Asset) -> datetime | None:
    """When an asset's href stops working: its ``expires`` field, else the expiry in
    its href or its ``alternate.download`` URL (items saved by other tools)."""
    expires = parse_rfc3339(asset.extra_fields.get("expires"))
    if expires is not None:
        return expires
    alternates = asset.extra_fields.get("alternate")
    download = alternates.get(DOWNLOAD) if isinstance(alternates, dict) else None
    signed = download.get("href") if isinstance(download, dict) else None
    for url in (asset.href, signed):
        when = url_expiry(url) if isinstance(url, str) else None
        if when is not None:
            return when
    return None


def _expires_before(item: pystac.Item, deadline: datetime) -> bool:
    expiries = [e for e in map(asset_expiry, item.assets.values()) if e is not None]
    return bool(expiries) and min(expiries) <= deadline


def _default_catalog() -> Client:
    from .client import open as open_eds

    return open_eds()


# -- which API ---------------------------------------------------------------------------


def _check_provenance(items: Sequence[pystac.Item], catalog: Client) -> None:
    orphans = [item.id for item in items if not item.collection_id]
    if orphans:
        raise ResignError(
            f"{len(orphans)} item(s) have no 'collection', so the API cannot be asked for "
            f"them again: {_named(orphans)}.",
            item_ids=orphans,
        )
    root = _prefix(catalog.self_href or "")
    foreign = [
        f"{item.collection_id}/{item.id}"
        for item in items
        if any(not _prefix(href).startswith(root) for href in _api_links(item))
    ]
    if foreign:
        raise ResignError(
            f"{len(foreign)} item(s) come from another API than {catalog.self_href}: "
            f"{_named(foreign)}. Re-sign them with a catalog of that API (catalog=...).",
            item_ids=foreign,
        )


def _api_links(item: pystac.Item) -> Iterator[str]:
    """The http(s) hrefs of an item's ``self`` and ``root`` links (where it was fetched
    from). Others say where it was saved (``item.save_object()`` makes ``self`` a local
    path), not which API it came from."""
    for link in item.links:
        if link.rel not in ("self", "root"):
            continue
        # link.href may resolve the root over the network; read the target as it is.
        target = link.target
        href = target if isinstance(target, str) else target.get_self_href()
        if href and href.lower().startswith(("https://", "http://")):
            yield href


def _prefix(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/").lower() + "/"


# -- asking the API ----------------------------------------------------------------------

Key = tuple[str | None, str]


@dataclass
class _Search:
    """One batched ``POST /search`` for ``ids`` in ``collections``, paged."""

    io: StacApiIO
    url: str
    ids: list[str]
    collections: list[str]

    @property
    def size(self) -> int:
        return min(len(self.ids), MAX_PAGE_LIMIT)

    def pages(self, limit: int) -> Iterator[dict[str, Any]]:
        body: dict[str, Any] | None = {
            "ids": self.ids,
            "collections": self.collections,
            "limit": limit,
        }
        href, method = self.url, "POST"
        while body is not None:
            page = json.loads(self.io.request(href, method, dict(_SIGNING), body))
            yield page
            href, method, body = _next(page, body)


def _next(page: dict[str, Any], body: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
    link = next((x for x in page.get("links", []) if x.get("rel") == "next"), None)
    if not page.get("features") or not isinstance(link, dict) or "href" not in link:
        return "", "", None
    method = str(link.get("method", "GET")).upper()
    if method == "POST":
        following = link.get("body") or {}
        following = {**body, **following} if link.get("merge") else following
        return link["href"], "POST", following or body
    return link["href"], "GET", {}


def _fetch(catalog: Client, items: Sequence[pystac.Item]) -> dict[Key, dict[str, Any]]:
    """The API's current version of ``items`` (presigned), keyed by (collection, id)."""
    io = catalog._stac_io
    if not isinstance(io, StacApiIO):
        raise ResignError("catalog must be a pystac_client.Client opened on a STAC API.")
    search = _Search(
        io,
        _search_url(catalog),
        ids=sorted({item.id for item in items}),
        collections=sorted({item.collection_id for item in items if item.collection_id}),
    )
    wanted = {(item.collection_id, item.id) for item in items}
    found: dict[Key, dict[str, Any]] = {}
    for page in _pages_with_accepted_limit(search):
        use_presigned_hrefs(page)
        for feature in page.get("features", []):
            key = (feature.get("collection"), feature.get("id"))
            if key in wanted:
                found[key] = feature
        if len(found) == len(wanted):
            break  # a full last page may still link to an empty next one: not needed
    return found


def _search_url(catalog: Client) -> str:
    # pystac-client's own look-up resolves the link, which may read the landing page again
    # (one more request) when the root's href differs by a slash; an absolute href needs none.
    link = catalog.get_search_link()
    target = link.target if link is not None else None
    if isinstance(target, str) and target.startswith(("https://", "http://")):
        return target
    return catalog._search_href()


#: The limit each client's API accepted after refusing a larger one, so later calls ask
#: for it straight away (by client, not URL: another server may get the same port later).
_accepted: weakref.WeakKeyDictionary[StacApiIO, int] = weakref.WeakKeyDictionary()


def _pages_with_accepted_limit(search: _Search) -> Iterable[dict[str, Any]]:
    # A server that refuses our limit (400) usually says its maximum: use that, else step
    # down through the common caps; a bounded number of times, whatever the server says.
    limit = min(search.size, _accepted.get(search.io, MAX_PAGE_LIMIT))
    for _ in range(len(COMMON_CAPS) + 1):
        pages = search.pages(limit)
        try:
            first = next(pages)
        except APIError as err:
            smaller = _accepted_limit(err, limit)
            if smaller is None:
                raise
            log.debug("API refused limit=%d; retrying with limit=%d", limit, smaller)
            limit = _accepted[search.io] = smaller
            continue
        yield first
        yield from pages
        return
    raise ResignError(
        f"The API at {search.url} refused {len(COMMON_CAPS) + 1} page sizes in a row "
        f"(down to limit={limit}); is it a STAC API search endpoint?"
    )


def _accepted_limit(err: APIError, limit: int) -> int | None:
    if getattr(err, "status_code", None) not in (400, 422) or limit <= 1:
        return None
    match = _LIMIT_IN_ERROR.search(str(err))
    stated = int(next(g for g in match.groups() if g)) if match else 0
    if 0 < stated < limit:
        return stated
    return next(cap for cap in COMMON_CAPS if cap < limit)


# -- writing fresh hrefs -----------------------------------------------------------------


def _refreshed(item: pystac.Item, fresh: dict[str, Any]) -> pystac.Item:
    copy = item.clone()
    fresh_assets = fresh.get("assets") or {}
    for key, asset in copy.assets.items():
        new = fresh_assets.get(key)
        if not isinstance(new, dict) or "expires" not in new:
            continue  # the API did not sign this one: leave it
        asset.href = new["href"]
        asset.extra_fields["expires"] = new["expires"]
        alternates = asset.extra_fields.setdefault("alternate", {})
        if isinstance(alternates, dict):
            alternates.update(new.get("alternate") or {})
    return copy


def _named(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_NAMED_IN_MESSAGE])
    more = len(ids) - _NAMED_IN_MESSAGE
    return shown + (f" and {more} more" if more > 0 else "")
