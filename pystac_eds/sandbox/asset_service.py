"""The sandbox's asset service: EDS's asset presentation in front of rustac, and storage.

Two small ASGI apps (starlette under uvicorn) in one child process::

    gateway (bearer check) --unix socket--> api layer --> rustac         (STAC API)
                                              '-- /asset-proxy/... --> 307 --> storage

* The **api layer** is the gateway's upstream. It forwards STAC requests to rustac and
  presents assets as EDS does (:mod:`.presentation`): ``X-Signed-Asset-Urls: True`` adds
  a presigned ``alternate.download.href``, ``X-Proxy-Asset-Urls: True`` turns hrefs into
  proxy URLs, a single item is signed by default. Proxy URLs are answered here with a
  ``307`` to a freshly presigned URL. It checks no token itself: it listens on no port
  at all but on a Unix socket in the sandbox's private (``0700``) folder, so only the
  gateway, which has checked the bearer, and the user who started the sandbox can reach
  it. It also titles the landing page as the EDS sandbox.
* **rustac** is its child, in a private network: before starting it, this process binds
  its two sockets (the api layer's Unix socket, storage's port on the machine's loopback),
  then moves into a new user + network namespace (:mod:`._netns`) and starts rustac there
  (:mod:`._backend`). rustac's port exists only in that namespace, so nothing but the api
  layer can reach it. Where namespaces are refused, rustac shares the machine's loopback
  as before, and the reason is written to ``--isolation-file`` for the sandbox to warn
  about.
* **Storage** plays S3 on its own port (another origin, as S3 is another host): the
  shipped COGs behind SigV2 presigned URLs that expire after ``--ttl`` seconds
  (:mod:`.storage`, shared with the test kit's ``AssetServer``). Only presigned requests
  are answered, so its port may be public.

No S3-compatible server on PyPI enforced presigned expiry when this was written (moto's
server mode serves expired and tampered URLs alike), hence this service.

    python -m pystac_eds.sandbox.asset_service --api-socket PATH --storage-port M \
        --backend-port P --backend-log PATH --isolation-file PATH \
        --public-root URL --ttl SECONDS --data-dir DIR -- RUSTAC-COMMAND...

The signing key is read from ``PYSTAC_EDS_SANDBOX_ASSET_KEY`` (never argv, which ``ps`` shows).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._backend import Backend
from ._constants import ASSET_KEY_ENV, HEALTH_PATH, ISOLATED
from ._netns import enter_private_network
from ._orphan_guard import exit_with_parent
from .presentation import asset_mode, parse_proxy_path, present, proxy_url
from .presign import Presigner
from .storage import serve_object

BUCKET = "eds-sandbox-assets"
CATALOG_TITLE = "EDS sandbox (pystac-eds): a local look-alike of the EarthDaily Earth Data Store"
_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
# Hop-by-hop, what no longer holds once a body is rewritten, and what the server that
# answers the client (the gateway's uvicorn) sets itself: forwarded, rustac's ``date``
# and ``server`` would reach the client twice.
_DROP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "date",
    "server",
}
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
            root = _public_root(request, public_root)

            def proxy(bucket: str, key: str) -> str:
                return proxy_url(root, bucket, key)

            body = _presented(body, path, request, sign, proxy)
        out = {k: v for k, v in answer.headers.items() if k.lower() not in _DROP}
        _log(request, answer.status_code)
        return Response(body, answer.status_code, out)

    async def health(request: Request) -> Response:
        # The gateway's own health check asks here; rustac answered before this serves.
        return Response(b'{"status":"ok"}', 200, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    routes = [
        Route(HEALTH_PATH, health, methods=["GET"]),
        Route("/{path:path}", forward, methods=_METHODS),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


#: A loopback host and port as a client may have named the gateway. stac-auth-proxy
#: appends the port to a host that has it already (``localhost:8080:8080``): the last wins.
_LOOPBACK_HOST = re.compile(
    r"(?P<name>127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})*:(?P<port>\d{1,5})"
)


def _public_root(request: Request, public_root: str) -> str:
    """The STAC root as this client named it (``localhost`` or ``127.0.0.1``), from the
    gateway's ``Forwarded`` header, so proxy hrefs are on the origin the client sends its
    token to; anything but a loopback host and port falls back to ``public_root``."""
    fields = dict(
        part.strip().partition("=")[::2] for part in request.headers.get("forwarded", "").split(";")
    )
    named = _LOOPBACK_HOST.fullmatch(fields.get("host", "").strip('"'))
    if named is None:
        return public_root
    parts = urlsplit(public_root)
    host = f"{named['name']}:{named['port']}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


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


async def _serve(apps: list[tuple[uvicorn.Config, socket.socket]], backend: Backend) -> int:
    servers = [(_QuietServer(config), sock) for config, sock in apps]

    def stop_all() -> None:
        backend.stopping = True
        for server, _ in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_all)
    watcher = loop.create_task(backend.watch(stop_all))
    await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))
    backend.stop()
    return await watcher


def _listening(port: int) -> socket.socket:
    """A socket listening on the machine's loopback, made before any namespace change:
    it keeps accepting connections from the machine even after this process moved."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def _listening_unix(path: Path) -> socket.socket:
    """A Unix socket at ``path`` (in the sandbox's 0700 folder, so for its user only)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pystac-eds sandbox asset service")
    parser.add_argument(
        "--api-socket", type=Path, required=True, help="where to make the api layer's Unix socket"
    )
    parser.add_argument("--storage-port", type=int, required=True)
    parser.add_argument("--backend-port", type=int, required=True, help="rustac's port")
    parser.add_argument("--backend-log", type=Path, required=True)
    parser.add_argument("--isolation-file", type=Path, required=True)
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    parser.add_argument("--public-root", required=True, help="the STAC API's public URL")
    parser.add_argument("--ttl", type=float, required=True, help="presigned URL lifetime")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("backend", nargs=argparse.REMAINDER, help="-- rustac's command line")
    args = parser.parse_args(argv)
    exit_with_parent()
    key = os.environ.pop(ASSET_KEY_ENV, "")
    if not key:
        sys.exit(f"asset service: {ASSET_KEY_ENV} is not set")
    # EDS's URLs carry a temporary credential's session token too; clients must keep it.
    session = hmac.new(key.encode(), b"session-token", hashlib.sha256).hexdigest()
    presigner = Presigner(
        f"http://127.0.0.1:{args.storage_port}", secret_key=key, session_token=session
    )
    api_sock, storage_sock = _listening_unix(args.api_socket), _listening(args.storage_port)
    # Still single-threaded here, as unshare(CLONE_NEWUSER) requires.
    why_not = enter_private_network()
    args.isolation_file.write_text(why_not or ISOLATED)
    command = args.backend[1:] if args.backend[:1] == ["--"] else args.backend
    backend = Backend(command, args.backend_log, args.backend_port)
    backend.start(deadline=time.monotonic() + args.startup_timeout)
    upstream = f"http://127.0.0.1:{args.backend_port}"
    api = api_app(upstream, args.public_root, presigner, args.ttl)
    storage = storage_app(args.data_dir / "assets", presigner)
    apps = [
        # The gateway, which answers the client, sets these two headers itself.
        (
            uvicorn.Config(api, log_level="warning", server_header=False, date_header=False),
            api_sock,
        ),
        (uvicorn.Config(storage, log_level="warning"), storage_sock),
    ]
    return asyncio.run(_serve(apps, backend))


if __name__ == "__main__":
    raise SystemExit(main())
