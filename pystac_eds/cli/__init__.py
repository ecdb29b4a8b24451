"""The ``pystac-eds`` command line: ``token``, ``check``, ``collections``, ``search``,
``sandbox``.

It uses the library's own settings (``Credentials.resolve``) and the process-wide token
cache (``TokenCache.default()``, on disk unless ``EDS_TOKEN_CACHE=off``), so a shell, a
notebook and Python code share one token.

Exit status: 0 success; 1 the operation failed (token service, STAC API, network, a
file); 2 the command line or the settings must change (also: the sandbox extra is
missing); 130 interrupted; 141 the reader of stdout went away (``| head``), as for cat.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    CLIError,
    Terminated,
    error_line,
    scrub,
)

if TYPE_CHECKING:
    import argparse

__all__ = ["build_parser", "main"]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser of the whole command line (see :mod:`.parser`)."""
    from .parser import build_parser as build

    return build(only)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    with contextlib.ExitStack() as undo:
        return _main(args, undo)


def _main(args: list[str], undo: contextlib.ExitStack) -> int:
    from .token_command import plain_token_options, print_token

    try:
        plain = plain_token_options(args)
        if plain is not None:  # `$(pystac-eds token)` in a shell loop: no parser to build
            return print_token(*plain)
        from .parser import dispatch

        return dispatch(args, undo)
    except KeyboardInterrupt:
        error_line("interrupted.")
        return EXIT_INTERRUPTED
    except Terminated as stop:
        return stop.code
    except BrokenPipeError:
        # The reader went away (`| head`): not an error worth a message. Status 141
        # (128 + SIGPIPE) is what a shell reports for cat or grep in the same place.
        _silence_stdout()
        return EXIT_PIPE_CLOSED
    except CLIError as err:
        error_line(str(err))
        return err.code
    except Exception as exc:
        from .failures import describe

        known = describe(exc)
        if known is not None:
            error_line(str(known))
            return known.code
        # A bug: still one line by default; the traceback only with -v.
        import logging

        logging.getLogger(__name__).debug("internal error", exc_info=True)
        error_line(f"internal error: {type(exc).__name__}: {scrub(str(exc))} (run with -v)")
        return EXIT_FAILED


def _silence_stdout() -> None:
    # Python flushes stdout at exit and would complain about the closed pipe again.
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout closed or replaced
        pass
