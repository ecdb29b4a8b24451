"""HTTP transport shared by the token request and the API session: loopback goes direct,
and one deadline can bound a whole exchange.

requests takes proxies from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``,
``ALL_PROXY``) unless ``NO_PROXY`` lists the host, and by default it does not list
loopback. A request to a loopback token URL or API (the sandbox, a port-forward, a local
gateway) would then hand the client secret or the bearer token to the proxy. The
adapter here drops proxies for loopback targets at the last step every request takes
(first send, redirects, EDSAuth's resend after a 401), whatever the session's
``trust_env`` and wherever the proxies came from.

A session that is not ours sends through requests' own adapter, and requests applies
the auth *before* it picks the proxies, so :class:`~pystac_eds.EDSAuth` cannot take a
loopback request away from a proxy; it refuses instead (:func:`refuse_environment_proxy`).
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies, select_proxy

from .errors import InsecureTransportError
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


# --- EDSAuth's view of the session -----------------------------------------------------------

#: The session preparing the current request, while one of ours does: EDSAuth runs inside
#: ``prepare_request`` and sees only the request, not the session that will send it.
_PREPARING: ContextVar[requests.Session | None] = ContextVar("pystac_eds_preparing", default=None)


@contextlib.contextmanager
def preparing(session: requests.Session) -> Iterator[None]:
    """Tell :func:`refuse_environment_proxy` which session the requests prepared in this
    block are for (pystac-client prepares and sends in one method, which we wrap)."""
    token = _PREPARING.set(session)
    try:
        yield
    finally:
        _PREPARING.reset(token)


class DirectSession(requests.Session):
    """A :class:`requests.Session` whose loopback requests go direct, never through an
    environment proxy, so :class:`~pystac_eds.EDSAuth` may send the token to a loopback API
    from it whatever ``HTTP_PROXY`` says. Use it in place of ``requests.Session()``."""

    def __init__(self) -> None:
        super().__init__()
        for prefix in ("http://", "https://"):
            self.mount(prefix, DeadlineAdapter())

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        with preparing(self):
            return super().prepare_request(request)


def new_session() -> DirectSession:
    """A :class:`DirectSession`: loopback requests go direct, and a :class:`Deadline` bounds
    each exchange made inside one."""
    return DirectSession()


def refuse_environment_proxy(url: str) -> None:
    """:class:`InsecureTransportError` if a request to the loopback ``url`` would carry the
    token through a proxy from the environment: that is, unless ``NO_PROXY`` spares it or
    one of our sessions (whose adapter goes direct) prepares it."""
    if not is_loopback_url(url):
        return
    session = _PREPARING.get()
    if session is not None and isinstance(session.get_adapter(url), DirectLoopbackAdapter):
        return
    if select_proxy(url, get_environ_proxies(url)) is None:
        return
    raise InsecureTransportError(
        f"Refusing to send the EDS token to {url.split('?')[0]}: a proxy from the environment "
        "(HTTP_PROXY, HTTPS_PROXY or ALL_PROXY) would get the request and its token, and "
        "requests picks the proxy after the auth has run. Send loopback requests direct: "
        "make the session with pystac_eds.transport.new_session() instead of "
        "requests.Session(), or add the host to NO_PROXY (e.g. NO_PROXY=127.0.0.1,localhost)."
    )


# --- one deadline over an exchange -------------------------------------------------------------

_ACTIVE: ContextVar[Deadline | None] = ContextVar("pystac_eds_deadline", default=None)


class Deadline:
    """A wall-clock limit on every HTTP exchange made inside the ``with`` block by a session
    of :func:`new_session`, enforced at the socket.

    A socket timeout bounds one ``recv``, so a server that sends a byte every few seconds
    (of the status line, a header or the body) never trips it. Here a watchdog thread,
    started when the first connection is made, shuts the connection's socket down when
    the time is up: whatever urllib3 is waiting for fails at once. ``expired`` says the
    failure was the deadline's. Leaving the block stops and joins the watchdog, so no
    thread outlives it and no socket is shut down after it.
    """

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._token: Any = None
        self.expired = False

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                _shut_down(sock)
                return
            self._sockets.append(sock)
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._run, name="pystac-eds deadline", daemon=True
                )
                self._watchdog.start()

    def _run(self) -> None:
        if self._done.wait(max(self._at - time.monotonic(), 0.0)):
            return  # the exchange ended in time
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut_down(sock)

    def __enter__(self) -> Deadline:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _ACTIVE.reset(self._token)
        self._done.set()
        if self._watchdog is not None:
            self._watchdog.join()


def _shut_down(sock: socket.socket) -> None:
    # socket.socket's own shutdown, even on an SSLSocket: that one would also drop its SSL
    # object under the reading thread's feet. A blocked recv then returns at once.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watched:
    """Mixed into urllib3's connection classes: hands the socket to the active
    :class:`Deadline` as soon as it is connected (so a proxy's answer to ``CONNECT`` is
    watched too) and again before waiting for the response (status line, headers, body),
    since TLS puts the connection on a new socket object."""

    sock: socket.socket | None

    def _new_conn(self, *args: Any, **kwargs: Any) -> Any:
        sock = super()._new_conn(*args, **kwargs)  # type: ignore[misc]
        deadline = _ACTIVE.get()
        if deadline is not None:
            deadline.watch(sock)
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = _ACTIVE.get()
        if deadline is not None and self.sock is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


@functools.cache
def _watched_pool(pool_class: type[Any]) -> type[Any]:
    connection = pool_class.ConnectionCls
    if issubclass(connection, _Watched):
        return pool_class
    watched = type(f"Watched{connection.__name__}", (_Watched, connection), {})
    return type(f"Watched{pool_class.__name__}", (pool_class,), {"ConnectionCls": watched})


def _watch_pools(manager: Any) -> Any:
    # Every kind of pool manager (plain, http(s) proxy, SOCKS) picks its pools' classes
    # from this mapping: our subclasses differ only in handing sockets to the deadline.
    manager.pool_classes_by_scheme = {
        scheme: _watched_pool(pool) for scheme, pool in manager.pool_classes_by_scheme.items()
    }
    return manager


class DeadlineAdapter(DirectLoopbackAdapter):
    """A :class:`DirectLoopbackAdapter` whose connections honour an active
    :class:`Deadline`, direct or through a proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return _watch_pools(super().proxy_manager_for(proxy, **proxy_kwargs))
