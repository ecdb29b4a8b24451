"""The library's errors told in the command line's words.

The library speaks to Python code (``env_file=``, ``client_secret=``, "Looked at:
arguments"); a shell user sets variables and passes options. These functions rebuild
the messages from the errors' structured fields (``missing``, ``sources``, ``origins``,
``status``, ``retryable``) rather than editing the library's sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import (
    AUTH_URL_FIX,
    PROG,
    not_a_token_endpoint,
    sentence,
    token_url_unreachable_fix,
)

if TYPE_CHECKING:
    from ..errors import CredentialsError, InsecureTransportError, TokenError
    from ..settings import Credentials

#: What the library calls the values passed in code; the CLI passes only --api-url.
_ARGUMENTS = "arguments"
#: URL settings, and what each would carry to a URL chosen by an untrusted file.
_CARRIES = {"EDS_AUTH_URL": "secret", "EDS_API_URL": "access token"}


def settings_error(err: CredentialsError | InsecureTransportError, *, api_url_option: bool) -> str:
    """A settings error for the command line. ``api_url_option``: the STAC API URL came
    from ``--api-url``, so that is what the message must name."""
    from ..errors import CredentialsError

    if isinstance(err, CredentialsError):
        text = no_secret(err) or untrusted_file(err) or _without_arguments(err)
    else:
        text = str(err)
    # A URL check names the setting first; with --api-url given, that value came from it.
    if api_url_option and text.startswith("EDS_API_URL"):
        text = "--api-url" + text.removeprefix("EDS_API_URL")
    return text


def no_secret(err: CredentialsError) -> str | None:
    """With no secret at all: the variables, the files, and the sandbox."""
    if "EDS_SECRET" not in err.missing:
        return None
    return (
        "no EDS secret found: set EDS_SECRET (the API token from the EDS console) in the "
        "environment or in ./EDS.env, or pass --env-file FILE; to try pystac-eds without an "
        f"account, run `{PROG} sandbox --env-file EDS.env` in another terminal in this folder."
        f"{looked_at(err.sources)}"
    )


def untrusted_file(err: CredentialsError) -> str | None:
    """The refusal to send the secret (or the token) to a URL that an env file found in
    the working directory chose, when the secret came from elsewhere.

    Recognised by its fields: nothing missing, and ``sources`` holding the URL's origin
    (``EDS_AUTH_URL in /path/.env``, as in ``origins``) then the secret's.
    """
    if err.missing or len(err.sources) != 2:
        return None
    url_source, secret_source = err.sources
    var, found_in, path = url_source.partition(" in ")
    if var not in _CARRIES or not found_in or err.origins.get(var) != url_source:
        return None
    shown = _relative(path)
    return (
        f"{var} comes from {shown}, a file found in the working directory, but EDS_SECRET "
        f"comes from {_place(secret_source)}: {PROG} does not send the {_CARRIES[var]} to a "
        "URL that a file it merely found chose (a cloned repository or a shared folder could "
        f"send it anywhere). If you trust {shown}, pass --env-file {shown} or export {var}; "
        f"if not, remove {var} from it."
    )


def _without_arguments(err: CredentialsError) -> str:
    """The library's message with its "Looked at: ..." told for the command line."""
    text = str(err)
    head, marker, _ = text.partition(" Looked at: ")
    return head + looked_at(err.sources) if marker and err.sources else text


def looked_at(sources: Sequence[str]) -> str:
    """`` Looked at: ...`` without "arguments": the CLI takes no credential options."""
    places = [source for source in sources if source != _ARGUMENTS]
    return f" Looked at: {'; '.join(places)}." if places else ""


def _place(source: str) -> str:
    """``environment EDS_SECRET`` -> ``the environment``; ``EDS_SECRET in F`` -> ``F``."""
    if source.startswith("environment"):
        return "the environment"
    _, found_in, path = source.partition(" in ")
    return _relative(path) if found_in else source


def _relative(path: str) -> str:
    """``path`` as typed in the working directory (``.env``), else as it is."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def token_failure(err: TokenError, creds: Credentials | None) -> str:
    """A token error for the command line: when nothing answered, the same advice as
    every other command gives (a loopback URL: is the sandbox running?); a token URL that
    is a STAC API (it asks for a bearer itself) is named as the setting to change."""
    if creds is None:
        return str(err)
    if err.status is None and err.retryable:
        fix = token_url_unreachable_fix(creds)
        return f"{err.message} {sentence(fix)}"
    verdict = not_a_token_endpoint(err, creds.auth_url)
    if verdict:
        return f"{verdict} {sentence(AUTH_URL_FIX)}"
    return str(err)
