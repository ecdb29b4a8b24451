"""The token cache with an injected clock and token request: no sleeps, no network."""

from __future__ import annotations

import os
import select
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from pystac_eds import Credentials, DiskStore, TokenCache, TokenError
from pystac_eds.cache import cache_key
from pystac_eds.tokens import Token

from .conftest import CANARY_SECRET


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class QueueingClock(FakeClock):
    """A fake clock that also records which threads have read it.

    ``get`` reads the clock right after it has read the cached token, so once a thread has
    called the clock it has seen the old (missing or stale) token and is committed to
    queueing on the lock. :meth:`wait_for` lets a test hold the token endpoint until every
    waiter is past that point: without the re-check under the lock each of them would
    fetch again, whatever the scheduling.
    """

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self._changed = threading.Condition()

    def __call__(self) -> float:
        with self._changed:
            self.threads.add(threading.get_ident())
            self._changed.notify_all()
        return self.now

    def wait_for(self, threads: list[threading.Thread]) -> bool:
        wanted = {t.ident for t in threads}
        with self._changed:
            return self._changed.wait_for(lambda: wanted <= self.threads, timeout=30)


class FakeEndpoint:
    """Issues numbered tokens of a fixed lifetime, optionally blocking until released.

    A held request waits for its ``gate`` however long the test takes to release it (a
    timeout here would let it answer early on a stalled machine, and the test would see
    a refresh that was meant to be still in flight); :func:`_release_gates` opens every
    gate when a test ends, so a failed test never leaves a thread blocked.
    """

    def __init__(self, clock: FakeClock, lifetime: float = 3600) -> None:
        self.clock, self.lifetime = clock, lifetime
        self.calls = 0
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self._lock = threading.Lock()
        _ENDPOINTS.append(self)

    def __call__(self, credentials: Credentials) -> Token:
        with self._lock:
            self.calls += 1
            n = self.calls
        self.entered.set()
        gate = self.gate
        if gate is not None:
            gate.wait()
        now = self.clock()
        return Token(f"token-{n}", expires_at=now + self.lifetime, issued_at=now)


_ENDPOINTS: list[FakeEndpoint] = []


@pytest.fixture(autouse=True)
def _release_gates() -> Iterator[None]:
    yield
    for endpoint in _ENDPOINTS:
        if endpoint.gate is not None:
            endpoint.gate.set()
    _ENDPOINTS.clear()


CREDS = Credentials(
    client_id="id", client_secret=CANARY_SECRET, auth_url="https://auth.example.com/token"
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, lifetime: float = 3600) -> tuple[TokenCache, FakeEndpoint]:
    endpoint = FakeEndpoint(clock, lifetime)
    return TokenCache(clock=clock, fetch=endpoint), endpoint


def test_token_is_reused_until_the_refresh_margin(clock: FakeClock) -> None:
    cache, endpoint = make(clock)
    first = cache.get(CREDS)
    clock.now += 3600 - 61
    assert cache.get(CREDS) is first
    clock.now += 2  # inside the 60 s margin
    assert cache.get(CREDS).value == "token-2"
    assert endpoint.calls == cache.token_requests == 2


def test_short_lived_tokens_are_not_refreshed_on_every_call(clock: FakeClock) -> None:
    cache, endpoint = make(clock, lifetime=5)
    for _ in range(100):  # 100 calls over 10 s of 5-second tokens
        cache.get(CREDS)
        clock.now += 0.1
    assert endpoint.calls == 3  # refreshed at 3.75 s and 7.5 s, not per call


def test_peek_never_requests_a_token(clock: FakeClock) -> None:
    cache, endpoint = make(clock)
    assert cache.peek(CREDS) is None
    first = cache.get(CREDS)
    clock.now += 7200  # expired: get() would fetch, peek() shows what is there
    assert cache.peek(CREDS) is first
    assert endpoint.calls == 1


def test_same_credentials_share_one_token_different_ones_do_not(clock: FakeClock) -> None:
    cache, endpoint = make(clock)
    twin = Credentials(
        client_id="id",
        client_secret=CANARY_SECRET,
        auth_url=CREDS.auth_url,
        api_url="https://other.example.com/stac",
    )
    other = Credentials(client_id="id", client_secret="another-secret", auth_url=CREDS.auth_url)
    assert cache.get(CREDS) is cache.get(twin)
    assert cache.get(other) is not cache.get(CREDS)
    assert endpoint.calls == 2


def test_scope_comes_from_eds_scope_and_keys_its_own_token() -> None:
    env = {"EDS_SECRET": CANARY_SECRET, "EDS_SCOPE": "stac:search"}
    scoped = Credentials.resolve(environ=env)
    assert scoped.scope == "stac:search"
    assert Credentials.resolve(environ={"EDS_SECRET": CANARY_SECRET}).scope is None
    # Another scope is another token; without one, keys are what they always were.
    unscoped = Credentials(client_id="id", client_secret=CANARY_SECRET, auth_url=CREDS.auth_url)
    assert cache_key(unscoped) == cache_key(CREDS)
    assert cache_key(replace(CREDS, scope="stac:search")) != cache_key(CREDS)


def test_cache_key_holds_no_secret() -> None:
    key = cache_key(CREDS)
    assert CANARY_SECRET not in key and CREDS.secret_fingerprint not in key
    assert key != cache_key(Credentials(client_id="id", client_secret="x", auth_url=CREDS.auth_url))


def _race(cache: TokenCache, clock: QueueingClock, endpoint: FakeEndpoint, n: int) -> list[str]:
    """``n`` threads ask for a token while the endpoint is held until all of them have seen
    that a new one is needed; then it answers once."""
    endpoint.gate = threading.Event()
    clock.threads.clear()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(CREDS).value)) for _ in range(n)
    ]
    for t in threads:
        t.start()
    assert clock.wait_for(threads), "not every thread reached the cache"
    assert endpoint.entered.wait(30)
    endpoint.gate.set()
    for t in threads:
        t.join(30)
    return results


def test_single_flight_many_threads_one_request() -> None:
    clock = QueueingClock()
    cache, endpoint = make(clock)
    results = _race(cache, clock, endpoint, 32)
    assert endpoint.calls == 1
    assert results == ["token-1"] * 32


def test_expired_token_single_flight_after_expiry() -> None:
    clock = QueueingClock()
    cache, endpoint = make(clock)
    cache.get(CREDS)
    clock.now += 7200  # well past expiry: every thread must wait for the new token
    endpoint.entered.clear()
    results = _race(cache, clock, endpoint, 16)
    assert endpoint.calls == 2 and results == ["token-2"] * 16


def test_refresh_ahead_does_not_block_readers(clock: FakeClock) -> None:
    cache, endpoint = make(clock)
    cache.get(CREDS)
    clock.now += 3600 - 30  # inside the margin, still valid
    endpoint.gate = threading.Event()
    endpoint.entered.clear()
    refresher = threading.Thread(target=cache.get, args=(CREDS,))
    refresher.start()
    assert endpoint.entered.wait(5)
    # While the refresh is in flight, another caller gets the still-valid token at once.
    assert cache.get(CREDS).value == "token-1"
    endpoint.gate.set()
    refresher.join(5)
    assert cache.get(CREDS).value == "token-2"


def test_invalidate_only_drops_the_rejected_token(clock: FakeClock) -> None:
    cache, endpoint = make(clock)
    old = cache.get(CREDS).value
    assert cache.invalidate(CREDS, old)
    new = cache.get(CREDS).value
    # A late 401 for the old token (another thread's) must not throw away the new one.
    assert not cache.invalidate(CREDS, old)
    assert cache.get(CREDS).value == new
    assert endpoint.calls == 2


def test_token_errors_propagate_and_the_next_call_tries_again(clock: FakeClock) -> None:
    calls = []

    def failing(credentials: Credentials) -> Token:
        calls.append(1)
        if len(calls) == 1:
            raise TokenError("down", status=503, retryable=True)
        return Token("ok", expires_at=clock() + 60, issued_at=clock())

    cache = TokenCache(clock=clock, fetch=failing)
    with pytest.raises(TokenError):
        cache.get(CREDS)
    assert cache.get(CREDS).value == "ok"


def test_default_cache_is_one_per_process() -> None:
    assert TokenCache.default() is TokenCache.default()


def test_repr_shows_no_token(clock: FakeClock) -> None:
    cache, _ = make(clock)
    cache.get(CREDS)
    assert "token-1" not in repr(cache)


# --- with the disk store ---------------------------------------------------------------


def test_disk_store_shares_tokens_between_caches(clock: FakeClock, tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "tokens")
    one, endpoint_one = make(clock)
    one.store = store
    two, endpoint_two = make(clock)
    two.store = store
    first = one.get(CREDS)
    assert two.get(CREDS).value == first.value  # a "restarted process" reads it back
    assert (endpoint_one.calls, endpoint_two.calls) == (1, 0)
    assert CANARY_SECRET not in "".join(p.read_text() for p in (tmp_path / "tokens").glob("*.json"))


class SignallingStore:
    """A real :class:`DiskStore` that also says when a cache starts waiting for its lock."""

    def __init__(self, store: DiskStore) -> None:
        self.store = store
        self.locking = threading.Event()

    def load(self, key: str, *, now: float | None = None) -> Token | None:
        return self.store.load(key, now=now)

    def save(self, key: str, token: Token) -> None:
        self.store.save(key, token)

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        self.locking.set()
        with self.store.lock(key):
            yield


def test_a_process_waiting_for_the_disk_lock_adopts_the_token_saved_meanwhile(
    clock: FakeClock, tmp_path: Path
) -> None:
    # Two caches on one folder stand for two processes (the file lock is per open file, so
    # it excludes them as it would two processes). The first holds the lock while its token
    # request is held; the second finds nothing on disk and queues for the lock. Only the
    # re-read under the lock stops it from requesting a second token.
    first, first_endpoint = make(clock)
    first.store = DiskStore(tmp_path / "tokens")
    second, second_endpoint = make(clock)
    waiting = SignallingStore(DiskStore(tmp_path / "tokens"))
    second.store = waiting
    first_endpoint.gate = threading.Event()
    got: list[str] = []
    holder = threading.Thread(target=first.get, args=(CREDS,))
    holder.start()
    assert first_endpoint.entered.wait(30)
    waiter = threading.Thread(target=lambda: got.append(second.get(CREDS).value))
    waiter.start()
    assert waiting.locking.wait(30)
    first_endpoint.gate.set()
    holder.join(30)
    waiter.join(30)
    assert got == ["token-1"]
    assert (first_endpoint.calls, second_endpoint.calls) == (1, 0)


class PipeSignal:
    """Stands in for :attr:`SignallingStore.locking` in a forked child: tells the parent."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def set(self) -> None:
        os.write(self.fd, b"L")


def _read(fd: int, size: int, timeout: float = 30) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout)  # a guard against a hang only
    return os.read(fd, size) if ready else b""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_the_disk_lock_is_held_waits_for_it_and_adopts_the_token(
    clock: FakeClock, tmp_path: Path
) -> None:
    # The parent forks while it holds the file lock (its token request is held). The
    # child inherits that locked file and the held in-memory lock: it must neither
    # deadlock nor take the lock as its own, but wait for the parent's refresh and adopt
    # the token it saved.
    cache, endpoint = make(clock)
    store = SignallingStore(DiskStore(tmp_path / "tokens"))
    cache.store = store
    endpoint.gate = threading.Event()
    refresher = threading.Thread(target=cache.get, args=(CREDS,))
    refresher.start()
    assert store.locking.wait(30) and endpoint.entered.wait(30)  # the lock is held now
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: intended here
        pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            endpoint.gate = None  # a request of its own would answer token-2, not hang
            store.locking = PipeSignal(write_end)  # type: ignore[assignment]
            os.write(write_end, cache.get(CREDS).value.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    status = None
    try:
        assert _read(read_end, 1) == b"L", "the child never reached the disk lock"
        endpoint.gate.set()  # the child is waiting for the lock: let the parent finish
        refresher.join(30)
        got = b""
        while chunk := _read(read_end, 64):
            got += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        if status is None:  # failed before reaping it: do not leave it blocked
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert got == b"token-1"  # the parent's token, read under the lock once it was free
    assert endpoint.calls == 1


def test_disk_copy_of_a_rejected_token_is_not_reused(clock: FakeClock, tmp_path: Path) -> None:
    cache, endpoint = make(clock)
    cache.store = DiskStore(tmp_path / "tokens")
    rejected = cache.get(CREDS).value
    cache.invalidate(CREDS, rejected)
    assert cache.get(CREDS).value != rejected
    assert endpoint.calls == 2


def test_disk_token_near_expiry_is_refreshed(clock: FakeClock, tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "tokens")
    store.save(cache_key(CREDS), Token("stale", expires_at=clock() + 10, issued_at=clock() - 3590))
    cache, endpoint = make(clock)
    cache.store = store
    assert cache.get(CREDS).value == "token-1"
    assert endpoint.calls == 1


def test_failed_refresh_ahead_keeps_the_valid_token_and_backs_off(clock: FakeClock) -> None:
    outcomes: list[Token | TokenError] = [
        Token("first", expires_at=clock() + 3600, issued_at=clock()),
        TokenError("down", status=503, retryable=True),
    ]
    calls = []

    def flaky(credentials: Credentials) -> Token:
        calls.append(1)
        outcome = outcomes.pop(0) if outcomes else Token("second", clock() + 3600, clock())
        if isinstance(outcome, TokenError):
            raise outcome
        return outcome

    cache = TokenCache(clock=clock, fetch=flaky)
    cache.get(CREDS)
    clock.now += 3600 - 30  # inside the margin: a refresh is due but the token is valid
    assert cache.get(CREDS).value == "first"  # the refresh failed; no error for the caller
    assert cache.get(CREDS).value == "first"  # and it is not retried on every call
    assert len(calls) == 2
    clock.now += 6
    assert cache.get(CREDS).value == "second"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_mid_refresh_does_not_deadlock(clock: FakeClock) -> None:
    cache, endpoint = make(clock)
    endpoint.gate = threading.Event()
    refresher = threading.Thread(target=cache.get, args=(CREDS,))
    refresher.start()
    assert endpoint.entered.wait(5)  # the entry lock is held by the refresher now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: intended here
        pid = os.fork()
    if pid == 0:  # child: would block forever on the copied, held lock without the fix
        ok = False
        try:
            endpoint.gate = None
            ok = cache.get(CREDS).value.startswith("token-")
        finally:
            os._exit(0 if ok else 1)
    endpoint.gate.set()
    refresher.join(5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child deadlocked on a lock copied from the parent")
