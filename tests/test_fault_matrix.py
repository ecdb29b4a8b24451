"""The fault matrix: every failure we know how to provoke, through ``pystac_eds.open()`` and
a paginated search over loopback servers.

Each row ends in one of two outcomes a user can rely on: the search recovers with every
item exactly once, or a *typed* error (``TokenError`` with status / OAuth error /
``retryable`` / a hint, ``APIError`` with a status, ``InsecureTransportError``) is raised
with no item duplicated. Every scenario runs with a canary secret and DEBUG logging, and
ends by checking that neither the secret nor any token the server issued shows up in the
logs, reprs, exception messages or formatted tracebacks.

The published version of these tables is the README's "Reliability" section.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pystac_client
import pytest
import requests
from pystac_client.exceptions import APIError
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import Retry

import pystac_eds
from pystac_eds import (
    Credentials,
    EDSAuth,
    InsecureTransportError,
    RetryPolicy,
    Token,
    TokenCache,
    TokenError,
)
from pystac_eds.client import EDSStacApiIO
from pystac_eds.testing import Reply, StacServer, TokenServer
from pystac_eds.token_request import request_token

from .conftest import CANARY_SECRET
from .test_security import chain_with_locals

#: Token-request retries as in production, but with tiny backoffs.
# The read timeout is a guard, not a fault: a prompt answer delayed by a loaded machine
# must not count as a timeout (and add a request the test counts). SLOW answers (what a
# read-timeout fault sends) come long after it.
FAST = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.02, timeout=(5.0, 3.0), total=60)
SLOW = 30.0
ALL_S2 = [f"sentinel-2-l2a-{i:05d}" for i in range(95)]
LANDSAT = [f"landsat-c2l2-sr-{i:05d}" for i in range(30)]


class Sleeps:
    """An injectable sleep that records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FakeClock:
    def __init__(self, offset: float = 0.0) -> None:
        self.now = time.time() + offset

    def __call__(self) -> float:
        return self.now


def fast_cache(sleeps: Sleeps, clock: Callable[[], float] = time.time) -> TokenCache:
    """A private cache whose token requests use :data:`FAST` and never really sleep."""
    return TokenCache(
        clock=clock,
        fetch=lambda c: request_token(c, policy=FAST, sleep=sleeps, clock=clock),
    )


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    return f"http://127.0.0.1:{port}/oauth/token"


def search_ids(
    catalog: pystac_client.Client,
    method: str,
    *,
    collection: str = "sentinel-2-l2a",
    after_page: Callable[[int], None] | None = None,
    got: list[str] | None = None,
) -> list[str]:
    """Every item id of a paginated search, in order; ``after_page(n)`` runs after page n
    (1-based). Ids are appended to ``got`` as they arrive, so a caller still sees the
    pages that came before an error."""
    got = [] if got is None else got
    search = catalog.search(collections=[collection], method=method)
    for n, page in enumerate(search.pages(), start=1):
        got += [item.id for item in page]
        if after_page is not None:
            after_page(n)
    return got


def auth_of(catalog: pystac_client.Client) -> EDSAuth:
    stac = catalog._stac_io
    assert isinstance(stac, EDSStacApiIO)
    return stac.auth


def search_requests(api: StacServer) -> int:
    return sum(path == "/search" for _, path, _ in api.seen)


def assert_no_leaks(caplog: pytest.LogCaptureFixture, tokens: TokenServer, *shown: object) -> None:
    """Neither the canary secret nor any whole issued token in the DEBUG logs, nor in the
    repr/str of ``shown``, nor in the message or formatted traceback of exceptions."""
    texts = [caplog.text]
    for obj in shown:
        texts += [repr(obj), str(obj)]
        if isinstance(obj, BaseException):
            texts.append("".join(traceback.format_exception(obj)))
    blob = "\n".join(texts)
    assert caplog.records, "DEBUG logging was not captured: the check would prove nothing"
    assert CANARY_SECRET not in blob
    leaked = [value for value in tokens.issued_tokens if value in blob]
    assert leaked == []


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # the root logger: pystac-client logs headers at DEBUG
    return caplog


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    with TokenServer(client_secret=CANARY_SECRET) as server:
        yield server


@pytest.fixture
def api(tokens: TokenServer) -> Iterator[StacServer]:
    with StacServer(tokens) as server:
        yield server


# =======================================================================================
# Token endpoint faults
# =======================================================================================


@dataclass(frozen=True)
class TokenFault:
    """One row: what the token endpoint does, and what the user sees."""

    name: str
    replies: Callable[[], list[Reply]] = list
    #: Whether the search completes (True) or a TokenError surfaces (False).
    recovers: bool = True
    #: Token requests the faulted refresh makes: (when opening, when refreshing later).
    requests: tuple[int, int] = (1, 1)
    status: int | None = None
    error: str | None = None
    retryable: bool = False
    hint: str = ""
    #: The delays the token request waited, when they are exact (Retry-After).
    delays: list[float] | None = None
    refused: bool = False


def _times(n: int, reply: Reply) -> Callable[[], list[Reply]]:
    return lambda: [Reply(reply.status, reply.body, dict(reply.headers), reply.delay)] * n


OK_BODY = {"access_token": "never-valid", "token_type": "Bearer", "expires_in": 3600}
# fmt: off
TOKEN_FAULTS = [
    TokenFault("503 twice", _times(2, Reply(503, {"error": "temporarily_unavailable"})),
               requests=(3, 3)),
    TokenFault("502 HTML gateway page twice",
               _times(2, Reply(502, "<html><body>Bad Gateway</body></html>")), requests=(3, 3)),
    TokenFault("500 twice", _times(2, Reply(500, b"")), requests=(3, 3)),
    TokenFault("429 with Retry-After: 1", _times(1, Reply(429, {}, {"Retry-After": "1"})),
               requests=(2, 2), delays=[1.0]),
    TokenFault("429 without Retry-After", _times(1, Reply(429, {"error": "slow_down"})),
               requests=(2, 2)),
    TokenFault("read timeout once", _times(1, Reply(200, OK_BODY, delay=SLOW)), requests=(2, 2)),
    TokenFault("503 persistent", _times(10, Reply(503, {})), recovers=False, requests=(4, 4),
               status=503, retryable=True, hint="try again later"),
    TokenFault("429 persistent, Retry-After: 1", _times(10, Reply(429, {}, {"Retry-After": "1"})),
               recovers=False, requests=(4, 4), status=429, retryable=True,
               hint="try again later", delays=[1.0, 1.0, 1.0]),
    TokenFault("connection refused", recovers=False, requests=(0, 0), retryable=True,
               hint="EDS_AUTH_URL", refused=True),
    TokenFault("200 with an HTML login page", _times(1, Reply(200, "<!DOCTYPE html><html>")),
               recovers=False, status=200, hint="EDS_AUTH_URL"),
    TokenFault("200 with invalid JSON", _times(1, Reply(200, b'{"access_token": ')),
               recovers=False, status=200, hint="EDS_AUTH_URL"),
    TokenFault("200 JSON without access_token",
               _times(1, Reply(200, {"token_type": "Bearer", "expires_in": 3600})),
               recovers=False, status=200, hint="EDS_AUTH_URL"),
    TokenFault("302 to another host", _times(1, Reply(302, b"", {"Location": "https://x.test/t"})),
               recovers=False, status=302, hint="EDS_AUTH_URL"),
    # "auto" client auth: Basic is rejected, form fields are tried once, both rejected.
    # Once Basic has worked, a later refresh starts with it, and still tries the other
    # method once (what was learnt may be stale): never more than two requests.
    TokenFault("401 invalid_client",
               _times(2, Reply(401, {"error": "invalid_client", "error_description": "bad"})),
               recovers=False, requests=(2, 2), status=401, error="invalid_client",
               hint="EDS_SECRET"),
    TokenFault("400 invalid_client", _times(2, Reply(400, {"error": "invalid_client"})),
               recovers=False, requests=(2, 2), status=400, error="invalid_client",
               hint="EDS_SECRET"),
    TokenFault("400 invalid_grant", _times(1, Reply(400, {"error": "invalid_grant"})),
               recovers=False, status=400, error="invalid_grant", hint="revoked"),
]
# fmt: on


def _check_error(err: TokenError, row: TokenFault) -> None:
    assert err.status == row.status
    assert err.error == row.error
    assert err.retryable is row.retryable
    assert err.hint and row.hint in err.hint
    assert row.hint in str(err)  # the hint is in the message users see


@pytest.mark.parametrize("row", TOKEN_FAULTS, ids=lambda r: r.name)
def test_token_fault_when_opening(
    row: TokenFault, tokens: TokenServer, api: StacServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    sleeps = Sleeps()
    cache = fast_cache(sleeps)
    auth_url = closed_port_url() if row.refused else tokens.token_url
    tokens.script += row.replies()
    credentials = tokens.credentials(api.url, auth_url=auth_url)
    if not row.recovers:
        with pytest.raises(TokenError) as info:
            pystac_eds.open(credentials=credentials, cache=cache)
        _check_error(info.value, row)
        assert api.seen == []  # no request went out without a token
        shown: list[object] = [info.value, cache, credentials]
    else:
        catalog = pystac_eds.open(credentials=credentials, cache=cache)
        assert search_ids(catalog, "GET") == ALL_S2
        assert api.rejected == 0 and cache.token_requests == 1
        shown = [catalog, auth_of(catalog), cache, cache.peek(credentials)]
    assert len(tokens.requests) == row.requests[0]
    if row.delays is not None:
        assert sleeps.delays == row.delays
    assert all(d <= FAST.max_retry_after for d in sleeps.delays)
    assert_no_leaks(debug_logs, tokens, *shown)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("row", TOKEN_FAULTS, ids=lambda r: r.name)
def test_token_fault_when_refreshing_mid_search(
    row: TokenFault,
    method: str,
    tokens: TokenServer,
    api: StacServer,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    """The token is revoked after page 2; the refresh that page 3's 401 causes meets the
    fault. Recovery: every item exactly once. Failure: a TokenError from the iteration,
    after exactly the first two pages."""
    sleeps = Sleeps()
    cache = fast_cache(sleeps)
    credentials = tokens.credentials(api.url)
    catalog = pystac_eds.open(credentials=credentials, cache=cache)
    before = len(tokens.requests)

    def fault(page: int) -> None:
        if page == 2:
            tokens.revoke()
            if row.refused:
                tokens.stop()  # the token endpoint goes away: connections are refused
            tokens.script += row.replies()

    got: list[str] = []
    shown: list[object] = [catalog, auth_of(catalog), cache]
    if row.recovers:
        assert search_ids(catalog, method, after_page=fault, got=got) == ALL_S2
        assert api.rejected == 1
        assert cache.token_requests == 2
    else:
        with pytest.raises(TokenError) as info:
            search_ids(catalog, method, after_page=fault, got=got)
        _check_error(info.value, row)
        assert got == ALL_S2[:20]  # the pages before the fault, nothing twice
        shown.append(info.value)
    assert len(tokens.requests) - before == row.requests[1]
    if row.delays is not None:
        assert sleeps.delays == row.delays
    assert_no_leaks(debug_logs, tokens, *shown)


# --- expires_in: missing, tiny, odd ------------------------------------------------------


@dataclass(frozen=True)
class Lifetime:
    name: str
    lifetime: float | None = 3600  # what the server really honours (None: 1 h, unsaid)
    extra: dict[str, Any] = field(default_factory=dict)  # what it says instead
    step: float = 0.1  # simulated seconds between pages
    max_tokens: int = 1
    server_offset: float = 0.0  # the token server's clock minus ours
    jwt: bool = False


LIFETIMES = [
    Lifetime("expires_in missing", lifetime=None, step=60),
    Lifetime("expires_in 1 s", lifetime=1, step=0.1, max_tokens=3),
    Lifetime("expires_in '1' (a string)", lifetime=1, extra={"expires_in": "1"}, max_tokens=3),
    Lifetime("expires_in 0 (unusable: assume 1 h)", extra={"expires_in": 0}, step=60),
    Lifetime("expires_in 'soon' (unusable: assume 1 h)", extra={"expires_in": "soon"}, step=60),
    Lifetime("expires_in 1e-9 (under 1 s: assume 1 h)", extra={"expires_in": 1e-9}, step=60),
    Lifetime("expires_in '1e-3' (under 1 s: assume 1 h)", extra={"expires_in": "1e-3"}, step=60),
    Lifetime("no expires_in, JWT exp", lifetime=None, jwt=True, step=60),
]


def _lifetime_run(row: Lifetime, caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    clock = FakeClock()
    server_clock = FakeClock(row.server_offset)
    with (
        TokenServer(
            client_secret=CANARY_SECRET, lifetime=row.lifetime, clock=server_clock, jwt=row.jwt
        ) as tokens,
        StacServer(tokens) as api,
    ):
        tokens.extra_fields.update(row.extra)
        cache = fast_cache(Sleeps(), clock)
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=cache)

        def tick(page: int) -> None:
            clock.now += row.step
            server_clock.now += row.step

        assert search_ids(catalog, "GET", after_page=tick) == ALL_S2
        assert api.rejected == 0  # always refreshed before the server would refuse
        assert_no_leaks(caplog, tokens, catalog, cache)
        return cache.token_requests, search_requests(api)


@pytest.mark.parametrize("row", LIFETIMES, ids=lambda r: r.name)
def test_token_lifetime_variants(row: Lifetime, debug_logs: pytest.LogCaptureFixture) -> None:
    """10 pages ``step`` simulated seconds apart. A 1-second token is used for 0.75 s
    (the margin is a quarter of the lifetime), so ~1 s of paging takes 2-3 tokens, never
    one per call; unusable values fall back to an hour."""
    token_requests, api_requests = _lifetime_run(row, debug_logs)
    assert api_requests == 10
    assert 1 <= token_requests <= row.max_tokens


def test_jwt_exp_in_the_past_by_clock_skew_does_not_cause_a_token_per_call(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    # The token server's clock is 2 h behind ours and its JWTs (valid 1 h by its clock)
    # come without expires_in: every exp is already past by our clock.
    row = Lifetime("JWT exp past by skew", lifetime=None, jwt=True, server_offset=-7200, step=1)
    token_requests, _ = _lifetime_run(row, debug_logs)
    assert token_requests <= 2


# =======================================================================================
# API faults
# =======================================================================================


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_401_on_pages_3_and_7_is_retried_once_each(
    method: str, tokens: TokenServer, api: StacServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    api.unauthorized_pages = {3, 7}
    cache = fast_cache(Sleeps())
    catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=cache)
    assert search_ids(catalog, method) == ALL_S2
    assert api.rejected == 2
    assert tokens.issued == cache.token_requests == 3  # one new token per 401, no more
    assert search_requests(api) == 10 + 2  # 10 pages and 2 resends
    assert_no_leaks(debug_logs, tokens, catalog, cache)


def test_server_side_revocation_under_32_thread_load(
    tokens: TokenServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    debug_logs.set_level(logging.INFO)  # 32 threads of DEBUG lines would only slow it down
    debug_logs.set_level(logging.DEBUG, logger="pystac_eds")
    with StacServer(tokens, page_size=10) as api:
        cache = TokenCache()
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=cache)
        errors: list[BaseException] = []
        results: list[list[str]] = []
        stop = threading.Event()
        # Revocations are counted in epochs; each thread records the epoch in which its
        # last completed search *started*.
        epoch = [0]
        done_in = [-1] * 32

        def worker(n: int) -> None:
            while not stop.is_set():
                started_in = epoch[0]
                try:
                    results.append(search_ids(catalog, "POST", collection="landsat-c2l2-sr"))
                except Exception as exc:
                    errors.append(exc)
                done_in[n] = started_in

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
        for t in threads:
            t.start()

        def settled() -> None:
            # A request resent after a 401 gets no second chance (by design: no loops), so
            # a revocation landing while resends are still in flight would fail them. The
            # next revocation waits until every thread has finished a search begun after
            # the last one: then nothing stamped with an older token is still in flight.
            # Progress, not time, so a slow machine only makes this wait longer.
            deadline = time.monotonic() + 60
            while min(done_in) < epoch[0] and time.monotonic() < deadline:
                time.sleep(0.02)
            assert min(done_in) >= epoch[0], "threads made no progress"

        revocations = 0
        for _ in range(3):
            settled()
            tokens.revoke()
            epoch[0] += 1
            revocations += 1
        settled()
        stop.set()
        for t in threads:
            t.join(30)
        assert errors == []
        assert len(results) > 32 and all(r == LANDSAT for r in results)
        assert api.rejected > 0  # the revocations were felt...
        # ...and each caused at most one token request, however many threads saw the 401.
        assert tokens.issued == cache.token_requests <= revocations + 1
        assert_no_leaks(debug_logs, tokens, catalog, cache, *errors)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_next_link_to_another_host_gets_no_token(
    method: str, tokens: TokenServer, api: StacServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    with StacServer(tokens) as other:  # another origin that would accept the token
        api.next_base = other.base_url
        catalog = pystac_eds.open(
            credentials=tokens.credentials(api.url), cache=fast_cache(Sleeps())
        )
        got: list[str] = []
        with pytest.raises(APIError) as info:
            search_ids(catalog, method, got=got)
        assert info.value.status_code == 401  # refused there, and not retried with a token
        assert got == ALL_S2[:10]
        assert len(other.seen) == 1
        assert all("Authorization" not in headers for _, _, headers in other.seen)
    assert_no_leaks(debug_logs, tokens, catalog, info.value)


def test_next_link_to_an_allowed_host_gets_the_token(
    tokens: TokenServer, api: StacServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    with StacServer(tokens) as other:
        api.next_base = f"http://localhost:{other.port}"
        other.next_base = api.next_base  # its own next links must name the allowed host too
        catalog = pystac_eds.open(
            credentials=tokens.credentials(api.url),
            cache=fast_cache(Sleeps()),
            allowed_hosts=["localhost"],
        )
        assert search_ids(catalog, "POST") == ALL_S2
        assert other.rejected == 0 and len(other.seen) == 9
    assert_no_leaks(debug_logs, tokens, catalog)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_redirect_to_another_host_does_not_carry_the_token(
    method: str, tokens: TokenServer, api: StacServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    with StacServer(None) as open_host:  # an open server that records what it receives
        catalog = pystac_eds.open(
            credentials=tokens.credentials(api.url), cache=fast_cache(Sleeps())
        )

        def redirect(page: int) -> None:  # pages 2-10 answer 307 (method and body kept)
            api.redirect_to = open_host.base_url

        assert search_ids(catalog, method, after_page=redirect) == ALL_S2
        assert [m for m, path, _ in open_host.seen if path == "/search"] == [method] * 9
        assert all("Authorization" not in headers for _, _, headers in open_host.seen)
    assert_no_leaks(debug_logs, tokens, catalog)


def test_redirect_to_another_host_that_wants_a_token_is_a_401_not_a_leak(
    tokens: TokenServer, api: StacServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    with StacServer(tokens) as other:
        catalog = pystac_eds.open(
            credentials=tokens.credentials(api.url), cache=fast_cache(Sleeps())
        )
        got: list[str] = []

        def redirect(page: int) -> None:
            api.redirect_to = other.base_url

        with pytest.raises(APIError) as info:
            search_ids(catalog, "POST", after_page=redirect, got=got)
        assert info.value.status_code == 401
        assert got == ALL_S2[:10]
        assert len(other.seen) == 1  # no retry with a token, no loop
        assert "Authorization" not in other.seen[0][2]
        assert tokens.issued == 1  # a 401 from a foreign host does not burn our token
    assert_no_leaks(debug_logs, tokens, catalog, info.value)


# --- https -> http downgrade ---------------------------------------------------------------


HTTPS_API = "https://api.example.com/stac"


def _https_credentials() -> Credentials:
    return Credentials(
        client_id="id",
        client_secret=CANARY_SECRET,
        auth_url="https://a.example/t",
        api_url=HTTPS_API,
    )


def _stub_cache() -> TokenCache:
    now = time.time()
    value = "stub-token-" + "x" * 32
    return TokenCache(fetch=lambda c: Token(value, expires_at=now + 3600, issued_at=now))


class RedirectingAdapter(HTTPAdapter):
    """A transport with no sockets: https answers 301 to the same path over plain http;
    http answers 200 and records the request."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.request = request
        response.url = request.url or ""
        response.connection = self
        response.raw = io.BytesIO(b"")
        response.headers = CaseInsensitiveDict()
        if response.url.startswith("https://"):
            response.status_code = 301
            response.headers["Location"] = "http://" + response.url[len("https://") :]
            response._content = b""
        else:
            response.status_code = 200
            response._content = json.dumps({"type": "FeatureCollection", "features": []}).encode()
        return response

    def close(self) -> None:
        pass


def _downgrading_io() -> tuple[EDSStacApiIO, RedirectingAdapter]:
    stac = pystac_eds.stac_io(credentials=_https_credentials(), cache=_stub_cache())
    adapter = RedirectingAdapter()
    stac.session.mount("https://api.example.com", adapter)
    stac.session.mount("http://api.example.com", adapter)
    return stac, adapter


def test_a_prepared_http_request_to_the_https_api_host_is_refused() -> None:
    auth = EDSAuth(_https_credentials(), cache=_stub_cache())
    for url in ("http://api.example.com/stac/search", "http://API.example.com:80/stac"):
        request = requests.Request("GET", url).prepare()
        with pytest.raises(InsecureTransportError) as info:
            auth(request)
        assert "Authorization" not in request.headers
        assert CANARY_SECRET not in str(info.value)
    assert not auth.in_scope("http://api.example.com/stac")
    assert auth.in_scope("https://api.example.com:443/stac/search")


def test_an_https_to_http_redirect_on_the_api_host_is_refused_loudly() -> None:
    stac, adapter = _downgrading_io()
    with pytest.raises(InsecureTransportError) as info:
        stac.read_text(HTTPS_API + "/search")
    assert len(adapter.sent) == 1
    # Raised while sending: pystac-client's frame then held the request as logged, token
    # and all. The error goes on without that frame.
    text = chain_with_locals(info.value)
    assert "stub-token-" not in text


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsStacServer(StacServer):
    """The test STAC API over https on 127.0.0.1, with a throwaway self-signed cert."""

    def use_tls(self, cert: Path, key: Path) -> TlsStacServer:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        return self

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def test_loopback_https_api_then_a_downgrading_redirect(
    tokens: TokenServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # pystac-client passes verify=True
    with TlsStacServer(tokens).use_tls(cert, key) as api, StacServer(None) as plain:
        catalog = pystac_eds.open(
            credentials=tokens.credentials(api.url), cache=fast_cache(Sleeps())
        )
        assert search_ids(catalog, "GET", collection="landsat-c2l2-sr") == LANDSAT
        assert all("Authorization" in headers for _, _, headers in api.seen)
        api.redirect_to = plain.base_url  # https://127.0.0.1:A -> http://127.0.0.1:B
        assert search_ids(catalog, "POST", collection="landsat-c2l2-sr") == LANDSAT
        assert plain.seen and all("Authorization" not in h for _, _, h in plain.seen)
    assert_no_leaks(debug_logs, tokens, catalog)


# --- 429 and 5xx from the API itself ---------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("status", [429, 502, 503])
def test_api_429_and_5xx_with_default_retries_are_an_api_error(
    status: int,
    method: str,
    tokens: TokenServer,
    api: StacServer,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    """pystac-client's default ``max_retries`` retries connection errors only, not statuses."""
    api.page_faults = {3: [Reply(status, {"code": "Unavailable"})]}
    catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=fast_cache(Sleeps()))
    got: list[str] = []
    with pytest.raises(APIError) as info:
        search_ids(catalog, method, got=got)
    assert info.value.status_code == status
    assert got == ALL_S2[:20]
    assert tokens.issued == 1  # not mistaken for an auth problem
    assert_no_leaks(debug_logs, tokens, catalog, info.value)


STATUS_RETRY = Retry(total=3, status_forcelist=[429, 502, 503], backoff_factor=0)
STATUS_RETRY_POST = Retry(
    total=3, status_forcelist=[429, 502, 503], backoff_factor=0, allowed_methods=None
)


@pytest.mark.parametrize(
    ("method", "retry"),
    [("GET", STATUS_RETRY), ("POST", STATUS_RETRY_POST)],
    ids=["GET-default-methods", "POST-allowed_methods=None"],
)
def test_api_429_and_5xx_recover_with_status_retries(
    method: str,
    retry: Retry,
    tokens: TokenServer,
    api: StacServer,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    faults = [Reply(429, {}), Reply(502, "<html>bad gateway</html>"), Reply(503, {})]
    api.page_faults = {3: faults}
    catalog = pystac_eds.open(
        credentials=tokens.credentials(api.url), cache=fast_cache(Sleeps()), max_retries=retry
    )
    assert search_ids(catalog, method) == ALL_S2
    assert faults == [] and search_requests(api) == 10 + 3
    assert_no_leaks(debug_logs, tokens, catalog)


def test_status_retries_do_not_cover_post_unless_allowed_methods_says_so(
    tokens: TokenServer, api: StacServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    """urllib3's Retry leaves POST out of ``allowed_methods`` by default: a POST search
    (pystac-client's default when the API supports it) is not retried on 503."""
    api.page_faults = {3: [Reply(503, {})]}
    catalog = pystac_eds.open(
        credentials=tokens.credentials(api.url),
        cache=fast_cache(Sleeps()),
        max_retries=STATUS_RETRY,
    )
    with pytest.raises(APIError) as info:
        search_ids(catalog, "POST")
    assert info.value.status_code == 503
    assert_no_leaks(debug_logs, tokens, catalog, info.value)


def test_api_5xx_beyond_the_status_retries_is_an_api_error(
    tokens: TokenServer, api: StacServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    api.page_faults = {3: [Reply(503, {})] * 10}
    catalog = pystac_eds.open(
        credentials=tokens.credentials(api.url),
        cache=fast_cache(Sleeps()),
        max_retries=STATUS_RETRY,
    )
    got: list[str] = []
    with pytest.raises(APIError, match="too many 503 error responses") as info:
        search_ids(catalog, "GET", got=got)
    # urllib3 gives up with a RetryError: pystac-client's APIError then has no status.
    assert getattr(info.value, "status_code", None) is None
    assert got == ALL_S2[:20] and len(api.page_faults[3]) == 10 - 4
    assert_no_leaks(debug_logs, tokens, catalog, info.value)
