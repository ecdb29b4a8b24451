"""Requesting a token: the OAuth2 client-credentials grant over HTTP, with bounded retries.

This module knows HTTP but nothing of caching: :func:`request_token` makes one token
request (with bounded retries) and either returns a :class:`~pystac_eds.tokens.Token` or
raises a :class:`~pystac_eds.errors.TokenError` that says what to fix.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import requests
from requests.auth import AuthBase

from .errors import TokenError
from .learnt import LearntMethods
from .settings import Credentials
from .tokens import Clock, Token, parse_token_response
from .user_agent import user_agent

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on the token request: attempts, backoff, per-call timeout, total time."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    timeout: tuple[float, float] = (5.0, 30.0)
    total: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        # Full jitter: spreads many processes that failed together.
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))  # noqa: S311


def _retry_after(response: requests.Response, now: float) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - now


#: OAuth errors with which a token endpoint refuses *how* the client authenticated, as
#: opposed to *what* it asked for (``invalid_scope``, ``invalid_grant``…): worth one
#: attempt with the other method. oidc-provider answers ``invalid_request`` to Basic
#: credentials it cannot decode, django-oauth-toolkit ``invalid_client``.
_CLIENT_AUTH_ERRORS = (None, "invalid_client", "invalid_request", "unauthorized_client")


def _client_rejected(error: TokenError) -> bool:
    return error.status == 401 or (error.status == 400 and error.error in _CLIENT_AUTH_ERRORS)


def request_token(
    credentials: Credentials,
    *,
    session: requests.Session | None = None,
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

    def attempt(method: str) -> Token:
        return _request_with_retries(credentials, method, session, clock, sleep, policy)

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
                # Both rejected: the id or secret is wrong, not the method. An encoding
                # complaint (invalid_request) says less than the other answer.
                raise (second if err.error == "invalid_request" else err) from None
            raise
    if learnt is not None:
        learnt.remember(credentials, used)
    return token


def _request_with_retries(
    credentials: Credentials,
    method: str,
    session: requests.Session | None,
    clock: Clock,
    sleep: Sleep,
    policy: RetryPolicy,
) -> Token:
    started = clock()
    last: TokenError | None = None
    for attempt in range(policy.attempts):
        retry_after: float | None = None
        try:
            return _request_once(credentials, method, session, clock, policy)
        except _Retryable as err:
            last, retry_after = err.error, err.retry_after
        if attempt + 1 >= policy.attempts:
            break
        delay = policy.delay(attempt, retry_after)
        if clock() + delay - started > policy.total:
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
) -> tuple[dict[str, str], ClientBasicAuth | None]:
    """The form body and the auth of a token request by ``method`` ("basic" or "post")."""
    form = {"grant_type": "client_credentials"}
    if credentials.scope:
        form["scope"] = credentials.scope  # only when set: some servers refuse any scope
    if method == "basic":
        return form, ClientBasicAuth(credentials.client_id, credentials.client_secret)
    form["client_id"] = credentials.client_id
    form["client_secret"] = credentials.client_secret
    return form, None


class _Retryable(Exception):
    def __init__(self, error: TokenError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _no_answer(message: str, hint: str) -> _Retryable:
    # No HTTP answer at all: always worth another attempt.
    return _Retryable(TokenError(message, retryable=True, hint=hint))


def _request_once(
    credentials: Credentials,
    method: str,
    session: requests.Session | None,
    clock: Clock,
    policy: RetryPolicy,
) -> Token:
    form, auth = _client_authentication(credentials, method)
    sent_at = clock()
    http = session or requests
    try:
        response = http.post(
            credentials.auth_url,
            data=form,
            auth=auth,
            headers={"Accept": "application/json", "User-Agent": user_agent()},
            timeout=policy.timeout,
            allow_redirects=False,  # a redirect would resend the secret elsewhere
        )
    except requests.Timeout as exc:
        raise _no_answer(
            f"The token URL {credentials.auth_url} did not answer in time.",
            "the token service is slow or unreachable; try again later.",
        ) from exc
    except requests.ConnectionError as exc:
        raise _no_answer(
            f"Could not connect to the token URL {credentials.auth_url}.",
            "check EDS_AUTH_URL and your network connection.",
        ) from exc
    except requests.RequestException as exc:
        raise TokenError(
            f"The token request to {credentials.auth_url} failed: {type(exc).__name__}.",
            hint="check EDS_AUTH_URL.",
        ) from exc
    with response:
        if 300 <= response.status_code < 400:
            raise TokenError(
                f"The token URL {credentials.auth_url} redirects (HTTP {response.status_code}); "
                "pystac-eds does not follow it, so the secret stays where you sent it.",
                status=response.status_code,
                hint="set EDS_AUTH_URL to the final token endpoint URL.",
            )
        try:
            return parse_token_response(
                response.status_code,
                response.content,
                content_type=response.headers.get("Content-Type", ""),
                issued_at=sent_at,
                token_url=credentials.auth_url,
            )
        except TokenError as err:
            if err.retryable:
                raise _Retryable(err, _retry_after(response, clock())) from None
            raise
