"""The sandbox's asset service: EDS's asset presentation in front of rustac, and storage.

Two small ASGI apps (starlette under uvicorn) in one child process::

    gateway (bearer check) --> api layer --> rustac             (STAC API)
                                 '-- /asset-proxy/... --> 307 --> storage (presigned)

* The **api layer** is the gateway's upstream. It forwards STAC requests to rustac and
  presents assets as EDS does (:mod:`.presentation`): ``X-Signed-Asset-Urls: True`` adds
  a presigned ``alternate.download.href``, ``X-Proxy-Asset-Urls: True`` turns hrefs into
  proxy URLs, a single item is signed by default. Proxy URLs are answered here with a
  ``307`` to a freshly presigned URL; the gateway has checked the bearer already, exactly
  as for the API. It also titles the landing page as the EDS sandbox.
* **Storage** plays S3 on its own port (another origin, as S3 is another host): the
  shipped COGs behind SigV2 presigned URLs that expire after ``--ttl`` seconds
  (:mod:`.storage`, shared with the test kit's ``AssetServer``).

No S3-compatible server on PyPI enforced presigned expiry when this was written (moto's
server mode serves expired and tampered URLs alike), hence this service.

    python -m pystac_eds.sandbox.asset_service --api-port N --storage-port M \
        --upstream URL --public-root URL --ttl SECONDS --data-dir DIR

The signing key is read from ``PYSTAC_EDS_SANDBOX_ASSET_KEY`` (never argv, which ``ps`` shows).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._constants import ASSET_KEY_ENV
from ._orphan_guard import exit_with_parent
from .presentation import asset_mode, parse_proxy_path, present, proxy_url
from .presign import Presigner
from .storage import serve_object

BUCKET = "eds-sandbox-assets"
CATALOG_TITLE = "EDS sandbox (pystac-eds): a local look-alike of the EarthDaily Earth Data Store"
_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
# Hop-by-hop, and what no longer holds once a body is rewritten.
_DROP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
_DROP_REQUEST = {*_DROP, "host", "accept-encoding"}


class _QuietServer(uvicorn.Server):
    """Two servers share one process: signals are handled once, for both, in :func:`_serve`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _log(request: Request, status: int) -> None:
    # Paths only: queries hold signatures; headers hold bearers.
    print(f"{request.method} {request.url.path} {status}", flush=True)


def api_app(upstream: str, public_root: str, presigner: Presigner, ttl: float) -> Starlette:
    client = httpx.AsyncClient(base_url=upstream, timeout=60, trust_env=False)

    def sign(bucket: str, key: str) -> str:
        return presigner.presign(bucket, key, ttl)

    def proxy(bucket: str, key: str) -> str:
        return proxy_url(public_root, bucket, key)

    async def forward(request: Request) -> Response:
        path = request.url.path
        proxied = parse_proxy_path(path)
        if proxied is not None:
            response = Response(status_code=307, headers={"Location": sign(*proxied)})
            _log(request, 307)
            return response
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST}
        answer = await client.request(
            request.method,
            path,
            params=request.url.query,
            content=await request.body(),
            headers=headers,
        )
        body = answer.content
        if answer.status_code == 200 and "json" in answer.headers.get("content-type", ""):
            body = _presented(body, path, request, sign, proxy)
        out = {k: v for k, v in answer.headers.items() if k.lower() not in _DROP}
        _log(request, answer.status_code)
        return Response(body, answer.status_code, out)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return Starlette(routes=[Route("/{path:path}", forward, methods=_METHODS)], lifespan=lifespan)


def _presented(body: bytes, path: str, request: Request, sign: Any, proxy: Any) -> bytes:
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict):
        return body
    segments = path.strip("/").split("/")
    single = len(segments) == 4 and segments[0] == "collections" and segments[2] == "items"
    mode = asset_mode(request.headers.get, single_item=single)
    if data.get("type") == "FeatureCollection":
        data["features"] = [
            present(feature, mode, sign=sign, proxy=proxy) for feature in data.get("features", [])
        ]
    elif data.get("type") == "Feature":
        data = present(data, mode, sign=sign, proxy=proxy)
    elif path.strip("/") == "" and "conformsTo" in data:
        data["title"] = CATALOG_TITLE
        data["description"] = (
            "Synthetic sample data served offline by `pystac-eds sandbox`; not EDS itself."
        )
    return json.dumps(data).encode()


def storage_app(assets_dir: Path, presigner: Presigner) -> Starlette:
    root = assets_dir.resolve()

    def read(bucket: str, key: str) -> bytes | None:
        if bucket != BUCKET or any(part in ("", ".", "..") for part in key.split("/")):
            return None
        path = root / key
        return path.read_bytes() if path.is_file() else None

    async def serve(request: Request) -> Response:
        reply = serve_object(
            request.method,
            request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
            dict(request.query_params),
            authorization=request.headers.get("authorization"),
            range_header=request.headers.get("range"),
            store=read,
            presigner=presigner,
        )
        _log(request, reply.status)
        return Response(reply.body, reply.status, reply.headers)

    return Starlette(routes=[Route("/{path:path}", serve, methods=_METHODS)])


async def _serve(apps: list[tuple[Starlette, int]]) -> None:
    servers = [
        _QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        for app, port in apps
    ]

    def stop_all() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_all)
    await asyncio.gather(*(server.serve() for server in servers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pystac-eds sandbox asset service")
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--storage-port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="rustac's URL")
    parser.add_argument("--public-root", required=True, help="the STAC API's public URL")
    parser.add_argument("--ttl", type=float, required=True, help="presigned URL lifetime")
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    exit_with_parent()
    key = os.environ.pop(ASSET_KEY_ENV, "")
    if not key:
        sys.exit(f"asset service: {ASSET_KEY_ENV} is not set")
    presigner = Presigner(f"http://127.0.0.1:{args.storage_port}", secret_key=key)
    apps = [
        (api_app(args.upstream, args.public_root, presigner, args.ttl), args.api_port),
        (storage_app(args.data_dir / "assets", presigner), args.storage_port),
    ]
    asyncio.run(_serve(apps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
