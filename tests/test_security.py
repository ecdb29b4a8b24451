"""Regression tests for the attacks of issue #13, one or more per item, over loopback HTTP.

Each test names its item. The canary secret stands in for a real one, with DEBUG logging
on, so a leak into a log line shows up as well as one into an error.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import logging.config
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests
from pystac_client.exceptions import APIError

import pystac_eds
from pystac_eds import (
    Credentials,
    CredentialsError,
    EDSAuth,
    InsecureTransportError,
    TokenCache,
    TokenError,
    transport,
)
from pystac_eds.disk import TOKENS_FOLDER, store_from_env
from pystac_eds.redaction import redact
from pystac_eds.testing import Reply, StacServer, TokenServer
from pystac_eds.testing._http import QuietHTTPServer
from pystac_eds.token_request import RetryPolicy, request_token
from pystac_eds.tokens import parse_token_response

from .conftest import CANARY_SECRET

PACKAGE = Path(pystac_eds.__file__).parent
TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def _debug_logs_never_hold_the_secret(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert CANARY_SECRET not in caplog.text


@pytest.fixture
def server() -> Iterator[TokenServer]:
    with TokenServer(client_secret=CANARY_SECRET) as tokens:
        yield tokens


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


# --- item 1: one URL parser ---------------------------------------------------------------

PARSER_TRICKS = [
    pytest.param("http://evil.example\\@127.0.0.1/token", id="backslash-userinfo"),
    pytest.param("http://evil.example\\.127.0.0.1/token", id="backslash-host"),
    pytest.param("http://user:pw@127.0.0.1/token", id="userinfo"),
    pytest.param("http://evil.example@127.0.0.1/token", id="userinfo-host"),
    pytest.param("http://127.0.0.1 @evil.example/token", id="space"),
    pytest.param("http://127.0.0.1\t.evil.example/token", id="tab"),
    pytest.param("http://127.0.0.1/to\nken", id="newline"),
    pytest.param("http://127.0.0.1\x00.evil.example/token", id="nul"),
    pytest.param("https://127.0.0.1\u00a0/token", id="no-break-space"),
    pytest.param("http://127.0.0.1%2f@evil.example/token", id="percent-host"),
    pytest.param("https://ev\u0131l.example/token", id="non-ascii-host"),
    pytest.param("https://[::1%25eth0]/token", id="ipv6-zone"),
]


@pytest.mark.parametrize("url", PARSER_TRICKS)
@pytest.mark.parametrize("setting", ["auth_url", "api_url"])
def test_item1_urls_parsers_read_differently_are_refused(setting: str, url: str) -> None:
    values = {"client_id": "id", "client_secret": CANARY_SECRET}
    values |= {"auth_url": "http://127.0.0.1:9/token", "api_url": "http://127.0.0.1:8/"}
    with pytest.raises(CredentialsError) as info:
        Credentials(**{**values, setting: url})
    assert ("EDS_AUTH_URL" if setting == "auth_url" else "EDS_API_URL") in str(info.value)
    assert "pw@" not in str(info.value)  # a password in user info is not echoed either


def test_item1_backslash_token_url_from_an_env_file_sends_nothing(
    server: TokenServer, tmp_path: Path
) -> None:
    # urllib.parse sees host 127.0.0.1 here; urllib3 (what sends) would connect to
    # evil.example and hand it the id and secret in clear.
    url = f"http://evil.example\\@127.0.0.1:{server.port}/oauth/token"
    env_file = write_env(
        tmp_path / "EDS.env",
        {"EDS_CLIENT_ID": server.client_id, "EDS_SECRET": CANARY_SECRET, "EDS_AUTH_URL": url},
    )
    with pytest.raises(CredentialsError, match="backslash"):
        EDSAuth(Credentials.resolve(env_file, environ={}))
    assert server.requests == []


@pytest.mark.parametrize(
    "host",
    [
        "evil.example\\@api.example",
        "api.example:443",
        "user@api.example",
        "https://api.example",
        "api.example/path",
        " api.example",
        "",
        # Hex letters and a colon looked like IPv6 to the old pattern.
        "cafe.de:443",
        "dead:beef",
        "[dead:beef]",
        "[cafe.de]",
        "::1:443:",
    ],
)
def test_item1_allowed_hosts_take_only_plain_host_names(server: TokenServer, host: str) -> None:
    with pytest.raises(CredentialsError, match="allowed_hosts"):
        EDSAuth(server.credentials(), allowed_hosts=[host])


def test_item1_allowed_hosts_as_one_string_is_refused_not_split_into_letters(
    server: TokenServer,
) -> None:
    with pytest.raises(CredentialsError, match="list"):
        EDSAuth(server.credentials(), allowed_hosts="data.example.com")


def test_item1_plain_allowed_hosts_still_work(server: TokenServer) -> None:
    hosts = ["Data.Example.com", "[::1]", "10.0.0.1", "DEAD::BEEF", "fe80:0::1"]
    auth = EDSAuth(server.credentials(), allowed_hosts=hosts)
    assert auth.allowed_hosts == {"data.example.com", "::1", "10.0.0.1", "dead::beef", "fe80::1"}
    assert auth.in_scope("https://[dead::beef]/x")
    assert auth.in_scope("https://data.example.com/x")
    assert not auth.in_scope("https://evil.example/x")


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.localhost/token",
        "http://localhost.evil.example/token",
        "http://127.0.0.1.nip.io/t",
    ],
)
def test_item1_only_localhost_itself_and_loopback_ips_count_as_loopback(url: str) -> None:
    # *.localhost may be resolved through DNS (it is on this machine): not loopback, so no
    # plain http and no skipping the proxy for it.
    with pytest.raises(InsecureTransportError):
        Credentials(client_id="i", client_secret="s", auth_url=url)
    assert not transport.is_loopback_url(url)


@pytest.mark.parametrize(
    "url", ["http://localhost:8/t", "http://LOCALHOST/t", "http://127.1.2.3/t", "http://[::1]:8/t"]
)
def test_item1_loopback_hosts_may_use_plain_http(url: str) -> None:
    assert Credentials(client_id="i", client_secret="s", auth_url=url).auth_url == url


# --- a secret pasted into the wrong setting ---------------------------------------------------


@pytest.mark.parametrize("var", ["EDS_AUTH_URL", "EDS_API_URL", "EDS_CLIENT_AUTH"])
@pytest.mark.parametrize("value", [CANARY_SECRET, "another-secret-value-9f8e7d6c"])
def test_a_secret_in_the_wrong_setting_is_never_echoed(var: str, value: str) -> None:
    # Swapped values (EDS_AUTH_URL=$EDS_SECRET), or a secret that is not the EDS one.
    environ = {"EDS_CLIENT_ID": "id", "EDS_SECRET": CANARY_SECRET, var: value}
    environ.setdefault("EDS_AUTH_URL", "https://auth.example/token")
    with pytest.raises(CredentialsError) as info:
        Credentials.resolve(environ=environ, cwd="/nonexistent")
    message = str(info.value)
    assert var in message and f"{len(value)} characters" in message, message
    assert value not in message and CANARY_SECRET not in message


def test_a_token_url_without_a_client_id_is_never_echoed_when_it_is_the_secret() -> None:
    environ = {"EDS_SECRET": CANARY_SECRET, "EDS_AUTH_URL": CANARY_SECRET}
    with pytest.raises(CredentialsError, match="EDS_CLIENT_ID") as info:
        Credentials.resolve(environ=environ, cwd="/nonexistent")
    assert CANARY_SECRET not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        f"http://auth.example/{CANARY_SECRET}",  # plain http
        f"https://auth.example/{CANARY_SECRET} ",  # a space
        f"https://{CANARY_SECRET}@auth.example/token",  # user info
    ],
)
def test_a_url_holding_the_secret_is_never_echoed(url: str) -> None:
    with pytest.raises((CredentialsError, InsecureTransportError)) as info:
        Credentials(client_id="id", client_secret=CANARY_SECRET, auth_url=url)
    assert "not shown" in str(info.value) and CANARY_SECRET not in str(info.value)


def test_a_url_that_looks_like_one_is_still_quoted() -> None:
    with pytest.raises(CredentialsError, match=re.escape("'ftp://auth.example/token'")):
        Credentials(
            client_id="id", client_secret=CANARY_SECRET, auth_url="ftp://auth.example/token"
        )
    with pytest.raises(CredentialsError, match="'digest'"):
        Credentials(
            client_id="i", client_secret="s", auth_url="https://a.example/t", client_auth="digest"
        )  # type: ignore[arg-type]


def test_an_allowed_host_that_is_the_secret_is_never_echoed(server: TokenServer) -> None:
    creds = server.credentials()
    with pytest.raises(CredentialsError) as info:
        EDSAuth(creds, allowed_hosts=[creds.client_secret + ":1"])
    assert "not shown" in str(info.value) and CANARY_SECRET not in str(info.value)


# --- item 2: trust levels don't mix ---------------------------------------------------------


def test_item2_discovered_dotenv_cannot_redirect_a_secret_from_the_environment(
    server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDS_SECRET", CANARY_SECRET)
    # A cloned repository's .env, in the working directory:
    write_env(
        Path.cwd() / ".env", {"EDS_CLIENT_ID": server.client_id, "EDS_AUTH_URL": server.token_url}
    )
    with pytest.raises(CredentialsError) as info:
        EDSAuth().token()
    err = info.value
    assert server.requests == []  # the secret went nowhere
    assert err.origins["EDS_SECRET"] == "environment EDS_SECRET"
    assert err.origins["EDS_AUTH_URL"] == f"EDS_AUTH_URL in {Path.cwd() / '.env'}"
    assert "--env-file" in str(err) and "environment" in str(err)
    assert CANARY_SECRET not in str(err)


def test_item2_a_token_url_from_another_discovered_file_is_refused(tmp_path: Path) -> None:
    write_env(tmp_path / "EDS.env", {"EDS_SECRET": CANARY_SECRET})
    write_env(
        tmp_path / ".env",
        {"EDS_CLIENT_ID": "id", "EDS_AUTH_URL": "https://auth.example/token"},
    )
    with pytest.raises(CredentialsError, match="EDS_AUTH_URL"):
        Credentials.resolve(environ={}, cwd=tmp_path)


def test_item2_discovered_dotenv_cannot_send_the_token_to_its_api_url(
    server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token bought with a trusted secret is a credential too: a cloned repository's
    # .env must not point it at a host of its choosing.
    env = {
        "EDS_SECRET": CANARY_SECRET,
        **{
            k: v
            for k, v in server.settings("http://x").items()
            if k != "EDS_API_URL" and k != "EDS_SECRET"
        },
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    write_env(Path.cwd() / ".env", {"EDS_API_URL": "https://collector.example/stac"})
    with pytest.raises(CredentialsError, match="EDS_API_URL comes from") as info:
        Credentials.resolve()
    assert info.value.origins["EDS_API_URL"] == f"EDS_API_URL in {Path.cwd() / '.env'}"
    assert "access token" in str(info.value) and CANARY_SECRET not in str(info.value)
    assert server.requests == []
    # EarthDaily's own API, wherever its URL came from, is no risk.
    write_env(Path.cwd() / ".env", {"EDS_API_URL": "https://api.earthdaily.com"})
    assert Credentials.resolve().api_url == "https://api.earthdaily.com/platform/v1/stac"


def test_item2_trusted_combinations_still_work(server: TokenServer, tmp_path: Path) -> None:
    settings = {"EDS_CLIENT_ID": server.client_id, "EDS_AUTH_URL": server.token_url}
    # The discovered file holds the secret too: it chose where its own secret goes.
    write_env(tmp_path / ".env", {**settings, "EDS_SECRET": CANARY_SECRET})
    assert EDSAuth(Credentials.resolve(environ={}, cwd=tmp_path)).token()
    # A file named explicitly is trusted like the environment.
    named = write_env(tmp_path / "named.env", settings)
    creds = Credentials.resolve(named, environ={"EDS_SECRET": CANARY_SECRET})
    assert creds.auth_url == server.token_url
    # The token URL from the environment, other settings from a discovered file.
    (tmp_path / ".env").write_text(f"EDS_CLIENT_ID={server.client_id}\n")
    env = {"EDS_SECRET": CANARY_SECRET, "EDS_AUTH_URL": server.token_url}
    assert Credentials.resolve(environ=env, cwd=tmp_path).sources["auth_url"] == (
        "environment EDS_AUTH_URL"
    )


def test_item2_insecure_transport_error_is_still_raised_first_for_http() -> None:
    with pytest.raises(InsecureTransportError):
        Credentials(client_id="i", client_secret="s", auth_url="http://auth.example/t")


# --- item 3: loopback never through an environment proxy -----------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """A would-be proxy: records every request line and header it is handed."""

    seen: list[str]

    def _any(self) -> None:
        self.seen.append(f"{self.command} {self.path} {dict(self.headers)}")
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_CONNECT = _any

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    seen: list[str] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    httpd = QuietHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, url)
    try:
        yield seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_item3_loopback_token_request_and_api_bypass_an_environment_proxy(
    server: TokenServer, proxy: list[str]
) -> None:
    with StacServer(server) as stac:
        catalog = pystac_eds.open(credentials=server.credentials(stac.url), cache=TokenCache())
        items = list(catalog.search(max_items=3).items())
    assert len(items) == 3 and len(server.requests) == 1 and stac.seen
    assert proxy == []  # neither the Basic credentials nor the bearer went to the proxy


def test_item3_401_resend_bypasses_the_proxy_too(server: TokenServer, proxy: list[str]) -> None:
    with StacServer(server) as stac:
        cache = TokenCache()
        catalog = pystac_eds.open(credentials=server.credentials(stac.url), cache=cache)
        server.revoke()  # the next API call gets a 401, then EDSAuth resends once
        assert list(catalog.search(max_items=1).items())
    assert server.issued == 2
    assert proxy == []


def test_item3_a_plain_session_is_refused_before_the_token_goes_to_the_proxy(
    server: TokenServer, proxy: list[str]
) -> None:
    # The README's own example: requests picks the proxy after the auth has run, so the
    # auth cannot send the request direct; it refuses, and says what to do instead.
    with StacServer(server) as stac:
        session = requests.Session()
        session.auth = EDSAuth(server.credentials(stac.url), cache=TokenCache())
        with pytest.raises(InsecureTransportError) as info:
            session.get(f"{stac.url}/collections", timeout=10)
        assert stac.seen == []
    message = str(info.value)
    assert "pystac_eds.transport.new_session()" in message and "NO_PROXY" in message
    assert "127.0.0.1:" in message  # which request it refused
    assert proxy == [] and server.requests == []  # not even a token was fetched


def test_item3_a_direct_session_or_no_proxy_sends_loopback_requests_direct(
    server: TokenServer, proxy: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with StacServer(server) as stac:
        auth = EDSAuth(server.credentials(stac.url), cache=TokenCache())
        session = transport.new_session()  # the fix the error names
        session.auth = auth
        assert session.get(f"{stac.url}/collections", timeout=10).ok
        # A session of ours whose adapter someone replaced by requests' own is not trusted.
        session.mount("http://", requests.adapters.HTTPAdapter())
        with pytest.raises(InsecureTransportError):
            session.get(f"{stac.url}/collections", timeout=10)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the other one: requests skips the proxy
        plain = requests.Session()
        plain.auth = auth
        assert plain.get(f"{stac.url}/collections", timeout=10).ok
    assert proxy == [] and len(stac.seen) == 2


def test_item3_other_hosts_still_honour_the_environment_proxy(proxy: list[str]) -> None:
    # Only loopback is refused: behind a corporate proxy, the EDS API is reached through it.
    transport.refuse_environment_proxy("https://api.earthdaily.com/platform/v1/stac")


# --- item 4: tokens with CR/LF, spaces or commas -------------------------------------------

BAD_TOKENS = [
    pytest.param("PART1\r\nX-Injected: PART2", id="crlf"),
    pytest.param("PART1 PART2", id="space"),
    pytest.param("PART1,PART2", id="comma"),
    pytest.param('PART1"PART2', id="quote"),
    pytest.param("PART1\u00e9PART2", id="non-ascii"),
    pytest.param("PART1=PART2", id="inner-equals"),
]


@pytest.mark.parametrize("value", BAD_TOKENS)
def test_item4_a_token_that_is_not_a_b64token_is_a_token_error_without_its_text(
    server: TokenServer, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.script.append(Reply(200, {"access_token": value, "token_type": "Bearer"}))
    with StacServer(server) as stac, pytest.raises(TokenError) as info:
        pystac_eds.open(credentials=server.credentials(stac.url), cache=TokenCache())
    err = info.value
    assert "RFC 6750" in str(err) and not err.retryable
    for text in (str(err), repr(err), caplog.text):
        assert "PART1" not in text and "PART2" not in text
    assert stac.seen == []  # nothing went out with it


def test_item4_valid_b64tokens_are_accepted() -> None:
    for value in ("abc", "a-b.c_d~e+f/g==", "eyJ.eyJ.sig", "x" * 4096):
        body = json.dumps({"access_token": value}).encode()
        assert parse_token_response(200, body, issued_at=0).value == value


@pytest.mark.parametrize(
    "text",
    [
        "GET u Headers: {'Authorization': 'Bearer PART1 PART2', 'Accept': 'a'}",
        "Invalid header value b'Bearer PART1\\r\\nX-Injected: PART2'",
        'headers: {"Authorization": "Bearer PART1,PART2"}',
        "headers: {'Authorization': 'Bearer PART1\\'PART2'}",
        "Authorization: Bearer PART1 PART2",
        "authorization: bearer PART1\tPART2",
        "sent Bearer PART1PART2 to the API",
    ],
)
def test_item4_redaction_removes_the_whole_header_value(text: str) -> None:
    cleaned = redact(text)
    assert "PART1" not in cleaned and "PART2" not in cleaned
    assert "<redacted>" in cleaned


def test_item4_redaction_leaves_prose_alone() -> None:
    text = "an access token that cannot go in a header; the API needs a bearer token."
    assert redact(text) == text


def test_item4_redaction_keeps_what_follows_a_quoted_value() -> None:
    text = "{'Authorization': 'Bearer abc', 'Accept': 'application/json'}"
    assert redact(text) == "{'Authorization': 'Bearer <redacted>', 'Accept': 'application/json'}"
    assert redact(redact(text)) == redact(text)


# --- item 5: tracebacks with locals -----------------------------------------------------------


def locals_text(exc: BaseException, *, ours_only: bool = False) -> str:
    """Every frame's locals as a traceback with locals prints them (``repr`` of each),
    over the exception chain as the traceback module and Sentry walk it; the test's own
    frames left out. ``ours_only``: frames of pystac_eds only, over the whole chain
    (suppressed context included)."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for frame, _ in traceback.walk_tb(current.__traceback__):
            where = Path(frame.f_code.co_filename)
            if (PACKAGE in where.parents) if ours_only else (TESTS not in where.parents):
                name = frame.f_code.co_name
                lines += [f"{name}: {k}={v!r}" for k, v in frame.f_locals.items()]
        if current.__cause__ is not None:
            current = current.__cause__
        elif ours_only or not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return "\n".join(lines)


@pytest.mark.parametrize("method", ["basic", "post"])
@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(200, b"\xff\xfe not json"), id="undecodable"),
        pytest.param(
            Reply(200, {"access_token": "TOKEN-CANARY-1234", "token_type": "mac"}), id="mac"
        ),
        pytest.param(Reply(400, {"error": "invalid_grant"}), id="4xx"),
        pytest.param(Reply(503, {"access_token": "TOKEN-CANARY-1234"}), id="5xx"),
    ],
)
def test_item5_token_request_tracebacks_hold_no_secret_or_token(
    server: TokenServer, method: str, reply: Reply
) -> None:
    server.script.append(reply)
    policy = RetryPolicy(attempts=1, timeout=(5.0, 5.0))
    with pytest.raises(TokenError) as info:
        request_token(server.credentials(client_auth=method), policy=policy)
    text = locals_text(info.value)
    assert "_request_with_retries: " in text  # our frames were walked
    assert CANARY_SECRET not in text and "TOKEN-CANARY" not in text


@pytest.mark.parametrize("method", ["basic", "post"])
def test_item5_transport_errors_chain_no_frames_holding_the_secret(method: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    creds = Credentials(
        client_id="id",
        client_secret=CANARY_SECRET,
        auth_url=f"http://127.0.0.1:{port}/token",
        api_url="http://127.0.0.1:1/",
        client_auth=method,  # type: ignore[arg-type]
    )
    with pytest.raises(TokenError) as info:
        request_token(creds, policy=RetryPolicy(attempts=1))
    assert "ConnectionRefusedError" in str(info.value)  # the cause is named ...
    assert info.value.__context__ is None  # ... without chaining requests' frames
    text = locals_text(info.value)
    assert CANARY_SECRET not in text  # ... without chaining requests' frames
    assert base64.b64encode(f"id:{CANARY_SECRET}".encode()).decode() not in text


def chain_with_locals(exc: BaseException) -> str:
    """``exc`` as a traceback with locals prints it (``capture_locals=True``: Sentry, rich,
    ``pytest -l``), for every exception reachable from it, suppressed context included."""
    text, seen, todo = [], set(), [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        text += traceback.TracebackException.from_exception(current, capture_locals=True).format()
        todo += [current.__cause__, current.__context__]
    return "".join(text)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed


@pytest.mark.parametrize("entry", ["stac_io", "open"])
def test_item5_an_api_connection_failure_chains_no_frame_holding_the_token(
    server: TokenServer, entry: str
) -> None:
    api = closed_port_url()
    creds = server.credentials(api)
    with pytest.raises(APIError) as info:
        if entry == "open":
            pystac_eds.open(credentials=creds, cache=TokenCache(), max_retries=None)
        else:
            pystac_eds.stac_io(credentials=creds, cache=TokenCache(), max_retries=None).request(api)
    assert server.issued == 1  # a token was sent with the request that failed
    assert "Connection refused" in str(info.value)  # still says what went wrong
    # What failed underneath is still there to tell (the CLI does), as a bare copy: no
    # traceback, and a request with no headers.
    underneath = info.value.__context__
    assert isinstance(underneath, requests.ConnectionError)
    assert underneath.__traceback__ is None and underneath.__context__ is None
    assert underneath.request is not None and underneath.request.url.startswith(api)
    assert not underneath.request.headers
    text = chain_with_locals(info.value)
    assert "EDSStacApiIO.request" in text or "in request" in text  # its frames were walked
    assert server.issued_tokens[0] not in text


def test_item5_an_api_error_status_keeps_its_code_and_no_frame_holding_the_token(
    server: TokenServer,
) -> None:
    with StacServer(server) as stac:
        io = pystac_eds.stac_io(credentials=server.credentials(stac.url), cache=TokenCache())
        stac.script.append(Reply(500, {"code": "Boom"}))
        with pytest.raises(APIError) as info:
            io.request(f"{stac.url}/collections")
    # pystac-client's own frame held the request as logged ("Headers: {...Bearer...}").
    text = chain_with_locals(info.value)  # before this frame holds the token, below
    assert info.value.status_code == 500 and "Boom" in str(info.value)
    assert server.issued_tokens[0] not in text


def test_item5_an_api_that_echoes_the_bearer_does_not_put_it_in_the_error(
    server: TokenServer,
) -> None:
    # pystac-client quotes the body of an error answer in its message; a server or proxy
    # that echoes request headers would hand the bearer to every log line of the error.
    with StacServer(server) as stac:
        io = pystac_eds.stac_io(credentials=server.credentials(stac.url), cache=TokenCache())
        io.request(stac.url)  # the token exists now, and the server could echo it
        (sent,) = server.issued_tokens
        echo = {"detail": f"boom Bearer {sent}", "headers": {"x-token": sent}}
        stac.script.append(Reply(500, echo))
        with pytest.raises(APIError) as info:
            io.request(f"{stac.url}/collections")
    assert info.value.status_code == 500 and "boom Bearer <redacted>" in str(info.value)
    assert sent not in str(info.value) + repr(info.value) + locals_text(info.value)


@pytest.mark.parametrize("method", ["basic", "post"])
def test_item5_a_failed_token_request_chains_nothing(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A malformed proxy setting: requests fails before connecting, with an error that is
    # neither a timeout nor a connection error (the non-retryable branch). No network.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://")
    creds = Credentials(
        client_id="id",
        client_secret=CANARY_SECRET,
        auth_url="https://auth.example.invalid/token",
        client_auth=method,  # type: ignore[arg-type]
    )
    with pytest.raises(TokenError) as info:
        request_token(creds, policy=RetryPolicy(attempts=1))
    assert "InvalidProxyURL" in str(info.value) and not info.value.retryable
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert CANARY_SECRET not in chain_with_locals(info.value)


def test_item5_a_failed_resend_after_401_leaves_no_token_in_a_header_repr(
    server: TokenServer,
) -> None:
    # An API that answers 401 and then is gone: EDSAuth's resend with a fresh token fails.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def answer_401_then_vanish() -> None:
        conn, _ = listener.accept()
        listener.close()  # before answering: the resend finds nothing listening
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )

    thread = threading.Thread(target=answer_401_then_vanish, daemon=True)
    thread.start()
    api = f"http://127.0.0.1:{port}/"
    session = requests.Session()
    session.auth = EDSAuth(server.credentials(api), cache=TokenCache())
    with pytest.raises(requests.ConnectionError) as info:
        session.get(api, timeout=10)
    thread.join(10)
    assert server.issued == 2  # the rejected token and the fresh one
    text = locals_text(info.value)  # requests' and urllib3's frames too
    assert "_on_response: fresh=" in text  # its frame was walked
    assert "'Authorization': 'Bearer <redacted>'" in text  # and the resent request's headers
    assert_only_http_client_bytes_hold(text, server.issued_tokens)


def assert_only_http_client_bytes_hold(text: str, tokens: list[str]) -> None:
    """No frame's locals show a token but http.client's bytes of the encoded request, in
    its own frames: over plain http (loopback only) it connects only once they are built;
    over https the connection is made first, so a failed connect holds none."""
    holding = [line for line in text.splitlines() if any(token in line for token in tokens)]
    assert all(line.startswith(("_send_output: msg=b'", "send: data=b'")) for line in holding)


def test_item5_a_plain_session_whose_api_is_gone_leaves_no_token_in_any_frame(
    server: TokenServer,
) -> None:
    # EDSAuth on the user's own session: requests' and urllib3's frames keep the prepared
    # request's headers in their locals when the connection fails.
    api = closed_port_url() + "/"
    session = requests.Session()
    session.auth = EDSAuth(server.credentials(api), cache=TokenCache())
    with pytest.raises(requests.ConnectionError) as info:
        session.get(api, timeout=10)
    assert server.issued == 1
    text = locals_text(info.value)
    assert "urlopen: " in text and "'Authorization': 'Bearer <redacted>'" in text
    assert_only_http_client_bytes_hold(text, server.issued_tokens)


# --- items 7, 8, 10: the token request's bounds --------------------------------------------


class RawServer:
    """A loopback server that hands each accepted connection to ``serve``, in turn, to
    misbehave below HTTP (trickle, reset, no length). Counts connections."""

    def __init__(self, *serve: Callable[[socket.socket], None]) -> None:
        self._serve = list(serve)
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/token"

    def _run(self) -> None:
        for serve in self._serve:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn, contextlib.suppress(OSError):
                _read_request(conn)
                serve(conn)

    def close(self) -> None:
        self._listener.close()
        self._thread.join(10)


def _read_request(conn: socket.socket) -> None:
    # All of it: closing with unread bytes would send a RST the test did not ask for.
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    while length and len(body) < int(length.group(1)):
        body += conn.recv(65536)


def creds_for(url: str) -> Credentials:
    return Credentials(
        client_id="id", client_secret=CANARY_SECRET, auth_url=url, api_url="http://127.0.0.1:1/"
    )


HEADERS_200 = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
GOOD_BODY = b'{"access_token": "good-token", "expires_in": 3600}'


def good_answer(conn: socket.socket) -> None:
    conn.sendall(HEADERS_200 + b"Content-Length: %d\r\n\r\n" % len(GOOD_BODY) + GOOD_BODY)


# Item 7: each misbehaving server below would keep the client busy for a minute or more;
# the token request must give up at its deadline (TOTAL), give or take scheduling (SLACK).
# Elapsed time is what is tested, with a wide gap between pass (~1 s) and fail (>= 20 s).
TOTAL, SLACK = 1.0, 1.0


@pytest.fixture
def hang_up() -> Iterator[threading.Event]:
    """Set when the test ends: the scripted servers stop dripping and return."""
    event = threading.Event()
    yield event
    event.set()


def drip(conn: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    """Send ``data`` one byte every ``every`` seconds until it is all sent or ``stop``."""
    for byte in data:
        if stop.wait(every):
            return
        conn.sendall(bytes([byte]))


def timed_token_request(
    url: str, **policy: object
) -> tuple[pytest.ExceptionInfo[TokenError], float]:
    """The token request's error and how long it took; it must leave no watchdog behind."""
    options = {"attempts": 3, "backoff": 0.01, "timeout": (30.0, 30.0), "total": TOTAL}
    started = time.monotonic()
    with pytest.raises(TokenError) as info:
        request_token(creds_for(url), policy=RetryPolicy(**{**options, **policy}))  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert not [t for t in threading.enumerate() if t.name == "pystac-eds deadline"]
    return info, elapsed


def assert_cut_at_the_deadline(info: pytest.ExceptionInfo[TokenError], elapsed: float) -> None:
    assert elapsed <= TOTAL + SLACK, f"took {elapsed:.1f} s against a {TOTAL} s deadline"
    assert "in time" in str(info.value), str(info.value)
    assert info.value.retryable and info.value.status is None


def test_item7_a_status_line_trickling_in_is_cut_at_the_deadline(hang_up: threading.Event) -> None:
    status = b"HTTP/1.1 200 " + b"O" * 1000 + b"\r\n"  # one byte every 50 ms: 50 s
    server = RawServer(lambda conn: drip(conn, status, 0.05, hang_up))
    try:
        info, elapsed = timed_token_request(server.url)
    finally:
        hang_up.set()
        server.close()
    assert_cut_at_the_deadline(info, elapsed)
    assert server.connections == 1  # no time left for another attempt


def test_item7_headers_trickling_in_are_cut_at_the_deadline(hang_up: threading.Event) -> None:
    def one_header_at_a_time(conn: socket.socket) -> None:
        conn.sendall(HEADERS_200)
        for n in range(100):  # one header every 0.5 s: 50 s
            if hang_up.wait(0.5):
                return
            conn.sendall(b"X-Slow-%d: yes\r\n" % n)

    server = RawServer(one_header_at_a_time)
    try:
        info, elapsed = timed_token_request(server.url)
    finally:
        hang_up.set()
        server.close()
    assert_cut_at_the_deadline(info, elapsed)


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "connection-close"])
def test_item7_a_body_trickling_in_is_cut_at_the_deadline(
    hang_up: threading.Event, length: bool
) -> None:
    # Without a Content-Length, the socket shut down at the deadline reads as the end of
    # the body: still too slow, not a truncated answer that is "not JSON".
    framing = b"Content-Length: 1000\r\n\r\n" if length else b"Connection: close\r\n\r\n"

    def trickle(conn: socket.socket) -> None:
        conn.sendall(HEADERS_200 + framing)
        drip(conn, b" " * 1000, 0.05, hang_up)

    server = RawServer(trickle)
    try:
        info, elapsed = timed_token_request(server.url)
    finally:
        hang_up.set()
        server.close()
    assert_cut_at_the_deadline(info, elapsed)


def test_item7_a_proxy_trickling_its_connect_answer_is_cut_at_the_deadline(
    hang_up: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An https token URL through HTTPS_PROXY: urllib3 reads the proxy's answer to CONNECT
    # before any response is awaited, on the socket it has just connected.
    answer = b"HTTP/1.1 200 " + b"O" * 1000 + b"\r\n"  # one byte every 50 ms: 50 s
    proxy = RawServer(lambda conn: drip(conn, answer, 0.05, hang_up))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url.removesuffix("/token"))
    for var in ("NO_PROXY", "no_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    try:
        info, elapsed = timed_token_request("https://auth.example/token")
    finally:
        hang_up.set()
        proxy.close()
    assert_cut_at_the_deadline(info, elapsed)
    assert proxy.connections == 1


def test_item7_slow_5xx_answers_do_not_add_up_past_the_deadline(hang_up: threading.Event) -> None:
    # Each 503 would come after 30 s of silence, within the 30 s read timeout: the first
    # wait is cut at the deadline, and there is no time for a second attempt.
    def slow_503(conn: socket.socket) -> None:
        if not hang_up.wait(30):
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")

    server = RawServer(slow_503, slow_503, slow_503)
    try:
        info, elapsed = timed_token_request(server.url, timeout=(30.0, 30.5))
    finally:
        hang_up.set()
        server.close()
    assert_cut_at_the_deadline(info, elapsed)
    assert server.connections == 1


def test_item7_a_connect_that_never_completes_is_cut_at_the_deadline() -> None:
    # A listener whose accept queue is full: the kernel drops the SYN, so connect() waits
    # (a firewall that drops packets does the same). The watchdog cannot end a connect:
    # the connect timeout is cut to the time left.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())  # fills the queue
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/token"
        info, elapsed = timed_token_request(url)
    finally:
        filler.close()
        listener.close()
    assert_cut_at_the_deadline(info, elapsed)


def test_item7_a_retry_after_past_the_deadline_ends_the_request_now() -> None:
    server = RawServer(
        lambda conn: conn.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 20\r\nContent-Length: 0\r\n\r\n"
        )
    )
    try:
        info, elapsed = timed_token_request(server.url)
    finally:
        server.close()
    assert elapsed <= TOTAL + SLACK  # it did not wait 20 s to give up
    assert info.value.status == 503 and server.connections == 1


def test_item7_an_attempt_with_no_time_left_sends_nothing() -> None:
    # A sleep that overshoots (a suspended laptop, a loaded machine): the attempt after it
    # finds the deadline passed and gives up without connecting.
    now = [0.0]
    answer = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0.5\r\nContent-Length: 0\r\n\r\n"
    server = RawServer(lambda conn: conn.sendall(answer), lambda conn: conn.sendall(answer))

    def oversleep(seconds: float) -> None:
        now[0] += seconds + 100

    try:
        with pytest.raises(TokenError, match="no time was left") as info:
            request_token(
                creds_for(server.url),
                policy=RetryPolicy(attempts=3, total=TOTAL),
                clock=lambda: now[0],
                sleep=oversleep,
            )
    finally:
        server.close()
    assert info.value.retryable and server.connections == 1


def test_item8_an_oversized_declared_body_is_not_read() -> None:
    def huge(conn: socket.socket) -> None:
        conn.sendall(HEADERS_200 + b"Content-Length: %d\r\n\r\n" % (1 << 30))
        conn.sendall(b" " * 65536)

    server = RawServer(huge)
    try:
        with pytest.raises(TokenError, match="1024 KiB") as info:
            request_token(creds_for(server.url), policy=RetryPolicy(attempts=3))
    finally:
        server.close()
    assert info.value.status == 200 and not info.value.retryable
    assert server.connections == 1


def test_item8_an_undeclared_body_is_cut_at_the_cap() -> None:
    sent = [0]

    def endless(conn: socket.socket) -> None:
        conn.sendall(HEADERS_200 + b"Connection: close\r\n\r\n")
        block = b" " * 65536
        for _ in range(1024):  # 64 MiB: more than the cap and all socket buffers
            conn.sendall(block)
            sent[0] += len(block)

    server = RawServer(endless)
    try:
        with pytest.raises(TokenError, match="1024 KiB"):
            request_token(creds_for(server.url), policy=RetryPolicy(attempts=1))
    finally:
        server.close()
    assert sent[0] < 64 * 1024 * 1024


def test_item10_a_connection_reset_mid_answer_is_retried() -> None:
    def reset_mid_body(conn: socket.socket) -> None:
        conn.sendall(HEADERS_200 + b"Content-Length: 100\r\n\r\n" + b'{"access_tok')
        # SO_LINGER 0: close() sends a RST, as a crashed proxy or load balancer does.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    server = RawServer(reset_mid_body, good_answer)
    try:
        sleeps: list[float] = []
        token = request_token(creds_for(server.url), sleep=sleeps.append)
    finally:
        server.close()
    assert token.value == "good-token"
    assert server.connections == 2 and len(sleeps) == 1


def test_item10_a_reset_on_every_attempt_is_a_retryable_error_saying_so() -> None:
    def reset(conn: socket.socket) -> None:
        conn.sendall(HEADERS_200 + b"Content-Length: 100\r\n\r\n{")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    server = RawServer(reset, reset)
    try:
        with pytest.raises(TokenError) as info:
            request_token(
                creds_for(server.url), policy=RetryPolicy(attempts=2), sleep=lambda s: None
            )
    finally:
        server.close()
    assert info.value.retryable and "broke while reading" in str(info.value)
    assert "check EDS_AUTH_URL" not in str(info.value)


# --- item 9: every failure of the token request is a TokenError -------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e999",
        "Thu, 99 Foo 99999 99:99:99 GMT",
        "99999999999999999999999 GMT",
    ],
)
def test_item9_odd_retry_after_values_fall_back_to_backoff(value: str) -> None:
    sleeps: list[float] = []
    with TokenServer(client_secret=CANARY_SECRET) as server:
        server.script.append(Reply(429, {"error": "slow_down"}, {"Retry-After": value}))
        policy = RetryPolicy(backoff=0.01, max_backoff=0.02)
        assert request_token(server.credentials(), policy=policy, sleep=sleeps.append)
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.02


DEEP = 100_000


def _jwt(payload: bytes) -> str:
    part = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{part}.sig"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(200, b"[" * DEEP + b"]" * DEEP, id="deep-list"),
        pytest.param(400, b'{"error": ' + b"[" * DEEP + b"]" * DEEP + b"}", id="deep-error"),
        pytest.param(200, b'{"a": ' + b'{"a": ' * DEEP + b"1" + b"}" * (DEEP + 1), id="deep-dict"),
        pytest.param(
            200, b'{"access_token": "t", "expires_in": 1' + b"0" * 400 + b"}", id="big-int"
        ),
    ],
)
def test_item9_deep_or_huge_json_is_a_token_error_or_a_token(status: int, body: bytes) -> None:
    try:
        token = parse_token_response(status, body, issued_at=0.0)
    except TokenError:
        return
    assert token.value == "t" and token.expires_at == 3600.0  # the big int is ignored


def test_item9_a_jwt_with_a_deeply_nested_payload_is_still_a_token() -> None:
    deep = _jwt(b'{"exp": ' + b"[" * DEEP + b"]" * DEEP + b"}")
    huge_exp = _jwt(b'{"exp": 1' + b"0" * 400 + b"}")
    for value in (deep, huge_exp):
        body = json.dumps({"access_token": value}).encode()
        token = parse_token_response(200, body, issued_at=0.0)
        assert token.value == value and token.expires_at == 3600.0


def test_item9_over_http_a_deep_body_is_a_token_error_not_a_recursion_error(
    server: TokenServer,
) -> None:
    server.script.append(Reply(200, b"[" * DEEP + b"]" * DEEP))
    with pytest.raises(TokenError, match="not a JSON object"):
        request_token(server.credentials(), policy=RetryPolicy(attempts=1))


# --- item 13: EDS_TOKEN_CACHE at a folder that is not pystac-eds's ----------------------------


def test_item13_a_project_folder_as_token_cache_keeps_its_mode_and_its_files(
    server: TokenServer, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    project.chmod(0o2775)  # setgid, group-writable: shared with a team
    theirs = {"package.json": "{}", "data.json": "[1]", "results-2024.json": "{}"}
    for name, text in theirs.items():
        (project / name).write_text(text)
    (project / f"{'0' * 32}.json").write_text("looks like a 0.1 token file; is not ours")
    before = {p.name: (p.read_bytes(), p.stat().st_mode) for p in project.iterdir()}

    store = store_from_env({"EDS_TOKEN_CACHE": str(project)})
    assert store is not None
    cache = TokenCache(store=store)
    token = cache.get(server.credentials())
    assert TokenCache(store=store).get(server.credentials()) == token  # shared through disk
    store.clear()

    assert stat.S_IMODE(project.stat().st_mode) == 0o2775
    assert sorted(p.name for p in project.iterdir()) == sorted([*before, TOKENS_FOLDER])
    for name, (data, mode) in before.items():  # not one of them changed
        assert ((project / name).read_bytes(), (project / name).stat().st_mode) == (data, mode)
    assert stat.S_IMODE(store.tokens_folder.stat().st_mode) == 0o700


def test_item13_an_unsafe_tokens_folder_turns_the_disk_cache_off_with_one_warning(
    server: TokenServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    planted = tmp_path / "shared" / TOKENS_FOLDER
    planted.mkdir(parents=True)
    planted.chmod(0o777)
    store = store_from_env({"EDS_TOKEN_CACHE": str(tmp_path / "shared")})
    assert store is not None
    cache = TokenCache(store=store)
    assert cache.get(server.credentials())  # works, from memory: the disk is simply off
    cache.clear()
    assert cache.get(server.credentials())
    assert list(planted.iterdir()) == []  # nothing written where others can read it
    assert stat.S_IMODE(planted.stat().st_mode) == 0o777
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(planted) in warnings[0]


# --- the command line, as a user runs it -----------------------------------------------------


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
    result = subprocess.run(
        [sys.executable, "-m", "pystac_eds.cli", *args],
        env={**base, "EDS_TOKEN_CACHE": "off", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert CANARY_SECRET not in result.stdout + result.stderr
    return result


def test_item2_cli_token_refuses_a_dotenv_token_url_for_an_exported_secret(
    server: TokenServer, tmp_path: Path
) -> None:
    write_env(
        tmp_path / ".env", {"EDS_CLIENT_ID": server.client_id, "EDS_AUTH_URL": server.token_url}
    )
    result = run_cli("token", env={"EDS_SECRET": CANARY_SECRET}, cwd=tmp_path)
    assert result.returncode == 2
    assert ".env" in result.stderr and "EDS_AUTH_URL" in result.stderr
    assert server.requests == []
    # Named explicitly, the same file is trusted.
    result = run_cli("--env-file", ".env", "token", env={"EDS_SECRET": CANARY_SECRET}, cwd=tmp_path)
    assert result.returncode == 0 and server.is_valid(result.stdout.strip())


def test_item4_cli_verbose_check_never_prints_a_crlf_token(
    server: TokenServer, tmp_path: Path
) -> None:
    with StacServer(server) as stac:
        server.script.append(Reply(200, {"access_token": "PART1\r\nX-Injected: PART2"}))
        result = run_cli("-v", "check", env=server.settings(stac.url), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "RFC 6750" in output and "internal error" not in output
    assert "PART1" not in output and "PART2" not in output


# --- withstood: kept as regression tests -------------------------------------------------------

API_PORT = 8181
SCOPE_TRICKS = [
    f"http://127.0.0.1:{API_PORT}/search",  # the API itself: the control case
    f"http://localhost:{API_PORT}/search",  # same machine, another origin
    f"http://127.0.0.1:{API_PORT}@evil.example/search",
    f"http://evil.example\\@127.0.0.1:{API_PORT}/search",
    f"http://evil.example#@127.0.0.1:{API_PORT}/search",
    f"http://evil.example?@127.0.0.1:{API_PORT}/search",
    f"http://127.1:{API_PORT}/search",
    f"http://2130706433:{API_PORT}/search",
    f"http://[::ffff:127.0.0.1]:{API_PORT}/search",
    f"http://127.0.0.1.:{API_PORT}/search",
    f"https://127.0.0.1:{API_PORT}/search",
    f"http://127.0.0.1:{API_PORT + 1}/search",
]


@pytest.mark.parametrize("url", SCOPE_TRICKS)
def test_withstood_token_goes_only_where_urllib3_connects_to_the_api(
    server: TokenServer, url: str
) -> None:
    from urllib3.util import parse_url

    auth = EDSAuth(server.credentials(f"http://127.0.0.1:{API_PORT}/"), cache=TokenCache())
    try:
        prepared = requests.Request("GET", url).prepare()
    except requests.RequestException:
        return  # requests refuses it: nothing is sent at all
    sent = auth(prepared)
    target = parse_url(sent.url)
    reaches_api = (target.scheme, target.host, target.port) == ("http", "127.0.0.1", API_PORT)
    # (A user:password in the URL becomes requests' own Basic header: not our token.)
    assert sent.headers.get("Authorization", "").startswith("Bearer ") is reaches_api
    assert reaches_api is (url == SCOPE_TRICKS[0])


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """dictConfig and fileConfig change global state: disabled loggers, root handlers."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = {
        name: (lg.disabled, lg.level, list(lg.handlers), lg.propagate)
        for name, lg in logging.root.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    yield
    root.handlers[:], root.level = handlers, level
    for name, (disabled, lvl, hs, propagate) in loggers.items():
        lg = logging.getLogger(name)
        lg.disabled, lg.level, lg.handlers[:], lg.propagate = disabled, lvl, hs, propagate


@pytest.mark.usefixtures("restore_logging")
def test_withstood_redaction_filter_survives_dict_and_file_config(
    server: TokenServer, tmp_path: Path
) -> None:
    EDSAuth(server.credentials())  # installs the filter
    name = "pystac_client.stac_api_io"
    logging.config.dictConfig(
        {"version": 1, "disable_existing_loggers": True, "loggers": {name: {"level": "DEBUG"}}}
    )
    ini = tmp_path / "logging.ini"
    ini.write_text(
        "[loggers]\nkeys=root,stac\n[handlers]\nkeys=\n[formatters]\nkeys=\n"
        "[logger_root]\nlevel=WARNING\nhandlers=\n"
        f"[logger_stac]\nlevel=DEBUG\nhandlers=\nqualname={name}\n"
    )
    logging.config.fileConfig(ini, disable_existing_loggers=True)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        logger.debug("GET x Headers: %s", {"Authorization": "Bearer SECRET-TOKEN-123"})
    finally:
        logger.removeHandler(handler)
    assert seen and "SECRET-TOKEN-123" not in seen[0] and "<redacted>" in seen[0]


ENV_TEXT = (
    f"EDS_CLIENT_ID=id\nEDS_AUTH_URL=https://auth.example/token\nEDS_SECRET={CANARY_SECRET}\n"
)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\xef\xbb\xbf" + ENV_TEXT.encode(), id="bom"),
        pytest.param(ENV_TEXT.replace("\n", "\r\n").encode(), id="crlf"),
        pytest.param(("export " + ENV_TEXT.replace("\n", "\nexport ", 2)).encode(), id="export"),
        pytest.param(ENV_TEXT.replace(f"={CANARY_SECRET}", f"='{CANARY_SECRET}'").encode(), id="q"),
        pytest.param(("EDS_SECRET=first\n" + ENV_TEXT).encode(), id="duplicates"),
        pytest.param(ENV_TEXT.encode("utf-16"), id="utf-16"),
        pytest.param(ENV_TEXT.encode() + "# caf\xe9\n".encode("latin-1"), id="latin-1"),
    ],
)
def test_withstood_odd_env_files_give_the_values_or_a_typed_error(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "EDS.env"
    path.write_bytes(content)
    try:
        creds = Credentials.resolve(path, environ={})
    except CredentialsError as err:
        assert CANARY_SECRET not in str(err) and "EDS.env" in str(err)
        return
    assert creds.client_secret == CANARY_SECRET and creds.client_id == "id"
    assert creds.auth_url == "https://auth.example/token"


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"EDS_AUTH_URL": "https://auth.example/t"}, id="no-client-id"),
        pytest.param({"EDS_CLIENT_AUTH": "digest"}, id="bad-client-auth"),
        pytest.param({"EDS_API_URL": "http://evil.example/"}, id="insecure"),
        pytest.param({"EDS_CLIENT_ID": "id", "EDS_AUTH_URL": "https://a.example\\@b/"}, id="url"),
    ],
)
@pytest.mark.parametrize("via", ["environ", "argument", "os.environ"])
def test_item5_settings_errors_carry_no_frames_holding_the_secret(
    settings: dict[str, str], via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    if via == "os.environ":
        monkeypatch.setenv("EDS_SECRET", CANARY_SECRET)
    kwargs = {"client_secret": CANARY_SECRET} if via == "argument" else {}
    environ = {**settings, "EDS_SECRET": CANARY_SECRET} if via == "environ" else None
    with pytest.raises((CredentialsError, InsecureTransportError)) as info:
        Credentials.resolve(environ=environ, **kwargs)
    assert CANARY_SECRET not in locals_text(info.value)


def test_withstood_ctrl_c_during_a_refresh_leaves_the_cache_usable(
    server: TokenServer, tmp_path: Path
) -> None:
    calls = [0]

    def fetch(credentials: Credentials) -> pystac_eds.Token:
        calls[0] += 1
        if calls[0] == 1:
            raise KeyboardInterrupt  # Ctrl-C while the token request is in flight
        return request_token(credentials)

    store = store_from_env({"EDS_TOKEN_CACHE": str(tmp_path / "cache")})
    cache = TokenCache(fetch=fetch, store=store)
    with pytest.raises(KeyboardInterrupt):
        cache.get(server.credentials())
    # Neither the in-process lock nor the cross-process lock file was left held.
    other = TokenCache(store=store_from_env({"EDS_TOKEN_CACHE": str(tmp_path / "cache")}))
    assert server.is_valid(cache.get(server.credentials()).value)
    assert other.get(server.credentials()) == cache.get(server.credentials())
    assert calls[0] == 2


def test_item3_cli_check_sends_nothing_through_the_proxy(
    server: TokenServer, proxy: list[str], tmp_path: Path
) -> None:
    with StacServer(server) as stac:
        proxy_env = {k: os.environ[k] for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
        result = run_cli("check", env={**server.settings(stac.url), **proxy_env}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert proxy == []
