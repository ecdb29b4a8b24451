"""``pystac-eds sandbox``'s signal handling, with a stand-in for the servers.

A Ctrl-C whose exception Python swallows (it landed inside a finalizer, which only
prints "Exception ignored") must still stop the sandbox: that race made
``test_ctrl_c_during_start_up`` hang on a busy machine.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
from typing import Any

import pytest

from pystac_eds.sandbox import SandboxError, command


class _SignalInFinalizer:
    """Sends ``sig`` to this process from its ``__del__``: the handler runs there."""

    def __init__(self, sig: signal.Signals) -> None:
        self.sig = sig

    def __del__(self) -> None:
        os.kill(os.getpid(), self.sig)


class _FakeSandbox:
    """Starts instantly; the signal arrives during start() inside a finalizer."""

    api_url = "http://127.0.0.1:9/platform/v1/stac"
    startup_seconds = 0.0
    token_ttl = 60.0

    def __init__(self, sig: signal.Signals) -> None:
        self.settings = {"EDS_API_URL": self.api_url}
        self.sig = sig
        self.stopped = False
        self.failure_checks = 0

    def start(self) -> _FakeSandbox:
        victim = _SignalInFinalizer(self.sig)
        del victim  # finalized here, the handler's exception is "ignored"
        gc.collect()
        return self

    def failure(self) -> SandboxError | None:
        # Bounds a regression: a lost signal then ends in "stopped unexpectedly", not a hang.
        self.failure_checks += 1
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
