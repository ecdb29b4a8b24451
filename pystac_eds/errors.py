"""The errors pystac-eds raises. Every message says what to fix; none holds a secret or token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


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


class MissingItemsError(ResignError):
    """The API no longer returns some items, so their hrefs could not be re-signed.

    ``item_ids`` names them (``collection/id``); ``items`` holds everything else,
    re-signed, in the shape that was given (nothing else is lost).
    """

    def __init__(self, message: str, *, item_ids: Sequence[str], items: object) -> None:
        super().__init__(message, item_ids=item_ids)
        self.items = items
