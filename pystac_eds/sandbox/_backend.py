"""The STAC backend (``rustac serve``) as a child of the asset service.

It is started by the asset service after that moved into its private network
(:mod:`._netns`), so it inherits the namespace: its port exists only there. Being in the
asset service's process group, it is stopped with it; being started with the orphan
guard's parent variable, it also exits when the asset service dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from ._orphan_guard import PARENT_ENV

NAME = "rustac"


class Backend:
    def __init__(self, command: Sequence[str], log_path: Path, port: int) -> None:
        self.command = list(command)
        self.log_path = log_path
        self.port = port
        self.stopping = False
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, deadline: float) -> None:
        """Start the backend and wait until it answers ``GET /``; exit this process
        with a message naming the backend (and its last log lines) if it cannot."""
        self._log = self.log_path.open("wb")
        self._popen = subprocess.Popen(  # noqa: S603 - argv built by the sandbox
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, PARENT_ENV: str(os.getpid())},
        )
        delay = 0.02
        while not self._answers():
            code = self._popen.poll()
            if code is not None:
                raise SystemExit(f"{NAME} exited with status {code} during start-up: {self.tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{NAME} did not answer on port {self.port} in time")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    async def watch(self, stop_all: Callable[[], None]) -> int:
        """Wait for the backend to end; if it ends on its own, stop the servers and
        return 1 (so the sandbox reports the failure), else 0."""
        assert self._popen is not None
        code = await asyncio.to_thread(self._popen.wait)
        unexpected = not self.stopping and code != -signal.SIGTERM
        if unexpected:
            print(f"{NAME} stopped unexpectedly with status {code}: {self.tail()}", flush=True)
        stop_all()
        return 1 if unexpected else 0

    def stop(self, grace: float = 5.0) -> None:
        self.stopping = True
        popen = self._popen
        if popen is not None and popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
            return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])
        return ""
