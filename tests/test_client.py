"""open(), stac_io() and EDSAuth over real loopback HTTP: what users rely on."""

from __future__ import annotations

import inspect
import logging
import pickle
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pystac_client
import pytest
import requests

import pystac_eds
from pystac_eds import Credentials, EDSAuth, Token, TokenCache, TokenError
from pystac_eds.testing import Reply, StacServer, TokenServer

from .conftest import CANARY_SECRET


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def ids(items: Any) -> list[str]:
    return [item.id for item in items]


ALL_S2 = [f"sentinel-2-l2a-{i:05d}" for i in range(95)]


def test_open_from_environment_browses_and_searches(eds_env: dict[str, str]) -> None:
    catalog = pystac_eds.open()
    assert isinstance(catalog, pystac_client.Client)
    assert {c.id for c in catalog.get_collections()} == {"sentinel-2-l2a", "landsat-c2l2-sr"}
    assert catalog.get_collection("landsat-c2l2-sr").id == "landsat-c2l2-sr"
    assert ids(catalog.search(collections=["sentinel-2-l2a"]).items()) == ALL_S2
    assert len(catalog.search(collections=["landsat-c2l2-sr"], max_items=7).item_collection()) == 7
    assert len(list(catalog.get_collection("landsat-c2l2-sr").get_items())) == 30


def test_open_reads_eds_env_in_the_working_directory(
    eds_token_server: TokenServer, eds_stac_server: StacServer
) -> None:
    settings = eds_token_server.settings(eds_stac_server.url)
    with open("EDS.env", "w") as f:  # the autouse fixture put us in an empty folder
        f.writelines(f"{k}={v}\n" for k, v in settings.items())
    catalog = pystac_eds.open(cache=TokenCache())
    assert ids(catalog.search(ids=["sentinel-2-l2a-00003"]).items()) == ["sentinel-2-l2a-00003"]


def test_nothing_touches_the_network_before_the_first_request(
    eds_token_server: TokenServer, eds_stac_server: StacServer
) -> None:
    io = pystac_eds.stac_io(
        credentials=eds_token_server.credentials(eds_stac_server.url), cache=TokenCache()
    )
    EDSAuth(eds_token_server.credentials(eds_stac_server.url))
    assert eds_token_server.requests == [] and eds_stac_server.seen == []
    client = pystac_client.Client.open(eds_stac_server.url, stac_io=io)
    assert len(eds_token_server.requests) == 1
    assert client.id == "eds-test"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paginated_search_survives_expiry_with_no_item_lost(
    method: str, eds_stac_server: StacServer
) -> None:
    clock = FakeClock()
    with TokenServer(lifetime=3600, clock=clock) as tokens:
        api = StacServer(tokens)
        with api:
            cache = TokenCache(clock=clock)
            catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=cache)
            got = []
            for page in catalog.search(collections=["sentinel-2-l2a"], method=method).pages():
                got += ids(page)
                clock.now += 1500  # tokens live 3600 s: expiry is crossed every few pages
            assert got == ALL_S2
            assert api.rejected == 0  # refreshed ahead of expiry, never refused
            # 10 pages 1500 s apart, each token used until 60 s before its hour is up:
            # pages at 0-3000 s, 4500-7500 s, 9000-12000 s and 13500 s take 4 tokens.
            assert cache.token_requests == tokens.issued == 4


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_server_side_revocation_mid_pagination(method: str) -> None:
    with TokenServer() as tokens, StacServer(tokens) as api:
        cache = TokenCache()
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=cache)
        got = []
        for n, page in enumerate(
            catalog.search(collections=["sentinel-2-l2a"], method=method).pages()
        ):
            got += ids(page)
            if n == 2:
                tokens.revoke()
        assert got == ALL_S2  # nothing lost, nothing duplicated
        assert api.rejected == 1 and tokens.issued == 2


def test_a_401_on_page_n_is_retried_once(
    eds_env: dict[str, str], eds_stac_server: StacServer
) -> None:
    eds_stac_server.unauthorized_pages = {4, 7}
    assert ids(pystac_eds.open().search(collections=["sentinel-2-l2a"]).items()) == ALL_S2
    assert eds_stac_server.rejected == 2


def test_a_second_401_surfaces_as_an_error_and_does_not_loop(
    eds_token_server: TokenServer, eds_stac_server: StacServer
) -> None:
    io = pystac_eds.stac_io(
        credentials=eds_token_server.credentials(eds_stac_server.url), cache=TokenCache()
    )
    io.read_text(eds_stac_server.url)
    before = len(eds_stac_server.seen)
    eds_stac_server.tokens = TokenServer()  # the API now trusts another issuer entirely
    with pytest.raises(pystac_client.exceptions.APIError) as info:
        io.read_text(eds_stac_server.base_url + "/search")
    assert info.value.status_code == 401
    assert len(eds_stac_server.seen) - before == 2  # the request and one retry
    assert eds_token_server.issued == 2


def test_32_threads_through_one_client_with_2_second_tokens() -> None:
    # Tokens announced to live 2 s (refreshed 0.5 s early) that the server honours for a
    # minute: a request a loaded machine delays past the announced expiry is still served,
    # so what is counted is the refreshing, not luck.
    with TokenServer(lifetime=60) as tokens, StacServer(tokens, page_size=50) as api:
        tokens.extra_fields["expires_in"] = 2
        cache = TokenCache()
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=cache)
        errors: list[BaseException] = []
        counts: list[int] = []
        deadline = time.monotonic() + 5

        def worker() -> None:
            try:
                while time.monotonic() < deadline:
                    counts.append(
                        len(list(catalog.search(collections=["landsat-c2l2-sr"]).items()))
                    )
            except BaseException as exc:
                errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - started
        assert errors == []
        assert counts and set(counts) == {30}
        # 2-second tokens refreshed 0.5 s early: one token per 1.5 s of the run, bounded by
        # the time the run really took (a loaded machine makes it longer, not flaky),
        # however many of the 32 threads cross each expiry together.
        assert api.rejected == 0
        assert 2 <= tokens.issued <= elapsed / 1.5 + 1
        assert tokens.issued == cache.token_requests


def test_the_token_never_goes_to_another_host(
    eds_env: dict[str, str], eds_stac_server: StacServer
) -> None:
    with StacServer(None) as other:  # an open server on another origin records headers
        eds_stac_server.next_base = other.base_url
        items = list(pystac_eds.open().search(collections=["sentinel-2-l2a"]).items())
    assert len(items) == 95  # page 1 from the API, the rest from the other (open) host
    assert other.seen, "the next link was followed"
    assert all("Authorization" not in headers for _, _, headers in other.seen)
    assert all("Authorization" in headers for _, _, headers in eds_stac_server.seen)
    # Nor the asset-access header: it travels with the token, not on the session.
    assert all("X-Signed-Asset-Urls" not in headers for _, _, headers in other.seen)
    assert all(h["X-Signed-Asset-Urls"] == "True" for _, _, h in eds_stac_server.seen)


@pytest.mark.parametrize("session", ["pystac-client", "plain"])
def test_the_asset_access_header_never_follows_a_redirect_to_another_host(
    eds_env: dict[str, str], eds_stac_server: StacServer, session: str
) -> None:
    # requests drops Authorization on a redirect to another origin but copies the other
    # headers, and the auth does not run again: the asset-access header must leave too.
    api = eds_stac_server
    with StacServer(None) as other:
        # Same origin first (kept, with the token), then another origin (dropped).
        api.script.append(Reply(307, b"", {"Location": f"{api.base_url}/collections?hop=1"}))
        api.script.append(Reply(307, b"", {"Location": f"{other.base_url}/collections"}))
        if session == "plain":
            http = requests.Session()
            http.auth = pystac_eds.EDSAuth(headers={"X-Signed-Asset-Urls": "True"})
            assert http.get(f"{api.url}/collections", timeout=10).ok
        else:  # what pystac-client sends every request with
            assert "collections" in pystac_eds.stac_io().request(f"{api.url}/collections")
    assert [h.get("X-Signed-Asset-Urls") for _, _, h in api.seen[-2:]] == ["True", "True"]
    assert all("Authorization" in headers for _, _, headers in api.seen)
    assert other.seen, "the redirect was followed"
    for _, _, headers in other.seen:
        assert "X-Signed-Asset-Urls" not in headers and "Authorization" not in headers


def test_api_requests_say_who_is_calling(
    eds_env: dict[str, str], eds_stac_server: StacServer
) -> None:
    list(pystac_eds.open().get_collections())
    agents = {headers["User-Agent"] for _, _, headers in eds_stac_server.seen}
    assert agents == {
        f"pystac-eds/{pystac_eds.__version__} pystac-client/{pystac_client.__version__} "
        f"python-requests/{requests.__version__}"
    }


def test_a_callers_own_user_agent_wins(
    eds_env: dict[str, str], eds_stac_server: StacServer
) -> None:
    list(pystac_eds.open(headers={"User-Agent": "my-app/1"}).get_collections())
    assert {h["User-Agent"] for _, _, h in eds_stac_server.seen} == {"my-app/1"}


def _set_authorization(request: requests.Request) -> None:
    request.headers["Authorization"] = "Bearer pasted-by-the-caller"


@pytest.mark.parametrize(
    "how",
    [
        {"headers": {"Authorization": "Bearer pasted-by-the-caller"}},
        {"request_modifier": _set_authorization},
    ],
    ids=["headers", "request_modifier"],
)
def test_a_callers_authorization_header_is_replaced_with_one_warning_per_client(
    how: dict[str, Any], eds_env: dict[str, str], eds_stac_server: StacServer
) -> None:
    with pytest.warns(UserWarning) as caught:
        catalog = pystac_eds.open(**how)
        assert len(list(catalog.search(collections=["sentinel-2-l2a"]).items())) == 95
    replaced = [w for w in caught if "Authorization" in str(w.message)]
    assert len(replaced) == 1  # 11 requests, one warning
    message = str(replaced[0].message)
    assert "headers=" in message and "request_modifier=" in message
    assert "pasted-by-the-caller" not in message
    # It points at the caller's line (here: the search), not inside pystac-eds or requests.
    assert replaced[0].filename == __file__, replaced[0].filename
    # The auth won on every request: the API saw pystac-eds's token, never the pasted one.
    assert all(
        h["Authorization"] != "Bearer pasted-by-the-caller" for *_, h in eds_stac_server.seen
    )
    with pytest.warns(UserWarning, match="Authorization"):  # a new client warns again
        pystac_eds.open(**how)


def test_no_warning_without_a_callers_authorization_header(
    eds_env: dict[str, str], recwarn: pytest.WarningsRecorder
) -> None:
    list(pystac_eds.open(headers={"X-Custom": "1"}).get_collections())
    assert not [w for w in recwarn if "Authorization" in str(w.message)]


def test_allowed_hosts_do_get_the_token(
    eds_token_server: TokenServer, eds_stac_server: StacServer
) -> None:
    auth = EDSAuth(
        eds_token_server.credentials(eds_stac_server.url),
        cache=TokenCache(),
        allowed_hosts=["localhost"],
    )
    with StacServer(eds_token_server) as other:
        session = requests.Session()
        session.auth = auth
        ok = session.get(f"http://localhost:{other.port}/collections", timeout=5)
        not_allowed = session.get(f"http://127.0.0.1:{other.port}/collections", timeout=5)
    assert ok.status_code == 200
    assert not_allowed.status_code == 401  # another port: another origin, no token


def test_allowed_hosts_get_the_token_over_https_only_except_loopback() -> None:
    creds = Credentials(
        client_id="id",
        client_secret=CANARY_SECRET,
        auth_url="https://auth.example.com/token",
        api_url="https://api.example.com/stac",
    )
    now = time.time()
    cache = TokenCache(fetch=lambda c: Token("eds-test-token-0123456789", now + 3600, now))
    auth = EDSAuth(creds, cache=cache, allowed_hosts=["assets.example.com", "localhost"])

    def stamped(url: str) -> bool:
        return "Authorization" in auth(requests.Request("GET", url).prepare()).headers

    assert stamped("https://assets.example.com/a.tif")
    assert not stamped("http://assets.example.com/a.tif")  # allowed, but in clear text
    assert stamped("http://localhost:8080/a.tif")  # loopback: nothing travels the network


def test_no_resend_when_the_token_endpoint_hands_back_the_refused_token() -> None:
    same = {"access_token": "eds-same-token-0123456789", "token_type": "Bearer"}
    with TokenServer() as tokens, StacServer(tokens) as api:
        tokens.script += [Reply(200, same), Reply(200, same)]  # never valid at the API
        session = requests.Session()
        session.auth = EDSAuth(tokens.credentials(api.url), cache=TokenCache())
        response = session.get(api.url, timeout=5)
    assert response.status_code == 401
    assert len(tokens.requests) == 2  # the 401 did ask for a new token...
    assert len(api.seen) == 1  # ...but resending the refused one again would be pointless


def test_edsauth_on_a_plain_requests_session(
    eds_credentials: Credentials, eds_stac_server: StacServer
) -> None:
    session = requests.Session()
    session.auth = EDSAuth(eds_credentials, cache=TokenCache())
    response = session.post(eds_stac_server.base_url + "/search", json={"limit": 3}, timeout=5)
    assert response.status_code == 200
    assert len(response.json()["features"]) == 3


def test_http_downgrade_to_the_api_host_is_refused() -> None:
    c = Credentials(
        client_id="id",
        client_secret=CANARY_SECRET,
        auth_url="https://a.example/t",
        api_url="https://api.example.com/stac",
    )
    request = requests.Request("GET", "http://api.example.com/stac/search").prepare()
    with pytest.raises(pystac_eds.InsecureTransportError):
        EDSAuth(c, cache=TokenCache())(request)


@pytest.mark.parametrize("methods", [("basic",), ("post",)])
def test_basic_only_and_form_only_token_servers(methods: tuple[str, ...]) -> None:
    with TokenServer(methods=methods) as tokens, StacServer(tokens) as api:
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=TokenCache())
        assert len(list(catalog.get_collections())) == 2
        assert all(not (r["basic"] and r["form_secret"]) for r in tokens.requests)


@pytest.mark.parametrize(
    ("access", "where", "prefix"),
    [
        # EDS keeps href as stored and adds the presigned URL as alternate.download.href.
        ("presigned", "alternate", "http://127.0.0.1:"),
        ("proxy", "href", "http://127.0.0.1:"),
        ("raw", "href", "s3://"),
    ],
)
def test_asset_access_header_selects_hrefs(
    access: str, where: str, prefix: str, eds_env: dict[str, str]
) -> None:
    catalog = pystac_eds.open(asset_access=access)  # type: ignore[arg-type]
    item = next(iter(catalog.search(max_items=1).items()))
    asset = item.assets["visual"].to_dict()
    hrefs = [asset["href"]] + [a["href"] for a in asset.get("alternate", {}).values()]
    assert any(href.startswith(prefix) for href in hrefs), hrefs
    if access == "presigned":
        assert any("Signature=" in href for href in hrefs), hrefs


def test_bad_asset_access_is_a_clear_error(eds_env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="presigned"):
        pystac_eds.open(asset_access="signed")  # type: ignore[arg-type]


def test_settings_passed_to_open_say_where_they_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the check, open() first reports "No EDS secret found" for a secret it was
    # handed, and pystac-client's TypeError never shows.
    monkeypatch.chdir(tmp_path)
    for var in ("EDS_SECRET", "EDS_CLIENT_ID", "EDS_AUTH_URL", "EDS_API_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(TypeError) as info:
        pystac_eds.open(client_secret=CANARY_SECRET, auth_url="https://auth.example/token")
    message = str(info.value)
    assert "credentials=pystac_eds.Credentials.resolve(client_secret=..., auth_url=...)" in message
    assert CANARY_SECRET not in message


def test_client_open_arguments_pass_through(
    eds_env: dict[str, str], eds_stac_server: StacServer
) -> None:
    modified: list[str] = []
    signed: list[str] = []

    def request_modifier(request: requests.Request) -> None:
        modified.append(request.url)
        request.headers["X-Trace"] = "1"

    def modifier(obj: Any) -> None:
        signed.append(type(obj).__name__)

    catalog = pystac_eds.open(
        headers={"X-Custom": "yes"},
        parameters={"extra": "p"},
        request_modifier=request_modifier,
        modifier=modifier,
        timeout=7,
    )
    list(catalog.search(max_items=3).items())
    _, _, headers = eds_stac_server.seen[-1]
    assert headers["X-Custom"] == "yes" and headers["X-Trace"] == "1"
    assert headers["X-Signed-Asset-Urls"] == "True"
    assert modified and signed
    assert catalog._stac_io.timeout == 7  # type: ignore[attr-defined]


def test_star_import_gives_the_public_names_but_not_a_shadowed_open() -> None:
    names: dict[str, Any] = {}
    exec("from pystac_eds import *", names)  # noqa: S102 - what a user's module would run
    assert "open" not in names  # the builtin open() keeps working in that module
    assert names["RetryPolicy"] is pystac_eds.RetryPolicy
    assert names["DiskStore"] is pystac_eds.DiskStore
    assert callable(pystac_eds.open)


def test_open_takes_every_stac_io_option_with_the_same_default() -> None:
    # open() forwards stac_io()'s keyword parameters by name: one missing from open(), or
    # with another default, would silently drift.
    opened = inspect.signature(pystac_eds.open).parameters
    for name, param in inspect.signature(pystac_eds.stac_io).parameters.items():
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            assert name in opened, name
            assert (opened[name].default, opened[name].annotation) == (
                param.default,
                param.annotation,
            ), name


def test_stac_io_for_existing_client_open_code(
    eds_credentials: Credentials, eds_stac_server: StacServer
) -> None:
    io = pystac_eds.stac_io(credentials=eds_credentials, cache=TokenCache())
    catalog = pystac_client.Client.open(eds_stac_server.url, stac_io=io)
    assert len(list(catalog.search(collections=["landsat-c2l2-sr"]).items())) == 30


def test_wrong_secret_raises_a_typed_error_with_a_hint(
    eds_token_server: TokenServer, eds_stac_server: StacServer
) -> None:
    bad = Credentials(
        client_id=eds_token_server.client_id,
        client_secret=CANARY_SECRET,
        auth_url=eds_token_server.token_url,
        api_url=eds_stac_server.url,
    )
    with pytest.raises(TokenError) as info:
        pystac_eds.open(credentials=bad, cache=TokenCache())
    assert info.value.status == 401 and "EDS_SECRET" in str(info.value)
    text = "".join(traceback.format_exception(info.value))
    assert CANARY_SECRET not in text


def test_missing_settings_raise_credentials_error() -> None:
    with pytest.raises(pystac_eds.CredentialsError, match="EDS_SECRET"):
        pystac_eds.open()


def test_client_and_auth_pickle_and_keep_working(
    eds_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = pystac_eds.open()
    clone = pickle.loads(pickle.dumps(catalog))
    auth = pickle.loads(pickle.dumps(EDSAuth()))
    for name in eds_env:
        monkeypatch.delenv(name)  # the copies must not need the environment
    assert len(list(clone.search(collections=["landsat-c2l2-sr"]).items())) == 30
    assert auth.token() == TokenCache.default().get(auth.credentials).value


def test_canary_secret_and_tokens_never_reach_logs_or_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        TokenServer(client_secret=CANARY_SECRET, lifetime=3600) as tokens,
        StacServer(tokens) as api,
    ):
        api.unauthorized_pages = {2}
        cache = TokenCache()
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=cache)
        items = list(catalog.search(collections=["sentinel-2-l2a"], method="GET").items())
        token = cache.peek(catalog._stac_io.auth.credentials)  # type: ignore[attr-defined]
        assert token is not None
        with pytest.raises(TokenError) as info:
            pystac_eds.open(
                credentials=tokens.credentials(api.url, client_id="wrong"), cache=TokenCache()
            )
        shown = "\n".join(
            [
                caplog.text,
                repr(catalog._stac_io.auth),
                repr(cache),
                repr(token),  # type: ignore[attr-defined]
                repr(tokens.credentials(api.url)),
                "".join(traceback.format_exception(info.value)),
            ]
        )
    assert len(items) == 95
    assert "Authorization" in caplog.text  # pystac-client did log the headers...
    assert CANARY_SECRET not in shown  # ...but neither the secret
    assert token.value not in shown  # nor a whole token appears anywhere


def test_scripted_token_outage_during_search_is_retried(
    eds_env: dict[str, str], eds_token_server: TokenServer
) -> None:
    eds_token_server.script += [Reply(503, {"error": "temporarily_unavailable"})]
    catalog = pystac_eds.open()
    assert len(list(catalog.get_collections())) == 2
