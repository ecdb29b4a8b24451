"""Requesting a token: the OAuth2 client-credentials grant over HTTP, with bounded retries.

This module knows HTTP but nothing of caching: :func:`request_token` makes one token
request (with bounded retries) and either returns a :class:`~pystac_eds.tokens.Token` or
raises a :class:`~pystac_eds.errors.TokenError` that says what to fix.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import requests
from requests.auth import AuthBase
from urllib3.exceptions import DecodeError, HTTPError, ReadTimeoutError

from . import redaction, transport
from .errors import TokenError
from .learnt import LearntMethods
from .settings import Credentials
from .tokens import Clock, Token, parse_token_response
from .user_agent import user_agent

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on the token request: attempts, backoff, ``timeout`` (connect, and the longest
    silence while reading), and ``total``, one wall-clock deadline over every attempt, wait
    and read: status line, headers and body, however slowly they trickle in."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    timeout: tuple[float, float] = (5.0, 30.0)
    total: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and math.isfinite(retry_after):
            return min(max(retry_after, 0.0), self.max_retry_after)
        # Full jitter: spreads many processes that failed together.
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))  # noqa: S311


def _retry_after(raw: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP date); ``None`` for
    anything else, ``nan`` and ``inf`` included."""
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(raw).timestamp() - now
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    return seconds if math.isfinite(seconds) else None


#: OAuth errors with which a token endpoint refuses *how* the client authenticated, as
#: opposed to *what* it asked for (``invalid_scope``, ``invalid_grant``…): worth one
#: attempt with the other method. oidc-provider answers ``invalid_request`` to Basic
#: credentials it cannot decode, django-oauth-toolkit ``invalid_client``.
_CLIENT_AUTH_ERRORS = (None, "invalid_client", "invalid_request", "unauthorized_client")


def _client_rejected(error: TokenError) -> bool:
    return error.status == 401 or (error.status == 400 and error.error in _CLIENT_AUTH_ERRORS)


#: Both methods refused, neither answer blaming the id or secret: the method was not it.
_BOTH_TRIED_HINT = (
    "pystac-eds tried both ways of sending the client id and secret (HTTP Basic and form "
    "fields, as EDS_CLIENT_AUTH=auto does) and the token URL refused both, so setting "
    "EDS_CLIENT_AUTH will not help. Check that EDS_AUTH_URL is this server's token "
    "endpoint, whether it wants a scope (EDS_SCOPE) or none, and EDS_CLIENT_ID and "
    "EDS_SECRET for stray characters or quotes; the server's error description, if any, "
    "says more."
)


def _both_rejected(first: TokenError, second: TokenError) -> TokenError:
    """The error to raise when ``auto`` tried both methods and the endpoint rejected both."""
    vague = (None, "invalid_request")  # a complaint about the request, not the credentials
    if first.error not in vague:
        return first  # e.g. invalid_client: the id or secret is wrong, whatever the method
    if second.error not in vague:
        return second
    return TokenError(
        second.message,
        status=second.status,
        error=second.error,
        error_description=second.error_description,
        retryable=second.retryable,
        hint=_BOTH_TRIED_HINT,
    )


def request_token(
    credentials: Credentials,
    *,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    policy: RetryPolicy | None = None,
    learnt: LearntMethods | None = None,
) -> Token:
    """Ask the token endpoint for a new token, by the client-credentials grant.

    The client authenticates with HTTP Basic (id and secret percent-encoded first, as
    RFC 6749 §2.3.1 says, see :class:`ClientBasicAuth`) or with form fields, never both
    in one request. With ``credentials.client_auth == "auto"`` the method ``learnt``
    remembers for these credentials goes first (Basic when nothing is known); if the
    endpoint rejects the client, the other method is tried once, so at most two requests
    are made (a stale memory costs one request, never a lock-out). What worked is
    recorded in ``learnt``.
    """
    policy = policy or RetryPolicy()
    # One deadline for the whole token request, the second method's attempts included.
    deadline = clock() + policy.total

    def attempt(method: str) -> Token:
        return _request_with_retries(credentials, method, clock, sleep, policy, deadline)

    if credentials.client_auth != "auto":
        return attempt(credentials.client_auth)
    first = (learnt.get(credentials) if learnt is not None else None) or "basic"
    other = "post" if first == "basic" else "basic"
    try:
        token, used = attempt(first), first
    except TokenError as err:
        if not _client_rejected(err):
            raise
        log.debug("token URL %s rejected %s; trying %s", credentials.auth_url, first, other)
        try:
            token, used = attempt(other), other
        except TokenError as second:
            if _client_rejected(second):
                raise _both_rejected(err, second) from None
            raise
    if learnt is not None:
        learnt.remember(credentials, used)
    return token


def _request_with_retries(
    credentials: Credentials,
    method: str,
    clock: Clock,
    sleep: Sleep,
    policy: RetryPolicy,
    deadline: float,
) -> Token:
    """One token request with bounded retries, all of it before ``deadline`` (by ``clock``),
    which calls that make up one token request (a second client authentication method)
    share."""
    last: TokenError | None = None
    for attempt in range(policy.attempts):
        retry_after: float | None = None
        try:
            return _request_once(credentials, method, clock, policy, deadline)
        except _Retryable as err:
            last, retry_after = err.error, err.retry_after
        if attempt + 1 >= policy.attempts:
            break
        delay = policy.delay(attempt, retry_after)
        if clock() + delay >= deadline:  # no time left for another attempt
            break
        log.debug(
            "token request to %s failed (%s); retry %d in %.2fs",
            credentials.auth_url,
            last,
            attempt + 1,
            delay,
        )
        sleep(delay)
    assert last is not None
    raise last


class _Retryable(Exception):
    def __init__(self, error: TokenError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _reason(exc: BaseException) -> str:
    """What went wrong underneath, by class name only: the messages of requests' and
    urllib3's errors are safe today, but their causes hold connection objects."""
    names = [type(exc).__name__]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(names) < 4:
        names.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return " < ".join(dict.fromkeys(names))


def _no_answer(message: str, hint: str) -> _Retryable:
    # No HTTP answer at all: always worth another attempt.
    return _Retryable(TokenError(message, retryable=True, hint=hint))


def _request_once(
    credentials: Credentials, method: str, clock: Clock, policy: RetryPolicy, deadline: float
) -> Token:
    # Our own session: loopback requests go direct, never through an environment proxy,
    # and the deadline holds at its sockets.
    with transport.new_session() as http:
        return _exchange(http, credentials, method, clock, policy, deadline)


class _Form(Mapping[str, str]):
    """The token request's form fields, a read-only mapping (what requests encodes) whose
    ``repr`` (what a traceback's locals show) never shows the secret. Not a dict
    subclass: pretty-printers walk those instead of calling ``repr``."""

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields

    def __getitem__(self, name: str) -> str:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"<token request form: {', '.join(self._fields)}>"


class ClientBasicAuth(AuthBase):
    """HTTP Basic for an OAuth client (RFC 6749 §2.3.1): the id and the secret are
    percent-encoded *before* base64, so a secret with ``+``, ``%``, ``:`` or a space reaches
    servers that decode it (as the RFC requires) intact. For ids and secrets made of
    letters, digits and ``-._~`` this is byte for byte what plain Basic sends."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        # A space goes out as %20, not "+": decoders with unquote_plus (django-oauth-toolkit)
        # and with plain unquote (Authlib) both read %20 back as a space.
        self._pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        encoded = base64.b64encode(self._pair.encode("utf-8")).decode("ascii")
        request.headers["Authorization"] = f"Basic {encoded}"
        return request

    def __repr__(self) -> str:
        return "ClientBasicAuth(***)"


def _client_authentication(
    credentials: Credentials, method: str
) -> tuple[ClientBasicAuth | None, _Form]:
    """The ``auth`` and form fields that carry the client's id and secret, one way only."""
    fields = {"grant_type": "client_credentials"}
    if credentials.scope:
        fields["scope"] = credentials.scope  # only when set: some servers refuse any scope
    if method == "basic":
        return ClientBasicAuth(credentials.client_id, credentials.client_secret), _Form(fields)
    fields["client_id"] = credentials.client_id
    fields["client_secret"] = credentials.client_secret
    return None, _Form(fields)


def _exchange(
    http: requests.Session,
    credentials: Credentials,
    method: str,
    clock: Clock,
    policy: RetryPolicy,
    deadline: float,
) -> Token:
    url = credentials.auth_url
    sent_at = clock()
    remaining = deadline - sent_at
    if remaining <= 0:
        raise _too_slow(url, "no time was left for another attempt")
    auth, form = _client_authentication(credentials, method)
    # The socket timeouts bound one connect and one silent wait; the Deadline bounds the
    # whole exchange (status line, headers, body), however slowly the bytes trickle in.
    with transport.Deadline(remaining) as limit:
        try:
            response = http.post(
                url,
                data=form,
                auth=auth,
                headers={"Accept": "application/json", "User-Agent": user_agent()},
                # A connect cannot be cut short by the deadline's watchdog: bound it here.
                timeout=(min(policy.timeout[0], remaining), policy.timeout[1]),
                allow_redirects=False,  # a redirect would resend the secret elsewhere
                stream=True,
            )
        except requests.RequestException as exc:
            failure = _transport_error(url, exc, limit)
        else:
            with response:
                return _answer(response, url, clock, sent_at, limit)
    # Raised outside the except block, so with no context: the transport error's frames
    # (requests', urllib3's) hold the encoded form and the Authorization header.
    raise failure


def _transport_error(
    url: str, exc: requests.RequestException, limit: transport.Deadline
) -> Exception:
    """The error to raise for ``exc``, which it must not chain."""
    if limit.expired:  # the watchdog shut the connection: whatever broke, time was up
        return _too_slow(url, "the answer was still arriving")
    if isinstance(exc, requests.Timeout):
        return _too_slow(url, _reason(exc))
    if isinstance(exc, requests.ConnectionError):
        return _no_answer(
            f"Could not connect to the token URL {url} ({_reason(exc)}).",
            "check EDS_AUTH_URL and your network connection.",
        )
    return TokenError(
        f"The token request to {url} failed ({_reason(exc)}).", hint="check EDS_AUTH_URL."
    )


def _answer(
    response: requests.Response,
    url: str,
    clock: Clock,
    sent_at: float,
    limit: transport.Deadline,
) -> Token:
    if 300 <= response.status_code < 400:
        raise TokenError(
            f"The token URL {url} redirects (HTTP {response.status_code}); "
            "pystac-eds does not follow it, so the secret stays where you sent it.",
            status=response.status_code,
            hint="set EDS_AUTH_URL to the final token endpoint URL.",
        )
    body = _read_body(response, url, limit)
    try:
        return parse_token_response(
            response.status_code,
            bytes(body.value),
            content_type=response.headers.get("Content-Type", ""),
            issued_at=sent_at,
            token_url=url,
        )
    except TokenError as err:
        if err.retryable:
            wait = _retry_after(response.headers.get("Retry-After"), clock())
            raise _Retryable(err, wait) from None
        raise


#: The most a token answer may weigh: a token is a few kilobytes at most.
MAX_BODY = 1024 * 1024
_CHUNK = 16 * 1024


def _read_body(
    response: requests.Response, url: str, limit: transport.Deadline
) -> redaction.Hidden[bytearray]:
    """The answer's body, read in chunks up to the size cap; ``limit`` cuts it off at the
    deadline. Held as :class:`~pystac_eds.redaction.Hidden`: it may hold a token."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_big(url, response.status_code)
    body = redaction.Hidden(bytearray())
    while True:
        try:
            chunk = response.raw.read(_CHUNK, decode_content=True)
        except ReadTimeoutError:
            raise _too_slow(url, "the answer stopped arriving") from None
        except DecodeError as exc:
            raise TokenError(
                f"The token URL {url} sent an answer that could not be decoded ({_reason(exc)}).",
                status=response.status_code,
                hint="check EDS_AUTH_URL points at the OAuth2 token endpoint.",
            ) from None
        except (HTTPError, OSError) as exc:  # reset, cut short: a transient network error
            if limit.expired:
                raise _too_slow(url, "the answer was still arriving") from None
            raise _no_answer(
                f"The connection to the token URL {url} broke while reading its answer "
                f"({_reason(exc)}).",
                "the network or the token service dropped the connection; try again later.",
            ) from None
        if limit.expired:  # a socket shut down at the deadline reads as the end of the body
            raise _too_slow(url, "the answer was still arriving")
        body.value += chunk
        if len(body.value) > MAX_BODY:
            raise _too_big(url, response.status_code)
        if not chunk:
            return body


def _too_slow(url: str, detail: str) -> _Retryable:
    return _no_answer(
        f"The token URL {url} did not answer in time ({detail}).",
        "the token service is slow or unreachable; try again later.",
    )


def _too_big(url: str, status: int) -> TokenError:
    return TokenError(
        f"The token URL {url} answered with more than {MAX_BODY // 1024} KiB; a token answer "
        "is a few kilobytes, so it was not read.",
        status=status,
        hint="check EDS_AUTH_URL points at the OAuth2 token endpoint.",
    )
