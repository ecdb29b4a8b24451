"""A private network for the sandbox's STAC backend (Linux, stdlib only).

rustac 0.9 can only listen on a TCP port, checks no header and cannot bind a unix
socket, so on the machine's loopback anyone could query it without a token. The asset
service therefore binds its own (public) sockets first, then moves itself into a new
user + network namespace whose only interface is its own ``lo``, and starts rustac
there: rustac's port exists only inside that namespace, while the sockets bound before
the move keep accepting connections from the machine's loopback.

An unprivileged user may create these namespaces on most Linux systems. Where that is
refused (``kernel.unprivileged_userns_clone=0``, ``user.max_user_namespaces=0``, a
seccomp profile, AppArmor's ``apparmor_restrict_unprivileged_userns``, not Linux), the
move is first tried in a throwaway forked process, so the caller learns why and stays
where it was.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import sys

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
# struct ifreq: a 16-byte interface name, then a 24-byte union whose first field is flags.
_IFREQ = "16sH22x"


class IsolationError(OSError):
    """The namespace was created but could not be set up; the process is unusable."""


def enter_private_network() -> str | None:
    """Move this (single-threaded) process into a new user + network namespace with
    its loopback up. Returns ``None`` when done, else why it cannot be done, leaving the
    process unchanged. Raises :class:`IsolationError` only if the move succeeded in a
    trial process and then failed here, which leaves this process without a network."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux, this is {sys.platform}"
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        # The trial child would have one thread and succeed where we then could not.
        return f"unshare(CLONE_NEWUSER) needs a single-threaded process; this one has {threads}"
    reason = _try_in_fork()
    if reason is not None:
        return reason
    try:
        _enter()
    except OSError as error:
        raise IsolationError(f"could not set up the private network: {error}") from error
    return None


def _try_in_fork() -> str | None:
    """Run :func:`_enter` in a forked child; its error message, or ``None`` if it worked.
    A child, because a half-done move (e.g. a namespace without the right to bring
    ``lo`` up, as AppArmor allows) cannot be undone."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its outcome is reported through the pipe
        os.close(read_end)
        status = 0
        try:
            _enter()
        except OSError as error:
            os.write(write_end, str(error).encode("utf-8", "replace"))
            status = 1
        os._exit(status)  # no atexit handlers, no flushing of the parent's buffers
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    return message or f"trial process ended with status {os.waitstatus_to_exitcode(status)}"


def _enter() -> None:
    uid, gid = os.geteuid(), os.getegid()
    _unshare(_CLONE_NEWUSER | _CLONE_NEWNET)
    # Keep our own ids inside (unmapped ids would make every file we create fail with
    # EOVERFLOW); an unprivileged process may map exactly itself once setgroups is off.
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
    _loopback_up()


def _unshare(flags: int) -> None:
    unshare = getattr(os, "unshare", None)  # Python 3.12+
    if unshare is not None:
        unshare(flags)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWUSER|CLONE_NEWNET): {os.strerror(code)}")


def _write(path: str, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as error:
        raise OSError(error.errno, f"writing {path}: {error.strerror}") from error


def _loopback_up() -> None:
    """``ip link set lo up``, by ioctl: a new network namespace starts with ``lo`` down."""
    import fcntl  # POSIX only: imported where it is used, after the Linux check

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, b"lo", 0)
        try:
            answer = fcntl.ioctl(sock, _SIOCGIFFLAGS, request)
            flags = struct.unpack(_IFREQ, answer)[1]
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))
        except OSError as error:
            raise OSError(error.errno, f"bringing lo up: {error.strerror}") from error
