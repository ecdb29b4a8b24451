"""What every subcommand shares: exit codes, one-line messages, settings, the client.

Heavy modules (requests, pystac_client) are imported inside functions so that
``pystac-eds --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse

    from pystac_client import Client

    from ..client import EDSStacApiIO
    from ..errors import TokenError
    from ..settings import Credentials

PROG = "pystac-eds"

#: Exit statuses. 1: the operation failed (token service, STAC API, network, a file);
#: 2: the command line or the settings must change; 130: interrupted (Ctrl-C);
#: 141: stdout's reader went away; 128 + N: signal N during --save.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: stdout's reader went away (`| head`): what a shell reports for cat (128 + SIGPIPE).
EXIT_PIPE_CLOSED = 141


class CLIError(Exception):
    """A failure reported as one ``pystac-eds: error: ...`` line and exit ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived while writing ``--save``; ``code`` is the conventional
    exit status (see :mod:`.output`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.code = 128 + signum


# Values that must never reach the terminal: the secret once settings are resolved.
# Every library message already leaves it out; this is a second line of defence for
# messages we do not control (requests, pystac-client, the sandbox).
_sensitive: set[str] = set()

# Text a server sent (titles, error bodies) must not move the cursor, retitle or recolour
# the terminal: whole ANSI sequences (CSI, OSC, other ESC pairs) go, then any other C0/C1
# control character but tab and newline, and the bidirectional overrides and isolates
# (U+202E would print "gpj.exe" as "exe.jpg": the "Trojan Source" trick).
_CONTROL = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clear screen
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window title, hyperlinks
    r"|\x1b[@-_]?"  # other escapes
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def register_sensitive(value: str) -> None:
    if len(value) >= 4:  # scrubbing a 1-3 character "secret" would mangle every message
        _sensitive.add(value)


def hide_secrets(text: str) -> str:
    """``text`` without the secret, any bearer token or terminal control characters."""
    from ..redaction import redact as redact_bearers

    for value in sorted(_sensitive, key=len, reverse=True):
        text = text.replace(value, "***")
    # re caches compiled patterns; compiling at import would slow `pystac-eds token`.
    return re.sub(_CONTROL, "", redact_bearers(text))


def scrub(text: str) -> str:
    """``text`` with secrets hidden, on one line."""
    return " ".join(hide_secrets(text).split())


def stdout() -> TextIO:
    """``sys.stdout``, or a clear error when the shell closed it (``>&-``): Python then
    sets it to None and ``print`` would silently print nothing."""
    if sys.stdout is None:
        raise CLIError(
            "standard output is closed (>&-): redirect it to a file, or use --save FILE."
        )
    return sys.stdout


@contextlib.contextmanager
def named_errors(path: str) -> Iterator[None]:
    """Write errors (a full disk, /dev/full) say which file; a closed pipe is left to
    main(), which ends quietly."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}", EXIT_FAILED) from None


def _say(label: str, message: str) -> None:
    if sys.stderr is None:  # 2>&-: nowhere to say it
        return
    print(f"{PROG}: {label}{scrub(message)}", file=sys.stderr, flush=True)


def error_line(message: str) -> None:
    _say("error: ", message)


def warning_line(message: str) -> None:
    _say("warning: ", message)


def note_line(message: str) -> None:
    """What happened, when it is worth saying (a count, a file written): no label."""
    _say("", message)


def collections_url(landing: dict[str, Any], root: str) -> str:
    """Where a STAC API lists its collections: the landing page's ``data`` link, else
    ``/collections`` under the root."""
    return link_href(landing, "data") or root.rstrip("/") + "/collections"


def link_href(document: dict[str, Any], rel: str) -> str | None:
    """The ``href`` of the first link with ``rel`` in a STAC document."""
    for link in document.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == rel and link.get("href"):
            return str(link["href"])
    return None


def sentence(text: str) -> str:
    """``text`` as a sentence of its own: a fix phrased to follow a colon, capitalised."""
    return text[:1].upper() + text[1:]


def unreachable_fix(url: str, setting: str) -> str:
    """What to do when nothing answers at ``url``: a loopback URL is most often a sandbox
    that is not running any more."""
    from ..settings import is_loopback_url

    if is_loopback_url(url):
        return f"is `{PROG} sandbox` (or your local server) running? Start it, or check {setting}."
    return f"check {setting} and your network (proxy, VPN)."


def token_url_unreachable_fix(creds: Credentials) -> str:
    """What to do when nothing answers at the token URL. Left at its default, the token
    URL is EarthDaily's: blame the network, or a local API whose token URL was not set."""
    from ..settings import is_loopback_url

    if not creds.sources.get("auth_url", "default").startswith("default"):
        return unreachable_fix(creds.auth_url, "EDS_AUTH_URL")
    if is_loopback_url(creds.api_url):
        return (
            "EDS_AUTH_URL is not set, so the token is asked of EarthDaily's token URL, but "
            "the STAC API is local: set EDS_AUTH_URL and EDS_CLIENT_ID too "
            f"(`{PROG} sandbox --env-file EDS.env` writes all four settings)."
        )
    return "check your network (proxy, VPN): the token URL is EarthDaily's default."


#: Connect and read timeouts of a diagnosis (``check``, and probes after a failure): it
#: should answer quickly, not wait as long as a search may.
DIAGNOSIS_TIMEOUT = (5.0, 15.0)


def wants_bearer(url: str) -> bool:
    """Whether ``url`` answers like a resource server (a STAC API, say): 401 with
    ``WWW-Authenticate: Bearer``. A GET carries no credentials, so nothing is sent that
    should not be."""
    import requests

    from ..transport import new_session

    try:  # loopback direct: an environment proxy has no business seeing the probe
        with new_session() as session:
            response = session.get(url, timeout=DIAGNOSIS_TIMEOUT, allow_redirects=False)
    except requests.RequestException:
        return False
    with response:
        challenge = response.headers.get("WWW-Authenticate", "")
        return response.status_code == 401 and challenge.lower().startswith("bearer")


def not_a_token_endpoint(err: TokenError, auth_url: str) -> str | None:
    """The verdict on a token URL that answers but asks for a bearer itself, if it does.

    A token endpoint's 400/401 carries an OAuth ``error`` (RFC 6749 5.2); a server that
    sends none and asks for a bearer token is a resource server: the wrong setting."""
    if err.status not in (400, 401, 403, 405) or err.error is not None:
        return None
    if not wants_bearer(auth_url):
        return None
    return (
        f"{auth_url} answers (HTTP {err.status}) but is not a token endpoint: it asks for "
        "a bearer token itself (a STAC API or another protected API?)."
    )


#: What to do about :func:`not_a_token_endpoint`.
AUTH_URL_FIX = (
    "set EDS_AUTH_URL to the OAuth2 token URL (unset it for an API token of the new login "
    "flow); the STAC root belongs in EDS_API_URL."
)


#: The token was issued but the API refuses it: the two URLs do not belong together.
DIFFERENT_ENVIRONMENTS = (
    "the token URL and the STAC API do not belong together (e.g. a sandbox token for "
    "production): check that EDS_AUTH_URL and EDS_API_URL are from the same environment, "
    "and that your account may use the API."
)


def resolve_credentials(args: argparse.Namespace) -> Credentials:
    """The settings for this run: ``--api-url`` > environment > ``--env-file`` or EDS.env."""
    return resolve_settings(args.env_file, args.api_url)


#: The settings of this run once resolved, so that a failure can name what to change.
_resolved: list[Credentials] = []


def resolved_settings() -> Credentials | None:
    """The settings this run resolved last, if it got that far."""
    return _resolved[-1] if _resolved else None


def resolve_settings(env_file: str | None, api_url: str | None) -> Credentials:
    """:func:`resolve_credentials` from the two global options' values; a setting to fix
    is a :class:`CLIError` in the command line's words (see :mod:`.phrasing`)."""
    from ..errors import CredentialsError, InsecureTransportError
    from ..settings import Credentials

    if env_file is not None:
        _check_env_file(env_file)
    try:
        creds = Credentials.resolve(env_file, api_url=api_url)
    except (CredentialsError, InsecureTransportError) as err:
        from .phrasing import settings_error

        message = settings_error(err, api_url_option=api_url is not None)
        raise CLIError(message, EXIT_USAGE) from None
    register_sensitive(creds.client_secret)
    _resolved[:] = [creds]
    return creds


def _check_env_file(env_file: str) -> None:
    import os

    path = os.path.expanduser(env_file)
    if not os.path.exists(path):
        problem = "no such file"
    elif os.path.isdir(path):
        problem = "is a folder; name the settings file in it"
    elif not os.path.isfile(path):
        problem = "not a regular file"
    else:
        return
    raise CLIError(f"--env-file {env_file}: {problem}.", EXIT_USAGE)


def api_url_name(creds: Credentials | None) -> str:
    """What the user called the STAC API URL: ``--api-url`` or ``EDS_API_URL``."""
    given = creds is not None and creds.sources.get("api_url") == "argument"
    return "--api-url" if given else "EDS_API_URL"


def mixup_hint(creds: Credentials) -> str | None:
    """A hint when the token URL and the STAC API URL look swapped or equal."""
    from ..settings import api_url_is_token_url, auth_url_is_api_url

    return api_url_is_token_url(creds, api_url_name=api_url_name(creds)) or auth_url_is_api_url(
        creds
    )


def _usable_credentials(args: argparse.Namespace) -> Credentials:
    creds = resolve_credentials(args)
    hint = mixup_hint(creds)
    if hint:
        raise CLIError(hint, EXIT_USAGE)
    return creds


def _not_json(url: str) -> CLIError:
    return CLIError(
        f"the STAC API at {url} did not answer with JSON (an HTML, login or proxy page?): "
        f"check {api_url_name(resolved_settings())}, or run `{PROG} check`."
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
        setting = api_url_name(resolved_settings())
        raise CLIError(f"{url} did not answer with a JSON object: check {setting}.")
    return data
