"""Light in-process servers for tests: an OAuth2 token endpoint and a small STAC API.

Both run on ``127.0.0.1`` in a background thread, count what they see, and can be
told to misbehave (scripted faults, revocation, foreign ``next`` links), so the
behaviours that matter — refresh, single flight, scoping — can be tested over real
HTTP with no network. For a stack of real third-party servers, see
:mod:`pystac_eds.sandbox`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ..sandbox.presentation import asset_mode, parse_proxy_path, present, proxy_url
from ..sandbox.presign import Presigner
from ..settings import Credentials
from ._http import Clock, Reply, _Handler, _Server

if TYPE_CHECKING:
    from .assets import AssetServer

__all__ = ["CONFORMANCE", "Clock", "Reply", "StacServer", "TokenServer", "sample_items"]

# Signs hrefs when a StacServer has no AssetServer: URLs of the right shape that lead
# nowhere (the discard port on loopback refuses at once; nothing leaves the machine).
_NOWHERE = Presigner("http://127.0.0.1:9", secret_key="no-asset-server")  # noqa: S106

# ---------------------------------------------------------------------------------------
# Token endpoint
# ---------------------------------------------------------------------------------------


class TokenServer(_Server):
    """An OAuth2 client-credentials token endpoint at ``/oauth/token``.

    ``methods`` are the client authentication methods it accepts (``"basic"``,
    ``"post"``). ``lifetime`` is the ``expires_in`` it answers with (``None`` leaves it
    out). Push :class:`Reply` objects onto :attr:`script` to answer the next requests
    with them instead. :meth:`revoke` makes every token issued so far invalid.
    :attr:`extra_fields` are merged into every successful answer (to advertise an odd
    ``expires_in`` for a token that is really valid ``lifetime`` seconds, say), and
    :attr:`issued_tokens` lists every token value handed out (for leak checks).
    """

    def __init__(
        self,
        client_id: str = "test-client",
        client_secret: str = "test-secret-0123456789abcdef",  # noqa: S107 - a test value
        *,
        lifetime: float | None = 3600,
        methods: tuple[str, ...] = ("basic", "post"),
        clock: Clock = time.time,
        jwt: bool = False,
    ) -> None:
        super().__init__(_TokenHandler)
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime = lifetime
        self.methods = methods
        self.clock = clock
        self.jwt = jwt
        self.script: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.extra_fields: dict[str, Any] = {}
        self._issued: dict[str, float] = {}

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def issued(self) -> int:
        """How many tokens were issued."""
        return len(self._issued)

    @property
    def issued_tokens(self) -> list[str]:
        """Every token value issued so far, revoked or not."""
        with self.lock:
            return list(self._issued)

    def credentials(self, api_url: str = "http://127.0.0.1:9/", **overrides: Any) -> Credentials:
        """:class:`~pystac_eds.Credentials` for a client of this server and ``api_url``;
        ``overrides`` replace any field (``client_secret="wrong"``, ``client_auth="post"``)."""
        values: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "auth_url": self.token_url,
            "api_url": api_url,
        }
        return Credentials(**{**values, **overrides})

    def settings(self, api_url: str) -> dict[str, str]:
        """The four EDS_* settings for a client of this server and ``api_url``."""
        return {
            "EDS_CLIENT_ID": self.client_id,
            "EDS_SECRET": self.client_secret,
            "EDS_AUTH_URL": self.token_url,
            "EDS_API_URL": api_url,
        }

    def is_valid(self, token: str) -> bool:
        with self.lock:
            expires = self._issued.get(token)
        return expires is not None and self.clock() < expires

    def revoke(self) -> None:
        """Server-side revocation: every token issued so far is now refused."""
        with self.lock:
            self._issued = dict.fromkeys(self._issued, 0.0)

    def mint(self) -> str:
        """Issue a token without a token request (not counted in :attr:`requests`), as if
        it had been obtained elsewhere: what a user pastes into ``headers=``."""
        return self._new_token()[0]

    def _new_token(self) -> tuple[str, float | None]:
        now = self.clock()
        lifetime = self.lifetime if self.lifetime is not None else 3600
        value = "eds-test-" + secrets.token_urlsafe(24)
        if self.jwt:
            claims = {"sub": self.client_id, "exp": int(now + lifetime), "iat": int(now)}
            parts = [{"alg": "none", "typ": "at+jwt"}, claims]
            value = (
                ".".join(
                    base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=").decode()
                    for p in parts
                )
                + "."
                + secrets.token_urlsafe(16)
            )
        with self.lock:
            self._issued[value] = now + lifetime
        return value, self.lifetime


class _TokenHandler(_Handler):
    def do_POST(self) -> None:
        app: TokenServer = self.app
        form = {k: v[0] for k, v in parse_qs(self.body().decode("latin-1")).items()}
        basic = self._basic()
        record = {
            "path": self.path,
            "basic": basic is not None,
            "form_secret": "client_secret" in form,
            "grant_type": form.get("grant_type"),
        }
        with app.lock:
            app.requests.append(record)
            scripted = app.script.pop(0) if app.script else None
        if scripted is not None:
            return self.send(scripted)
        if urlsplit(self.path).path != "/oauth/token":
            return self.send(Reply(404, {"error": "not_found"}))
        if form.get("grant_type") != "client_credentials":
            return self.send(Reply(400, {"error": "unsupported_grant_type"}))
        if basic is not None and "client_secret" in form:
            # RFC 6749 2.3: a client must not use more than one method per request.
            return self.send(Reply(400, {"error": "invalid_request"}))
        if basic is not None:
            method, given = "basic", basic
        else:
            method, given = "post", (form.get("client_id", ""), form.get("client_secret", ""))
        if method not in app.methods:
            return self.send(Reply(401, {"error": "invalid_client"}, {"WWW-Authenticate": "Basic"}))
        if not (
            secrets.compare_digest(given[0], app.client_id)
            and secrets.compare_digest(given[1], app.client_secret)
        ):
            return self.send(
                Reply(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "client authentication failed",
                    },
                )
            )
        value, lifetime = app._new_token()
        body: dict[str, Any] = {"access_token": value, "token_type": "Bearer"}
        if lifetime is not None:
            body["expires_in"] = lifetime
        body.update(app.extra_fields)
        self.send(Reply(200, body, {"Cache-Control": "no-store"}))

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password


# ---------------------------------------------------------------------------------------
# STAC API
# ---------------------------------------------------------------------------------------

CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


def sample_items(collection: str, count: int) -> list[dict[str, Any]]:
    """``count`` deterministic STAC items for ``collection``, a day apart."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    items = []
    for i in range(count):
        lon, lat = -100 + (i % 20) * 0.5, 40 + (i // 20) * 0.5
        when = (start + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        items.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "id": f"{collection}-{i:05d}",
                "collection": collection,
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [lon, lat],
                            [lon + 0.5, lat],
                            [lon + 0.5, lat + 0.5],
                            [lon, lat + 0.5],
                            [lon, lat],
                        ]
                    ],
                },
                "bbox": [lon, lat, lon + 0.5, lat + 0.5],
                "properties": {"datetime": when, "eo:cloud_cover": (i * 37) % 100},
                "assets": {"visual": {"href": f"s3://eds-test/{collection}/{i:05d}.tif"}},
                "links": [],
            }
        )
    return items


class StacServer(_Server):
    """A small STAC API that demands a bearer token valid at ``tokens``.

    Serves ``/``, ``/conformance``, ``/collections``, ``/collections/{id}``,
    ``/collections/{id}/items`` and ``/search`` (GET and POST), paginated through
    ``next`` links. ``unauthorized_pages`` lists page numbers (1-based, of /search)
    that answer 401 once each, as a server-side expiry would; ``next_base`` makes
    ``next`` links point at another base URL (another host); :attr:`seen` records every
    request's (method, path, headers) for assertions. ``root_path`` serves the API under
    a path, as EDS does at ``/platform/v1/stac``.

    Assets are presented as EDS presents them (see :mod:`pystac_eds.sandbox.presentation`):
    ``X-Signed-Asset-Urls: True`` adds a presigned ``alternate.download.href`` to every
    ``s3://`` asset, ``X-Proxy-Asset-Urls: True`` turns hrefs into proxy URLs on this
    server (bearer checked like the API, then ``307`` to a fresh presigned URL), neither
    leaves them raw; ``/collections/{c}/items/{id}`` signs by default. ``assets`` is the
    :class:`~pystac_eds.testing.AssetServer` that signs and serves them; without one the
    URLs have the right shape but lead nowhere.

    Faults beyond those: :attr:`script` answers the next requests (any path, before the
    token is checked, as a gateway would) with the given :class:`Reply` objects;
    :attr:`page_faults` maps a /search page number to replies served, one per request,
    after the token check and before the real page (429s, 5xx of the API itself);
    :attr:`redirect_to`, when set, answers every request with a 307 to that base URL
    plus the request's path and query.

    :attr:`max_limit` caps ``/search`` pages: a larger ``limit`` is capped silently (what
    the STAC API spec asks), or refused with a 400 that does not say the maximum when
    :attr:`refuse_over_limit` is set. :attr:`collection_assets` maps a collection id to
    the assets its collection document carries (presented like items' assets).
    """

    def __init__(
        self,
        tokens: TokenServer | None,
        *,
        collections: dict[str, int] | None = None,
        page_size: int = 10,
        root_path: str = "",
        assets: AssetServer | None = None,
    ) -> None:
        super().__init__(_StacHandler)
        self.tokens = tokens
        self.assets = assets
        self.root_path = root_path.rstrip("/")
        self.collections = {
            name: sample_items(name, n)
            for name, n in (collections or {"sentinel-2-l2a": 95, "landsat-c2l2-sr": 30}).items()
        }
        self.page_size = page_size
        self.unauthorized_pages: set[int] = set()
        self.next_base: str | None = None
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.rejected = 0
        self.script: list[Reply] = []
        self.page_faults: dict[int, list[Reply]] = {}
        self.redirect_to: str | None = None
        self.max_limit: int | None = None
        self.refuse_over_limit = False
        self.collection_assets: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def url(self) -> str:
        """The STAC root (landing page) URL."""
        return f"{self.base_url}{self.root_path}/"

    def presign(self, bucket: str, key: str) -> str:
        """A presigned URL for ``s3://bucket/key`` from :attr:`assets` (or nowhere)."""
        if self.assets is None:
            return _NOWHERE.presign(bucket, key, 12 * 3600.0)
        return self.assets.presigner.presign(bucket, key, self.assets.ttl)

    def _authorized(self, headers: Any) -> bool:
        if self.tokens is None:
            return True
        header = headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        return self.tokens.is_valid(header[7:])


class _StacHandler(_Handler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self._handle("GET", parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})

    def do_HEAD(self) -> None:
        # Only proxy URLs answer HEAD (GDAL probes with it); the API itself is GET/POST.
        self._handle("HEAD", urlsplit(self.path).path, {})

    def do_POST(self) -> None:
        raw = self.body()
        try:
            params = json.loads(raw) if raw else {}
        except ValueError:
            return self.send(Reply(400, {"code": "BadRequest", "description": "invalid JSON"}))
        self._handle("POST", urlsplit(self.path).path, params)

    def _handle(self, method: str, path: str, params: dict[str, Any]) -> None:
        app: StacServer = self.app
        with app.lock:
            app.seen.append((method, path, dict(self.headers.items())))
            scripted = app.script.pop(0) if app.script else None
            redirect_to = app.redirect_to
        if scripted is not None:
            return self.send(scripted)
        if redirect_to is not None:
            return self.send(Reply(307, b"", {"Location": redirect_to + self.path}))
        if not app._authorized(self.headers):
            with app.lock:
                app.rejected += 1
            return self.send(
                Reply(
                    401,
                    {"code": "Unauthorized"},
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            )
        base = app.base_url + app.root_path
        if not path.startswith(app.root_path):
            return self.send(Reply(404, {"code": "NotFound"}))
        path = path[len(app.root_path) :].rstrip("/") or "/"
        proxied = parse_proxy_path(path)
        if proxied is not None:
            # Bearer already checked above, exactly as for the API: send the client on.
            return self.send(Reply(307, b"", {"Location": app.presign(*proxied)}))
        if method == "HEAD":
            return self.send(Reply(405, {"code": "MethodNotAllowed"}, {"Allow": "GET, POST"}))
        if path == "/":
            return self.send(Reply(200, self._landing(base)))
        if path == "/conformance":
            return self.send(Reply(200, {"conformsTo": CONFORMANCE}))
        if path == "/collections":
            cols = [self._presented(self._collection(base, c)) for c in app.collections]
            return self.send(Reply(200, {"collections": cols, "links": []}))
        segments = path.strip("/").split("/")
        if segments[0] == "collections" and len(segments) >= 2 and segments[1] in app.collections:
            if len(segments) == 2:
                return self.send(Reply(200, self._presented(self._collection(base, segments[1]))))
            if len(segments) == 3 and segments[2] == "items":
                params = {**params, "collections": segments[1]}
                return self._search(method, f"{base}{path}", params)
            if len(segments) == 4 and segments[2] == "items":
                return self._item(base, segments[1], segments[3])
        if path == "/search":
            return self._search(method, f"{base}/search", params)
        return self.send(Reply(404, {"code": "NotFound"}))

    def _landing(self, base: str) -> dict[str, Any]:
        return {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "eds-test",
            "description": "pystac-eds test STAC API",
            "conformsTo": CONFORMANCE,
            "links": [
                {"rel": "self", "href": f"{base}/", "type": "application/json"},
                {"rel": "root", "href": f"{base}/", "type": "application/json"},
                {"rel": "data", "href": f"{base}/collections", "type": "application/json"},
                {"rel": "conformance", "href": f"{base}/conformance"},
                {
                    "rel": "search",
                    "href": f"{base}/search",
                    "method": "GET",
                    "type": "application/geo+json",
                },
                {
                    "rel": "search",
                    "href": f"{base}/search",
                    "method": "POST",
                    "type": "application/geo+json",
                },
            ],
        }

    def _collection(self, base: str, name: str) -> dict[str, Any]:
        assets = self.app.collection_assets.get(name)
        return ({"assets": assets} if assets else {}) | {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": name,
            "title": name.replace("-", " ").title(),
            "description": f"Test collection {name}",
            "license": "proprietary",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]},
            },
            "links": [
                {"rel": "self", "href": f"{base}/collections/{name}"},
                {"rel": "root", "href": f"{base}/"},
                {"rel": "parent", "href": f"{base}/"},
                {"rel": "items", "href": f"{base}/collections/{name}/items"},
            ],
        }

    def _matching(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        app: StacServer = self.app
        wanted = params.get("collections") or list(app.collections)
        if isinstance(wanted, str):
            wanted = wanted.split(",")
        ids = params.get("ids")
        if isinstance(ids, str):
            ids = ids.split(",")
        for name in wanted:
            for item in app.collections.get(name, []):
                if ids is None or item["id"] in ids:
                    yield item

    def _search(self, method: str, href: str, params: dict[str, Any]) -> None:
        app: StacServer = self.app
        limit = int(params.get("limit") or app.page_size)
        if app.max_limit is not None and limit > app.max_limit:
            if app.refuse_over_limit:
                return self.send(Reply(400, {"code": "BadRequest", "description": "bad limit"}))
            limit = app.max_limit
        offset = int(params.get("token") or 0)
        page = offset // max(limit, 1) + 1
        with app.lock:
            if page in app.unauthorized_pages:
                app.unauthorized_pages.discard(page)
                app.rejected += 1
                return self.send(Reply(401, {"code": "Unauthorized"}))
            faults = app.page_faults.get(page)
            fault = faults.pop(0) if faults else None
        if fault is not None:
            return self.send(fault)
        matched = list(self._matching(params))
        features = [self._presented(item) for item in matched[offset : offset + limit]]
        links: list[dict[str, Any]] = []
        if offset + limit < len(matched):
            base = href if app.next_base is None else app.next_base + urlsplit(href).path
            following = {k: v for k, v in params.items() if k != "token"}
            following["token"] = str(offset + limit)
            if method == "GET":
                query = {k: ",".join(v) if isinstance(v, list) else v for k, v in following.items()}
                links.append({"rel": "next", "href": f"{base}?{urlencode(query)}", "method": "GET"})
            else:
                links.append({"rel": "next", "href": base, "method": "POST", "body": following})
        self.send(
            Reply(
                200,
                {
                    "type": "FeatureCollection",
                    "features": features,
                    "links": links,
                    "numberMatched": len(matched),
                    "numberReturned": len(features),
                },
            )
        )

    def _item(self, base: str, collection: str, item_id: str) -> None:
        app: StacServer = self.app
        for item in app.collections[collection]:
            if item["id"] == item_id:
                return self.send(Reply(200, self._presented(item, single_item=True)))
        return self.send(Reply(404, {"code": "NotFound", "description": f"no item {item_id}"}))

    def _presented(self, item: dict[str, Any], *, single_item: bool = False) -> dict[str, Any]:
        # Mirror EDS: the asset-access headers decide how assets are presented.
        app: StacServer = self.app
        mode = asset_mode(self.headers.get, single_item=single_item)
        root = app.base_url + app.root_path
        return present(
            item,
            mode,
            sign=app.presign,
            proxy=lambda bucket, key: proxy_url(root, bucket, key),
        )
