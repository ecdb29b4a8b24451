"""EDSAuth: a ``requests`` auth that stamps, scopes and refreshes the bearer token.

Like httpx's ``Auth.auth_flow``, the auth object owns the whole exchange: it adds the
token to requests bound for the API's own origin, and when the API answers 401 it
invalidates that token (only if it is still current), gets a new one, and resends the
request once.
"""

from __future__ import annotations

import logging
import re
import sys
import types
import warnings
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase

from . import redaction, transport
from .cache import TokenCache
from .errors import CredentialsError, InsecureTransportError
from .pystac_hooks import discover_extension_hooks
from .settings import Credentials, check_host, is_loopback

log = logging.getLogger(__name__)

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> Origin | None:
    """(scheme, host, port) of ``url``, with the default port filled in."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port


class EDSAuth(AuthBase):
    """Bearer-token auth for EDS, for any :class:`requests.Session` or request.

    The token goes only to the origin of ``credentials.api_url`` and to the hosts in
    ``allowed_hosts`` (over https, or http on loopback), never elsewhere — not to a
    ``next`` link or a redirect on another host; ``headers`` go with it, and only there.
    A loopback request that an environment proxy (``HTTP_PROXY``…) would carry is
    refused (:class:`InsecureTransportError`) unless the session is one of pystac-eds's
    (:func:`pystac_eds.transport.new_session`, ``open()``, ``stac_io()``), which go direct.
    An ``Authorization`` header already on a request it stamps is replaced (with a
    warning, once per EDSAuth). Tokens come from ``cache``, by default
    the process-wide :meth:`TokenCache.default`, so every EDSAuth with the same
    credentials shares one token.

    ``credentials=None`` resolves them from the environment and env files now, so
    configuration errors surface at construction; no network is touched until the first
    request or :meth:`token`.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        cache: TokenCache | None = None,
        allowed_hosts: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.credentials = credentials if credentials is not None else Credentials.resolve()
        self._cache = cache
        if isinstance(allowed_hosts, str):  # iterating it would allow each character
            raise CredentialsError(
                f"allowed_hosts takes a list of host names, got the string {allowed_hosts!r}."
            )
        secret = redaction.Hidden(self.credentials.client_secret)
        self.allowed_hosts = frozenset(check_host(h, secret=secret) for h in allowed_hosts)
        #: Headers sent with the token and only where it goes (the asset-access header:
        #: other hosts have no use for it). A value the caller set on the request wins.
        self.headers = dict(headers or {})
        self._warned_authorization = False
        api = origin(self.credentials.api_url)
        assert api is not None  # Credentials validated api_url
        self._api_origin = api
        redaction.install()  # wherever this auth goes, tokens stay out of header logs

    @property
    def cache(self) -> TokenCache:
        return self._cache if self._cache is not None else TokenCache.default()

    def token(self) -> str:
        """An access token valid now (fetched or refreshed if needed)."""
        return self.cache.get(self.credentials).value

    def in_scope(self, url: str) -> bool:
        """Whether a request to ``url`` may carry the token."""
        target = origin(url)
        if target is None:
            return False
        if target == self._api_origin:
            return True
        scheme, host, _ = target
        return host in self.allowed_hosts and (scheme == "https" or is_loopback(host))

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        if not self.in_scope(url):
            _check_not_downgraded(url, self._api_origin)
            return request
        transport.refuse_environment_proxy(url)  # before the token is fetched or stamped
        if "Authorization" in request.headers:
            self._warn_authorization_replaced()
        # No local holds the token: a traceback's locals would show it.
        request.headers["Authorization"] = redaction.BearerHeader.for_token(self.token())
        for name, value in self.headers.items():
            request.headers.setdefault(name, value)
        request.hooks["response"].append(self._on_response)
        return request

    def _warn_authorization_replaced(self) -> None:
        # requests' convention (and pystac-client's when given an auth): the auth wins. A
        # header the caller set on purpose deserves to hear that, once per client.
        if self._warned_authorization:
            return
        self._warned_authorization = True
        scheme, host, port = self._api_origin
        where = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
        warnings.warn(
            "pystac-eds replaces the Authorization header you set (in headers= or by a "
            f"request_modifier=) with its own bearer token on requests to {scheme}://{where}; "
            "remove that header from headers= / request_modifier= to silence this warning.",
            UserWarning,
            stacklevel=_first_frame_outside(_LIBRARIES),
        )

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.is_redirect:
            # requests would follow an https->http redirect with the token stripped;
            # say so loudly instead of failing later with a puzzling 401.
            location = urljoin(response.url, response.headers.get("Location", ""))
            _check_not_downgraded(location, self._api_origin)
            self._keep_headers_in_scope(response.request, location)
        if response.status_code != 401:
            return response
        sent = response.request
        # Tokens are held as Hidden and Token objects: if the resend fails, the traceback's
        # locals show neither the rejected token nor the fresh one.
        rejected = _bearer(sent.headers.get("Authorization"))
        if rejected is None or not self.in_scope(sent.url or "") or not _replayable(sent):
            return response
        self.cache.invalidate(self.credentials, rejected.value)
        fresh = self.cache.get(self.credentials)
        if fresh.value == rejected.value:  # the endpoint handed back the same token
            return response
        log.debug("API answered 401 for %s; resending once with a new token", sent.url)
        retry = sent.copy()
        retry.headers["Authorization"] = redaction.BearerHeader.for_token(fresh.value)
        # Drain the refused response so its connection can be reused.
        response.content  # noqa: B018
        response.close()
        # Sending through the adapter, not the session, means no hooks run for the
        # retry: a second 401 is returned as it is, and nothing can loop.
        assert response.connection is not None
        second: requests.Response = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second

    def _keep_headers_in_scope(self, sent: requests.PreparedRequest, location: str) -> None:
        # requests builds the next hop from a copy of this request: it drops Authorization
        # when the origin changes but keeps every other header, and the auth does not run
        # again. Our headers go only where the token goes, so they leave with it. (The
        # request is history by now; this changes only what the next hop copies.)
        if origin(location) != origin(sent.url or ""):
            for name in self.headers:
                sent.headers.pop(name, None)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled to dask workers or process pools: no cache (locks), only what is needed
        # to get tokens again there. The credentials travel, secret included.
        state = self.__dict__.copy()
        state["_cache"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled in a dask worker or pool process: that process needs the filter too,
        # and pystac's extension hooks found before its threads parse items.
        self.__dict__.update(state)
        redaction.install()
        discover_extension_hooks()

    def __repr__(self) -> str:
        creds = self.credentials
        return f"EDSAuth(client_id={creds.client_id!r}, api_url={creds.api_url!r})"


#: Packages between the caller's code and this auth: a warning names the caller's line.
_LIBRARIES = frozenset({"pystac_eds", "pystac_client", "pystac", "requests", "urllib3"})


def _first_frame_outside(packages: frozenset[str]) -> int:
    """The ``stacklevel`` (for a ``warnings.warn`` in the caller) of the first frame whose
    module is in none of ``packages``: the user's code, however deep the call came from."""
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and _package(frame) in packages:
        level, frame = level + 1, frame.f_back
    return level


def _package(frame: types.FrameType) -> str:
    return str(frame.f_globals.get("__name__", "")).partition(".")[0]


def _check_not_downgraded(url: str, api: Origin) -> None:
    # A plain-http request to the API's own host is a downgrade (a bad redirect or link):
    # refuse loudly rather than silently sending it without a token.
    target = origin(url)
    if target is None:
        return
    scheme, host, _ = target
    if scheme == "http" and api[0] == "https" and host == api[1] and not is_loopback(host):
        raise InsecureTransportError(
            f"Refusing to send the EDS token over plain http to {host}: the API is https."
        )


_BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)


def _bearer(header: str | bytes | None) -> redaction.Hidden[str] | None:
    if header is None:
        return None
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    match = _BEARER.match(header)
    return redaction.Hidden(match.group(1)) if match else None


def _replayable(request: requests.PreparedRequest) -> bool:
    # JSON and form bodies (what pystac-client sends) can be resent; a stream cannot.
    return request.body is None or isinstance(request.body, (bytes, str))
