"""The shared client-credentials token cache.

One process-wide :class:`TokenCache` serves every :class:`~pystac_eds.EDSAuth` and
every client: clients with the same credentials share one token. Per key it keeps
the current token and a lock, and it guarantees:

* single flight: threads that need a new token together cause one token request;
  the others wait and reuse its result (re-checked under the lock);
* refresh-ahead: a margin before expiry one thread refreshes while the others keep
  using the still-valid token instead of queueing behind the token endpoint;
* a 401 invalidates the token only if it is still the one that was rejected, so a
  burst of 401s for one old token causes one refresh, not one each;
* with a disk store, processes share tokens too: the refresh happens under a
  cross-process lock, and a token another process just saved is picked up.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from .errors import TokenError
from .learnt import LearntMethods, PrivateFolder
from .settings import Credentials
from .token_request import RetryPolicy, request_token
from .tokens import Clock, Token

log = logging.getLogger(__name__)

Fetch = Callable[[Credentials], Token]

#: Seconds between refresh attempts while a still-valid token is in use and refreshing fails.
RETRY_AHEAD_AFTER = 5.0


class Store(Protocol):
    """Where tokens persist beyond this process (see :mod:`pystac_eds.disk`)."""

    def load(self, key: str, *, now: float | None = None) -> Token | None: ...

    def save(self, key: str, token: Token) -> None: ...

    def lock(self, key: str) -> AbstractContextManager[None]: ...


def cache_key(credentials: Credentials) -> str:
    """Token URL + client id + a fingerprint of the secret; never the secret itself."""
    parts = [credentials.auth_url, credentials.client_id, credentials.secret_fingerprint]
    if credentials.scope:  # another scope is another token; keys without one are unchanged
        parts.append("scope=" + credentials.scope)
    material = "\0".join(parts)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    token: Token | None = None
    #: The last value the API refused, so a copy of it on disk is not picked up again.
    rejected: str | None = None
    #: After a failed refresh-ahead, when to try again (the current token is still valid).
    retry_at: float = 0.0


class TokenCache:
    """A thread-safe cache of access tokens keyed by credentials.

    ``clock`` (wall-clock seconds) and ``fetch`` (the token request) are injectable for
    tests; ``policy`` bounds the default token request's retries and timeouts (see
    :class:`~pystac_eds.RetryPolicy`); ``store`` adds a cross-process layer (see
    :class:`~pystac_eds.DiskStore`). ``learnt`` remembers which client authentication
    method the token URL accepted from each client (beside the store's tokens when it has
    a folder).
    ``token_requests`` counts the token requests this cache made, which is what you watch
    to see single flight at work.
    """

    _default: TokenCache | None = None
    _default_lock = threading.Lock()

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        fetch: Fetch | None = None,
        store: Store | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.clock = clock
        self._fetch = fetch or (
            lambda credentials: request_token(
                credentials, clock=clock, policy=policy, learnt=self.learnt
            )
        )
        self.store = store
        self._entries: dict[str, _Entry] = {}
        self._entries_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.token_requests = 0
        _caches.add(self)

    @property
    def store(self) -> Store | None:
        """The cross-process layer (``None``: this process only)."""
        return self._store

    @store.setter
    def store(self, store: Store | None) -> None:
        self._store = store
        # What `client_auth="auto"` learnt lives beside the tokens, so a new process does
        # not pay the failed first attempt again.
        self.learnt = LearntMethods(store if isinstance(store, PrivateFolder) else None)

    @classmethod
    def default(cls) -> TokenCache:
        """The process-wide cache, with the disk store that ``EDS_TOKEN_CACHE`` selects."""
        with cls._default_lock:
            if cls._default is None:
                from .disk import store_from_env

                cls._default = cls(store=store_from_env())
            return cls._default

    def __repr__(self) -> str:
        return (
            f"TokenCache(keys={len(self._entries)}, token_requests={self.token_requests}, "
            f"store={self.store!r})"
        )

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            with self._entries_lock:
                entry = self._entries.setdefault(key, _Entry())
        return entry

    def peek(self, credentials: Credentials) -> Token | None:
        """The cached token, valid or not, without any request."""
        return self._entry(cache_key(credentials)).token

    def get(self, credentials: Credentials) -> Token:
        """A token valid now, requesting one only when needed (single flight)."""
        key = cache_key(credentials)
        entry = self._entry(key)
        token = entry.token  # a reference read: atomic, and tokens are immutable
        now = self.clock()
        if token is not None and not token.needs_refresh(now):
            return token
        if token is not None and not token.is_expired(now):
            # Refresh-ahead: if another thread is already refreshing, or a refresh failed
            # moments ago, keep using the still-valid token rather than waiting.
            if now < entry.retry_at or not entry.lock.acquire(blocking=False):
                return token
            try:
                return self._refresh_locked(credentials, key, entry)
            except TokenError as err:
                entry.retry_at = self.clock() + RETRY_AHEAD_AFTER
                log.warning("token refresh failed; the current token is still valid: %s", err)
                return token
            finally:
                entry.lock.release()
        with entry.lock:
            return self._refresh_locked(credentials, key, entry)

    def _refresh_locked(self, credentials: Credentials, key: str, entry: _Entry) -> Token:
        # Re-check: the thread that held the lock before us may have refreshed already.
        token = entry.token
        if token is not None and not token.needs_refresh(self.clock()):
            return token
        if self.store is None:
            return self._fetch_into(credentials, key, entry)
        shared = self._adopt_shared(self.store, key, entry)
        if shared is not None:
            return shared
        with self.store.lock(key):
            # Another process may have refreshed while we waited for its lock.
            shared = self._adopt_shared(self.store, key, entry)
            return shared or self._fetch_into(credentials, key, entry)

    def _adopt_shared(self, store: Store, key: str, entry: _Entry) -> Token | None:
        """The token another process saved, if it is still good; it becomes ours."""
        token = store.load(key, now=self.clock())
        # No use if it is about to expire or if the API refused it.
        if token is None or token.needs_refresh(self.clock()) or token.value == entry.rejected:
            return None
        entry.token = token
        return token

    def _fetch_into(self, credentials: Credentials, key: str, entry: _Entry) -> Token:
        # `get` runs this under the entry lock, so only one request per key is in flight.
        with self._count_lock:
            self.token_requests += 1
        token = self._fetch(credentials)
        log.debug("new token for key %s…, valid %.0fs", key[:8], token.lifetime)
        entry.token = token
        if self.store is not None:
            self.store.save(key, token)
        return token

    def invalidate(self, credentials: Credentials, rejected: str) -> bool:
        """Forget the token if it is still ``rejected`` (the value the API refused).

        Returns whether it was dropped. A 401 for a token that was already replaced
        changes nothing, so concurrent 401s cause one refresh.
        """
        entry = self._entry(cache_key(credentials))
        with entry.lock:
            if entry.token is not None and entry.token.value == rejected:
                entry.token = None
                entry.rejected = rejected
                return True
        return False

    def clear(self) -> None:
        """Forget every in-memory token and learnt client-auth method (the disk store is
        left alone)."""
        with self._entries_lock:
            self._entries.clear()
        self.learnt.forget()


# A fork copies locks in whatever state other threads held them: a process pool forked
# while a refresh was in flight would deadlock on its first token. Give children fresh
# locks (the tokens themselves stay valid and are kept).
_caches: weakref.WeakSet[TokenCache] = weakref.WeakSet()


def _fresh_locks_after_fork() -> None:
    TokenCache._default_lock = threading.Lock()
    for cache in list(_caches):
        cache._entries_lock = threading.Lock()
        cache._count_lock = threading.Lock()
        cache.learnt = LearntMethods(cache.learnt.store)  # its lock may be held too
        for entry in cache._entries.values():
            entry.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_locks_after_fork)
