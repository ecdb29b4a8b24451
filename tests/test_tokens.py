"""The token request: parsing, client authentication methods, retries and typed errors."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from requests.auth import HTTPBasicAuth

from pystac_eds import Credentials, TokenError
from pystac_eds.cache import TokenCache
from pystac_eds.disk import DiskStore
from pystac_eds.learnt import LearntMethods
from pystac_eds.testing import Reply, TokenServer
from pystac_eds.token_request import ClientBasicAuth, RetryPolicy, request_token
from pystac_eds.tokens import DEFAULT_LIFETIME, Token, jwt_expiry, parse_token_response

from .conftest import CANARY_SECRET

# The read timeout is a guard, not a fault: a prompt answer delayed by a loaded machine
# must not count as a timeout (and add a request the test counts). SLOW answers (what a
# read-timeout fault sends) come long after it.
FAST = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.02, timeout=(5.0, 3.0), total=60)
SLOW = 30.0


class Sleeps:
    """An injectable sleep that records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def ok(body: dict[str, object]) -> Token:
    return parse_token_response(200, json.dumps(body).encode(), issued_at=1000.0)


def jwt(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


# --- parsing -------------------------------------------------------------------------


def test_expires_in_gives_an_absolute_expiry() -> None:
    token = ok({"access_token": "abc", "expires_in": 3600, "token_type": "Bearer"})
    assert token.expires_at == 4600.0
    assert token.lifetime == 3600.0


def test_string_expires_in_is_accepted() -> None:
    assert ok({"access_token": "abc", "expires_in": "120"}).expires_at == 1120.0


def test_missing_expires_in_uses_the_jwt_exp() -> None:
    assert ok({"access_token": jwt({"exp": 1500})}).expires_at == 1500.0
    assert jwt_expiry("not.a.jwt") is None


def test_missing_expires_in_and_not_a_jwt_assumes_an_hour() -> None:
    assert ok({"access_token": "opaque"}).expires_at == 1000.0 + DEFAULT_LIFETIME


@pytest.mark.parametrize(
    "bad", [0, -5, "soon", None, True, float("nan"), 1e-9, "1e-3", 0.999, 3.38e-243]
)
def test_unusable_expires_in_falls_back(bad: object) -> None:
    # Under a second is unusable too: it would mean a token request before every call.
    assert ok({"access_token": "opaque", "expires_in": bad}).lifetime == DEFAULT_LIFETIME


def test_one_second_is_the_shortest_lifetime_taken_as_given() -> None:
    assert ok({"access_token": "opaque", "expires_in": 1}).lifetime == 1.0
    assert ok({"access_token": jwt({"exp": 1000.5})}).lifetime == DEFAULT_LIFETIME
    assert ok({"access_token": jwt({"exp": 1001})}).lifetime == 1.0


def test_refresh_margin_is_capped_relative_to_lifetime() -> None:
    hour = Token("v", expires_at=3600, issued_at=0)
    assert hour.refresh_at == 3600 - 60
    short = Token("v", expires_at=5, issued_at=0)
    assert short.refresh_at == 5 - 1.25
    assert not short.needs_refresh(3.0) and short.needs_refresh(4.0)


def test_html_instead_of_json_says_to_check_the_token_url() -> None:
    with pytest.raises(TokenError) as info:
        parse_token_response(200, b"<!DOCTYPE html><html>login</html>", issued_at=0)
    assert "EDS_AUTH_URL" in str(info.value)
    assert not info.value.retryable


@pytest.mark.parametrize(
    "body", [b"{}", b'{"token_type": "Bearer"}', b'{"access_token": ""}', b"[1]", b"\xff\xfe"]
)
def test_answers_without_an_access_token_are_typed_errors(body: bytes) -> None:
    with pytest.raises(TokenError) as info:
        parse_token_response(200, body, issued_at=0)
    assert info.value.status == 200


def test_non_bearer_token_type_is_refused() -> None:
    with pytest.raises(TokenError, match="Bearer"):
        ok({"access_token": "x", "token_type": "mac"})


@pytest.mark.parametrize(
    ("token_url", "earthdaily"),
    [
        ("https://api.earthdaily.com/account_management/v1/authentication/api_tokens/exchange", 1),
        ("https://auth.earthdaily.com/oauth2/token", 1),
        ("https://login.example.com/oauth/token", 0),
        ("https://earthdaily.com.example.net/token", 0),
    ],
)
def test_oauth_error_fields_and_hint_are_kept(token_url: str, earthdaily: int) -> None:
    body = json.dumps({"error": "invalid_client", "error_description": "bad secret"}).encode()
    with pytest.raises(TokenError) as info:
        parse_token_response(401, body, issued_at=0, token_url=token_url)
    err = info.value
    assert (err.status, err.error, err.error_description) == (401, "invalid_client", "bad secret")
    assert "EDS_SECRET" in str(err)
    # EarthDaily's two login flows are news only to users of EarthDaily's token URLs.
    assert ("EARTHDAILY_API_TOKEN" in str(err)) is bool(earthdaily)
    assert not err.retryable


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        ("invalid_request", "EDS_CLIENT_AUTH=post"),
        ("unsupported_grant_type", "client-credentials"),
        ("unauthorized_client", "client-credentials grant"),
        ("invalid_scope", "EDS_SCOPE"),
    ],
)
def test_oauth_errors_other_than_a_wrong_secret_say_what_to_fix(error: str, fix: str) -> None:
    body = json.dumps({"error": error}).encode()
    with pytest.raises(TokenError) as info:
        parse_token_response(400, body, issued_at=0, token_url="https://auth.earthdaily.com/t")
    assert info.value.hint and fix in info.value.hint
    assert "EDS_SECRET" not in str(info.value)  # not blamed on the secret


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (400, False), (403, False)]
)
def test_retryable_reflects_the_status(status: int, retryable: bool) -> None:
    with pytest.raises(TokenError) as info:
        parse_token_response(status, b"", issued_at=0)
    assert info.value.retryable is retryable


def test_token_repr_does_not_show_the_value() -> None:
    value = "eyJ-a-long-token-value-" + CANARY_SECRET
    assert value not in repr(Token(value, expires_at=10, issued_at=0))


# --- the request over loopback HTTP ----------------------------------------------------


def test_basic_auth_is_tried_first_and_learnt() -> None:
    learnt = LearntMethods()
    with TokenServer(methods=("basic",)) as server:
        token = request_token(server.credentials(), policy=FAST, learnt=learnt)
        assert server.is_valid(token.value)
        assert [r["basic"] for r in server.requests] == [True]
        assert not server.requests[0]["form_secret"]
        assert learnt.get(server.credentials()) == "basic"


def test_form_only_server_falls_back_once_and_remembers() -> None:
    learnt = LearntMethods()
    with TokenServer(methods=("post",)) as server:
        creds = server.credentials()
        assert server.is_valid(request_token(creds, policy=FAST, learnt=learnt).value)
        assert server.is_valid(request_token(creds, policy=FAST, learnt=learnt).value)
        # Basic once, then form fields; the second token goes straight to form fields.
        assert [(r["basic"], r["form_secret"]) for r in server.requests] == [
            (True, False),
            (False, True),
            (False, True),
        ]
        assert learnt.get(server.credentials()) == "post"


def test_what_auto_learnt_survives_the_process_beside_the_disk_cache(tmp_path: Path) -> None:
    # Each TokenCache on the folder stands for a new process (a CLI run, a kernel restart).
    folder = tmp_path / "token-cache"
    with TokenServer(methods=("post",), lifetime=3600) as server:
        creds = server.credentials()
        for _ in range(3):
            cache = TokenCache(store=DiskStore(folder), policy=FAST)
            cache.get(creds)
            cache.store.clear()  # type: ignore[union-attr]  # force a token request each time
        # Basic then form fields once; the next two processes go straight to form fields.
        assert [r["basic"] for r in server.requests] == [True, False, False, False]
    files = [p for p in DiskStore(folder).tokens_folder.iterdir() if p.suffix == ".client-auth"]
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    assert server.token_url not in files[0].read_text()


def _learnt_file(store: DiskStore) -> Path:
    (path,) = store.tokens_folder.glob("*.client-auth")
    return path


def test_a_damaged_or_planted_learnt_file_means_nothing_learnt(tmp_path: Path) -> None:
    folder = DiskStore(tmp_path / "token-cache")
    creds = Credentials(client_id="id", client_secret=CANARY_SECRET, auth_url="https://a.example/t")
    LearntMethods(folder).remember(creds, "post")
    path = _learnt_file(folder)
    assert LearntMethods(folder).get(creds) == "post"  # a new process reads it
    for damaged in (b"", b"{", b'{"method": "both"}', b"[1]", b"\xff" * 5000):
        path.write_bytes(damaged)
        assert LearntMethods(folder).get(creds) is None
    path.unlink()
    target = tmp_path / "elsewhere.json"
    target.write_text('{"version": 1, "method": "post"}')
    path.symlink_to(target)  # a link where our file belongs is never followed
    assert LearntMethods(folder).get(creds) is None
    LearntMethods(folder).remember(creds, "basic")  # replaced, the link target untouched
    assert not path.is_symlink() and LearntMethods(folder).get(creds) == "basic"
    assert target.read_text() == '{"version": 1, "method": "post"}'


def test_a_learnt_file_is_not_written_into_a_folder_others_can_read(tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "shared")
    store.tokens_folder.mkdir(mode=0o755, parents=True)  # planted, not made by pystac-eds
    store.tokens_folder.chmod(0o755)
    creds = Credentials(client_id="id", client_secret=CANARY_SECRET, auth_url="https://a.example/t")
    learnt = LearntMethods(store)
    learnt.remember(creds, "post")
    assert learnt.get(creds) == "post"  # still known in memory
    assert list(store.tokens_folder.iterdir()) == []
    assert store.tokens_folder.stat().st_mode & 0o777 == 0o755  # and left as it was


def test_a_new_cli_run_does_not_pay_the_failed_attempt_again(tmp_path: Path) -> None:
    folder = tmp_path / "token-cache"
    with TokenServer(methods=("post",)) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
        env.update(server.settings("http://127.0.0.1:9/"), EDS_TOKEN_CACHE=str(folder))
        for _ in range(2):
            run = subprocess.run(
                [sys.executable, "-m", "pystac_eds.cli", "token"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert run.returncode == 0, run.stderr
            DiskStore(folder).clear()  # as if the token had expired: the next run needs one
        assert [r["basic"] for r in server.requests] == [True, False, False]


def test_a_learnt_method_that_stops_working_falls_back_once() -> None:
    learnt = LearntMethods()
    with TokenServer(methods=("basic",)) as server:
        learnt.remember(server.credentials(), "post")  # the server changed, say
        token = request_token(server.credentials(), policy=FAST, learnt=learnt)
        assert server.is_valid(token.value)
        assert [r["basic"] for r in server.requests] == [False, True]
    assert learnt.get(server.credentials()) == "basic"


SPECIAL_SECRET = "Ab+c/d=e:f%g h~0123456789"


def test_basic_credentials_are_form_urlencoded_before_base64() -> None:
    # RFC 6749 2.3.1, what decoding servers (django-oauth-toolkit, oidc-provider) expect.
    request = requests.Request("POST", "http://127.0.0.1/t").prepare()
    ClientBasicAuth("my client", SPECIAL_SECRET)(request)
    sent = base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")).decode()
    assert sent == "my%20client:Ab%2Bc%2Fd%3De%3Af%25g%20h~0123456789"
    # Plain ids and secrets go out byte for byte as requests' own Basic would send them.
    ours = requests.Request("POST", "http://127.0.0.1/t").prepare()
    theirs = requests.Request("POST", "http://127.0.0.1/t").prepare()
    ClientBasicAuth("EARTHDAILY_API_TOKEN", "abc-DEF_0.9~z")(ours)
    HTTPBasicAuth("EARTHDAILY_API_TOKEN", "abc-DEF_0.9~z")(theirs)
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]
    assert SPECIAL_SECRET not in repr(ClientBasicAuth("id", SPECIAL_SECRET))


def test_auto_reaches_a_server_that_does_not_decode_basic_in_two_requests() -> None:
    # The test kit's token server compares Basic credentials undecoded (as EarthDaily's
    # Python example assumes): encoded Basic fails for this secret, form fields work.
    with TokenServer(client_secret=SPECIAL_SECRET) as server:
        token = request_token(server.credentials(), policy=FAST, learnt=LearntMethods())
        assert server.is_valid(token.value)
        assert [r["basic"] for r in server.requests] == [True, False]


@pytest.mark.parametrize(
    ("status", "error"), [(400, "invalid_request"), (400, "unauthorized_client"), (400, None)]
)
def test_other_client_auth_rejections_also_fall_back_to_form_fields(
    status: int, error: str | None
) -> None:
    with TokenServer() as server:
        server.script.append(Reply(status, {"error": error} if error else {}))
        token = request_token(server.credentials(), policy=FAST)
        assert server.is_valid(token.value)
        assert [r["basic"] for r in server.requests] == [True, False]


@pytest.mark.parametrize("errors", [("invalid_request",) * 2, (None, "invalid_request")])
def test_when_auto_tried_both_methods_the_hint_says_so(errors: tuple[str | None, ...]) -> None:
    with TokenServer() as server:
        server.script += [Reply(400, {"error": e} if e else {}) for e in errors]
        with pytest.raises(TokenError) as info:
            request_token(server.credentials(), policy=FAST)
        assert [r["basic"] for r in server.requests] == [True, False]
    hint = info.value.hint or ""
    assert "tried both" in hint and "EDS_CLIENT_AUTH will not help" in hint
    assert "EDS_SCOPE" in hint and "EDS_AUTH_URL" in hint
    assert "set EDS_CLIENT_AUTH=post" not in str(info.value)
    assert info.value.status == 400 and info.value.error == "invalid_request"


@pytest.mark.parametrize("blaming_first", [True, False])
def test_when_one_of_two_rejections_blames_the_secret_that_one_is_raised(
    blaming_first: bool,
) -> None:
    replies = [Reply(400, {"error": "invalid_request"}), Reply(401, {"error": "invalid_client"})]
    with TokenServer() as server:
        server.script += replies[::-1] if blaming_first else replies
        with pytest.raises(TokenError) as info:
            request_token(server.credentials(), policy=FAST)
    hint = info.value.hint or ""
    assert info.value.error == "invalid_client" and "was rejected" in hint
    assert "tried both" not in hint


@pytest.mark.parametrize("error", ["invalid_scope", "unsupported_grant_type", "invalid_grant"])
def test_refusals_of_what_was_asked_do_not_try_another_method(error: str) -> None:
    with TokenServer() as server:
        server.script.append(Reply(400, {"error": error}))
        with pytest.raises(TokenError) as info:
            request_token(server.credentials(), policy=FAST)
        assert len(server.requests) == 1
    assert info.value.error == error and info.value.hint


@pytest.mark.parametrize(
    ("token_url", "console"),
    [
        ("https://api.earthdaily.com/account_management/v1/token", True),
        ("http://127.0.0.1:8080/oauth/token", False),
        ("https://login.example.org/token", False),
    ],
)
def test_the_eds_console_is_named_only_for_earthdaily_token_urls(
    token_url: str, console: bool
) -> None:
    with pytest.raises(TokenError) as info:
        parse_token_response(400, b'{"error": "invalid_grant"}', issued_at=0.0, token_url=token_url)
    hint = info.value.hint or ""
    assert "revoked or expired" in hint
    assert ("EDS console" in hint) is console, hint


def test_explicit_method_is_the_only_one_used() -> None:
    with TokenServer(methods=("basic",)) as server, pytest.raises(TokenError) as info:
        request_token(server.credentials(client_auth="post"), policy=FAST)
    assert info.value.status == 401
    assert [r["basic"] for r in server.requests] == [False]


def test_wrong_secret_is_a_typed_error_with_a_hint_and_no_secret() -> None:
    with TokenServer() as server:
        creds = Credentials(
            client_id=server.client_id,
            client_secret=CANARY_SECRET,
            auth_url=server.token_url,
            api_url="http://127.0.0.1:1/",
        )
        with pytest.raises(TokenError) as info:
            request_token(creds, policy=FAST)
    err = info.value
    assert err.status == 401 and err.error == "invalid_client"
    assert "EDS_SECRET" in str(err)
    assert CANARY_SECRET not in str(err) and CANARY_SECRET not in repr(err)
    assert len(server.requests) == 2  # Basic, then form fields once; no retries on 4xx


@pytest.mark.parametrize("status", [503, 502, 500])
def test_server_errors_are_retried_with_backoff(status: int) -> None:
    sleeps = Sleeps()
    with TokenServer() as server:
        server.script += [Reply(status, {"error": "temporarily_unavailable"})] * 2
        token = request_token(server.credentials(), policy=FAST, sleep=sleeps)
        assert server.is_valid(token.value)
        assert len(server.requests) == 3
    assert len(sleeps.delays) == 2 and all(0 <= d <= 0.02 for d in sleeps.delays)


def test_429_honours_retry_after() -> None:
    sleeps = Sleeps()
    with TokenServer() as server:
        server.script.append(Reply(429, {"error": "slow_down"}, {"Retry-After": "7"}))
        request_token(server.credentials(), policy=FAST, sleep=sleeps)
    assert sleeps.delays == [7.0]


def test_retry_after_is_capped() -> None:
    sleeps = Sleeps()
    with TokenServer() as server:
        server.script.append(Reply(429, {}, {"Retry-After": "86400"}))
        request_token(
            server.credentials(), policy=RetryPolicy(max_retry_after=5, total=100), sleep=sleeps
        )
    assert sleeps.delays == [5.0]


def test_retries_are_bounded_and_the_last_error_surfaces() -> None:
    sleeps = Sleeps()
    with TokenServer() as server:
        server.script += [Reply(503, {})] * 10
        with pytest.raises(TokenError) as info:
            request_token(server.credentials(), policy=FAST, sleep=sleeps)
        assert len(server.requests) == FAST.attempts
    assert info.value.status == 503 and info.value.retryable


def test_no_retry_on_other_client_errors() -> None:
    with TokenServer() as server:
        server.script.append(Reply(400, {"error": "invalid_grant"}))
        with pytest.raises(TokenError) as info:
            request_token(server.credentials(), policy=FAST, sleep=Sleeps())
        assert len(server.requests) == 1
    assert info.value.error == "invalid_grant" and "revoked" in str(info.value)


def test_read_timeout_is_retried_then_succeeds() -> None:
    with TokenServer() as server:
        server.script.append(Reply(200, {"access_token": "late"}, delay=SLOW))
        token = request_token(server.credentials(), policy=FAST, sleep=Sleeps())
        assert server.is_valid(token.value)
        assert len(server.requests) == 2


def test_refused_connection_is_retryable_and_says_what_to_check() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    creds = Credentials(
        client_id="id",
        client_secret="s",
        auth_url=f"http://127.0.0.1:{port}/token",
        api_url="http://127.0.0.1:1/",
    )
    sleeps = Sleeps()
    with pytest.raises(TokenError) as info:
        request_token(creds, policy=FAST, sleep=sleeps)
    assert info.value.retryable and "EDS_AUTH_URL" in str(info.value)
    assert len(sleeps.delays) == FAST.attempts - 1


def test_total_time_bounds_the_retries() -> None:
    clock_value = [0.0]

    def clock() -> float:
        return clock_value[0]

    def sleep(seconds: float) -> None:
        clock_value[0] += seconds

    with TokenServer() as server:
        server.script += [Reply(429, {}, {"Retry-After": "20"})] * 10
        policy = RetryPolicy(attempts=10, max_retry_after=30, total=50)
        with pytest.raises(TokenError):
            request_token(server.credentials(), policy=policy, clock=clock, sleep=sleep)
        assert len(server.requests) == 3  # 0, 20, 40; a wait to 60 would pass the bound
    assert clock_value[0] <= 50  # and it did not wait past it before giving up


def test_a_redirecting_token_url_is_not_followed() -> None:
    with TokenServer() as server:
        server.script.append(Reply(302, b"", {"Location": "https://elsewhere.example/token"}))
        with pytest.raises(TokenError, match="redirects"):
            request_token(server.credentials(), policy=FAST)
        assert len(server.requests) == 1
