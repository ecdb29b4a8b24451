"""What ``client_auth="auto"`` learnt: which client authentication method a token URL took
from a client (token URL + client id + a fingerprint of the secret, so a rotated secret is
learnt afresh).

A :class:`~pystac_eds.TokenCache` keeps one :class:`LearntMethods`. In memory it saves the
failed first attempt for the rest of the process; with a folder (the disk token cache's)
it also keeps one small file per client beside the token files (in the private folder
the disk store creates and vets), so a new process or CLI run does not pay that attempt
again either.

The file holds no secret and not even the URL: it is named by a hash of that key and
holds ``{"version": 1, "method": "basic" | "post"}``. It is read and written with the
same care as the token files (no links followed, private folder, 0600, atomic replace),
and like them it is an optimisation only: any problem means "nothing learnt yet".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import stat
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from .settings import Credentials

log = logging.getLogger(__name__)

#: The methods worth remembering; "auto" is what is being resolved.
METHODS = ("basic", "post")
SUFFIX = ".client-auth"
_MAX_SIZE = 1024
_POSIX = hasattr(os, "geteuid")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


@runtime_checkable
class PrivateFolder(Protocol):
    """Where the files go: the disk store's own folder, which it creates and vets."""

    def private_folder(self, *, create: bool = False) -> Path | None: ...


class LearntMethods:
    """Thread-safe map of client -> the method (``"basic"`` or ``"post"``) its token URL
    accepted, persisted in ``store``'s private folder when a store is given."""

    def __init__(self, store: PrivateFolder | None = None) -> None:
        self.store = store
        self._methods: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LearntMethods(store={self.store!r})"

    def _folder(self, *, create: bool) -> Path | None:
        # The store says whether its folder is safe (ours, private, no link); never ours
        # to create or chmod here.
        return self.store.private_folder(create=create) if self.store is not None else None

    def get(self, credentials: Credentials) -> str | None:
        """The method the token URL accepted from this client before, in this process or
        (with a folder) in another one; ``None`` if nothing is known."""
        key = _key(credentials)
        with self._lock:
            known = self._methods.get(key)
        folder = self._folder(create=False) if known is None else None
        if folder is not None:
            known = _read(folder / (key + SUFFIX))
            if known is not None:
                with self._lock:
                    self._methods.setdefault(key, known)
        return known

    def remember(self, credentials: Credentials, method: str) -> None:
        """Record that the token URL accepted ``method`` from this client; writes the file
        only on a change."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        key = _key(credentials)
        with self._lock:
            changed = self._methods.get(key) != method
            self._methods[key] = method
        folder = self._folder(create=True) if changed else None
        if folder is not None:
            path = folder / (key + SUFFIX)
            if _read(path) != method:
                _write(path, method)

    def forget(self) -> None:
        """Forget what was learnt in memory (files are left alone)."""
        with self._lock:
            self._methods.clear()


def _key(credentials: Credentials) -> str:
    material = "\0".join(
        (credentials.auth_url, credentials.client_id, credentials.secret_fingerprint)
    )
    return hashlib.sha256(b"pystac-eds:client-auth:" + material.encode("utf-8")).hexdigest()[:32]


def _read(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _BINARY)
    except OSError:
        return None  # not there (the usual case), or a link: nothing learnt
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_SIZE or not _ours(info):
            return None
        data = json.loads(os.read(fd, _MAX_SIZE).decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    method = data.get("method") if isinstance(data, dict) else None
    return method if method in METHODS else None


def _write(path: Path, method: str) -> None:
    folder = path.parent
    try:
        tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(json.dumps({"version": 1, "method": method}).encode("utf-8"))
            os.replace(tmp, path)  # readers see the old file or the new one, never half
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        log.debug("client-auth memory: cannot write %s: %s", path, type(exc).__name__)


def _ours(info: os.stat_result) -> bool:
    if not _POSIX:
        return True  # Windows: the per-user cache folder's ACLs protect it
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022
