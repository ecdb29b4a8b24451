"""Where ``search --save PATH`` writes, without ever breaking what PATH is.

* A regular file (or a symlink to one, followed to the real path) is replaced
  atomically: the output goes to a hidden ``.NAME.xxxx.part`` beside it, renamed over it
  only once complete, so a failed or interrupted search leaves the old file (or none).
  An existing file keeps its mode and group, and one we may not write is refused as
  ``> FILE`` would refuse it; a new one is created 0600, because search output can hold
  presigned asset URLs, which grant access to the data for hours to whoever reads them.
* A FIFO, a character device (``/dev/null``, a terminal) or a socket is written straight
  into: replacing it with a regular file would starve its reader or, as root, delete a
  device node.
* ``/dev/stdout``, ``/dev/stderr`` and ``/dev/fd/N`` (however spelt, or through a
  symlink) write to that descriptor as the shell set it up (``>>`` appends, ``>(cmd)``
  pipes), never reopening or truncating it.

A regular file with several hard links is replaced like any other: the name given gets
the new output, the other names keep the old content (as ``sed -i`` and editors' safe
save do); nothing is lost either way.

SIGTERM and SIGHUP during an atomic write remove the ``.part`` file before the process
ends, as Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO

from ._common import EXIT_USAGE, CLIError, Terminated, named_errors

#: Mode of a file --save creates: private, see the module docstring.
NEW_FILE_MODE = 0o600
_FD_PATH = re.compile(r"/(?:dev/fd|proc/(?P<pid>self|\d+)/fd)/(?P<fd>\d+)")
#: Symlinks followed when looking for a descriptor path, as the kernel's own limit.
_MAX_LINKS = 40
_STD_PATHS = {"/dev/stdout": 1, "/dev/stderr": 2}


def _descriptor(path: str) -> int | None:
    """The file descriptor a ``/dev/fd/N``-style path names, if it is one, however it is
    spelt (``/dev/./stdout``, ``//dev/fd/1``) or linked to (``out -> /dev/stdout``).

    Seen through, ``/dev/stdout`` of ``>> log`` is the regular file ``log``: replacing it
    would turn the shell's append into an overwrite, so the descriptor must be recognised
    before the kernel's links are followed."""
    current = _normal(os.path.abspath(os.path.expanduser(path)))
    for _ in range(_MAX_LINKS):
        named = _descriptor_named(current)
        if named is not None:
            return named
        try:
            link = os.readlink(current)
        except OSError:  # not a symlink (or not there): an ordinary path
            return None
        current = _normal(os.path.join(os.path.dirname(current), link))
    return None


def _normal(path: str) -> str:
    # normpath keeps a leading "//" (POSIX leaves its meaning open); Linux reads it as "/".
    return "/" + os.path.normpath(path).lstrip("/")


def _descriptor_named(path: str) -> int | None:
    if path in _STD_PATHS:
        return _STD_PATHS[path]
    match = _FD_PATH.fullmatch(path)
    if match and match.group("pid") in (None, "self", str(os.getpid())):
        return int(match.group("fd"))
    return None


@contextlib.contextmanager
def open_output(path: str) -> Iterator[IO[str]]:
    """A text stream for ``--save path``, written as described in the module docstring."""
    if not path.strip():
        raise CLIError("--save needs a file name (use no --save to write to stdout).", EXIT_USAGE)
    fd = _descriptor(path)
    if fd is not None:
        with _open_fd(path, fd) as out:
            yield out
        return
    target = Path(path).expanduser()
    try:
        info: os.stat_result | None = os.stat(target)  # follows symlinks: the real thing
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise CLIError(f"--save {path}: is a folder; name a file in it.", EXIT_USAGE)
    if info is not None and not stat.S_ISREG(info.st_mode):
        with _open_direct(path, target) as out:
            yield out
        return
    real = Path(os.path.realpath(target))
    if info is not None and not os.access(real, os.W_OK):
        # A rename would replace a file that `> FILE` could not write: refuse likewise.
        raise CLIError(f"cannot write {path}: Permission denied")
    with _atomic(path, real, info) as out:
        yield out


@contextlib.contextmanager
def _open_fd(path: str, fd: int) -> Iterator[IO[str]]:
    try:
        out = os.fdopen(os.dup(fd), "w", encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None
    with named_errors(path), out:
        yield out


@contextlib.contextmanager
def _open_direct(path: str, target: Path) -> Iterator[IO[str]]:
    try:
        out = open(target, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None
    with named_errors(path), out:
        yield out


@contextlib.contextmanager
def _atomic(path: str, real: Path, old: os.stat_result | None) -> Iterator[IO[str]]:
    try:
        tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, then renamed
            "w",
            encoding="utf-8",
            dir=real.parent,
            prefix=f".{real.name}.",
            suffix=".part",
            delete=False,
        )
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with _cleanup_on_signals(), named_errors(path):
            with tmp:
                yield tmp
            _take_over(tmp.name, old)
            os.replace(tmp.name, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise


def _take_over(new: str, old: os.stat_result | None) -> None:
    """Give the new file the old one's mode and group (a shared project file stays
    shared), and as root its owner, or :data:`NEW_FILE_MODE` when there was none."""
    if old is None:
        os.chmod(new, NEW_FILE_MODE)
        return
    os.chmod(new, stat.S_IMODE(old.st_mode))
    if not hasattr(os, "chown"):
        return
    # Only root may give a file away: as root, the owner stays the owner (`> FILE` would
    # keep it too); anyone else keeps the new file, and its group where they may.
    uid = old.st_uid if os.geteuid() == 0 else -1
    now = os.stat(new)
    if uid not in (-1, now.st_uid) or old.st_gid != now.st_gid:
        with contextlib.suppress(OSError):  # not a member of that group: keep ours
            os.chown(new, uid, old.st_gid)


@contextlib.contextmanager
def _cleanup_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into :class:`Terminated` while inside, so the caller's cleanup
    runs (the default action would end the process on the spot); one the process ignores
    (``nohup``) is left ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def raise_terminated(signum: int, _frame: FrameType | None) -> None:
        raise Terminated(signum)

    names = ("SIGTERM", "SIGHUP")
    wanted = [getattr(signal, name) for name in names if hasattr(signal, name)]
    # An ignored signal stays ignored: under `nohup` a hangup must not end the search.
    wanted = [signum for signum in wanted if signal.getsignal(signum) is not signal.SIG_IGN]
    previous = {signum: signal.signal(signum, raise_terminated) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
