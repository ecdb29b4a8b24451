"""``pystac-eds sandbox``: run the sandbox in the foreground until Ctrl-C or SIGTERM.

Prints the four settings as ``export`` lines on stdout (to paste into a shell) and
status lines (``ready``, ``stopping``, errors, the ``-v`` request log) on stderr, so a
redirected stdout holds settings only. ``--env-file PATH`` writes the settings file
itself instead, 0600 (a ``> EDS.env`` redirection makes it 0644, readable by other
users), and leaves stdout empty: the secret does not go to the terminal.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from ._output import LogFollower, export_lines, write_env_file
from ._sandbox import DEFAULT_ASSET_URL_TTL, Sandbox
from .errors import BackendNotIsolatedWarning, SandboxError, SandboxUnavailable

PROG = "pystac-eds sandbox"
CATALOG = "EDS sandbox (local look-alike of the EarthDaily Earth Data Store)"
EXIT_INTERRUPTED = 130


class _Terminated(BaseException):
    """Raised from the SIGTERM (or SIGHUP) handler, so it unwinds like Ctrl-C does."""


def _stop_signals() -> list[signal.Signals]:
    """The signals that stop the sandbox cleanly: Ctrl-C, SIGTERM, and SIGHUP (its
    terminal closed) unless the process ignores it (``nohup``: it must keep serving)."""
    stop = [signal.SIGINT, signal.SIGTERM]
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
        stop.append(hangup)
    return stop


class _StopSignals:
    """SIGINT and SIGTERM raise (to cut start-up or the wait short) *and* are remembered.

    Raising alone is not enough: a signal handler runs wherever the main thread is, and
    when that is a finalizer (``__del__`` of a connection or response being collected
    while start-up polls the servers) Python reports the exception as "ignored" and
    carries on, so a Ctrl-C during start-up was lost and the sandbox served on. The flag
    survives that: start-up checks it between probes, :func:`_run` after start-up and
    while it waits.
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
        previous = {sig: signal.signal(sig, self.handle) for sig in _stop_signals()}
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
        description="Run a local, offline EDS look-alike: an OAuth2 client-credentials\n"
        "token server, a JWT-checking gateway, a STAC API over sample data with real\n"
        "pixels, and asset URLs as EDS gives them (presigned, or a proxy behind the\n"
        "bearer). The settings go to stdout as export lines (or with --env-file to that\n"
        "file only), status lines to stderr.",
        epilog="examples:\n"
        f"  {PROG} --env-file EDS.env &\n"
        f"  {PROG} --env-file EDS.env --token-ttl 60 --asset-url-ttl 5 -v",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--token-ttl",
        type=_positive_seconds,
        default=3600.0,
        metavar="SECONDS",
        help="access-token lifetime (default: 3600)",
    )
    parser.add_argument(
        "--asset-url-ttl",
        type=_positive_seconds,
        default=DEFAULT_ASSET_URL_TTL,
        metavar="SECONDS",
        help="lifetime of presigned asset URLs (default: 43200, 12 hours, as on EDS); "
        "a few seconds makes expiry observable",
    )
    parser.add_argument(
        "--port", type=_port, default=None, help="the API's port (default: a free one)"
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="write the settings to PATH (mode 0600), e.g. EDS.env, instead of printing them",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log every request that passed the token check, and every asset download "
        "(method, path, status) to stderr",
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
    sandbox = Sandbox(token_ttl=args.token_ttl, port=args.port, asset_url_ttl=args.asset_url_ttl)
    stop = _StopSignals()
    with stop.installed():
        try:
            return _run(sandbox, stop.received, args.env_file, args.verbose)
        finally:
            # Ctrl-C pressed again while stopping must not leave children behind.
            with _signals_ignored():
                sandbox.stop()


def _run(sandbox: Sandbox, stop: threading.Event, env_file: Path | None, verbose: bool) -> int:
    # One try around everything: a signal may land between any two statements, even
    # between printing the ready line and starting to wait.
    try:
        try:
            with warnings.catch_warnings():
                # Said once below, as a status line rather than a Python warning.
                warnings.simplefilter("ignore", BackendNotIsolatedWarning)
                sandbox.start(interrupt=stop)
            if stop.is_set():  # the signal's exception was swallowed: see _StopSignals
                raise KeyboardInterrupt
        except (KeyboardInterrupt, _Terminated):
            _error("interrupted during start-up; stopped")
            return EXIT_INTERRUPTED
        if not sandbox.backend_isolated:
            _status(
                f"warning: rustac could not get a private network ({sandbox.backend_isolation});"
                " its port answers anyone on this machine without a token"
            )
        if env_file is not None:  # the file only: the secret stays off the terminal
            write_env_file(env_file, sandbox.settings)
        else:
            sys.stdout.write(export_lines(sandbox.settings))
            sys.stdout.flush()
        _status(
            f"ready in {sandbox.startup_seconds or 0:.1f}s: {CATALOG} at {sandbox.api_url} "
            f"(tokens live {sandbox.token_ttl:g}s, asset URLs {sandbox.asset_url_ttl:g}s)"
            + (f"; settings in {env_file}" if env_file is not None else "")
            + f". {how_to_stop()}"
        )
        follower = LogFollower(sandbox.log_paths["asset service"], sys.stderr) if verbose else None
        try:
            while (failure := sandbox.failure()) is None:
                if follower is not None:
                    follower.poll()
                if stop.wait(0.5):
                    raise KeyboardInterrupt
        finally:
            if follower is not None:
                # The asset service logs a request before answering it: every request
                # answered before the stop is in the file now, none is lost.
                follower.poll()
        _error(str(failure))
        return 1
    except SandboxUnavailable as error:
        _error(str(error))
        return 1
    except SandboxError as error:
        _error(f"could not start: {error}")
        return 1
    except (KeyboardInterrupt, _Terminated):
        _status("stopping")
        return 0


def how_to_stop() -> str:
    """Ctrl-C for a sandbox in the foreground of its terminal; else (``&``, ``nohup``, no
    terminal at all) Ctrl-C does not reach it: say which signal to send to which pid."""
    for fd in (sys.__stdin__, sys.__stderr__, sys.__stdout__):
        try:
            foreground = os.tcgetpgrp(fd.fileno()) if fd is not None else None
        except (OSError, ValueError):  # not a terminal (or not ours), or closed
            continue
        if foreground == os.getpgrp():
            return "Ctrl-C to stop."
        break
    return f"kill {os.getpid()} to stop."


def _status(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _stop_signals()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
