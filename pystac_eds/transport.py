"""HTTP transport shared by the token request and the API session: loopback goes direct.

requests takes proxies from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``,
``ALL_PROXY``) unless ``NO_PROXY`` lists the host, and by default it does not list
loopback. A request to a loopback token URL or API (the sandbox, a port-forward, a local
gateway) would then hand the client secret or the bearer token to the proxy. The
adapter here drops proxies for loopback targets at the last step every request takes
(first send, redirects, EDSAuth's resend after a 401), whatever the session's
``trust_env`` and wherever the proxies came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .settings import is_loopback_url


class DirectLoopbackAdapter(HTTPAdapter):
    """An :class:`~requests.adapters.HTTPAdapter` that never sends a loopback request
    through a proxy."""

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if proxies and is_loopback_url(request.url or ""):
            proxies = {}
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


def direct_loopback(session: requests.Session) -> requests.Session:
    """``session`` with its plain http(s) adapters replaced by :class:`DirectLoopbackAdapter`
    with the same retries (pystac-client mounts default-sized pools). Adapters of other
    types are the caller's and are kept."""
    for prefix in ("http://", "https://"):
        adapter = session.adapters.get(prefix)
        if type(adapter) is HTTPAdapter:
            session.mount(prefix, DirectLoopbackAdapter(max_retries=adapter.max_retries))
    return session


def new_session() -> requests.Session:
    """A :class:`requests.Session` whose loopback requests go direct."""
    return direct_loopback(requests.Session())
