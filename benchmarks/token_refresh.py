"""2. Token requests under concurrency, over several real token lifetimes.

N threads share one client and search continuously (one page per call) for a few token
lifetimes of short-lived tokens. The token server counts token requests; each thread
counts calls that raised (what the user sees fail); the STAC server counts the 401s
it answered (some may have been retried transparently).

Short tokens need scaled safety margins: requests-auth (30 s) and Authlib (60 s) by
default treat a token as expired that long before it does, which on a 2-second token
would mean a token request per API call. They get the same *fraction* of the lifetime
their defaults are of a one-hour EDS token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from _common import COLLECTION, EDS_STAC_PREFIX, loopback, table
from pystac_client import Client
from pystac_client.stac_api_io import StacApiIO

import pystac_eds
from pystac_eds.client import ASSET_ACCESS_HEADERS
from pystac_eds.testing.servers import StacServer, TokenServer

HOUR = 3600.0
SIGNED = ASSET_ACCESS_HEADERS["presigned"]
Call = Callable[[], object]


@dataclass
class Outcome:
    name: str
    threads: int
    lifetimes: float
    token_requests: int = 0
    calls: int = 0
    failed: int = 0
    rejected: int = 0
    error: str | None = None  # why this contender could not run ("n/a: ...")

    @property
    def per_lifetime(self) -> float:
        return self.token_requests / self.lifetimes


@dataclass
class _Counters:
    calls: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _search_call(client: Client) -> Call:
    return lambda: client.search(collections=[COLLECTION], limit=10, max_items=10).item_collection()


def _open_with_auth(stac: StacServer, auth: requests.auth.AuthBase) -> Client:
    io = StacApiIO(headers=SIGNED)
    io.session.auth = auth
    return Client.open(stac.url, stac_io=io, headers=SIGNED)


# --- the contenders: each builds one shared client and returns the call threads repeat ---


def pystac_eds_call(tokens: TokenServer, stac: StacServer, lifetime: float) -> Call:
    creds = pystac_eds.Credentials(
        client_id=tokens.client_id,
        client_secret=tokens.client_secret,
        auth_url=tokens.token_url,
        api_url=stac.url,
    )
    return _search_call(pystac_eds.open(credentials=creds, cache=pystac_eds.TokenCache(store=None)))


def requests_auth_call(tokens: TokenServer, stac: StacServer, lifetime: float) -> Call:
    from requests_auth import OAuth2, OAuth2ClientCredentials

    OAuth2.token_cache.clear()  # type: ignore[no-untyped-call]  # a process-wide cache
    auth = OAuth2ClientCredentials(
        tokens.token_url,
        client_id=tokens.client_id,
        client_secret=tokens.client_secret,
        early_expiry=30.0 * lifetime / HOUR,
    )
    return _search_call(_open_with_auth(stac, auth))


def authlib_call(tokens: TokenServer, stac: StacServer, lifetime: float) -> Call:
    from authlib.integrations.requests_client import OAuth2Session  # type: ignore[import-untyped]

    oauth = OAuth2Session(
        tokens.client_id,
        tokens.client_secret,
        token_endpoint=tokens.token_url,
        grant_type="client_credentials",
        leeway=60.0 * lifetime / HOUR,
    )
    oauth.fetch_token()
    # pystac-client sends with Session.send, which skips OAuth2Session.request; its
    # token_auth (an AuthBase that calls ensure_active_token) carries the auto-refresh.
    return _search_call(_open_with_auth(stac, oauth.token_auth))


def _earthdaily(tokens: TokenServer, stac: StacServer) -> Any:
    from earthdaily import EDSClient, EDSConfig  # type: ignore[import-untyped]

    config = EDSConfig(
        client_id=tokens.client_id,
        client_secret=tokens.client_secret,
        token_url=tokens.token_url,
        base_url=stac.base_url,  # it appends /platform/v1/stac itself
    )
    return EDSClient(config)


def earthdaily_platform_call(tokens: TokenServer, stac: StacServer, lifetime: float) -> Call:
    platform = _earthdaily(tokens, stac).platform
    assert platform._stac_url.endswith(EDS_STAC_PREFIX)
    return lambda: platform.search(collections=[COLLECTION], limit=10, max_items=10)


class _GetTokenAuth(requests.auth.AuthBase):
    """Stamps ``Authentication.get_token()`` on each request, as earthdaily's own
    APIRequester does for its non-STAC endpoints."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.source.get_token()}"
        return request


def earthdaily_get_token_call(tokens: TokenServer, stac: StacServer, lifetime: float) -> Call:
    client = _earthdaily(tokens, stac)
    return _search_call(_open_with_auth(stac, _GetTokenAuth(client.auth)))


CONTENDERS: dict[str, Callable[[TokenServer, StacServer, float], Call]] = {
    "pystac-eds `open()`": pystac_eds_call,
    "requests-auth `OAuth2ClientCredentials`": requests_auth_call,
    "Authlib `OAuth2Session` (auto-refresh)": authlib_call,
    "earthdaily `EDSClient.platform.search`": earthdaily_platform_call,
    "earthdaily `Authentication.get_token()` per request": earthdaily_get_token_call,
}


# --- the run ---


def _worker(call: Call, start: threading.Barrier, deadline: list[float], counts: _Counters) -> None:
    calls = failed = 0
    start.wait()
    while time.monotonic() < deadline[0]:
        calls += 1
        try:
            call()
        except Exception:  # any failure the user would see counts, whatever its type
            failed += 1
    with counts.lock:
        counts.calls += calls
        counts.failed += failed


def run_one(name: str, threads: int, *, lifetime: float, duration: float) -> Outcome:
    outcome = Outcome(name, threads, duration / lifetime)
    with loopback(lifetime=lifetime, items=100) as (tokens, stac):
        try:
            call = CONTENDERS[name](tokens, stac, lifetime)
        except Exception as exc:  # a peer that cannot be set up is reported, not fatal
            outcome.error = f"n/a: {type(exc).__name__}: {exc}"[:120]
            return outcome
        # Setup (first token, landing page) counts: it is part of the window's lifetimes.
        counts = _Counters()
        start = threading.Barrier(threads + 1)
        deadline = [0.0]
        pool = [
            threading.Thread(target=_worker, args=(call, start, deadline, counts), daemon=True)
            for _ in range(threads)
        ]
        for thread in pool:
            thread.start()
        deadline[0] = time.monotonic() + duration
        start.wait()
        for thread in pool:
            thread.join()
        outcome.token_requests = tokens.issued
        outcome.calls, outcome.failed, outcome.rejected = counts.calls, counts.failed, stac.rejected
    return outcome


def measure(
    *, thread_counts: tuple[int, ...] = (1, 8, 32), lifetime: float = 2.0, duration: float = 6.0
) -> list[Outcome]:
    return [
        run_one(name, n, lifetime=lifetime, duration=duration)
        for name in CONTENDERS
        for n in thread_counts
    ]


def report(outcomes: list[Outcome], *, lifetime: float, duration: float) -> str:
    rows = []
    for o in outcomes:
        if o.error:
            rows.append([o.name, o.threads, o.error, "", "", ""])
            continue
        rows.append(
            [
                o.name,
                o.threads,
                f"{o.token_requests} (**{o.per_lifetime:.2f}**/lifetime)",
                o.calls,
                f"**{o.failed}**" if o.failed else "0",
                o.rejected,
            ]
        )
    title = (
        f"### 2. Token requests: {lifetime:g}-second tokens, {duration:g} s of continuous "
        f"searches ({duration / lifetime:g} lifetimes), one shared client (goal: 1/lifetime, "
        "0 failed)\n\n"
    )
    header = ["client", "threads", "token requests", "API calls", "failed calls", "401s served"]
    return title + table(header, rows) + NOTES.format(lifetime=lifetime)


NOTES = """

Token requests include the first one (at `open`). "failed calls" raised to the caller;
"401s served" counts every 401 the API answered, including ones a client retried for the
caller. Notes:
- pystac-eds refreshes ahead by min(60 s, lifetime/4): on {lifetime:g}-second tokens that
  is a quarter of the lifetime, so its floor here is 1.33-1.67 per lifetime depending
  on where the window cuts; on one-hour EDS tokens it is 1.02.
- requests-auth and Authlib get early-expiry margins scaled to the same fraction of the
  lifetime as their defaults (30 s, 60 s) are of an hour; with the defaults every call
  on a short token would fetch a token. Authlib also stores `expires_at` as whole seconds.
- earthdaily `platform.search` writes the token into the pystac-client `headers` once,
  when that client is first built: after one lifetime every call fails with 401.
  `Authentication.get_token()` refreshes only at expiry, with no lock.
- All servers run in the benchmark process, so with 32 threads the GIL can hold a stamped
  request long enough for its token to expire in flight; pystac-eds resends those once.
"""
