"""Makes a sandbox server exit when the process that started it dies (stdlib only).

Called first thing in each child, after exec: doing this between fork and exec
(``preexec_fn``) can deadlock when the parent has threads, as pytest sessions often do.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PARENT_ENV = "PYSTAC_EDS_SANDBOX_PARENT"
_PR_SET_PDEATHSIG = 1


def exit_with_parent() -> None:
    """On Linux, ask for SIGTERM when the parent dies; then exit at once if it already
    did (it may have died before the request was made). Elsewhere, a no-op."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        # The signal comes when the parent *thread* that started us exits: a sandbox
        # should be started from a long-lived thread (normally the main one).
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    expected = os.environ.get(PARENT_ENV)
    if expected and expected.isdigit() and os.getppid() != int(expected):
        sys.exit("pystac-eds sandbox: parent process gone; exiting")
