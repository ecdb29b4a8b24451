"""S3-like object reads behind presigned URLs: GET and HEAD, byte ranges, S3 errors.

Framework-free (standard library only), so the test kit's threaded
:class:`~pystac_eds.testing.AssetServer` and the sandbox's ASGI asset service answer
exactly alike: same status codes, headers and XML error bodies.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from .presign import QUERY_AUTH_PARAMS, Presigner, S3Error

#: Reads an object: ``(bucket, key)`` to its bytes, or ``None`` when there is none.
Store = Callable[[str, str], "bytes | None"]

# S3 answers a fixed date for objects that never change; GDAL reads it as the file's mtime.
_LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"
_TYPES = {".tif": "image/tiff", ".tiff": "image/tiff", ".png": "image/png"}


@dataclass
class ObjectReply:
    """What to send: status, headers and body (empty for HEAD)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def content_type(key: str) -> str:
    suffix = key[key.rfind(".") :].lower() if "." in key else ""
    return _TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def serve_object(
    method: str,
    path: str,
    query: Mapping[str, str],
    *,
    authorization: str | None,
    range_header: str | None,
    store: Store,
    presigner: Presigner,
) -> ObjectReply:
    """Answer ``method`` on ``path`` (``/bucket/key``, percent-encoded) as S3 would for
    a private object: only a valid, unexpired presigned query opens it."""
    try:
        return _serve(method, path, query, authorization, range_header, store, presigner)
    except S3Error as error:
        body = b"" if method == "HEAD" else error.xml(unquote(path))
        headers = {"Content-Type": "application/xml"}
        if error.status == 416:
            headers["Content-Range"] = f"bytes */{dict(error.extra)['ActualObjectSize']}"
        return ObjectReply(error.status, headers, body)


def _serve(
    method: str,
    path: str,
    query: Mapping[str, str],
    authorization: str | None,
    range_header: str | None,
    store: Store,
    presigner: Presigner,
) -> ObjectReply:
    presigned = any(name in query for name in QUERY_AUTH_PARAMS)
    if authorization and presigned:
        # What S3 says when a client forwards its bearer to a presigned URL.
        raise S3Error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
        )
    if authorization:
        raise S3Error(400, "InvalidArgument", "Unsupported Authorization Type")
    if method not in ("GET", "HEAD"):
        raise S3Error(405, "MethodNotAllowed", "The specified method is not allowed")
    if not presigned:
        raise S3Error(403, "AccessDenied", "Access Denied")
    presigner.verify(method, path, query)
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    data = store(bucket, key) if bucket and key else None
    if data is None:
        raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": content_type(key),
        "ETag": '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"',
        "Last-Modified": _LAST_MODIFIED,
    }
    wanted = byte_range(range_header, len(data))
    if wanted is None:
        headers["Content-Length"] = str(len(data))
        return ObjectReply(200, headers, b"" if method == "HEAD" else data)
    first, last = wanted
    headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
    headers["Content-Length"] = str(last - first + 1)
    return ObjectReply(206, headers, b"" if method == "HEAD" else data[first : last + 1])


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte range asked for, ``None`` for the whole
    object (no header, or one S3 ignores: malformed or several ranges), or
    :class:`S3Error` 416 when it starts past the end."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    start_text, dash, end_text = header[len("bytes=") :].strip().partition("-")
    if not dash or not (start_text.isdigit() or end_text.isdigit()):
        return None
    if not start_text:  # bytes=-N: the last N bytes
        suffix = int(end_text)
        if suffix == 0:
            raise _unsatisfiable(size)
        return max(size - suffix, 0), size - 1
    first = int(start_text)
    if end_text and (not end_text.isdigit() or int(end_text) < first):
        return None  # malformed: S3 ignores it and sends the whole object
    if first >= size:
        raise _unsatisfiable(size)
    last = int(end_text) if end_text else size - 1
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> S3Error:
    return S3Error(
        416,
        "InvalidRange",
        "The requested range is not satisfiable",
        (("ActualObjectSize", str(size)),),
    )
