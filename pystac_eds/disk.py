"""The persistent token store: access tokens shared across processes and kernel restarts.

The files live in a folder of their own, ``pystac-eds-tokens``, that pystac-eds creates
(0700) inside the cache location and marks with a ``CACHEDIR.TAG`` (which also keeps it
out of backups). Nothing already in the location is changed, not its mode, not a file
in it: pystac-eds only adds its subfolder (and creates the location if it is missing).
A tokens folder that is not private to us, or that pystac-eds did not create, is not
used: one warning, and the disk cache is off for that store.

One JSON file per cache key (0600), holding the token only, never a secret:
``{"version": 1, "access_token", "expires_at", "issued_at"}`` with absolute times. Writes
go to a temporary file in the same folder that is then ``os.replace``d over the old one,
so a reader sees the old token or the new one, never half of one; reads therefore need
no lock. A separate ``<key>.eds-token.lock`` file serialises *refreshes* across
processes. Every name the store writes ends in ``.eds-token.json``, ``.eds-token.lock``
or ``.eds-token.tmp``; :meth:`DiskStore.clear` removes nothing else.

The store is an optimisation, never a source of failure: every I/O problem makes
:meth:`DiskStore.load` return ``None`` and :meth:`DiskStore.save` do nothing, with a
DEBUG log line that names the file but never the token.

``EDS_TOKEN_CACHE`` moves the location (any folder: the tokens go in a subfolder), or
switches the store off with ``off``, ``0``, ``false``, ``no``,
``none`` or ``disabled``. Unset, empty, ``on``, ``1``, ``true``, ``yes`` or ``default``
mean the platform's user cache folder, see :func:`default_folder`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import secrets
import stat
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeGuard

from .redaction import Hidden
from .tokens import Token, is_bearer_token

log = logging.getLogger(__name__)

ENV_VAR = "EDS_TOKEN_CACHE"
APP_NAME = "pystac-eds"
FORMAT_VERSION = 1
#: How long :meth:`DiskStore.lock` waits for another process before going on without it.
LOCK_TIMEOUT = 30.0

_OFF = frozenset({"off", "0", "false", "no", "none", "disable", "disabled"})
_DEFAULT = frozenset({"", "on", "1", "true", "yes", "default"})
# Lower case only: on case-insensitive file systems "AB" and "ab" would share a file.
_KEY = re.compile(r"[a-z0-9_-]{1,128}")
#: The subfolder of the cache location that holds the files, created by pystac-eds.
TOKENS_FOLDER = "pystac-eds-tokens"
_SUFFIX = ".eds-token.json"
_LOCK_SUFFIX = ".eds-token.lock"
_TMP = re.compile(r"\.[a-z0-9_-]{1,128}\.[0-9a-f]{16}\.eds-token\.tmp")
#: https://bford.info/cachedir/ : marks the folder as ours, and as a cache for backup tools.
_TAG_NAME = "CACHEDIR.TAG"
_TAG = (
    b"Signature: 8a477f597d28d172789f06886806bc55\n"
    b"# This folder holds access tokens cached by pystac-eds; it may be deleted.\n"
)
# A token is well under a kilobyte; anything much bigger is not ours.
_MAX_SIZE = 64 * 1024
# Owners and modes are only meaningful on POSIX; on Windows the per-user
# %LOCALAPPDATA% ACLs protect the folder.
_POSIX = hasattr(os, "geteuid")
# O_NOFOLLOW: never read or write through a link planted where our file should be.
# O_NONBLOCK: a FIFO planted there must not hang us (fstat then rejects it).
# O_BINARY: no newline translation on Windows.
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_READ = os.O_RDONLY | _O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_O_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | getattr(os, "O_BINARY", 0)


class DiskStore:
    """Tokens on disk in the ``pystac-eds-tokens`` subfolder of ``folder``, one file per
    cache key.

    Holds no open files or locks between calls, so it pickles (to dask workers, process
    pools) as just its folder, timeout and whether it was switched off.
    """

    def __init__(
        self, folder: str | os.PathLike[str], *, lock_timeout: float = LOCK_TIMEOUT
    ) -> None:
        # Absolute now, so a later chdir does not move the cache.
        self.folder = Path(folder).expanduser().absolute()
        self.lock_timeout = lock_timeout
        #: Why the store switched itself off (the tokens folder is not safe), or None.
        self.off_reason: str | None = None

    @property
    def tokens_folder(self) -> Path:
        """The folder that holds the files: pystac-eds creates it, private, in :attr:`folder`."""
        return self.folder / TOKENS_FOLDER

    def __repr__(self) -> str:
        return f"DiskStore({str(self.folder)!r})"

    # -- files -------------------------------------------------------------------------

    def path(self, key: str) -> Path:
        """The token file for ``key``; raises ``ValueError`` for a key that could escape
        the folder or collide with another key."""
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError("cache key must be 1-128 characters of [a-z0-9_-]")
        return self.tokens_folder / (key + _SUFFIX)

    def load(self, key: str, *, now: float | None = None) -> Token | None:
        """The stored token for ``key`` if it has not expired at ``now`` (default: the
        current time); ``None`` when absent, expired, unreadable, corrupt, a link, or not
        private to us."""
        path = self.path(key)
        if not self._folder_ok(create=False):
            return None
        try:
            fd = os.open(path, _O_READ)
        except FileNotFoundError:
            return None
        except OSError as exc:  # ELOOP: a symlink, never followed
            log.debug("token cache: ignoring %s: %s", path, _why(exc))
            return None
        try:
            info = os.fstat(fd)
            if not self._private(info, path, want_dir=False):
                return None
            data = Hidden(os.read(fd, _MAX_SIZE + 1))  # Hidden: no traceback shows it
        except OSError as exc:
            log.debug("token cache: cannot read %s: %s", path, _why(exc))
            return None
        finally:
            os.close(fd)
        token = _decode(data.value)
        if token is None:
            log.debug("token cache: ignoring malformed %s", path)
            return None
        if token.is_expired(time.time() if now is None else now):
            return None
        return token

    def save(self, key: str, token: Token) -> None:
        """Store ``token`` for ``key`` atomically. Never raises for I/O problems."""
        path = self.path(key)
        try:
            body = Hidden(_encode(token))  # Hidden: no traceback shows the token
        except (TypeError, ValueError) as exc:  # e.g. a NaN expiry: not worth storing
            log.debug("token cache: not storing an unencodable token: %s", type(exc).__name__)
            return
        if not self._folder_ok(create=True):
            return
        # Dot-prefixed and random: never mistaken for a token file, never clashing
        # with another process's temporary file.
        tmp = self.tokens_folder / f".{key}.{secrets.token_hex(8)}.eds-token.tmp"
        try:
            fd = os.open(tmp, _O_CREATE, 0o600)
        except OSError as exc:
            log.debug("token cache: cannot write %s: %s", path, _why(exc))
            return
        try:
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)  # a strange umask must not loosen or lock us out
                view = memoryview(body.value)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            # No fsync: after a power cut a torn file reads as "no token" and is replaced;
            # tokens can always be fetched again, so durability is not worth the latency.
            # os.replace swaps the directory entry, so a link at `path` is replaced, not
            # followed.
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("token cache: cannot write %s: %s", path, _why(exc))
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def clear(self) -> None:
        """Remove every token file (and leftover temporary file) of this store: only names
        it writes, only in the tokens folder it created.

        Lock files are kept: they are empty, and deleting one while another process
        holds it would let a third process lock a new file and refresh concurrently.
        """
        if not self._folder_ok(create=False):
            return
        folder = self.tokens_folder
        try:
            names = os.listdir(folder)
        except OSError as exc:
            log.debug("token cache: cannot list %s: %s", folder, _why(exc))
            return
        for name in names:
            token = name.endswith(_SUFFIX) and _KEY.fullmatch(name[: -len(_SUFFIX)])
            if token or _TMP.fullmatch(name):
                try:
                    os.unlink(folder / name)
                except OSError as exc:
                    log.debug("token cache: cannot remove %s: %s", name, _why(exc))

    # -- locking -----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive cross-process lock for refreshing ``key``.

        Waits at most ``lock_timeout`` seconds, then goes on without the lock (DEBUG log):
        a stuck process may cause a duplicate token request, never a hang. Also goes on
        without it where the folder is unusable or the platform has neither ``fcntl`` nor
        ``msvcrt``. Not for serialising threads of one process (``flock`` locks belong to
        open files, and ``msvcrt`` locks to processes): the caller does that.
        """
        path = self.path(key).with_name(key + _LOCK_SUFFIX)  # path() validates the key
        fd = self._open_lock(path) if self._folder_ok(create=True) else None
        locked = False
        try:
            if fd is not None:
                locked = _acquire(fd, time.monotonic() + self.lock_timeout)
                if not locked:
                    log.debug(
                        "token cache: %s still locked after %.0fs; going on without it",
                        path,
                        self.lock_timeout,
                    )
            yield
        finally:
            if fd is not None:
                if locked:
                    with contextlib.suppress(OSError):
                        _release(fd)
                os.close(fd)  # closing also drops an flock

    def _open_lock(self, path: Path) -> int | None:
        for _ in range(2):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | _O_NOFOLLOW, 0o600)
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a link where our lock file belongs: drop it
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                    continue
                log.debug("token cache: cannot open %s: %s", path, _why(exc))
                return None
            return fd
        return None

    # -- the folder --------------------------------------------------------------------

    def private_folder(self, *, create: bool = False) -> Path | None:
        """The tokens folder if it is safe to use (created by pystac-eds, a real folder,
        ours, private), creating it when ``create``; ``None`` otherwise. Never raises."""
        return self.tokens_folder if self._folder_ok(create=create) else None

    def _folder_ok(self, *, create: bool) -> bool:
        """Whether the tokens folder exists, is ours and private, creating it if asked.
        Nothing that is already there is ever changed: a folder that is not safe
        switches the store off (one warning) instead."""
        if self.off_reason is not None:
            return False
        folder = self.tokens_folder
        try:
            info = os.lstat(folder)
        except FileNotFoundError:
            if not create or not self._create_folder():
                return False
            try:
                info = os.lstat(folder)
            except OSError as exc:
                log.debug("token cache: cannot use folder %s: %s", folder, _why(exc))
                return False
        except OSError as exc:  # e.g. EDS_TOKEN_CACHE names a file: not a folder to use
            self._switch_off(f"cannot use it ({_why(exc)})", there=False)
            return False
        problem = self._unsafe(info, folder, want_dir=True) or self._untagged(folder)
        if problem:
            self._switch_off(problem)
            return False
        return True

    def _create_folder(self) -> bool:
        """Create the tokens folder, private and tagged, atomically: it is made under a
        temporary name and renamed into place, so it never exists without its tag (a
        process that loses the race to another keeps the other's)."""
        try:
            # Missing parents are created with the default mode; existing ones untouched.
            os.makedirs(self.folder, exist_ok=True)
            staging = self.folder / f".{TOKENS_FOLDER}.{secrets.token_hex(8)}.eds-token.tmp"
            os.mkdir(staging, 0o700)
        except OSError as exc:  # a file in the way, a read-only or full disk: say so once
            self._switch_off(f"cannot create it ({_why(exc)})", there=False)
            return False
        try:
            if _POSIX:
                os.chmod(staging, 0o700)  # ours, just made: a strange umask must not lock us out
            fd = os.open(staging / _TAG_NAME, _O_CREATE, 0o600)
            try:
                os.write(fd, _TAG)
            finally:
                os.close(fd)
            os.rename(staging, self.tokens_folder)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                log.debug("token cache: cannot create %s: %s", self.tokens_folder, _why(exc))
            with contextlib.suppress(OSError):
                os.unlink(staging / _TAG_NAME)
            with contextlib.suppress(OSError):
                os.rmdir(staging)
            return exc.errno in (errno.EEXIST, errno.ENOTEMPTY)  # another process made it

    def _untagged(self, folder: Path) -> str | None:
        try:
            fd = os.open(folder / _TAG_NAME, _O_READ)
        except OSError:
            return "it was not created by pystac-eds (no CACHEDIR.TAG of ours)"
        try:
            tag = os.read(fd, len(_TAG) + 1)
        except OSError:
            tag = b""
        finally:
            os.close(fd)
        return None if tag == _TAG else "its CACHEDIR.TAG is not pystac-eds's"

    def _switch_off(self, problem: str, *, there: bool = True) -> None:
        """Turn the store off, with one warning. ``there``: the folder exists, but is
        not one to use (rather than one that cannot be made)."""
        self.off_reason = problem
        with _warned_lock:
            if self.tokens_folder in _warned:
                return
            _warned.add(self.tokens_folder)
        fix = (
            "delete that folder (pystac-eds creates a private one), or set EDS_TOKEN_CACHE "
            "to another folder"
            if there
            else "set EDS_TOKEN_CACHE to a folder you can write to (or to off)"
        )
        log.warning(
            "token cache: not using %s: %s. The disk token cache is off; %s.",
            self.tokens_folder,
            problem,
            fix,
        )

    def _private(self, info: os.stat_result, path: Path, *, want_dir: bool) -> bool:
        problem = self._unsafe(info, path, want_dir=want_dir)
        if problem:
            log.debug("token cache: ignoring %s: %s", path, problem)
        return problem is None

    @staticmethod
    def _unsafe(info: os.stat_result, path: Path, *, want_dir: bool) -> str | None:
        """Why ``path`` (of ``info``, from lstat or fstat) must not be used, if it must not:
        a link or another kind of file, another user's, or open to others (who could
        read our tokens or plant theirs)."""
        if stat.S_ISLNK(info.st_mode):
            return "it is a symbolic link (followed, it could lead anywhere)"
        if not (stat.S_ISDIR(info.st_mode) if want_dir else stat.S_ISREG(info.st_mode)):
            return f"not a {'folder' if want_dir else 'regular file'}"
        if not _POSIX:
            return None
        if info.st_uid != os.geteuid():
            return f"owned by uid {info.st_uid}, not us"
        if info.st_mode & 0o077:
            return f"mode {stat.S_IMODE(info.st_mode):o} is not private"
        return None


_warned: set[Path] = set()
_warned_lock = threading.Lock()


# -- file format -----------------------------------------------------------------------


def _encode(token: Token) -> bytes:
    record = {
        "version": FORMAT_VERSION,
        "access_token": token.value,
        "expires_at": token.expires_at,
        "issued_at": token.issued_at,
    }
    return json.dumps(record, allow_nan=False).encode("utf-8")


def _decode(data: bytes) -> Token | None:
    if len(data) > _MAX_SIZE:
        return None
    try:
        record: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("version") != FORMAT_VERSION:
        return None
    value, expires_at, issued_at = (
        record.get("access_token"),
        record.get("expires_at"),
        record.get("issued_at"),
    )
    if not is_bearer_token(value) or not _time(expires_at) or not _time(issued_at):
        return None  # a planted CR/LF "token" would split the Authorization header
    return Token(value=value, expires_at=float(expires_at), issued_at=float(issued_at))


def _time(x: object) -> TypeGuard[float]:
    # json.loads accepts NaN and Infinity; bool is an int subclass.
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _why(exc: OSError) -> str:
    return f"{type(exc).__name__} ({exc.strerror or exc.errno})"


# -- platform locks --------------------------------------------------------------------


def _acquire(fd: int, deadline: float) -> bool:
    """Poll a non-blocking lock until ``deadline``: a blocking call could not time out."""
    delay = 0.002
    while True:
        try:
            if _try_lock(fd):
                return True
        except OSError as exc:
            log.debug("token cache: cannot lock: %s", _why(exc))
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        """True if locked, False if another process holds it."""
        os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks bytes from the current position
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):  # held elsewhere
                return False
            raise
        return True

    def _release(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - e.g. WASI
        fcntl = None  # type: ignore[assignment]

    def _try_lock(fd: int) -> bool:
        """True if locked (or locking is unavailable: a documented no-op), False if
        another process holds it."""
        if fcntl is None:  # pragma: no cover
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _release(fd: int) -> None:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)


# -- where the folder is ---------------------------------------------------------------


def default_folder(
    environ: Mapping[str, str] | None = None, *, platform: str | None = None
) -> Path:
    """The platform's user cache folder for pystac-eds (not created here).

    Linux and other POSIX: ``$XDG_CACHE_HOME/pystac-eds`` (if absolute, as the XDG spec
    requires) else ``~/.cache/pystac-eds``; macOS: ``~/Library/Caches/pystac-eds``;
    Windows: ``%LOCALAPPDATA%\\pystac-eds\\Cache``. ``platform`` is a ``sys.platform``
    value, for tests.
    """
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        local = env.get("LOCALAPPDATA")
        base = Path(local) if local else _home(env, "USERPROFILE") / "AppData" / "Local"
        return base / APP_NAME / "Cache"
    if platform == "darwin":
        return _home(env, "HOME") / "Library" / "Caches" / APP_NAME
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else _home(env, "HOME") / ".cache"
    return base / APP_NAME


def _home(env: Mapping[str, str], var: str) -> Path:
    value = env.get(var)
    return Path(value) if value else Path.home()


def store_from_env(
    environ: Mapping[str, str] | None = None, *, platform: str | None = None
) -> DiskStore | None:
    """The store ``EDS_TOKEN_CACHE`` asks for: ``None`` if it is switched off, its folder
    if it names one, else the :func:`default_folder`."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV_VAR)
    setting = (raw or "").strip()
    if setting.lower() in _OFF:
        return None
    if setting.lower() in _DEFAULT:
        return DiskStore(default_folder(env, platform=platform))
    return DiskStore(setting)
