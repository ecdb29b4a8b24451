"""S3 query-string authentication (AWS Signature Version 2): sign and verify presigned URLs.

EDS hands out presigned S3 URLs of this shape::

    https://HOST/BUCKET/KEY?AWSAccessKeyId=…&Signature=…&Expires=<epoch seconds>
        [&x-amz-security-token=…]

The signature is ``base64(HMAC-SHA1(secret, "GET\\n\\n\\n<Expires>\\n<amz headers><resource>"))``
as in AWS's documentation, so the URLs look and behave like the real thing to GDAL,
rasterio and fsspec. Standard library only: the test kit and the sandbox's asset service
(a child process) both import this.

One deliberate difference from S3: a ``HEAD`` with a signature made for ``GET`` is
accepted. GDAL sends ``HEAD`` first to any URL that is not on an AWS/GCS host (its
``CPL_VSIL_CURL_USE_HEAD`` default), and the sandbox must work with GDAL's defaults.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

Clock = Callable[[], float]

#: Query parameters that make a request a presigned one (SigV2 and SigV4 names).
QUERY_AUTH_PARAMS = ("AWSAccessKeyId", "Signature", "X-Amz-Algorithm", "X-Amz-Signature")
_SECURITY_TOKEN = "x-amz-security-token"  # noqa: S105 - a parameter name


class S3Error(Exception):
    """An S3-style refusal: HTTP status, S3 error ``code`` and ``message``, and extra
    XML fields (``Expires`` and ``ServerTime`` for an expired URL)."""

    def __init__(
        self, status: int, code: str, message: str, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def xml(self, resource: str) -> bytes:
        """The XML body S3 sends with this error."""
        fields = [("Code", self.code), ("Message", self.message), *self.extra]
        fields.append(("Resource", resource))
        fields.append(("RequestId", secrets.token_hex(8).upper()))
        inner = "".join(f"<{name}>{_escape(value)}</{name}>" for name, value in fields)
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass(frozen=True)
class Presigner:
    """Signs ``(bucket, key)`` into presigned URLs at ``endpoint`` (path style), and
    verifies them. ``clock`` is injectable so tests can make URLs expire without waiting.
    """

    endpoint: str
    access_key_id: str = "EDSSANDBOXACCESSKEY"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30), repr=False)
    session_token: str | None = field(default=None, repr=False)
    clock: Clock = time.time

    def presign(self, bucket: str, key: str, ttl: float, method: str = "GET") -> str:
        """A URL for ``method`` on ``bucket/key``, valid ``ttl`` seconds from now."""
        expires = int(self.clock() + ttl)
        resource = _resource(bucket, key)
        query = {"AWSAccessKeyId": self.access_key_id}
        query["Signature"] = self._signature(method, expires, resource)
        query["Expires"] = str(expires)
        if self.session_token is not None:
            query[_SECURITY_TOKEN] = self.session_token
        return f"{self.endpoint.rstrip('/')}{resource}?{urlencode(query)}"

    def verify(self, method: str, resource: str, query: Mapping[str, str]) -> None:
        """Raise :class:`S3Error` unless ``query`` presigns ``method`` on ``resource``
        (the request path, still percent-encoded) right now."""
        if "X-Amz-Algorithm" in query or "X-Amz-Signature" in query:
            raise S3Error(400, "InvalidArgument", "only Signature Version 2 URLs are served here")
        given = {name: query.get(name) for name in ("AWSAccessKeyId", "Signature", "Expires")}
        if not all(given.values()):
            raise S3Error(
                403,
                "AccessDenied",
                "Query-string authentication requires the Signature, Expires and "
                "AWSAccessKeyId parameters",
            )
        if not hmac.compare_digest(str(given["AWSAccessKeyId"]), self.access_key_id):
            raise S3Error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        if self.session_token is not None and not hmac.compare_digest(
            query.get(_SECURITY_TOKEN, ""), self.session_token
        ):
            raise S3Error(
                403, "InvalidToken", "The provided token is malformed or otherwise invalid."
            )
        expires_text = str(given["Expires"])
        if not expires_text.isdigit():
            raise S3Error(
                403, "AccessDenied", f"Invalid date (should be seconds since epoch): {expires_text}"
            )
        now = self.clock()
        if now > int(expires_text):
            raise S3Error(
                403,
                "AccessDenied",
                "Request has expired",
                (("Expires", _iso(int(expires_text))), ("ServerTime", _iso(now))),
            )
        # GDAL probes with HEAD first (see the module docstring): GET's signature opens HEAD.
        methods = {method, "GET"} if method == "HEAD" else {method}
        if not any(
            hmac.compare_digest(
                self._signature(m, int(expires_text), resource), str(given["Signature"])
            )
            for m in methods
        ):
            raise S3Error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
            )

    def _signature(self, method: str, expires: int, resource: str) -> str:
        amz = f"{_SECURITY_TOKEN}:{self.session_token}\n" if self.session_token else ""
        string_to_sign = f"{method}\n\n\n{expires}\n{amz}{resource}"
        digest = hmac.new(self.secret_key.encode(), string_to_sign.encode(), hashlib.sha1)
        return base64.b64encode(digest.digest()).decode()


def _resource(bucket: str, key: str) -> str:
    return "/" + quote(bucket, safe="") + "/" + quote(key, safe="/~")


def split_s3_href(href: str) -> tuple[str, str]:
    """``("bucket", "key")`` of an ``s3://bucket/key`` href; ``ValueError`` otherwise."""
    if not href.startswith("s3://"):
        raise ValueError(f"not an s3:// href: {href!r}")
    bucket, _, key = href[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"an s3:// href needs a bucket and a key: {href!r}")
    return bucket, key
