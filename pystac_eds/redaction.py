"""Keep bearer tokens out of logs.

pystac-client logs every request's headers at DEBUG, ``Authorization`` included. A
filter on its logger rewrites those records before any handler sees them.
"""

from __future__ import annotations

import logging
import re
from typing import Generic, TypeVar

T = TypeVar("T")

# The whole header value goes, not just its RFC 6750 characters: a token holding a space,
# a comma or an escaped CR/LF must not leave its tail behind. Quoted (a header dict's or
# an exception's repr): up to the closing quote, escapes included. An "Authorization:"
# header line: to the end of the line. Elsewhere "Bearer" (as written in headers, not
# the word in a sentence) and the token characters after it.
_QUOTED_BEARER = re.compile(
    r"""(?P<q>['"])(?P<scheme>Bearer\s+)(?:\\.|(?!(?P=q))[^\r\n])*""", re.IGNORECASE
)
_HEADER_LINE = re.compile(
    r"(?P<scheme>Authorization:[ \t]*Bearer[ \t]+)(?!<redacted>)[^\r\n]+", re.IGNORECASE
)
_BEARER = re.compile(r"(?P<scheme>\bBearer\s+)(?!<redacted>)[A-Za-z0-9\-._~+/]+=*")
#: Loggers known to print request headers.
HEADER_LOGGERS = ("pystac_client.stac_api_io",)


def redact(text: str) -> str:
    """``text`` with every bearer token (the whole header value) replaced by ``<redacted>``."""
    text = _QUOTED_BEARER.sub(r"\g<q>\g<scheme><redacted>", text)
    text = _HEADER_LINE.sub(r"\g<scheme><redacted>", text)
    return _BEARER.sub(r"\g<scheme><redacted>", text)


class RedactBearerFilter(logging.Filter):
    """Rewrites a record's message so no bearer token reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactBearerFilter()


def install() -> None:
    """Attach the filter to the loggers that print headers (idempotent)."""
    for name in HEADER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class Hidden(Generic[T]):
    """Holds a secret or token so that ``repr`` never shows it: tracebacks with locals
    (Sentry's default, rich, IPython verbose, ``pytest -l``) print every local's repr."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<hidden {type(self.value).__name__}>"


class BearerHeader(str):
    """An ``Authorization: Bearer ...`` header value whose ``repr`` hides the token.

    requests and urllib3 keep the request's headers in their frames' locals (``headers``,
    ``request``): a traceback with locals after a network error would print them. The
    value itself is the real header, byte for byte, for everything that sends it."""

    __slots__ = ()

    @classmethod
    def for_token(cls, token: str) -> BearerHeader:
        return cls(f"Bearer {token}")

    def __repr__(self) -> str:
        return "'Bearer <redacted>'"
