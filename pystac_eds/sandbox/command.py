"""``pystac-eds sandbox``: run the sandbox in the foreground until Ctrl-C or SIGTERM.

Prints the four settings as ``export`` lines (paste them into a shell, or redirect the
output to a file and ``source`` it: the other lines start with ``#``), then a ``ready``
line, then serves.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ._sandbox import Sandbox
from .errors import SandboxError, SandboxUnavailable

PROG = "pystac-eds sandbox"
EXIT_INTERRUPTED = 130


class _Terminated(BaseException):
    """Raised from the SIGTERM handler, so SIGTERM unwinds like Ctrl-C does."""


class _StopSignals:
    """SIGINT and SIGTERM raise (to cut start-up or the wait short) *and* are remembered.

    Raising alone is not enough: a signal handler runs wherever the main thread is, and
    when that is a finalizer (``__del__`` of a connection or response being collected
    while start-up polls the servers) Python reports the exception as "ignored" and
    carries on, so a Ctrl-C during start-up was lost and the sandbox served on. The flag
    survives that; :func:`_run` checks it after start-up and while it waits.
    """

    def __init__(self) -> None:
        self.received = threading.Event()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.set()
        raise KeyboardInterrupt if signum == signal.SIGINT else _Terminated

    @contextmanager
    def installed(self) -> Iterator[None]:
        # Signal handlers can only be set from the main thread; elsewhere keep the default.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a local, offline EDS look-alike: an OAuth2 client-credentials "
        "token server, a JWT-checking gateway and a STAC API over sample data.",
    )
    parser.add_argument(
        "--token-ttl",
        type=_positive_seconds,
        default=3600.0,
        metavar="SECONDS",
        help="access-token lifetime (default: 3600)",
    )
    parser.add_argument(
        "--port", type=_port, default=None, help="the API's port (default: a free one)"
    )
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run ``pystac-eds sandbox``; ``argv`` excludes the word ``sandbox``."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage error already
        return exit_.code if isinstance(exit_.code, int) else 2
    sandbox = Sandbox(token_ttl=args.token_ttl, port=args.port)
    stop = _StopSignals()
    with stop.installed():
        try:
            return _run(sandbox, stop.received)
        finally:
            # Ctrl-C pressed again while stopping must not leave children behind.
            with _signals_ignored():
                sandbox.stop()


def _run(sandbox: Sandbox, stop: threading.Event) -> int:
    # One try around everything: a signal may land between any two statements, even
    # between printing the ready line and starting to wait.
    try:
        try:
            sandbox.start()
            if stop.is_set():  # the signal's exception was swallowed: see _StopSignals
                raise KeyboardInterrupt
        except (KeyboardInterrupt, _Terminated):
            _error("interrupted during start-up; stopped")
            return EXIT_INTERRUPTED
        for name, value in sandbox.settings.items():
            print(f"export {name}={shlex.quote(value)}")
        print(
            f"# ready in {sandbox.startup_seconds or 0:.1f}s: STAC API at {sandbox.api_url} "
            f"(tokens live {sandbox.token_ttl:g}s). Ctrl-C to stop.",
            flush=True,
        )
        while (failure := sandbox.failure()) is None:
            if stop.wait(0.5):
                raise KeyboardInterrupt
        _error(str(failure))
        return 1
    except SandboxUnavailable as error:
        _error(str(error))
        return 1
    except SandboxError as error:
        _error(f"could not start: {error}")
        return 1
    except (KeyboardInterrupt, _Terminated):
        print("# stopping", flush=True)
        return 0


@contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
