"""Expected failures, each told as one ``pystac-eds: error: ...`` line and an exit status.

Anything :func:`describe` does not recognise is a bug: main() reports it as an internal
error (the traceback only with ``-v``).
"""

from __future__ import annotations

from typing import Any

from ._common import (
    DIFFERENT_ENVIRONMENTS,
    EXIT_FAILED,
    EXIT_USAGE,
    PROG,
    CLIError,
    api_url_name,
    resolved_settings,
    sentence,
    unreachable_fix,
)


def describe(exc: BaseException) -> CLIError | None:
    """The one-line report for an expected failure, ``None`` for anything else (a bug)."""
    from ..errors import CredentialsError, EDSError, InsecureTransportError, TokenError
    from .phrasing import settings_error, token_failure

    creds = resolved_settings()
    if isinstance(exc, (CredentialsError, InsecureTransportError)):
        given = creds is not None and api_url_name(creds) == "--api-url"
        return CLIError(settings_error(exc, api_url_option=given), EXIT_USAGE)
    if isinstance(exc, TokenError):
        return CLIError(token_failure(exc, creds), token_error_code(exc))
    if isinstance(exc, EDSError):
        return CLIError(str(exc), EXIT_FAILED)
    return _describe_http(exc) or _describe_other(exc)


def token_error_code(err: Any) -> int:
    """2 when a setting must change (the token URL answered, and not with a transient
    error: wrong secret, wrong URL, an HTML page), 1 when the service or network failed."""
    status = getattr(err, "status", None)
    if status is not None and status < 500 and not getattr(err, "retryable", False):
        return EXIT_USAGE
    return EXIT_FAILED


def _describe_http(exc: BaseException) -> CLIError | None:
    import requests
    from pystac_client.exceptions import APIError

    cause = exc.__context__ if isinstance(exc, APIError) else exc
    if isinstance(cause, requests.RequestException):
        url = cause.request.url if cause.request is not None else None
        where = f" {url}" if url else ""
        if isinstance(cause, requests.Timeout):
            return CLIError(f"request to{where} timed out.", EXIT_FAILED)
        setting = api_url_name(resolved_settings())
        fix = f" {sentence(unreachable_fix(url, setting))}" if url else ""
        if isinstance(cause, requests.ConnectionError):
            return CLIError(f"could not connect to{where}.{fix}", EXIT_FAILED)
        return CLIError(f"request to{where} failed ({type(cause).__name__}).", EXIT_FAILED)
    if isinstance(exc, APIError):
        return CLIError(_api_error_message(exc), EXIT_FAILED)
    return None


def _api_error_message(exc: Any) -> str:
    status = getattr(exc, "status_code", None)
    # pystac-client puts the whole response body in the message: keep its first line.
    text = str(exc).strip()
    body = text.splitlines()[0][:200] if text else ""
    message = f"the STAC API answered HTTP {status}" if status else "the STAC API request failed"
    if body.startswith("<"):
        body = "an HTML page (a proxy or login page, or EDS_API_URL is not the STAC root?)"
    message += f": {body}" if body else "."
    if status in (401, 403):
        message += f" The token was refused: {DIFFERENT_ENVIRONMENTS} Run `{PROG} check`."
    return message


def _describe_other(exc: BaseException) -> CLIError | None:
    from pystac import STACError
    from pystac_client.errors import ClientTypeError

    if isinstance(exc, ClientTypeError):
        setting = api_url_name(resolved_settings())
        return CLIError(f"{setting} is not a STAC API root: {exc}", EXIT_USAGE)
    if isinstance(exc, STACError):
        return CLIError(f"the STAC API sent something unexpected: {exc}", EXIT_FAILED)
    if isinstance(exc, OSError):
        name = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return CLIError(f"{exc.strerror or type(exc).__name__}{name}", EXIT_FAILED)
    return None
