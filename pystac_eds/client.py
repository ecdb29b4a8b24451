"""open() and stac_io(): pystac-client, authenticated for EDS."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal

import requests
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO, Timeout
from requests import Request
from urllib3 import Retry

from . import redaction, transport
from .assets import PresignedModifier
from .auth import EDSAuth
from .cache import TokenCache
from .errors import CredentialsError, EDSError
from .pystac_hooks import discover_extension_hooks
from .settings import SETTING_NAMES, Credentials
from .user_agent import user_agent

AssetAccess = Literal["presigned", "proxy", "raw"]

#: Request headers that select how the API writes asset hrefs.
ASSET_ACCESS_HEADERS: dict[str, dict[str, str]] = {
    "presigned": {"X-Signed-Asset-Urls": "True"},
    "proxy": {"X-Proxy-Asset-Urls": "True"},
    "raw": {},
}
#: pystac-client sends requests with no timeout at all; a stalled connection would hang
#: a notebook forever. (connect, read) seconds; pass ``timeout=`` to change it.
DEFAULT_TIMEOUT: Timeout = (10.0, 120.0)
DEFAULT_MAX_RETRIES = 5


class EDSStacApiIO(StacApiIO):
    """pystac-client's StacApiIO with an :class:`EDSAuth` on its session.

    pystac-client turns every exception raised while sending into a bare ``APIError``;
    this subclass re-raises pystac-eds's own errors as they are, so ``except TokenError``
    works and the message still says what to fix.

    Every error leaves here with a fresh traceback and no chained context: the frames it
    would carry (pystac-client's, requests', urllib3's) hold the request as sent, whole
    bearer token included, where a traceback with locals would show it.
    """

    def request(
        self,
        href: str,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> str:
        try:
            # EDSAuth sees only the request: tell it this session sends loopback direct.
            with transport.preparing(self.session):
                return super().request(href, method=method, headers=headers, parameters=parameters)
        except APIError as err:
            failure = _detached(err, self._current_token())
        raise failure  # outside the except block: nothing to chain

    def _current_token(self) -> str | None:
        auth = self.session.auth
        token = auth.cache.peek(auth.credentials) if isinstance(auth, EDSAuth) else None
        return token.value if token is not None else None

    @property
    def auth(self) -> EDSAuth:
        auth = self.session.auth
        assert isinstance(auth, EDSAuth)
        return auth


def _detached(err: APIError, token: str | None = None) -> Exception:
    """The error to raise for ``err``, holding no frame or exception that ``err`` held.

    A requests error underneath stays visible as the fresh error's ``__context__`` (what
    callers, the CLI among them, look at to tell a refused connection from a timeout), as
    a bare copy: the same type and message, the URL and method, no traceback, no headers.
    The message is pystac-client's, which quotes the answer's body: a server (or a proxy)
    that echoes the request's headers would put the bearer there, so it is redacted, and
    ``token`` (the one sent) wherever it appears.
    """
    cause = err.__context__
    if isinstance(cause, EDSError):
        cause.__context__ = cause.__cause__ = None
        return cause.with_traceback(None)
    message = redaction.redact(str(err))
    if token:
        message = message.replace(token, "<redacted>")
    fresh = APIError(message)
    fresh.status_code = getattr(err, "status_code", None)
    if isinstance(cause, requests.RequestException):
        fresh.__context__ = _bare(cause)
    return fresh


def _bare(error: requests.RequestException) -> requests.RequestException:
    sent = error.request
    request = requests.Request(sent.method, sent.url) if sent is not None else None
    try:
        return type(error)(str(error), request=request)
    except TypeError:  # a subclass with another signature: keep the family
        return requests.RequestException(str(error), request=request)


def _credentials(
    credentials: Credentials | None, env_file: str | os.PathLike[str] | None, url: str | None
) -> Credentials:
    if credentials is not None and env_file is not None:
        raise CredentialsError("Pass either credentials= or env_file=, not both.")
    if credentials is None:
        return Credentials.resolve(env_file, api_url=url)
    if url is not None and url != credentials.api_url:
        return replace(credentials, api_url=url)
    return credentials


def stac_io(
    url: str | None = None,
    *,
    credentials: Credentials | None = None,
    env_file: str | os.PathLike[str] | None = None,
    asset_access: AssetAccess = "presigned",
    headers: dict[str, str] | None = None,
    parameters: dict[str, Any] | None = None,
    request_modifier: Callable[[Request], Request | None] | None = None,
    timeout: Timeout | None = DEFAULT_TIMEOUT,
    max_retries: int | Retry | None = DEFAULT_MAX_RETRIES,
    cache: TokenCache | None = None,
    allowed_hosts: Iterable[str] = (),
) -> EDSStacApiIO:
    """A StacApiIO that authenticates to EDS, for ``Client.open(url, stac_io=...)``.

    Note that ``Client.open(..., stac_io=io)`` replaces the io's ``timeout`` and
    ``request_modifier`` with its own arguments: pass them to ``Client.open`` too (or
    use :func:`open`, which does it for you).
    """
    discover_extension_hooks()  # before any thread parses an item (see pystac_hooks)
    if asset_access not in ASSET_ACCESS_HEADERS:
        raise ValueError(
            f"asset_access must be one of {', '.join(ASSET_ACCESS_HEADERS)}, got {asset_access!r}."
        )
    creds = _credentials(credentials, env_file, url)
    # The asset-access header goes with the token, not on the session: a `next` link or
    # an asset on another host does not get it.
    auth = EDSAuth(
        creds, cache=cache, allowed_hosts=allowed_hosts, headers=ASSET_ACCESS_HEADERS[asset_access]
    )
    io = EDSStacApiIO(
        headers={"User-Agent": user_agent(), **(headers or {})},
        parameters=parameters,
        request_modifier=request_modifier,
        timeout=timeout,
        max_retries=max_retries,
    )
    io.session.auth = auth
    transport.direct_loopback(io.session)  # a proxy on loopback would get the token
    return io


def open(
    url: str | None = None,
    *,
    credentials: Credentials | None = None,
    env_file: str | os.PathLike[str] | None = None,
    asset_access: AssetAccess = "presigned",
    headers: dict[str, str] | None = None,
    parameters: dict[str, Any] | None = None,
    modifier: Callable[[Any], None] | None = None,
    request_modifier: Callable[[Request], Request | None] | None = None,
    timeout: Timeout | None = DEFAULT_TIMEOUT,
    max_retries: int | Retry | None = DEFAULT_MAX_RETRIES,
    cache: TokenCache | None = None,
    allowed_hosts: Iterable[str] = (),
    **kwargs: Any,
) -> Client:
    """Open the EDS STAC API as a :class:`pystac_client.Client` that stays authenticated.

    ``url`` defaults to ``EDS_API_URL`` (or the public EDS STAC root); credentials come
    from ``credentials=``, else the environment, else ``env_file`` / ``EDS.env`` /
    ``.env``. Every other argument of ``pystac_client.Client.open`` works as there.
    The first request (reading the landing page) fetches the first token.
    """
    _refuse_settings_as_arguments(kwargs)
    given = locals()
    io = stac_io(url, **{name: given[name] for name in _STAC_IO_OPTIONS})
    # Client.open(stac_io=io) calls io.update(), which *replaces* the request modifier and
    # the timeout (headers and parameters it merges): hand it the same two again.
    return Client.open(
        io.auth.credentials.api_url,
        # Presigned: hrefs readable as is (see pystac_eds.assets); the user's modifier after.
        modifier=PresignedModifier(modifier) if asset_access == "presigned" else modifier,
        request_modifier=request_modifier,
        stac_io=io,
        timeout=timeout,
        **kwargs,
    )


def _refuse_settings_as_arguments(kwargs: dict[str, Any]) -> None:
    # Settings passed to open() by mistake: pystac-client would only reject them after
    # pystac-eds had looked for the settings elsewhere and said none were found.
    given = [name for name in SETTING_NAMES if name in kwargs]
    if given:
        shown = ", ".join(f"{name}=..." for name in given)
        raise TypeError(
            f"open() does not take {', '.join(given)}: pass "
            f"credentials=pystac_eds.Credentials.resolve({shown}) (settings you leave out "
            "still come from EDS_* or EDS.env)."
        )


#: The keyword parameters of :func:`stac_io`, which :func:`open` takes too and hands on
#: unchanged: a parameter added to both signatures is forwarded with no other change
#: (tests/test_client.py checks that the two signatures agree).
_STAC_IO_OPTIONS = tuple(
    name
    for name, param in inspect.signature(stac_io).parameters.items()
    if param.kind is inspect.Parameter.KEYWORD_ONLY
)
