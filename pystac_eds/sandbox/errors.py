"""Errors the sandbox raises."""

from __future__ import annotations

INSTALL_HINT = "install pystac-eds[sandbox]"


class SandboxError(RuntimeError):
    """The sandbox could not start, or one of its servers died."""


class SandboxUnavailable(SandboxError, ImportError):
    """The ``[sandbox]`` extra is not installed."""

    def __init__(self, missing: str) -> None:
        super().__init__(f"the sandbox needs {missing!r}: {INSTALL_HINT}")
        self.missing = missing


class BackendNotIsolatedWarning(UserWarning):
    """rustac could not be given a private network (no user namespaces here): its own
    port answers anyone on this machine, without a token. The gateway still checks."""
