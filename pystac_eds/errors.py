"""The errors pystac-eds raises. Every message says what to fix; none holds a secret or token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class EDSError(Exception):
    """Base class of every error pystac-eds raises on purpose."""


class CredentialsError(EDSError, ValueError):
    """A setting is missing or invalid.

    ``missing`` names the settings that were not found and ``sources`` lists every
    place that was looked at (arguments, environment variables, files), so the
    message can say exactly where to put the value. ``origins`` maps each setting that
    was found (``EDS_SECRET``, ``EDS_AUTH_URL``, ...) to where it came from, e.g.
    ``"environment EDS_SECRET"`` or ``"EDS_AUTH_URL in /path/.env"``; never a value.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[str] = (),
        sources: Sequence[str] = (),
        origins: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.sources = tuple(sources)
        self.origins = dict(origins or {})


class InsecureTransportError(EDSError, ValueError):
    """A secret or token would travel over plain http to a host that is not loopback."""


class TokenError(EDSError):
    """The token endpoint did not give a usable access token.

    ``status`` is the HTTP status (``None`` when no response came back), ``error`` and
    ``error_description`` are the OAuth2 fields of the answer when it had them,
    ``retryable`` says whether trying again later may help, and ``hint`` says what to fix.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        retryable: bool = False,
        hint: str | None = None,
    ) -> None:
        full = message if not hint else f"{message} Hint: {hint}"
        super().__init__(full)
        #: What went wrong, without the hint (``str(err)`` has both).
        self.message = message
        self.status = status
        self.error = error
        self.error_description = error_description
        self.retryable = retryable
        self.hint = hint


class ResignError(EDSError, ValueError):
    """Items cannot be re-signed: they came from another API or have no ``collection``.

    ``item_ids`` names them, so they can be found and fixed (or left out).
    """

    def __init__(self, message: str, *, item_ids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.item_ids = tuple(item_ids)

    def __reduce__(self) -> tuple[Any, ...]:
        # An exception pickles as cls(*args), which would lose the keyword-only fields
        # (or fail without them): a resign on a dask worker or in a process pool must
        # come back naming its items.
        return (_rebuilt, (type(self), str(self), dict(self.__dict__)))


def _rebuilt(cls: type[ResignError], message: str, fields: dict[str, Any]) -> ResignError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(fields)
    return error


class MissingItemsError(ResignError):
    """The API no longer returns some items, so their hrefs could not be re-signed.

    ``item_ids`` names them (``collection/id``); ``items`` holds every item given, in the
    shape and order given: the others re-signed, the named ones as they were (nothing
    is lost). It pickles, so it comes back intact from a dask worker or process pool.
    """

    def __init__(self, message: str, *, item_ids: Sequence[str], items: object) -> None:
        super().__init__(message, item_ids=item_ids)
        self.items = items
