"""pystac-eds against a token server no one here wrote: django-oauth-toolkit (DOT).

DOT runs in this process on 127.0.0.1 (a WSGI server thread, an in-memory SQLite
database), with confidential client-credentials applications whose secrets it stores
hashed. It decodes HTTP Basic credentials as RFC 6749 §2.3.1 says, where the test kit's
TokenServer does not, so between them they cover both kinds of server. A small view
protected by DOT's own token check stands in for the API, answering 401 to a token DOT
no longer knows.
"""

from __future__ import annotations

import io
import secrets
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

import pystac_eds
from pystac_eds import Credentials, EDSAuth, RetryPolicy, TokenCache, TokenError
from pystac_eds.token_request import ClientBasicAuth

from .conftest import CANARY_SECRET

pytest.importorskip("oauth2_provider", reason="needs django-oauth-toolkit (the [test] extra)")

#: Every character RFC 6749's Basic encoding changes, and a space.
SPECIAL_SECRET = "Ab+c/d=e:f%g h~0123456789"
FAST = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, timeout=(2.0, 5.0), total=10)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Dot:
    """The running DOT server, and what its token endpoint saw."""

    base_url: str
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/o/token/"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/stac"

    def token_requests(self) -> list[str]:
        """How each token request authenticated: "basic" or "post"."""
        return [r["method"] for r in self.seen if r["path"] == "/o/token/"]

    def application(
        self, secret: str = SPECIAL_SECRET, *, grant: str = "client-credentials"
    ) -> str:
        """A new confidential application; returns its client id."""
        from oauth2_provider.models import Application

        client_id = "pystac-eds-" + secrets.token_hex(4)
        Application.objects.create(
            name=client_id,
            client_id=client_id,
            client_secret=secret,  # stored hashed (hash_client_secret)
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=grant,
            redirect_uris="https://app.example/cb",
            hash_client_secret=True,
        )
        return client_id

    def credentials(
        self, client_id: str, secret: str = SPECIAL_SECRET, **extra: Any
    ) -> Credentials:
        return Credentials(
            client_id=client_id,
            client_secret=secret,
            auth_url=self.token_url,
            api_url=self.api_url,
            **extra,
        )


#: Client id -> the lifetime DOT gives its tokens (default an hour).
LIFETIMES: dict[str, int] = {}


def _lifetime(request: Any) -> int:
    return LIFETIMES.get(getattr(request.client, "client_id", ""), 3600)


def _configure_django() -> None:
    import django
    from django.conf import settings

    if settings.configured:
        return
    urls = types.ModuleType("pystac_eds_test_dot_urls")
    sys.modules[urls.__name__] = urls
    settings.configure(
        SECRET_KEY="test-only-" + secrets.token_hex(8),
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=urls.__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "oauth2_provider",
        ],
        MIDDLEWARE=[],
        # One shared in-memory database for the test thread and the server thread; it
        # lives as long as the test thread's connection.
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": "file:pystac_eds_dot?mode=memory&cache=shared",
            }
        },
        # Secrets are still hashed, with the fast hasher Django recommends for tests
        # (PBKDF2's million rounds would cost a second per token request on CI).
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        USE_TZ=True,
        OAUTH2_PROVIDER={
            "SCOPES": {"read": "Read the catalog", "stac:search": "Search the catalog"},
            "DEFAULT_SCOPES": ["read"],
            # oauthlib takes a callable: lets one test have short-lived tokens.
            "ACCESS_TOKEN_EXPIRE_SECONDS": _lifetime,
        },
    )
    django.setup()
    from django.urls import path
    from oauth2_provider.views import TokenView

    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("o/token/", TokenView.as_view()),
        path("stac", _protected_api),
    ]


def _protected_api(request: Any) -> Any:
    """A STAC landing page behind DOT's own bearer-token check: 401 when it fails."""
    from django.http import JsonResponse
    from oauth2_provider.oauth2_backends import get_oauthlib_core

    valid, _ = get_oauthlib_core().verify_request(request, scopes=[])
    if not valid:
        response = JsonResponse({"code": "Unauthorized"}, status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return JsonResponse({"type": "Catalog", "id": "dot-protected", "links": []})


@pytest.fixture(scope="module")
def dot_server() -> Iterator[Dot]:
    _configure_django()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    call_command("migrate", verbosity=0, interactive=False)
    django_app = get_wsgi_application()
    dot = Dot(base_url="")

    def recording_app(environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        basic = environ.get("HTTP_AUTHORIZATION", "").lower().startswith("basic ")
        dot.seen.append(
            {
                "path": environ["PATH_INFO"],
                "method": "basic" if basic else "post" if b"client_secret=" in body else None,
                "scope": b"scope=" in body,
                "agent": environ.get("HTTP_USER_AGENT", ""),
            }
        )
        environ["wsgi.input"] = io.BytesIO(body)
        return django_app(environ, start_response)

    server: WSGIServer = make_server("127.0.0.1", 0, recording_app, handler_class=_Quiet)
    dot.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield dot
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def dot(dot_server: Dot) -> Dot:
    dot_server.seen.clear()
    return dot_server


def _session(auth: EDSAuth) -> requests.Session:
    session = requests.Session()
    session.auth = auth
    return session


# --- client authentication ----------------------------------------------------------------


def test_auto_with_a_secret_full_of_special_characters_takes_one_request(dot: Dot) -> None:
    creds = dot.credentials(dot.application())
    auth = EDSAuth(creds, cache=TokenCache(policy=FAST))
    response = _session(auth).get(dot.api_url, timeout=10)
    assert response.status_code == 200 and response.json()["id"] == "dot-protected"
    assert dot.token_requests() == ["basic"]  # RFC-encoded Basic, accepted at once
    # The token request says who is calling (operators read it).
    (agent,) = [r["agent"] for r in dot.seen if r["path"] == "/o/token/"]
    assert agent.startswith(f"pystac-eds/{pystac_eds.__version__} pystac-client/")
    assert " python-requests/" in agent


@pytest.mark.parametrize("method", ["basic", "post"])
def test_each_explicit_method_works_with_the_special_secret(dot: Dot, method: str) -> None:
    creds = dot.credentials(dot.application(), client_auth=method)
    token = TokenCache(policy=FAST).get(creds)
    assert _session_with_bearer(token.value).get(dot.api_url, timeout=10).status_code == 200
    assert dot.token_requests() == [method]


def _session_with_bearer(value: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {value}"
    return session


def test_encoded_basic_is_what_a_decoding_server_needs_and_raw_basic_still_works(
    dot: Dot,
) -> None:
    # A plain secret: requests' own Basic (EarthDaily's documented Python example) and
    # pystac-eds's encoded Basic are the same bytes, and both are accepted.
    plain = "plainSecret0123456789"
    plain_id = dot.application(plain)
    grant = {"grant_type": "client_credentials"}
    raw = requests.post(dot.token_url, data=grant, auth=(plain_id, plain), timeout=10)
    assert raw.status_code == 200
    assert TokenCache(policy=FAST).get(dot.credentials(plain_id, plain, client_auth="basic"))
    # The special secret: sent raw, DOT decodes "+" to a space and refuses it; encoded
    # (pystac-eds's explicit "basic") it is accepted.
    special_id = dot.application()
    raw = requests.post(dot.token_url, data=grant, auth=(special_id, SPECIAL_SECRET), timeout=10)
    assert raw.status_code == 401
    assert TokenCache(policy=FAST).get(dot.credentials(special_id, client_auth="basic"))


def test_authlibs_basic_decoder_reads_our_encoding_back() -> None:
    # Authlib (the sandbox's token server) decodes with unquote, DOT with unquote_plus:
    # both must read back exactly what was encoded.
    util = pytest.importorskip("authlib.oauth2.rfc6749.util")
    request = requests.Request("POST", "http://127.0.0.1/t").prepare()
    ClientBasicAuth("my client+1", SPECIAL_SECRET)(request)
    decoded = util.extract_basic_authorization(request.headers)
    assert decoded == ("my client+1", SPECIAL_SECRET)


def test_a_wrong_secret_is_a_typed_error_blaming_the_secret_after_two_requests(
    dot: Dot,
) -> None:
    creds = dot.credentials(dot.application(), CANARY_SECRET)
    with pytest.raises(TokenError) as info:
        TokenCache(policy=FAST).get(creds)
    err = info.value
    assert (err.status, err.error) == (401, "invalid_client")
    assert "EDS_SECRET" in str(err)
    assert "EARTHDAILY_API_TOKEN" not in str(err)  # not an EarthDaily token URL
    assert CANARY_SECRET not in str(err) and CANARY_SECRET not in repr(err)
    assert dot.token_requests() == ["basic", "post"]


def test_a_client_not_allowed_the_grant_gets_a_hint_saying_so(dot: Dot) -> None:
    creds = dot.credentials(dot.application(grant="authorization-code"))
    with pytest.raises(TokenError) as info:
        TokenCache(policy=FAST).get(creds)
    assert info.value.error == "unauthorized_client"
    assert info.value.hint and "client-credentials grant" in info.value.hint
    assert len(dot.token_requests()) == 2  # Basic, then form fields once


# --- scope ------------------------------------------------------------------------------


def _last_scope() -> str:
    from oauth2_provider.models import AccessToken

    return str(AccessToken.objects.order_by("-id").first().scope)  # type: ignore[union-attr]


def test_scope_is_sent_only_when_set(dot: Dot) -> None:
    client_id = dot.application()
    TokenCache(policy=FAST).get(dot.credentials(client_id))
    assert _last_scope() == "read"  # the server's default
    TokenCache(policy=FAST).get(dot.credentials(client_id, scope="stac:search"))
    assert _last_scope() == "stac:search"
    assert [r["scope"] for r in dot.seen] == [False, True]


def test_an_unknown_scope_is_a_typed_error_naming_eds_scope(dot: Dot) -> None:
    creds = dot.credentials(dot.application(), scope="admin")
    with pytest.raises(TokenError) as info:
        TokenCache(policy=FAST).get(creds)
    assert info.value.error == "invalid_scope" and "EDS_SCOPE" in str(info.value)
    assert len(dot.token_requests()) == 1  # not a client-auth problem: no second method


# --- lifetimes and the 401 path -------------------------------------------------------------


def test_short_lived_tokens_are_refreshed_ahead_not_per_call(dot: Dot) -> None:
    client_id = dot.application()
    LIFETIMES[client_id] = 4
    now = [time.time()]
    cache = TokenCache(clock=lambda: now[0], policy=FAST)
    creds = dot.credentials(client_id)
    first = cache.get(creds)
    assert 3 <= first.lifetime <= 4  # DOT's expires_in, taken as given
    for _ in range(20):  # 20 calls in 2.5 s of a 4-second token: no new request
        now[0] += 0.125
        assert cache.get(creds) is first
    now[0] += 1.0  # past three quarters of its life: refreshed ahead of expiry
    assert cache.get(creds).value != first.value
    assert dot.token_requests() == ["basic", "basic"]


def test_a_token_the_server_forgot_is_replaced_and_the_request_resent(dot: Dot) -> None:
    from oauth2_provider.models import AccessToken

    creds = dot.credentials(dot.application())
    session = _session(EDSAuth(creds, cache=TokenCache(policy=FAST)))
    assert session.get(dot.api_url, timeout=10).status_code == 200
    AccessToken.objects.all().delete()  # server-side revocation
    response = session.get(dot.api_url, timeout=10)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert dot.token_requests() == ["basic", "basic"]
