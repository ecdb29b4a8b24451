"""A loopback S3 look-alike for asset bytes, reached only through presigned URLs.

:class:`AssetServer` plays EDS's storage (S3): it serves the bytes you :meth:`~AssetServer.put`
behind SigV2 presigned URLs that expire (``403 AccessDenied``, "Request has expired"),
answers ``Range`` and ``HEAD`` as GDAL needs, and refuses a request that carries both a
bearer and a presigned query, as S3 does. Give it to a
:class:`~pystac_eds.testing.StacServer` (``StacServer(tokens, assets=server)``) and the
API presents items exactly like EDS: presigned ``alternate.download.href`` with
``X-Signed-Asset-Urls: True``, proxy hrefs (on the API's origin, bearer-checked, ``307``
to a fresh presigned URL here) with ``X-Proxy-Asset-Urls: True``.

Every request is recorded in :attr:`AssetServer.seen` (headers included), so a test can
assert that a bearer never reached storage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from ..sandbox.presign import Presigner, split_s3_href
from ..sandbox.storage import serve_object
from ._http import Clock, _Handler, _Server

#: EDS's presigned URLs are valid 12 hours.
DEFAULT_TTL = 12 * 3600.0


@dataclass(frozen=True)
class AssetRequest:
    """One request the asset server saw, and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


class AssetServer(_Server):
    """S3-like storage on 127.0.0.1 for the assets of a test.

    ``ttl`` is how long :meth:`presign`'s URLs live (seconds; EDS: 12 hours); ``clock``
    is the server's clock for signing and checking expiry (swap it to expire URLs
    without waiting); ``files`` maps ``s3://bucket/key`` hrefs to bytes.
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Clock = time.time,
        files: dict[str, bytes] | None = None,
    ) -> None:
        super().__init__(_AssetHandler)
        self.ttl = ttl
        self.clock = clock
        self.presigner = Presigner(self.base_url, clock=lambda: self.clock())
        self.objects: dict[tuple[str, str], bytes] = {}
        self.seen: list[AssetRequest] = []
        for href, data in (files or {}).items():
            self.put(href, data)

    def put(self, href: str, data: bytes) -> str:
        """Store ``data`` at ``s3://bucket/key``; returns ``href``."""
        with self.lock:
            self.objects[split_s3_href(href)] = bytes(data)
        return href

    def presign(self, href: str, ttl: float | None = None) -> str:
        """A presigned GET URL for ``s3://bucket/key``, valid ``ttl`` (default
        :attr:`ttl`) seconds by this server's clock."""
        bucket, key = split_s3_href(href)
        return self.presigner.presign(bucket, key, self.ttl if ttl is None else ttl)

    def _read(self, bucket: str, key: str) -> bytes | None:
        with self.lock:
            return self.objects.get((bucket, key))


class _AssetHandler(_Handler):
    def do_GET(self) -> None:
        self._object("GET")

    def do_HEAD(self) -> None:
        self._object("HEAD")

    def do_PUT(self) -> None:
        self._object("PUT")

    def do_POST(self) -> None:
        self._object("POST")

    def do_DELETE(self) -> None:
        self._object("DELETE")

    def _object(self, method: str) -> None:
        app: AssetServer = self.app
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        reply = serve_object(
            method,
            parts.path,
            query,
            authorization=self.headers.get("Authorization"),
            range_header=self.headers.get("Range"),
            store=app._read,
            presigner=app.presigner,
        )
        record = AssetRequest(method, self.path, query, dict(self.headers.items()), reply.status)
        with app.lock:
            app.seen.append(record)
        self.body()  # drain an uploaded body so the connection stays usable
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if "Content-Length" not in reply.headers:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(reply.body)
