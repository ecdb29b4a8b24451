"""Child processes of the sandbox: start, probe until they answer, stop with no orphans.

Each child gets its own process group (so a terminal's Ctrl-C reaches only the parent,
which then stops the children in order) and, on Linux, asks for a parent-death signal
itself (``_orphan_guard``), so even a parent killed with SIGKILL takes its children
along. Output goes to a log file the error messages quote from; nothing secret is ever
written there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from .errors import SandboxError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A currently free loopback port (the OS picks; another process could still take it
    before the child binds, which start-up then reports as a failed child)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind (uvicorn sets it): a port whose last connections linger in
        # TIME_WAIT after a sandbox stopped is free to them, so it is free here too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as error:
            raise SandboxError(f"port {port} on {LOOPBACK} is already in use") from error


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    log_path: Path
    #: Where the child runs (the sandbox's private folder), never the user's folder.
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: Mapping[str, str]) -> None:
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(  # noqa: S603 - fixed argv built by the sandbox
            list(self.argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=self.cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def exit_code(self) -> int | None:
        """None while running (or never started), else the exit status."""
        return self.popen.poll() if self.popen else None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def failure(self, what: str) -> SandboxError:
        tail = self.log_tail()
        return SandboxError(f"{self.name} {what}" + (f": {tail}" if tail else ""))

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the child's process group, then SIGKILL it after ``grace`` seconds."""
        popen = self.popen
        if popen is not None:
            if popen.poll() is None:
                _signal_group(popen.pid, signal.SIGTERM)
                try:
                    popen.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    _signal_group(popen.pid, signal.SIGKILL)
                    popen.wait(timeout=grace)
            # Anything the child itself started is in its group: make sure it is gone.
            _signal_group(popen.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def wait_until_ready(
    child: Child,
    url: str,
    deadline: float,
    accept: Callable[[requests.Response], bool] = lambda r: r.status_code == 200,
    *,
    behind: Sequence[Child] = (),
    interrupt: threading.Event | None = None,
) -> None:
    """Poll ``url`` until ``accept`` says yes; fail early if ``child`` or one of the
    children ``behind`` it (whose failure the URL would only show as silence) exits.

    A set ``interrupt`` raises :class:`KeyboardInterrupt` at once, between two probes
    or during the pause between them: a Ctrl-C whose own exception was lost (see
    ``command._StopSignals``) still cuts start-up short.
    """
    session = requests.Session()
    # Loopback only: a user's HTTP(S)_PROXY must not capture the probe.
    session.trust_env = False
    pause: Callable[[float], object] = interrupt.wait if interrupt is not None else time.sleep
    delay = 0.02
    try:
        while True:
            _check(child, *behind, interrupt=interrupt)
            try:
                if accept(session.get(url, timeout=2)):
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise child.failure(f"did not answer at {url} in time")
            pause(delay)
            delay = min(delay * 1.5, 0.25)
    finally:
        session.close()


def _check(*children: Child, interrupt: threading.Event | None) -> None:
    if interrupt is not None and interrupt.is_set():
        raise KeyboardInterrupt
    for child in children:
        code = child.exit_code()
        if code is not None:
            raise child.failure(f"exited with status {code} during start-up")
