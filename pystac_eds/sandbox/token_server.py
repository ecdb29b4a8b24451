"""The sandbox's OAuth2 token server: client credentials in, RFC 9068 JWT access tokens out.

Built on Authlib's RFC 6749 ``AuthorizationServer`` (the framework-neutral base class,
wired to Starlette here) with its ``ClientCredentialsGrant`` and ``JWTBearerTokenGenerator``.
One confidential client is registered; it may authenticate with ``client_secret_basic`` or
``client_secret_post``, like EDS. Tokens are signed with an RSA key generated at start
(RS256: the only algorithm stac-auth-proxy accepts) and published as a JWKS.

Run as a child process by :class:`pystac_eds.sandbox.Sandbox`::

    python -m pystac_eds.sandbox.token_server --port N --client-id ID --ttl SECONDS \
        --audience AUD

The client secret is read from the ``PYSTAC_EDS_SANDBOX_SECRET`` environment variable
rather than argv, which any local user can read with ``ps``.
"""

from __future__ import annotations

import argparse
import hmac
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from authlib.oauth2 import (  # type: ignore[import-untyped]
    AuthorizationServer as _AuthorizationServer,
)
from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    ClientMixin,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import (  # type: ignore[import-untyped]
    ClientCredentialsGrant as _ClientCredentialsGrant,
)
from authlib.oauth2.rfc6749.requests import (  # type: ignore[import-untyped]
    BasicOAuth2Payload,
)
from authlib.oauth2.rfc9068 import (  # type: ignore[import-untyped]
    JWTBearerTokenGenerator as _JWTBearerTokenGenerator,
)
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._constants import SECRET_ENV, TOKEN_PATH
from ._orphan_guard import exit_with_parent

JWKS_PATH = "/.well-known/jwks.json"
STATS_PATH = "/stats"
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class TokenServerConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    audience: str
    ttl: int


class SandboxClient(ClientMixin):  # type: ignore[misc]
    """The one registered client: confidential, client-credentials only."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self._secret = client_secret

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        # Any requested scope is granted: the sandbox has no per-scope rules.
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self._secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return bool(grant_type == "client_credentials")


class ClientCredentialsGrant(_ClientCredentialsGrant):  # type: ignore[misc]
    # Authlib's default is basic only; EDS's curl example posts the secret in the form.
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


class JWTTokenGenerator(_JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 tokens whose ``aud`` is the API, so the gateway can check the audience."""

    def __init__(self, config: TokenServerConfig, key: RSAKey) -> None:
        super().__init__(issuer=config.issuer, alg="RS256")
        self._audience = config.audience
        self._ttl = config.ttl
        self._keys = KeySet([key])

    def get_jwks(self) -> KeySet:
        # A KeySet (not a bare key) makes joserfc write the ``kid`` header that
        # PyJWKClient in the gateway uses to pick the verification key.
        return self._keys

    def get_audiences(self, client: Any, user: Any, scope: Any) -> str:
        return self._audience

    def _get_expires_in(self, client: Any, grant_type: str) -> int:
        return self._ttl


@dataclass
class Stats:
    """Counters exposed at ``/stats`` so tutorials and tests can count token requests."""

    token_requests: int = 0
    tokens_issued: int = 0
    token_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status_code: int) -> None:
        with self.lock:
            self.token_requests += 1
            if status_code == 200:
                self.tokens_issued += 1
            else:
                self.token_errors += 1

    def as_dict(self) -> dict[str, int]:
        with self.lock:
            return {
                "token_requests": self.token_requests,
                "tokens_issued": self.tokens_issued,
                "token_errors": self.token_errors,
            }


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """An Authlib request built from a Starlette request whose form was already read
    (Starlette reads bodies asynchronously; Authlib's server is synchronous)."""

    def __init__(self, request: Request, form: dict[str, str]) -> None:
        # Starlette's Headers is case-insensitive; Authlib looks up "Authorization".
        super().__init__(request.method, str(request.url), headers=request.headers)
        self._args = dict(request.query_params)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class AuthorizationServer(_AuthorizationServer):  # type: ignore[misc]
    def __init__(self, client: SandboxClient) -> None:
        super().__init__()
        self._client = client

    def query_client(self, client_id: str) -> SandboxClient | None:
        if hmac.compare_digest(client_id.encode(), self._client.client_id.encode()):
            return self._client
        return None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        # JWTs are self-contained: nothing to store.
        return None

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        return JSONResponse(body, status_code=status, headers=dict(headers))


def metadata(config: TokenServerConfig) -> dict[str, Any]:
    """RFC 8414 metadata; also served as OIDC discovery, which stac-auth-proxy reads."""
    return {
        "issuer": config.issuer,
        "token_endpoint": config.issuer + TOKEN_PATH,
        "jwks_uri": config.issuer + JWKS_PATH,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": [],
    }


def build_app(config: TokenServerConfig, key: RSAKey | None = None) -> Starlette:
    """The token server as an ASGI app (usable in-process for tests, too)."""
    if key is None:
        key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True)
        key.ensure_kid()
    server = AuthorizationServer(SandboxClient(config.client_id, config.client_secret))
    server.register_grant(ClientCredentialsGrant)
    server.register_token_generator("default", JWTTokenGenerator(config, key))
    stats = Stats()
    public_jwks = KeySet([key]).as_dict(private=False)
    meta = metadata(config)

    async def token(request: Request) -> Response:
        # Parsed by hand: Starlette's request.form() needs python-multipart, and a
        # token request is only ever application/x-www-form-urlencoded.
        body = (await request.body()).decode("utf-8", errors="replace")
        fields = dict(parse_qsl(body, keep_blank_values=True))
        if "authorization" in request.headers and "client_secret" in fields:
            # RFC 6749 2.3: a client MUST NOT use more than one authentication method
            # per request. Being strict here catches clients that send the secret twice.
            refusal = JSONResponse(
                {
                    "error": "invalid_request",
                    "error_description": "use one client authentication method, not two",
                },
                status_code=400,
                headers={"Cache-Control": "no-store"},
            )
            stats.record(refusal.status_code)
            return refusal
        response: Response = server.create_token_response(StarletteOAuth2Request(request, fields))
        stats.record(response.status_code)
        return response

    async def discovery(request: Request) -> Response:
        return JSONResponse(meta)

    async def jwks(request: Request) -> Response:
        return JSONResponse(public_jwks)

    async def show_stats(request: Request) -> Response:
        return JSONResponse(stats.as_dict())

    return Starlette(
        routes=[
            Route(TOKEN_PATH, token, methods=["POST"]),
            Route("/.well-known/oauth-authorization-server", discovery),
            Route("/.well-known/openid-configuration", discovery),
            Route(JWKS_PATH, jwks),
            Route(STATS_PATH, show_stats),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pystac-eds sandbox token server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--ttl", type=float, default=3600.0)
    args = parser.parse_args(argv)
    exit_with_parent()
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        parser.error(f"{SECRET_ENV} is not set")
    issuer = f"http://127.0.0.1:{args.port}"
    # JWT ``exp`` is whole seconds: round up so a ttl of 0.5 still gives a usable token.
    config = TokenServerConfig(
        issuer=issuer,
        client_id=args.client_id,
        client_secret=secret,
        audience=args.audience,
        ttl=max(1, math.ceil(args.ttl)),
    )
    # The token endpoint is plain http on loopback; Authlib refuses http without this.
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    uvicorn.run(build_app(config), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
