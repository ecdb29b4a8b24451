"""Keep bearer tokens out of logs.

pystac-client logs every request's headers at DEBUG, ``Authorization`` included. A
filter on its logger rewrites those records before any handler sees them.
"""

from __future__ import annotations

import logging
import re

_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
#: Loggers known to print request headers.
HEADER_LOGGERS = ("pystac_client.stac_api_io",)


def redact(text: str) -> str:
    """``text`` with every bearer token replaced by ``<redacted>``."""
    return _BEARER.sub(r"\1<redacted>", text)


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
