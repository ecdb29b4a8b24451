"""Requesting a token: the OAuth2 client-credentials grant over HTTP, with bounded retries.

This module knows HTTP but nothing of caching: :func:`request_token` makes one token
request (with bounded retries) and either returns a :class:`~pystac_eds.tokens.Token` or
raises a :class:`~pystac_eds.errors.TokenError` that says what to fix.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from .errors import TokenError
from .settings import Credentials
from .tokens import Clock, Token, parse_token_response

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


#: What each token URL accepted, learnt at run time: "basic" or "post".
_learnt_methods: dict[str, str] = {}
_learnt_lock = threading.Lock()


def learnt_client_auth(auth_url: str) -> str | None:
    """The client authentication method ("basic" or "post") that ``auth_url`` accepted in
    this process, if a token was requested there with ``client_auth="auto"``."""
    with _learnt_lock:
        return _learnt_methods.get(auth_url)


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


def _client_rejected(error: TokenError) -> bool:
    return error.status == 401 or (error.status == 400 and error.error == "invalid_client")


def request_token(
    credentials: Credentials,
    *,
    session: requests.Session | None = None,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    policy: RetryPolicy | None = None,
) -> Token:
    """Ask the token endpoint for a new token, by the client-credentials grant.

    The client authenticates with HTTP Basic or with form fields, never both in one
    request. With ``credentials.client_auth == "auto"`` Basic goes first, and if the
    endpoint rejects the client the form-field method is tried once; what worked is
    remembered per token URL for the rest of the process.
    """
    policy = policy or RetryPolicy()
    method: str = credentials.client_auth
    if method == "auto":
        with _learnt_lock:
            method = _learnt_methods.get(credentials.auth_url, "auto")
    try:
        token = _request_with_retries(
            credentials, "basic" if method == "auto" else method, session, clock, sleep, policy
        )
        used = "basic" if method == "auto" else method
    except TokenError as err:
        if method != "auto" or not _client_rejected(err):
            raise
        log.debug("token URL %s rejected HTTP Basic; trying form fields", credentials.auth_url)
        try:
            token = _request_with_retries(credentials, "post", session, clock, sleep, policy)
        except TokenError as second:
            if _client_rejected(second):
                raise err from None  # both rejected: the secret is wrong, not the method
            raise
        used = "post"
    if credentials.client_auth == "auto":
        with _learnt_lock:
            _learnt_methods[credentials.auth_url] = used
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
    form = {"grant_type": "client_credentials"}
    auth: tuple[str, str] | None = None
    if method == "basic":
        auth = (credentials.client_id, credentials.client_secret)
    else:
        form["client_id"] = credentials.client_id
        form["client_secret"] = credentials.client_secret
    sent_at = clock()
    http = session or requests
    try:
        response = http.post(
            credentials.auth_url,
            data=form,
            auth=auth,
            headers={"Accept": "application/json"},
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
