"""``pystac-eds sandbox``'s signal handling, with stand-ins for the servers.

A Ctrl-C whose exception Python swallows (it landed inside a finalizer, which only
prints "Exception ignored") must still stop the sandbox: that race made
``test_ctrl_c_during_start_up`` hang on a busy machine. Each test delivers its signal at
a scripted point (from inside the stand-in), never by timing: during start(), while
start-up waits for a server, and in the wait loop after the ready line.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pystac_eds.sandbox import Sandbox, SandboxError, command
from pystac_eds.sandbox._process import Child

from .helpers import need_extra


class _SignalInFinalizer:
    """Sends ``sig`` to this process from its ``__del__``: the handler runs there."""

    def __init__(self, sig: signal.Signals) -> None:
        self.sig = sig

    def __del__(self) -> None:
        os.kill(os.getpid(), self.sig)


def swallowed_signal(sig: signal.Signals) -> None:
    """Deliver ``sig`` so that its handler's exception is "ignored", as in a finalizer."""
    victim = _SignalInFinalizer(sig)
    del victim  # finalized here, the handler's exception is "ignored"
    gc.collect()


class _FakeSandbox:
    """Starts instantly; the signal arrives during start() inside a finalizer."""

    api_url = "http://127.0.0.1:9/platform/v1/stac"
    startup_seconds = 0.0
    token_ttl = 60.0

    asset_url_ttl = 43200.0
    backend_isolated = True

    def __init__(self, sig: signal.Signals, *, when: str = "start") -> None:
        self.settings = {"EDS_API_URL": self.api_url}
        self.log_paths = {"asset service": os.devnull}
        self.sig = sig
        self.when = when
        self.stopped = False
        self.failure_checks = 0

    def start(self, *, interrupt: threading.Event | None = None) -> _FakeSandbox:
        if self.when == "start":
            swallowed_signal(self.sig)
        return self

    def failure(self) -> SandboxError | None:
        self.failure_checks += 1
        if self.when == "waiting" and self.failure_checks == 1:
            swallowed_signal(self.sig)  # after the ready line, in the wait loop
        # Bounds a regression: a lost signal then ends in "stopped unexpectedly", not a hang.
        return SandboxError("stand-in gave up waiting") if self.failure_checks > 3 else None

    def stop(self) -> None:
        self.stopped = True


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_swallowed_during_start_up_still_stops(
    sig: signal.Signals, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert threading.current_thread() is threading.main_thread()
    # Whatever they were: a shell starts background jobs with SIGINT ignored.
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    fake = _FakeSandbox(sig)

    def make(**kwargs: Any) -> _FakeSandbox:
        return fake

    monkeypatch.setattr(command, "Sandbox", make)
    code = command.main([])
    out, err = capsys.readouterr()
    assert code == command.EXIT_INTERRUPTED, (out, err)
    assert "ready" not in out and "export" not in out
    assert err.strip().splitlines() == ["pystac-eds sandbox: interrupted during start-up; stopped"]
    assert fake.stopped
    # The command put the previous handlers back.
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.fixture
def hangup_default() -> Iterator[None]:
    """SIGHUP as a terminal's shell leaves it (a test run under nohup ignores it)."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGHUP, previous)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.usefixtures("hangup_default")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_swallowed_in_the_wait_loop_still_stops(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sig: signal.Signals
) -> None:
    # SIGHUP: the terminal closed. Stopped like SIGTERM (servers and private folder gone),
    # not killed on the spot with the folder left behind.
    fake = _FakeSandbox(sig, when="waiting")
    monkeypatch.setattr(command, "Sandbox", lambda **kwargs: fake)
    code = command.main([])
    out, err = capsys.readouterr()
    # Stopped at once, as asked: not after the stand-in's "server died" on the 4th check.
    assert (code, err.splitlines()[-1]) == (0, "# stopping"), err
    assert fake.failure_checks == 1
    assert "export EDS_API_URL=" in out
    assert fake.stopped


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.usefixtures("hangup_default")
def test_under_nohup_a_hangup_stays_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts the command
    seen: list[object] = []

    class _Watching(_FakeSandbox):
        def start(self, *, interrupt: threading.Event | None = None) -> _FakeSandbox:
            seen.append(signal.getsignal(signal.SIGHUP))
            return self

    fake = _Watching(signal.SIGTERM, when="waiting")
    monkeypatch.setattr(command, "Sandbox", lambda **kwargs: fake)
    assert command.main([]) == 0 and fake.stopped
    assert seen == [signal.SIG_IGN]


class _NeverReadySandbox(Sandbox):
    """A real sandbox whose gateway never answers (a stand-in that sleeps), and a Ctrl-C
    that is swallowed just before the gateway starts: start-up must not wait for it."""

    started: list[str]

    def _child(self, name: str, *args: str) -> Child:
        self.started = [*getattr(self, "started", []), name]
        if name == "gateway":
            swallowed_signal(signal.SIGINT)
            args = ("-c", "import time; time.sleep(300)")
        return super()._child(name, *args)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_signal_swallowed_while_start_up_waits_stops_it_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], own_children: set[int]
) -> None:
    need_extra()
    made: list[_NeverReadySandbox] = []

    def make(**kwargs: Any) -> _NeverReadySandbox:
        # Without the check between probes, start-up would wait out this deadline for
        # a gateway that never answers, then fail with "did not answer in time".
        made.append(_NeverReadySandbox(**kwargs, startup_timeout=30))
        return made[0]

    monkeypatch.setattr(command, "Sandbox", make)
    code = command.main([])
    out, err = capsys.readouterr()
    assert code == command.EXIT_INTERRUPTED, err
    assert err.strip().splitlines() == ["pystac-eds sandbox: interrupted during start-up; stopped"]
    assert out == ""
    assert made[0].started == ["token server", "asset service", "gateway"]
    assert not made[0].running and made[0].pids == []


# In a helper process (pty.fork in the threaded test process could deadlock): a terminal
# whose foreground is the sandbox, then one where it runs as `cmd &` in a shell would
# (a process group of its own, not the terminal's foreground group).
_IN_A_TERMINAL = """
import json, os, pty, subprocess, sys
hint = "import os; from pystac_eds.sandbox.command import how_to_stop as h; print(os.getpid(), h())"
argv = [sys.executable, "-c", hint]

def run(background):
    pid, terminal = pty.fork()
    if pid == 0:
        if background:
            os._exit(subprocess.run(argv, process_group=0).returncode)
        os.execv(sys.executable, argv)
    output = b""
    while True:
        try:
            chunk = os.read(terminal, 1024)
        except OSError:  # EIO: every process holding the terminal has ended
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    return output.decode().strip()

print(json.dumps({"foreground": run(False), "background": run(True)}))
"""


def test_the_ready_line_says_how_to_stop_a_foreground_or_background_sandbox() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("uses a Linux pseudo-terminal")
    done = subprocess.run(
        [sys.executable, "-c", _IN_A_TERMINAL],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen["foreground"].split(" ", 1)[1] == "Ctrl-C to stop."
    pid, hint = seen["background"].split(" ", 1)
    assert hint == f"kill {pid} to stop."
    # No terminal at all (this test's own stdin is not one here): Ctrl-C cannot reach it.
    alone = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pystac_eds.sandbox.command import how_to_stop as h; print(h())",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert alone.stdout.startswith("kill ") and alone.stdout.endswith(" to stop.\n")
