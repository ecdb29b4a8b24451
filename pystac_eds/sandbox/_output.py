"""What ``pystac-eds sandbox`` writes besides its status lines: the settings file and the
request log."""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from .errors import SandboxError


def export_lines(settings: Mapping[str, str]) -> str:
    """``export NAME=value`` lines: for a shell's ``eval``/``source`` and for EDS.env
    (python-dotenv reads ``export`` lines too)."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in settings.items())


def write_env_file(path: Path, settings: Mapping[str, str]) -> None:
    """Write ``settings`` to ``path``, readable by the owner only (it holds the secret).

    Replaced atomically when it is a regular file or absent, so a reader never sees half
    of it; anything else (a folder, a FIFO, a device) is refused rather than replaced.
    """
    target = Path(os.path.realpath(path))  # a symlink is followed, not replaced
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        raise SandboxError(f"--env-file {path}: not a regular file; choose a file name")
    folder = target.parent
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    except OSError as error:
        raise SandboxError(f"--env-file {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w") as file:  # mkstemp creates it 0600
            file.write(export_lines(settings))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class LogFollower:
    """Copies the lines a log file gains to ``out`` (``-v``: the asset service's request
    lines), a complete line at a time."""

    def __init__(self, path: Path, out: IO[str]) -> None:
        self.path = path
        self.out = out
        self._offset = 0
        self._partial = b""

    def poll(self) -> None:
        try:
            with self.path.open("rb") as file:
                file.seek(self._offset)
                chunk = file.read()
        except OSError:
            return
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            self.out.write(f"# {line.decode(errors='replace')}\n")
        if lines:
            self.out.flush()
