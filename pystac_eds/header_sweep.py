"""Names of GDAL header files, and the sweep of those that dead processes left behind.

A process removes its header files when it exits, but one killed by SIGTERM or SIGKILL
(or that crashed) cannot: its file stays, ``0600``, holding a whole (by then expired)
bearer token. The next process that writes a header file in the same folder removes
such leftovers. It removes only what pystac-eds made:

* names of exactly the pattern below, which carry the writing process's PID and an id
  of its machine (host name and PID namespace, so a process on another host sharing the
  folder over NFS, or in another container, is never taken for dead);
* regular files (never links) owned by this user;
* in the token cache's private folder (which pystac-eds created and tagged), or in a
  temporary folder pystac-eds made (its name, owner, ``0700`` mode and marker file);
* of a process of this machine that no longer runs. A PID reused since is taken as
  alive: the file then stays, which is the safe mistake.

POSIX only (on Windows ``os.kill`` cannot test a PID without harm); elsewhere nothing is
swept.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_POSIX = hasattr(os, "geteuid")
_PID = r"[1-9][0-9]{0,9}"
_NAME = rf"gdal-[0-9a-f]{{16}}-(?P<machine>[0-9a-f]{{8}})-(?P<pid>{_PID})-[0-9]{{1,9}}\.headers"
HEADER_NAME = re.compile(_NAME)
#: A header file's temporary name while it is being written (``HeaderFile._write``).
_TMP_NAME = re.compile(rf"\.{_NAME}\.[0-9a-f]{{12}}\.tmp")
_TEMP_FOLDER = re.compile(
    rf"pystac-eds-gdal-(?P<machine>[0-9a-f]{{8}})-(?P<pid>{_PID})-[a-z0-9_]{{8}}"
)
_MARKER = ".pystac-eds-gdal"
_MARKER_TEXT = b"pystac-eds: GDAL header files of one process; removed when it exits.\n"


def _machine_id() -> str:
    # PIDs mean something only within one host and PID namespace.
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    material = f"{socket.gethostname()}\0{namespace}"
    return hashlib.sha256(material.encode()).hexdigest()[:8]


MACHINE = _machine_id()


def header_name(key: str, serial: int) -> str:
    """The file name for cache key ``key`` and this process's ``serial``-th header file."""
    return f"gdal-{key[:16]}-{MACHINE}-{os.getpid()}-{serial}.headers"


def make_temp_folder() -> Path:
    """A private (``0700``) temporary folder for this process's header files, marked as
    pystac-eds's, after sweeping those that dead processes left."""
    sweep_temp_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"pystac-eds-gdal-{MACHINE}-{os.getpid()}-"))
    fd = os.open(folder / _MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, _MARKER_TEXT)
    finally:
        os.close(fd)
    return folder


def remove_temp_folder(folder: Path) -> None:
    """Remove this process's temporary folder: its marker and nothing else of what may be
    in it (header files are removed by their refreshers); a folder not empty stays."""
    with contextlib.suppress(OSError):
        os.unlink(folder / _MARKER)
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def sweep(folder: Path) -> int:
    """Remove the header files (and half-written ones) that dead processes of this machine
    left in ``folder``, a folder pystac-eds made; return how many."""
    if not _POSIX:
        return 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    removed = 0
    for name in names:
        match = HEADER_NAME.fullmatch(name) or _TMP_NAME.fullmatch(name)
        if match is None or not _dead(match["machine"], int(match["pid"])):
            continue
        path = folder / name
        if _ours(path, want_dir=False):
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed += 1
    if removed:
        log.debug("removed %d header file(s) of dead processes from %s", removed, folder)
    return removed


def sweep_temp_folders() -> None:
    """Sweep the temporary folders of dead processes, and remove those left empty."""
    if not _POSIX:
        return
    parent = Path(tempfile.gettempdir())
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        match = _TEMP_FOLDER.fullmatch(name)
        if match is None or not _dead(match["machine"], int(match["pid"])):
            continue
        folder = parent / name
        if _ours(folder, want_dir=True) and _marked(folder):
            sweep(folder)
            remove_temp_folder(folder)


def _dead(machine: str, pid: int) -> bool:
    if machine != MACHINE or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it runs, as another user
        return False
    return False


def _ours(path: Path, *, want_dir: bool) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    kind = stat.S_ISDIR(info.st_mode) if want_dir else stat.S_ISREG(info.st_mode)
    private = not (info.st_mode & 0o077)
    return kind and private and info.st_uid == os.geteuid()


def _marked(folder: Path) -> bool:
    marker = folder / _MARKER
    if not _ours(marker, want_dir=False):
        return False
    try:
        return marker.read_bytes() == _MARKER_TEXT
    except OSError:
        return False
