"""What every subcommand shares: exit codes, the one-line error, settings, the client.

Heavy modules (requests, pystac_client) are imported inside functions so that
``pystac-eds --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pystac_client import Client

    from ..client import EDSStacApiIO
    from ..settings import Credentials

PROG = "pystac-eds"

#: Exit statuses. 1: the operation failed (token service, STAC API, network, a file);
#: 2: the command line or the settings must change; 130: interrupted (Ctrl-C).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A failure reported as one ``pystac-eds: error: ...`` line and exit ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# Values that must never reach the terminal: the secret once settings are resolved.
# Every library message already leaves it out; this is a second line of defence for
# messages we do not control (requests, pystac-client, the sandbox).
_sensitive: set[str] = set()


def register_sensitive(value: str) -> None:
    if len(value) >= 4:  # scrubbing a 1-3 character "secret" would mangle every message
        _sensitive.add(value)


def redact(text: str) -> str:
    """``text`` without the secret or any bearer token."""
    from ..redaction import redact as redact_bearers

    for value in sorted(_sensitive, key=len, reverse=True):
        text = text.replace(value, "***")
    return redact_bearers(text)


def scrub(text: str) -> str:
    """``text`` redacted and on one line."""
    return " ".join(redact(text).split())


def error_line(message: str) -> None:
    print(f"{PROG}: error: {scrub(message)}", file=sys.stderr, flush=True)


def resolve_credentials(args: argparse.Namespace) -> Credentials:
    """The settings for this run: ``--api-url`` > environment > ``--env-file`` or EDS.env."""
    from ..settings import Credentials

    creds = Credentials.resolve(args.env_file, api_url=args.api_url)
    register_sensitive(creds.client_secret)
    return creds


def api_url_is_token_url(creds: Credentials) -> str | None:
    """A hint if ``EDS_API_URL`` names a token endpoint instead of the STAC root."""
    from urllib.parse import urlsplit

    path = urlsplit(creds.api_url).path.rstrip("/").lower()
    if creds.api_url.rstrip("/") == creds.auth_url.rstrip("/") or path.endswith(
        ("/token", "/oauth2/token", "/exchange", "/protocol/openid-connect/token")
    ):
        return (
            f"EDS_API_URL ({creds.api_url}) points at a token endpoint, not the STAC API: "
            "set EDS_API_URL to the STAC root, e.g. https://api.earthdaily.com/platform/v1/stac, "
            "and EDS_AUTH_URL to the token URL."
        )
    return None


def _usable_credentials(args: argparse.Namespace) -> Credentials:
    creds = resolve_credentials(args)
    hint = api_url_is_token_url(creds)
    if hint:
        raise CLIError(hint, EXIT_USAGE)
    return creds


def _not_json(url: str) -> CLIError:
    return CLIError(
        f"the STAC API at {url} did not answer with JSON (an HTML, login or proxy page?): "
        f"check EDS_API_URL, or run `{PROG} check`."
    )


def open_client(args: argparse.Namespace) -> Client:
    """``pystac_eds.open`` with the command line's settings and the shared token cache."""
    import json

    from ..cache import TokenCache
    from ..client import open as eds_open

    creds = _usable_credentials(args)
    try:
        return eds_open(credentials=creds, cache=TokenCache.default())
    except json.JSONDecodeError:
        raise _not_json(creds.api_url) from None


def open_io(args: argparse.Namespace) -> EDSStacApiIO:
    """An authenticated StacApiIO on the shared token cache, for raw JSON pages."""
    from ..cache import TokenCache
    from ..client import stac_io

    return stac_io(credentials=_usable_credentials(args), cache=TokenCache.default())


def read_json(io: EDSStacApiIO, url: str) -> dict[str, Any]:
    import json

    try:
        data = io.read_json(url)
    except json.JSONDecodeError:
        raise _not_json(url) from None
    if not isinstance(data, dict):
        raise CLIError(f"{url} did not answer with a JSON object: check EDS_API_URL.")
    return data


def describe(exc: BaseException) -> CLIError | None:
    """The one-line report for an expected failure, ``None`` for anything else (a bug)."""
    from ..errors import CredentialsError, EDSError, InsecureTransportError

    if isinstance(exc, (CredentialsError, InsecureTransportError)):
        return CLIError(str(exc), EXIT_USAGE)
    if isinstance(exc, EDSError):
        return CLIError(str(exc), EXIT_FAILED)
    return _describe_http(exc) or _describe_other(exc)


def _describe_http(exc: BaseException) -> CLIError | None:
    import requests
    from pystac_client.exceptions import APIError

    if isinstance(exc, APIError):
        return CLIError(_api_error_message(exc), EXIT_FAILED)
    if isinstance(exc, requests.RequestException):
        url = exc.request.url if exc.request is not None else None
        where = f" {url}" if url else ""
        kind = "timed out" if isinstance(exc, requests.Timeout) else "failed"
        return CLIError(f"request to{where} {kind} ({type(exc).__name__}).", EXIT_FAILED)
    return None


def _api_error_message(exc: Any) -> str:
    status = getattr(exc, "status_code", None)
    # pystac-client puts the whole response body in the message: keep its first line.
    body = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    message = f"the STAC API answered HTTP {status}" if status else "the STAC API request failed"
    if body.startswith("<"):
        body = "an HTML page (a proxy or login page, or EDS_API_URL is not the STAC root?)"
    message += f": {body}" if body else "."
    if status in (401, 403):
        message += (
            f" The token was refused: EDS_AUTH_URL and EDS_API_URL may belong to different "
            f"environments; run `{PROG} check`."
        )
    return message


def _describe_other(exc: BaseException) -> CLIError | None:
    from pystac import STACError
    from pystac_client.errors import ClientTypeError

    if isinstance(exc, ClientTypeError):
        return CLIError(f"EDS_API_URL is not a STAC API root: {exc}", EXIT_USAGE)
    if isinstance(exc, STACError):
        return CLIError(f"the STAC API sent something unexpected: {exc}", EXIT_FAILED)
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return CLIError(f"{exc.strerror or type(exc).__name__}:{name}", EXIT_FAILED)
    return None
