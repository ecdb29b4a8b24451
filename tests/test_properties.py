"""Property tests: settings parsing and token-response parsing never fail with anything but
pystac-eds's own typed errors, whatever the input.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pystac_eds import Credentials, CredentialsError, EDSAuth, InsecureTransportError, TokenError
from pystac_eds.settings import ENV_NAMES
from pystac_eds.tokens import Token, parse_token_response

from .conftest import CANARY_SECRET

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPED = (CredentialsError, InsecureTransportError)

# --- strategies -------------------------------------------------------------------------

_URL_CHARS = st.sampled_from([*"abcAZ09-._~:/?#[]@!$&()*+,;=% ", "\uff03", "é", "\t"])
hosts = st.one_of(
    st.sampled_from(
        ["127.0.0.1", "localhost", "[::1]", "api.earthdaily.com", "eds.example", "x.localhost"]
    ),
    st.text(_URL_CHARS, max_size=12),
)
ports = st.one_of(
    st.just(""), st.integers(0, 70000).map(lambda p: f":{p}"), st.text(_URL_CHARS, max_size=4)
)
urls = st.one_of(
    st.builds(
        lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
        st.sampled_from(["https://", "http://", "ftp://", "", "HTTPS://", "http:/"]),
        hosts,
        ports,
        st.one_of(st.just(""), st.just("/"), st.just("/platform/v1/stac"), st.text(_URL_CHARS)),
    ),
    st.text(_URL_CHARS, max_size=30),
)
# Values as they may sit in an env file: single-quoted, so python-dotenv takes them as is.
quotable = st.text(st.characters(exclude_characters="'\\\n\r", codec="utf-8"), max_size=40)
setting_values = st.one_of(urls.filter(lambda u: "'" not in u and "\\" not in u), quotable)
env_names = st.sampled_from([*ENV_NAMES.values(), "EDS_CLIENT_AUTH", "OTHER"])
env_lines = st.lists(
    st.one_of(
        st.builds(lambda k, v: f"{k}='{v}'", env_names, setting_values),
        st.builds(lambda k, v: f"{k}={v}", env_names, st.text(max_size=30)),
        st.sampled_from(["", "# a comment", "export EDS_CLIENT_AUTH=post", "=", "EDS_SECRET"]),
    ),
    max_size=8,
)


def _resolve_file(content: bytes) -> Credentials:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "EDS.env"
        path.write_bytes(content)
        return Credentials.resolve(path, environ={}, cwd=folder)


# --- settings -----------------------------------------------------------------------------


@PROPERTY
@given(st.binary(max_size=300))
def test_any_env_file_bytes_give_credentials_or_a_typed_error(content: bytes) -> None:
    with contextlib.suppress(*TYPED):
        _resolve_file(content)


@PROPERTY
@given(env_lines, st.one_of(st.none(), st.sampled_from([CANARY_SECRET, "  spaced  "])))
def test_env_file_settings_give_usable_credentials_or_a_typed_error(
    lines: list[str], secret: str | None
) -> None:
    if secret is not None:
        lines = [*lines, f"EDS_SECRET='{secret}'"]
    text = "\n".join(lines)
    try:
        creds = _resolve_file(text.encode("utf-8"))
    except TYPED as err:
        assert CANARY_SECRET not in str(err)
        return
    # What users then rely on: https (or loopback http) URLs with a host, no secret shown,
    # and credentials that an EDSAuth accepts.
    for url in (creds.auth_url, creds.api_url):
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.hostname
    assert creds.client_secret and creds.client_id and creds.client_id == creds.client_id.strip()
    assert CANARY_SECRET not in repr(creds) and CANARY_SECRET not in str(creds)
    EDSAuth(creds)


@PROPERTY
@given(urls, urls)
def test_url_settings_give_credentials_or_a_typed_error(auth_url: str, api_url: str) -> None:
    try:
        creds = Credentials.resolve(
            environ={}, client_secret="s", client_id="id", auth_url=auth_url, api_url=api_url
        )
    except TYPED:
        return
    assert creds.api_url == creds.api_url.rstrip("/")
    if urlsplit(creds.api_url).hostname == "api.earthdaily.com" and urlsplit(api_url).path in (
        "",
        "/",
    ):
        assert creds.api_url.endswith("/platform/v1/stac")
    EDSAuth(creds)


@pytest.mark.parametrize("url", ["http://[::1", "https://eds\uff03.example/", "https://[zz]/"])
def test_unparsable_urls_are_a_credentials_error(url: str) -> None:
    try:
        Credentials.resolve(
            environ={},
            client_id="i",
            client_secret="s",
            auth_url="http://127.0.0.1/t",
            api_url=url,
        )
    except CredentialsError:
        return
    except InsecureTransportError:
        return


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "https://eds.example:abc/stac"])
def test_credentials_with_a_bad_port_are_refused_up_front(url: str) -> None:
    try:
        creds = Credentials(
            client_id="i", client_secret="s", auth_url="http://127.0.0.1/t", api_url=url
        )
    except CredentialsError:
        return
    EDSAuth(creds)


# --- token responses ---------------------------------------------------------------------

ISSUED_AT = 1_700_000_000.0
statuses = st.integers(100, 599)
content_types = st.sampled_from(["", "application/json", "text/html; charset=utf-8", "text/plain"])
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _jwt(claims: Any) -> str:
    def part(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


access_tokens = st.one_of(
    json_values,
    st.text(max_size=40),
    st.builds(lambda v: _jwt({"exp": v}), json_values),
)
expires_ins = st.one_of(
    json_values, st.sampled_from([1, 1.5, 3600, "3600", "1e3", 0, -1, 10**12, "nan", "inf"])
)
token_objects = st.fixed_dictionaries(
    {},
    optional={
        "access_token": access_tokens,
        "expires_in": expires_ins,
        "token_type": st.one_of(st.sampled_from(["Bearer", "bearer", "mac"]), json_values),
        "error": json_values,
        "error_description": json_values,
    },
)


def _is_jwt(value: Any) -> bool:
    return isinstance(value, str) and value.count(".") == 2


@PROPERTY
@given(statuses, st.binary(max_size=200), content_types)
def test_any_bytes_give_a_token_or_a_token_error(status: int, body: bytes, ctype: str) -> None:
    try:
        token = parse_token_response(status, body, content_type=ctype, issued_at=ISSUED_AT)
    except TokenError as err:
        assert err.status == status
        assert err.retryable is (status in (408, 429) or status >= 500)
        return
    assert 200 <= status < 300 and isinstance(token, Token)


@PROPERTY
@given(statuses, token_objects)
def test_any_json_object_gives_a_token_or_a_token_error(status: int, obj: dict[str, Any]) -> None:
    body = json.dumps(obj).encode()  # NaN and Infinity included, as json.loads accepts them
    try:
        token = parse_token_response(status, body, issued_at=ISSUED_AT)
    except TokenError as err:
        assert err.status == status
        return
    assert 200 <= status < 300
    assert isinstance(obj.get("access_token"), str) and token.value == obj["access_token"].strip()
    assert token.value and token.issued_at == ISSUED_AT
    # expires_in or the JWT exp when plausible, else an hour: always future, always finite.
    assert math.isfinite(token.expires_at) and token.expires_at > token.issued_at
    assert not token.needs_refresh(ISSUED_AT)


@PROPERTY
@given(token_objects.filter(lambda o: _is_jwt(o.get("access_token"))))
@example({"access_token": _jwt({"exp": ISSUED_AT - 60})})
@example({"access_token": _jwt({"exp": math.nan})})
@example({"access_token": _jwt({"exp": ISSUED_AT + 0.5}), "expires_in": 3.38e-243})
def test_a_jwt_token_always_expires_after_it_was_issued(obj: dict[str, Any]) -> None:
    try:
        token = parse_token_response(200, json.dumps(obj).encode(), issued_at=ISSUED_AT)
    except TokenError:
        return
    assert token.expires_at > token.issued_at


# --- issue #13 item 1: the URL the checks read is the URL urllib3 sends to -----------------

_TRICKY_URL_CHARS = st.sampled_from(
    [*"aZ09-._~:/?#[]@!$&'()*+,;=%\\ ", "\t", "\n", "\x00", "\x7f", "\u00a0", "\uff0e", "\u0131"]
)
tricky_urls = st.one_of(
    st.builds(
        lambda scheme, authority, rest: f"{scheme}{authority}{rest}",
        st.sampled_from(["http://", "https://", "HTTP://", "http:\\\\", "http:/"]),
        st.one_of(
            st.sampled_from(["127.0.0.1", "localhost", "[::1]", "evil.example", "127.0.0.1:8"]),
            st.text(_TRICKY_URL_CHARS, max_size=16),
        ),
        st.text(_TRICKY_URL_CHARS, max_size=16),
    ),
    st.builds(
        lambda a, b: f"http://{a}\\@{b}/token",
        st.sampled_from(["evil.example", "x"]),
        st.sampled_from(["127.0.0.1", "localhost"]),
    ),
)


@PROPERTY
@given(tricky_urls)
@example("http://evil.example\\@127.0.0.1/token")
@example("http://evil.example#@127.0.0.1/token")
def test_an_accepted_url_names_the_same_origin_for_urllib3(url: str) -> None:
    from urllib3.util import parse_url

    from pystac_eds.settings import check_url

    try:
        check_url(url, "EDS_AUTH_URL", carries="client secret")
    except TYPED as err:
        assert "EDS_AUTH_URL" in str(err)
        return
    ours, theirs = urlsplit(url), parse_url(url)
    assert (ours.scheme, ours.hostname, ours.port) == (
        theirs.scheme,
        (theirs.host or "").strip("[]").lower(),
        theirs.port,
    )


# --- issue #13 item 9: odd Retry-After values, deep nesting, huge numbers ------------------

retry_after_values = st.one_of(
    st.text(max_size=40),
    st.floats().map(repr),
    st.sampled_from(["nan", "-nan", "inf", "-inf", "1e309", "-1", "0"]),
    st.sampled_from(["Mon, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


@PROPERTY
@given(retry_after_values, st.integers(0, 10))
def test_any_retry_after_gives_a_finite_bounded_delay(raw: str, attempt: int) -> None:
    from pystac_eds.token_request import RetryPolicy, _retry_after

    policy = RetryPolicy()
    seconds = _retry_after(raw, ISSUED_AT)
    assert seconds is None or math.isfinite(seconds)
    delay = policy.delay(attempt, seconds)
    assert 0 <= delay <= max(policy.max_retry_after, policy.max_backoff)


def _nest(depth: int, kind: str, leaf: bytes) -> bytes:
    opener, closer = (b"[", b"]") if kind == "list" else (b'{"a": ', b"}")
    return opener * depth + leaf + closer * depth


nested = st.builds(
    _nest, st.integers(1, 60_000), st.sampled_from(["list", "dict"]), st.sampled_from([b"1", b"[]"])
)
huge_ints = st.integers(300, 4000).map(lambda digits: b"1" + b"0" * digits)


@PROPERTY
@given(statuses, nested, st.sampled_from(["body", "error", "expires_in", "jwt-exp", "jwt"]))
def test_deeply_nested_json_anywhere_gives_a_token_or_a_token_error(
    status: int, deep: bytes, where: str
) -> None:
    jwt_claims = (b'{"exp": ' + deep + b"}") if where == "jwt-exp" else deep
    jwt = f"e30.{base64.urlsafe_b64encode(jwt_claims).rstrip(b'=').decode()}.sig"
    body = {
        "body": deep,
        "error": b'{"error": ' + deep + b"}",
        "expires_in": b'{"access_token": "t", "expires_in": ' + deep + b"}",
        "jwt-exp": json.dumps({"access_token": jwt}).encode(),
        "jwt": json.dumps({"access_token": jwt}).encode(),
    }[where]
    try:
        token = parse_token_response(status, body, issued_at=ISSUED_AT)
    except TokenError as err:
        assert err.status == status
        return
    assert math.isfinite(token.expires_at) and token.expires_at > ISSUED_AT


@PROPERTY
@given(huge_ints, st.booleans())
def test_huge_numbers_give_a_token_with_a_sane_expiry(number: bytes, in_jwt: bool) -> None:
    if in_jwt:
        claims = base64.urlsafe_b64encode(b'{"exp": ' + number + b"}").rstrip(b"=").decode()
        body = json.dumps({"access_token": f"e30.{claims}.sig"}).encode()
    else:
        body = b'{"access_token": "t", "expires_in": ' + number + b"}"
    try:
        token = parse_token_response(200, body, issued_at=ISSUED_AT)
    except TokenError:
        return  # e.g. more digits than Python parses by default: not JSON to us
    assert token.expires_at == ISSUED_AT + 3600
