"""Settings: the four EDS values, where each came from, and their validation.

Precedence: explicit arguments > environment variables > env file > defaults.
Reading a file never writes into ``os.environ``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from .errors import CredentialsError, InsecureTransportError

ClientAuth = Literal["auto", "basic", "post"]

EDS_HOST = "earthdaily.com"
DEFAULT_API_URL = "https://api.earthdaily.com/platform/v1/stac"
STAC_PATH = "/platform/v1/stac"
#: New login flow (default since March 2025): the "secret" is an API token exchanged here.
NEW_FLOW_TOKEN_URL = (
    "https://api.earthdaily.com/account_management/v1/authentication/api_tokens/exchange"  # noqa: S105
)
NEW_FLOW_CLIENT_ID = "EARTHDAILY_API_TOKEN"
#: Files looked for in the working directory when no ``env_file`` is given, first wins.
DEFAULT_ENV_FILES = ("EDS.env", ".env")

ENV_NAMES = {
    "client_id": "EDS_CLIENT_ID",
    "client_secret": "EDS_SECRET",
    "auth_url": "EDS_AUTH_URL",
    "api_url": "EDS_API_URL",
}
_CLIENT_AUTH_ENV = "EDS_CLIENT_AUTH"


def fingerprint(secret: str) -> str:
    """A short, stable, one-way fingerprint of a secret: safe to show and to key on."""
    return hashlib.sha256(b"pystac-eds:" + secret.encode("utf-8")).hexdigest()[:12]


def mask(value: str) -> str:
    """A secret or token as it may appear in output: never more than its last 4 characters,
    and only when it is long enough for that to give nothing away."""
    if len(value) < 16:
        return "'***'"
    return f"'***{value[-4:]}'"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, setting: str, *, carries: str) -> str:
    """Validate an http(s) URL; plain http only to loopback, since ``carries`` (a secret or
    a token) would travel in clear text."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check: "h:abc" or ":99999" raise
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise CredentialsError(f"{setting} must be an http(s) URL with a host, got {url!r}.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InsecureTransportError(
            f"{setting}={url} uses plain http: the {carries} would travel in clear text. "
            "Use https (plain http is allowed only for loopback addresses)."
        )
    return url


def normalize_api_url(url: str) -> str:
    """The STAC root for ``url``: accepts the root itself or, for EarthDaily's hosts, the
    bare API base (``https://api.earthdaily.com``, as EarthDaily's other client takes it),
    to which the STAC path is appended. Other hosts are taken as given: a local or
    self-hosted STAC API may well live at ``/``."""
    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # unparsable: check_url says so with the setting's name
        return url
    if parts.path == "" and (host == EDS_HOST or host.endswith("." + EDS_HOST)):
        url = url + STAC_PATH
    return url


@dataclass(frozen=True)
class Credentials:
    """Client credentials for EDS. Frozen; ``repr``/``str`` never show the secret.

    Build one with :meth:`resolve`, which reads arguments, the environment and an env file.
    ``sources`` says where each value came from, for diagnostics.
    """

    client_id: str
    client_secret: str = field(repr=False)
    auth_url: str
    api_url: str = DEFAULT_API_URL
    client_auth: ClientAuth = "auto"
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret", "auth_url", "api_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise CredentialsError(
                    f"{name} must be a non-empty string ({ENV_NAMES[name]}).",
                    missing=(ENV_NAMES[name],),
                )
        if self.client_auth not in ("auto", "basic", "post"):
            raise CredentialsError(
                f"client_auth must be 'auto', 'basic' or 'post', got {self.client_auth!r}."
            )
        object.__setattr__(self, "api_url", normalize_api_url(self.api_url))
        check_url(self.auth_url, "EDS_AUTH_URL", carries="client secret")
        check_url(self.api_url, "EDS_API_URL", carries="access token")

    @property
    def secret_fingerprint(self) -> str:
        return fingerprint(self.client_secret)

    def __repr__(self) -> str:
        return (
            f"Credentials(client_id={self.client_id!r}, client_secret={mask(self.client_secret)}, "
            f"auth_url={self.auth_url!r}, api_url={self.api_url!r})"
        )

    __str__ = __repr__

    @classmethod
    def resolve(
        cls,
        env_file: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        **overrides: str | None,
    ) -> Credentials:
        """Gather the settings: ``overrides`` (``client_id``, ``client_secret``, ``auth_url``,
        ``api_url``, ``client_auth``) > environment > env file > defaults.

        With no ``env_file``, ``EDS.env`` then ``.env`` in the working directory are read
        if present. Raises :class:`CredentialsError` naming what is missing and every
        source consulted.
        """
        unknown = set(overrides) - {*ENV_NAMES, "client_auth"}
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        env = os.environ if environ is None else environ
        files = _env_files(env_file, cwd)
        consulted = ["arguments", "environment (" + ", ".join(ENV_NAMES.values()) + ")"]
        consulted += [f"file {path}" for path, _ in files]
        if env_file is None and not files:
            consulted.append(
                "files " + ", ".join(DEFAULT_ENV_FILES) + " in the working directory (none found)"
            )

        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        for name, var in [*ENV_NAMES.items(), ("client_auth", _CLIENT_AUTH_ENV)]:
            found = _lookup(name, var, overrides, env, files)
            if found is not None:
                values[name], sources[name] = found

        if "client_secret" not in values:
            raise CredentialsError(
                "No EDS secret found: set EDS_SECRET (the API token from the EDS console, or a "
                "legacy client secret) in the environment or in an EDS.env file, or pass "
                "client_secret=. Looked at: " + "; ".join(consulted) + ".",
                missing=[v for k, v in ENV_NAMES.items() if k not in values and k != "api_url"],
                sources=consulted,
            )
        if "auth_url" not in values:
            if values.get("client_id", NEW_FLOW_CLIENT_ID) != NEW_FLOW_CLIENT_ID:
                raise CredentialsError(
                    "EDS_CLIENT_ID is set but EDS_AUTH_URL is not: legacy client credentials "
                    "need their own token URL (from the EDS console). API tokens of the new "
                    f"login flow need no EDS_CLIENT_ID. Looked at: {'; '.join(consulted)}.",
                    missing=["EDS_AUTH_URL"],
                    sources=consulted,
                )
            values["auth_url"], sources["auth_url"] = NEW_FLOW_TOKEN_URL, "default (new login flow)"
        if "client_id" not in values:
            if values["auth_url"] != NEW_FLOW_TOKEN_URL:
                raise CredentialsError(
                    f"EDS_AUTH_URL is {values['auth_url']} but EDS_CLIENT_ID is not set: set the "
                    f"client id that goes with that token URL. Looked at: {'; '.join(consulted)}.",
                    missing=["EDS_CLIENT_ID"],
                    sources=consulted,
                )
            values["client_id"], sources["client_id"] = (
                NEW_FLOW_CLIENT_ID,
                "default (new login flow)",
            )
        if "api_url" not in values:
            values["api_url"], sources["api_url"] = DEFAULT_API_URL, "default"
        auth = values.get("client_auth", "auto")
        if auth not in ("auto", "basic", "post"):
            raise CredentialsError(
                f"{_CLIENT_AUTH_ENV} must be auto, basic or post, got {auth!r} "
                f"(from {sources.get('client_auth')})."
            )
        return cls(
            client_id=values["client_id"],
            client_secret=values["client_secret"],
            auth_url=values["auth_url"],
            api_url=values["api_url"],
            client_auth=auth,  # type: ignore[arg-type]
            sources=sources,
        )


def _env_files(
    env_file: str | os.PathLike[str] | None, cwd: str | os.PathLike[str] | None
) -> list[tuple[Path, dict[str, str]]]:
    from dotenv import dotenv_values  # deferred: keeps `import pystac_eds` cheap

    if env_file is not None:
        path = Path(env_file).expanduser()
        if not path.is_file():
            raise CredentialsError(
                f"env_file {str(path)!r} does not exist or is not a file.", sources=[str(path)]
            )
        candidates = [path]
    else:
        base = Path(cwd) if cwd is not None else Path.cwd()
        candidates = [base / name for name in DEFAULT_ENV_FILES if (base / name).is_file()]
    found = []
    for path in candidates:
        try:
            raw = dotenv_values(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(
                f"Could not read env file {str(path)!r}: {type(exc).__name__}.",
                sources=[str(path)],
            ) from None
        found.append((path, {k: v for k, v in raw.items() if v is not None}))
    return found


def _lookup(
    name: str,
    var: str,
    overrides: Mapping[str, str | None],
    env: Mapping[str, str],
    files: list[tuple[Path, dict[str, str]]],
) -> tuple[str, str] | None:
    candidates: list[tuple[str | None, str]] = [(overrides.get(name), "argument")]
    candidates.append((env.get(var), f"environment {var}"))
    candidates += [(values.get(var), f"{var} in {path}") for path, values in files]
    for value, source in candidates:
        if value is not None and str(value).strip():
            return str(value).strip(), source
    return None


# ---------------------------------------------------------------------------------------
# Settings that look mixed up: hints for `pystac-eds check` and the CLI (moved from there,
# since they judge settings, not command lines). Each returns None when all looks right.
# ---------------------------------------------------------------------------------------

_TOKEN_PATHS = ("/token", "/oauth2/token", "/exchange", "/protocol/openid-connect/token")


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names a loopback host (False for an unparsable URL)."""
    try:
        return is_loopback(urlsplit(url).hostname)
    except ValueError:
        return False


def api_url_is_token_url(creds: Credentials, *, api_url_name: str = "EDS_API_URL") -> str | None:
    """A hint if the STAC API URL names a token endpoint instead of the STAC root.

    ``api_url_name`` is what the user set (``--api-url`` on the command line). The same
    URL in both settings is blamed on this one only when it looks like a token endpoint;
    otherwise :func:`auth_url_is_api_url` blames the token URL.
    """
    path = urlsplit(creds.api_url).path.rstrip("/").lower()
    if not path.endswith(_TOKEN_PATHS):
        return None
    return (
        f"{api_url_name} ({creds.api_url}) points at a token endpoint, not the STAC API: "
        f"set {api_url_name} to the STAC root, e.g. {DEFAULT_API_URL}, "
        "and EDS_AUTH_URL to the token URL."
    )


def auth_url_is_api_url(creds: Credentials) -> str | None:
    """A hint if ``EDS_AUTH_URL`` is the STAC API's own URL (e.g. ``EDS_AUTH_URL=$EDS_API_URL``)."""
    if creds.auth_url.rstrip("/") != creds.api_url.rstrip("/"):
        return None
    if api_url_is_token_url(creds) is not None:
        return None  # the API URL is the one that looks wrong
    return (
        f"EDS_AUTH_URL ({creds.auth_url}) is the STAC API's URL, not a token endpoint: "
        "unset EDS_AUTH_URL to use an API token of the new login flow, or set it to the "
        "token URL that goes with your client id."
    )


def legacy_hint(creds: Credentials) -> str | None:
    """A hint when the new login flow's URL and client id are mixed with other ones.

    Never for a loopback token URL: a local server (the sandbox, a test kit) has its own
    client ids, and EarthDaily's login flows say nothing about it.
    """
    new_url = creds.auth_url == NEW_FLOW_TOKEN_URL
    new_id = creds.client_id == NEW_FLOW_CLIENT_ID
    if new_url and not new_id:
        return (
            f"legacy client credentials (client id {creds.client_id}) sent to the new login "
            f"flow's exchange URL: set EDS_AUTH_URL to your legacy token URL from the EDS "
            f"console, or use an API token with EDS_CLIENT_ID unset (or {NEW_FLOW_CLIENT_ID})."
        )
    if new_id and not new_url and not is_loopback_url(creds.auth_url):
        return (
            f"client id {NEW_FLOW_CLIENT_ID} is for API tokens of the new login flow, which are "
            f"exchanged at {NEW_FLOW_TOKEN_URL}: unset EDS_AUTH_URL, or set the legacy "
            "client id that goes with it."
        )
    return None


def quoted_secret_hint(creds: Credentials) -> str | None:
    """A hint when the secret starts or ends with a quote: a frequent copy-paste mistake in
    env files (unbalanced or doubled quotes)."""
    if creds.client_secret[:1] in "'\"" or creds.client_secret[-1:] in "'\"":
        return "EDS_SECRET starts or ends with a quote: check the quoting in the env file."
    return None
