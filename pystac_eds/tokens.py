"""Access tokens: the value object, and reading the token endpoint's answer.

Nothing here sends a request (that is :mod:`pystac_eds.token_request`) and nothing
imports ``requests``, so the disk cache and ``pystac-eds token`` can read tokens cheaply.
:func:`parse_token_response` turns any status and bytes into a :class:`Token` or a
:class:`~pystac_eds.errors.TokenError` that says what to fix.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from .errors import TokenError
from .settings import EDS_HOST, NEW_FLOW_CLIENT_ID, NEW_FLOW_TOKEN_URL, mask

Clock = Callable[[], float]

#: Lifetime assumed when the token endpoint says nothing and the token is not a JWT.
DEFAULT_LIFETIME = 3600.0
#: Refresh this long before expiry at most; see :meth:`Token.refresh_at`.
MAX_REFRESH_MARGIN = 60.0


#: RFC 6750 ``b64token``: all a bearer token may hold. Anything else (CR, LF, spaces,
#: commas, quotes) could split or extend the ``Authorization`` header it goes into.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*", re.ASCII)


def is_bearer_token(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string a bearer token may be (RFC 6750 ``b64token``)."""
    return isinstance(value, str) and _B64TOKEN.fullmatch(value) is not None


@dataclass(frozen=True)
class Token:
    """An access token and when it stops being valid (absolute, seconds since the epoch).

    Immutable, so a reader never sees a half-written token. ``repr`` shows only a
    short tail of the value.
    """

    value: str = field(repr=False)
    expires_at: float
    issued_at: float

    @property
    def lifetime(self) -> float:
        return max(0.0, self.expires_at - self.issued_at)

    @property
    def refresh_at(self) -> float:
        """When to start refreshing: a margin before expiry, capped at a quarter of the
        lifetime so a short-lived token is still used for most of its life."""
        return self.expires_at - min(MAX_REFRESH_MARGIN, self.lifetime / 4)

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    def needs_refresh(self, now: float) -> bool:
        return now >= self.refresh_at

    def __repr__(self) -> str:
        return (
            f"Token(value={mask(self.value)}, expires_at={self.expires_at:.0f}, "
            f"lifetime={self.lifetime:.0f}s)"
        )


def jwt_expiry(value: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it (we only need a hint of
    when to refresh; the API verifies the token). ``None`` if it is not a JWT."""
    parts = value.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):  # deep nesting
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return _number(exp)


def _number(value: object) -> float | None:
    """``value`` as a float if it is a JSON number that fits one (a 400-digit integer
    does not), else ``None``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return None
    return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        return None
    return data if isinstance(data, dict) else None


def _looks_like_html(body: bytes, content_type: str) -> bool:
    head = body.lstrip()[:64].lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype", b"<html"))


looks_like_html = _looks_like_html  # public: the CLI's check judges STAC answers alike


def parse_token_response(
    status: int,
    body: bytes,
    *,
    content_type: str = "",
    issued_at: float,
    token_url: str = "",
) -> Token:
    """Turn an HTTP answer from the token endpoint into a :class:`Token`.

    Never raises anything but :class:`TokenError` whatever the bytes are.
    ``issued_at`` should be the time the request was *sent*, so the computed expiry
    errs on the early side.
    """
    outcome = _read_answer(status, body, content_type, issued_at, token_url)
    # The answer may hold a token: gone before anything is raised, so no traceback's
    # locals (Sentry, rich, IPython verbose, pytest -l) show it. _read_answer returns
    # its error rather than raising it for the same reason.
    del body
    if isinstance(outcome, TokenError):
        raise outcome
    return outcome


def _read_answer(
    status: int, body: bytes, content_type: str, issued_at: float, token_url: str
) -> Token | TokenError:
    data = _json_object(body)
    if not 200 <= status < 300:
        return _error_for_status(status, data, body, content_type, token_url)
    if data is None:
        if _looks_like_html(body, content_type):
            return TokenError(
                f"The token URL {token_url} answered with an HTML page, not a JSON token.",
                status=status,
                hint="check EDS_AUTH_URL: it must be the OAuth2 token endpoint, "
                "not a login page, a proxy page or the STAC API.",
            )
        return TokenError(
            f"The token URL {token_url} answered {status} with a body that is not a JSON object.",
            status=status,
            hint="check EDS_AUTH_URL points at the OAuth2 token endpoint.",
        )
    value = data.get("access_token")
    if not isinstance(value, str) or not value.strip():
        return TokenError(
            f"The token URL {token_url} answered {status} without an access_token.",
            status=status,
            hint="check EDS_AUTH_URL points at the OAuth2 token endpoint.",
        )
    value = value.strip()
    if not is_bearer_token(value):
        # Never quote it: it may be a real token with one stray character.
        return TokenError(
            f"The token URL {token_url} issued an access token with characters that cannot "
            "go in an Authorization header (RFC 6750 allows letters, digits, -._~+/ and "
            "trailing =); it was not used.",
            status=status,
            hint="check EDS_AUTH_URL points at the OAuth2 token endpoint.",
        )
    token_type = data.get("token_type", "Bearer")
    if isinstance(token_type, str) and token_type.lower() != "bearer":
        return TokenError(
            f"The token URL {token_url} issued a {token_type!r} token; the EDS API needs Bearer.",
            status=status,
        )
    return Token(value=value, expires_at=_expiry(data, value, issued_at), issued_at=issued_at)


#: Lifetimes under this are unusable: a token valid for less than a second (``1e-9``,
#: ``"1e-3"``, or one whose expiry rounds to the time it was issued) would be refetched
#: before every API call. They are treated like a missing value: assume an hour and let
#: the 401 path correct us if the token really dies sooner.
MIN_LIFETIME = 1.0
#: Lifetimes of this or more are nonsense, whatever the token endpoint says.
_MAX_LIFETIME = 10 * 365 * 86400.0


def _plausible(lifetime: float) -> bool:
    return MIN_LIFETIME <= lifetime < _MAX_LIFETIME  # also False for NaN


def _expiry(data: Mapping[str, Any], value: str, issued_at: float) -> float:
    raw = data.get("expires_in")
    lifetime = _number(raw)
    if isinstance(raw, str):
        try:
            lifetime = float(raw)
        except ValueError:
            lifetime = None
    # Compared as a difference of absolute times: at epoch magnitudes a tiny lifetime
    # added to issued_at can round away to nothing.
    if lifetime is not None and _plausible(issued_at + lifetime - issued_at):
        return issued_at + lifetime
    exp = jwt_expiry(value)
    # An `exp` already past means the issuer's clock is behind ours: trusting it would
    # refetch before every call. Assume the default and let a 401 correct us.
    if exp is not None and _plausible(exp - issued_at):
        return exp
    return issued_at + DEFAULT_LIFETIME


#: What to do about the OAuth errors that are not about the secret.
_ERROR_HINTS = {
    "invalid_request": (
        "the token URL refused how the request was made; if it wants the client id and "
        "secret as form fields rather than HTTP Basic (or the other way round), set "
        "EDS_CLIENT_AUTH=post (or basic)."
    ),
    "unsupported_grant_type": (
        "this token URL does not offer the client-credentials grant: check EDS_AUTH_URL is "
        "the token endpoint for machine-to-machine (client-credentials) clients."
    ),
    "unauthorized_client": (
        "this client may not use the client-credentials grant: allow that grant for the "
        "client on the authorization server, or use credentials made for it."
    ),
    "invalid_scope": (
        "set EDS_SCOPE (or scope=) to a scope this client may request, or unset it if "
        "the server expects none."
    ),
    "invalid_grant": (
        "the credentials were refused for this grant; the secret may have been revoked or "
        "expired: get a new one from whoever issued it."
    ),
}
#: The same, said of EarthDaily's own token URLs, where the secret is an API token.
_EARTHDAILY_INVALID_GRANT = (
    "the credentials were refused for this grant; the API token may have been revoked or "
    "expired: create a new one in the EDS console."
)


def is_earthdaily_url(url: str) -> bool:
    """Whether ``url`` is on an EarthDaily host (``earthdaily.com`` or a subdomain)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host == EDS_HOST or host.endswith("." + EDS_HOST)


def _hint(
    status: int, error: str | None, token_url: str, *, retryable: bool, html: bool
) -> str | None:
    if error == "invalid_grant" and is_earthdaily_url(token_url):
        return _EARTHDAILY_INVALID_GRANT
    if error in _ERROR_HINTS:
        return _ERROR_HINTS[error]
    if status == 401 or (status == 400 and error == "invalid_client"):
        hint = "the client id or secret was rejected: check EDS_CLIENT_ID and EDS_SECRET."
        if is_earthdaily_url(token_url):
            # Only EarthDaily's own token URLs have these two login flows.
            hint += (
                f" API tokens from the new EDS console use client id {NEW_FLOW_CLIENT_ID} "
                f"and the token URL {NEW_FLOW_TOKEN_URL}; legacy client credentials need "
                "their own EDS_AUTH_URL."
            )
        return hint
    if status in (404, 405):
        return "check EDS_AUTH_URL: nothing answers token requests there."
    if retryable:
        return "the token service is unavailable or limiting requests; try again later."
    if html:
        return "check EDS_AUTH_URL: it answered with an HTML page, not the OAuth2 token endpoint."
    return None


def _error_for_status(
    status: int,
    data: dict[str, Any] | None,
    body: bytes,
    content_type: str,
    token_url: str,
) -> TokenError:
    error = data.get("error") if data else None
    error = error if isinstance(error, str) else None
    description = data.get("error_description") if data else None
    description = description if isinstance(description, str) else None
    detail = (
        f" ({error}: {description})" if error and description else f" ({error})" if error else ""
    )
    retryable = status == 429 or status >= 500 or status == 408
    html = data is None and _looks_like_html(body, content_type)
    hint = _hint(status, error, token_url, retryable=retryable, html=html)
    return TokenError(
        f"The token URL {token_url} answered HTTP {status}{detail}.",
        status=status,
        error=error,
        error_description=description,
        retryable=retryable,
        hint=hint,
    )
