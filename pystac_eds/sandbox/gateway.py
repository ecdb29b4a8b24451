"""The sandbox's API gateway: stac-auth-proxy in front of ``rustac serve``.

It validates each request's bearer JWT (signature from the token server's JWKS, found
through its discovery document; ``exp``; ``aud``) and answers 401 for a missing,
expired or foreign token. Everything is private, the landing page included, as on EDS;
only ``/healthz`` stays open so the sandbox can tell when the gateway is up.

The API is served under EDS's path layout: stac-auth-proxy strips ``root_path`` before
proxying and adds it back to every link in the responses.

stac-auth-proxy's own ``python -m stac_auth_proxy`` binds 0.0.0.0, so its app factory
is run here under uvicorn on 127.0.0.1 instead::

    python -m pystac_eds.sandbox.gateway --port N --upstream URL --discovery URL \
        --audience AUD
"""

from __future__ import annotations

import argparse
import os
import warnings

import uvicorn
from stac_auth_proxy import Settings, create_app  # type: ignore[import-untyped]

from ._constants import HEALTH_PATH, ROOT_PATH
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


def settings(upstream: str, discovery: str, audience: str) -> Settings:
    return Settings(
        upstream_url=upstream,
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
        # The upstream and the token server are started before the gateway.
        wait_for_upstream=True,
        check_conformance=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pystac-eds sandbox gateway")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="rustac's URL")
    parser.add_argument("--discovery", required=True, help="the token server's metadata URL")
    parser.add_argument("--audience", required=True)
    args = parser.parse_args(argv)
    exit_with_parent()
    for name in _SETTINGS_ENV:
        os.environ.pop(name, None)
    # stac-auth-proxy passes root_path to FastAPI, which warns about it on every start.
    warnings.filterwarnings("ignore", message=".*root_path.*")
    app = create_app(settings(args.upstream, args.discovery, args.audience))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
