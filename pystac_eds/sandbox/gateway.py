"""The sandbox's API gateway: stac-auth-proxy in front of the asset service's api layer.

It validates each request's bearer JWT (signature from the token server's JWKS, found
through its discovery document; ``exp``; ``aud``) and answers 401 for a missing,
expired or foreign token. Everything is private, the landing page included, as on EDS;
only ``/healthz`` stays open so the sandbox can tell when the whole chain is up.

The API is served under EDS's path layout: stac-auth-proxy strips ``root_path`` before
proxying and adds it back to every link in the responses.

The app is stac-auth-proxy's own (:func:`stac_auth_proxy.configure_app`: every check
and middleware ``create_app`` adds), with two differences from ``create_app``:

* the upstream is the api layer's **Unix socket** (in the sandbox's private folder), not
  a port: nothing behind this gateway listens where another local user could connect
  and skip the token check;
* the catch-all route also proxies ``HEAD``, which stac-auth-proxy's refuses (``405``):
  GDAL's first request to a proxy href is a ``HEAD``, and on EDS it behaves like ``GET``
  (``401`` without a token, ``307`` with one).

stac-auth-proxy's own ``python -m stac_auth_proxy`` binds 0.0.0.0, so the app is run
here under uvicorn on 127.0.0.1 instead::

    python -m pystac_eds.sandbox.gateway --port N --upstream-socket PATH \
        --discovery URL --audience AUD
"""

from __future__ import annotations

import argparse
import os
import warnings

import httpx
import uvicorn
from fastapi import FastAPI
from stac_auth_proxy import (  # type: ignore[import-untyped]
    Settings,
    build_lifespan,
    configure_app,
)
from stac_auth_proxy.handlers import ReverseProxyHandler  # type: ignore[import-untyped]
from starlette.responses import JSONResponse

from ._constants import HEALTH_PATH, ROOT_PATH, UPSTREAM
from ._orphan_guard import exit_with_parent

# Read by pydantic-settings when not passed explicitly: a user's environment must not
# reconfigure (for example unprotect) the sandbox's gateway.
_SETTINGS_ENV = (
    "DEFAULT_PUBLIC",
    "PUBLIC_ENDPOINTS",
    "PRIVATE_ENDPOINTS",
    "ITEMS_FILTER",
    "COLLECTIONS_FILTER",
    "ROOT_PATH",
    "ALLOWED_JWT_AUDIENCES",
    "OIDC_DISCOVERY_INTERNAL_URL",
)
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def settings(discovery: str, audience: str) -> Settings:
    return Settings(
        upstream_url=UPSTREAM,
        oidc_discovery_url=discovery,
        allowed_jwt_audiences=[audience],
        root_path=ROOT_PATH,
        default_public=False,
        # Only the health check is public; the landing page, /conformance and the
        # OpenAPI document (public by default in stac-auth-proxy) are not.
        public_endpoints={rf"^{HEALTH_PATH}$": ["GET"]},
        private_endpoints={},
        healthz_prefix=HEALTH_PATH,
        # The sandbox has no Swagger UI; /api is proxied to rustac like any other path.
        openapi_spec_endpoint=None,
        swagger_ui_endpoint=None,
        # Both probe the upstream by URL, which cannot reach a Unix socket. The sandbox
        # waits for the whole chain through /healthz instead, and no filter (the only
        # thing that needs a conformance class) is configured.
        wait_for_upstream=False,
        check_conformance=False,
    )


def build_app(config: Settings, upstream_socket: str) -> FastAPI:
    """stac-auth-proxy's app, proxying every method but OPTIONS to ``upstream_socket``."""
    client = httpx.AsyncClient(
        base_url=UPSTREAM,
        transport=httpx.AsyncHTTPTransport(uds=upstream_socket),
        timeout=httpx.Timeout(config.upstream_timeout),
    )

    async def health() -> JSONResponse:
        # Up means the api layer answers too: the sandbox waits on this one URL.
        try:
            up = (await client.get(HEALTH_PATH)).is_success
        except httpx.HTTPError:
            up = False
        return JSONResponse({"status": "ok" if up else "upstream unavailable"}, 200 if up else 503)

    app = FastAPI(
        openapi_url=None, lifespan=build_lifespan(settings=config), root_path=config.root_path
    )
    # Before configure_app's health routes, which would probe the upstream by URL.
    for path in (HEALTH_PATH, HEALTH_PATH + "/upstream"):
        app.add_api_route(path, health, methods=["GET"], include_in_schema=False)
    configure_app(app, config)
    proxy = ReverseProxyHandler(
        upstream=UPSTREAM,
        client=client,
        override_host=config.override_host,
        timeout=httpx.Timeout(config.upstream_timeout),
    )
    app.add_api_route("/{path:path}", proxy.proxy_request, methods=_METHODS)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pystac-eds sandbox gateway")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-socket", required=True, help="the api layer's Unix socket")
    parser.add_argument("--discovery", required=True, help="the token server's metadata URL")
    parser.add_argument("--audience", required=True)
    args = parser.parse_args(argv)
    exit_with_parent()
    for name in _SETTINGS_ENV:
        os.environ.pop(name, None)
    # stac-auth-proxy passes root_path to FastAPI, which warns about it on every start.
    warnings.filterwarnings("ignore", message=".*root_path.*")
    app = build_app(settings(args.discovery, args.audience), args.upstream_socket)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
