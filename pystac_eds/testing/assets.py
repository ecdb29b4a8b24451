"""A loopback S3 look-alike for asset bytes, reached only through presigned URLs.

:class:`AssetServer` plays EDS's storage (S3): it serves the bytes you :meth:`~AssetServer.put`
behind presigned URLs that expire (``403 AccessDenied``, "Request has expired"), answers
``Range`` and ``HEAD`` as GDAL needs, and refuses a request that carries both a bearer
and a presigned query, as S3 does. URLs are SigV2 by default; ``signature="v4"`` signs
them with AWS Signature Version 4 instead, which GDAL recognises as S3 URLs on any host
(it then caches a redirect to them) and whose signature covers the method, so a ``HEAD``
with a URL signed for ``GET`` is refused as S3 refuses it. Give it to a
:class:`~pystac_eds.testing.StacServer` (``StacServer(tokens, assets=server)``) and the
API presents items exactly like EDS: presigned ``alternate.download.href`` with
``X-Signed-Asset-Urls: True``, proxy hrefs (on the API's origin, bearer-checked, ``307``
to a fresh presigned URL here) with ``X-Proxy-Asset-Urls: True``.

Every request is recorded in :attr:`AssetServer.seen` (headers included), so a test can
assert that a bearer never reached storage.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, quote, urlsplit

from ..sandbox.presign import Presigner, S3Error, split_s3_href
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


_V4 = "AWS4-HMAC-SHA256"
_V4_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class SigV4Presigner(Presigner):
    """Presigned URLs with AWS Signature Version 4 query authentication (``X-Amz-*``),
    signed and verified as S3 does: the method, path, query and ``host`` are covered."""

    region: str = "us-east-1"

    def presign(self, bucket: str, key: str, ttl: float, method: str = "GET") -> str:
        resource = "/" + quote(bucket, safe="") + "/" + quote(key, safe="/~")
        signed_at = time.strftime(_V4_DATE, time.gmtime(self.clock()))
        query = {
            "X-Amz-Algorithm": _V4,
            "X-Amz-Credential": f"{self.access_key_id}/{self._scope(signed_at)}",
            "X-Amz-Date": signed_at,
            "X-Amz-Expires": str(int(ttl)),
            "X-Amz-SignedHeaders": "host",
        }
        if self.session_token is not None:
            query["X-Amz-Security-Token"] = self.session_token
        query["X-Amz-Signature"] = self._signature_v4(method, resource, query)
        return f"{self.endpoint.rstrip('/')}{resource}?{_canonical_query(query)}"

    def verify(self, method: str, resource: str, query: Mapping[str, str]) -> None:
        signed_at, lifetime = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        if query.get("X-Amz-Algorithm") != _V4 or not lifetime.isdigit():
            raise S3Error(400, "AuthorizationQueryParametersError", "malformed SigV4 query")
        try:
            start = calendar.timegm(time.strptime(signed_at, _V4_DATE))
        except ValueError:
            raise S3Error(400, "AuthorizationQueryParametersError", "bad X-Amz-Date") from None
        if self.session_token is not None and not hmac.compare_digest(
            query.get("X-Amz-Security-Token", ""), self.session_token
        ):
            raise S3Error(
                403, "InvalidToken", "The provided token is malformed or otherwise invalid."
            )
        if self.clock() > start + int(lifetime):
            raise S3Error(403, "AccessDenied", "Request has expired")
        expected = self._signature_v4(method, resource, query)
        if not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
            raise S3Error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
            )

    def _scope(self, signed_at: str) -> str:
        return f"{signed_at[:8]}/{self.region}/s3/aws4_request"

    def _signature_v4(self, method: str, resource: str, query: Mapping[str, str]) -> str:
        unsigned = {k: v for k, v in query.items() if k != "X-Amz-Signature"}
        host = urlsplit(self.endpoint).netloc
        canonical = "\n".join(
            [
                method,
                resource,
                _canonical_query(unsigned),
                f"host:{host}\n",
                "host",
                "UNSIGNED-PAYLOAD",
            ]
        )
        signed_at = query.get("X-Amz-Date", "")
        to_sign = "\n".join(
            [_V4, signed_at, self._scope(signed_at), hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = ("AWS4" + self.secret_key).encode()
        for part in (signed_at[:8], self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _canonical_query(query: Mapping[str, str]) -> str:
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )


class AssetServer(_Server):
    """S3-like storage on 127.0.0.1 for the assets of a test.

    ``ttl`` is how long :meth:`presign`'s URLs live (seconds; EDS: 12 hours); ``clock``
    is the server's clock for signing and checking expiry (swap it to expire URLs
    without waiting); ``files`` maps ``s3://bucket/key`` hrefs to bytes;
    ``session_token`` adds (and then requires) ``x-amz-security-token``, as URLs signed
    with temporary credentials carry; ``signature`` is ``"v2"`` (SigV2, which also opens
    ``HEAD`` with a ``GET`` URL so GDAL's defaults work) or ``"v4"`` (SigV4, as strict as
    S3: a ``GET`` URL opens ``GET`` only).
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Clock = time.time,
        files: dict[str, bytes] | None = None,
        session_token: str | None = None,
        signature: Literal["v2", "v4"] = "v2",
    ) -> None:
        super().__init__(_AssetHandler)
        self.ttl = ttl
        self.clock = clock
        signer = SigV4Presigner if signature == "v4" else Presigner
        self.presigner: Presigner = signer(
            self.base_url, clock=lambda: self.clock(), session_token=session_token
        )
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
