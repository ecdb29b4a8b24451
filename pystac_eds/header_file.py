"""A private GDAL header file that always holds a currently valid EDS bearer token.

GDAL copies ``GDAL_HTTP_HEADERS`` when it opens a file, but re-reads the file named by
``GDAL_HTTP_HEADER_FILE`` for every request, even of a dataset opened long ago. So the
token goes in a file, rewritten atomically a margin before the token expires (GDAL caches
a refused URL, so rewriting after a 401 would be too late). One file per process,
credentials and token cache, 0600 in the token cache's private folder (or a private
temporary folder when the disk cache is off), removed when the process exits; files of
processes that died without removing theirs are swept (:mod:`pystac_eds.header_sweep`).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import secrets
import threading
from pathlib import Path

from . import header_sweep
from .cache import TokenCache, cache_key
from .disk import store_from_env
from .errors import EDSError
from .settings import Credentials
from .tokens import Token

log = logging.getLogger(__name__)

#: After a failed refresh (the current token may still be valid), try again this soon.
RETRY_AFTER_FAILURE = 5.0
#: Never wake more often than this, whatever the clock says.
MIN_WAIT = 0.05
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class HeaderFile:
    """The header file for ``credentials`` in this process, kept fresh by :meth:`refresh`.

    ``cache`` (default: the process-wide one, with its disk store) supplies tokens, so
    every process sharing the disk cache writes the same token and causes no extra token
    request.
    """

    def __init__(self, path: Path, credentials: Credentials, cache: TokenCache | None) -> None:
        self.path = path
        self.credentials = credentials
        self._cache = cache
        # The Token (whose repr hides its value), so no traceback shows a whole token.
        self._written: Token | None = None
        self.writes = 0  # how many times the file was (re)written, for tests and benchmarks

    @property
    def cache(self) -> TokenCache:
        return self._cache if self._cache is not None else TokenCache.default()

    def refresh(self) -> float:
        """Make sure the file holds a token that is not due for refresh; return when
        (cache clock, seconds) to call again."""
        token = self.cache.get(self.credentials)  # refreshes a margin before expiry
        stale = self._written is None or token.value != self._written.value
        if stale or not self.path.exists():  # (someone may have cleaned the folder)
            self._write(token)
        now = self.cache.clock()
        if token.needs_refresh(now):
            # Another thread is refreshing, or a refresh failed while the token is still
            # valid: look again soon rather than spin.
            return now + min(RETRY_AFTER_FAILURE, max(MIN_WAIT, token.expires_at - now) / 4)
        return token.refresh_at

    def _write(self, token: Token) -> None:
        _validate(token)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600)
        try:
            try:
                os.fchmod(fd, 0o600)  # whatever the umask
                os.write(fd, f"Authorization: Bearer {token.value}\n".encode("ascii"))
            finally:
                os.close(fd)
            os.replace(tmp, self.path)  # readers see the old file or the new one
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._written = token
        self.writes += 1
        log.debug("GDAL header file %s rewritten (token valid %.0fs)", self.path, token.lifetime)


def _validate(token: Token) -> None:
    # A newline in a token would add a header of the issuer's choosing to every request.
    if not token.value or any(not (0x21 <= ord(c) <= 0x7E) for c in token.value):
        raise EDSError("The token endpoint returned a token GDAL cannot send as a header.")


class Refresher:
    """A daemon thread that keeps one :class:`HeaderFile` fresh."""

    def __init__(self, header: HeaderFile) -> None:
        self.header = header
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"pystac-eds-gdal-{header.path.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wake = self.header.refresh()
            except (EDSError, OSError) as err:
                log.warning("could not refresh GDAL header file %s: %s", self.header.path, err)
                wake = self.header.cache.clock() + RETRY_AFTER_FAILURE
            self._stop.wait(max(MIN_WAIT, wake - self.header.cache.clock()))


# -- one per process and credentials -----------------------------------------------------

_lock = threading.Lock()
# Keyed by credentials and cache: two caches give two tokens, so two files. (A cache's id
# cannot be reused while it is here: its refresher holds it.)
_running: dict[tuple[str, int], Refresher] = {}
_serials = itertools.count(1)
_swept: set[Path] = set()


def _key(credentials: Credentials, cache: TokenCache | None) -> tuple[str, int]:
    return cache_key(credentials), id(cache) if cache is not None else 0


def ensure_fresh(credentials: Credentials, cache: TokenCache | None = None) -> HeaderFile:
    """This process's header file for ``credentials`` and ``cache``: written now (so the
    caller can read at once; raises like a token request would) and kept fresh by a
    thread."""
    key = _key(credentials, cache)
    with _lock:
        running = _running.get(key)
        if running is not None:
            return running.header
        folder = _folder()
        if folder not in _swept:  # once per folder and process
            _swept.add(folder)
            header_sweep.sweep(folder)
        name = header_sweep.header_name(key[0], next(_serials))
        header = HeaderFile(folder / name, credentials, cache)
        header.refresh()
        refresher = Refresher(header)
        refresher.start()
        _running[key] = refresher
        return header


def stop(credentials: Credentials, cache: TokenCache | None = None) -> None:
    """Stop the refresher for ``credentials`` and ``cache`` and remove its file."""
    key = _key(credentials, cache)
    with _lock:
        refresher = _running.pop(key, None)
    _stop([refresher] if refresher is not None else [])


def stop_all() -> None:
    """Stop every refresher of this process and remove its header files."""
    with _lock:
        running = list(_running.values())
        _running.clear()
    _stop(running)


def _stop(running: list[Refresher]) -> None:
    for refresher in running:
        refresher.stop()
        with contextlib.suppress(OSError):
            os.unlink(refresher.header.path)


_temp_folder: Path | None = None


def _folder() -> Path:
    """The disk token cache's private folder (created and checked by the store), else a
    private temporary folder of this process."""
    global _temp_folder
    store = store_from_env()
    private = store.private_folder(create=True) if store is not None else None
    if private is not None:
        return private
    if _temp_folder is None:
        _temp_folder = header_sweep.make_temp_folder()
    return _temp_folder


def _forget_after_fork() -> None:
    # Threads do not survive a fork: the child starts its own refreshers, files and
    # temporary folder (the parent's is the parent's to remove).
    global _lock, _temp_folder
    _lock = threading.Lock()
    _running.clear()
    _temp_folder = None


def _at_exit() -> None:
    # Refreshers first: a folder removed under a running one would make it complain.
    stop_all()
    if _temp_folder is not None:
        header_sweep.remove_temp_folder(_temp_folder)


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
