"""Settings: the four EDS values, where each came from, and their validation.

Precedence: explicit arguments > environment variables > env file > defaults.
Reading a file never writes into ``os.environ``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from .errors import CredentialsError, InsecureTransportError
from .redaction import Hidden

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
#: Optional OAuth scope (space-separated), sent with token requests only when set.
_SCOPE_ENV = "EDS_SCOPE"


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
    """Whether ``host`` is ``localhost`` itself or a loopback IP address (``127.0.0.0/8``,
    ``::1``). Not ``*.localhost``: browsers keep those on loopback, but the system resolver
    (what urllib3 connects with) may ask DNS for them, and DNS may answer anything."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: Characters URL parsers disagree on (``urllib.parse`` vs urllib3 vs browsers): a
#: backslash is a path separator to some and part of the user info to others; whitespace
#: and control characters are stripped by some and kept by others.
_AMBIGUOUS = re.compile(r"[\\\s\x00-\x1f\x7f-\x9f]")
#: The only authority a URL setting may have: an ASCII host name or IP address (IPv6 in
#: brackets) and an optional port. No user info, no percent-encoding, no zone id.
_AUTHORITY = re.compile(
    r"(?P<host>[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?", re.ASCII
)
#: A host name as ``allowed_hosts`` takes it: letters, digits, dots, hyphens (IP addresses
#: are checked with :mod:`ipaddress` instead).
_HOST_NAME = re.compile(r"[A-Za-z0-9._~-]+", re.ASCII)
#: What any URL looks like (``scheme://``): a value that does not, such as a secret pasted
#: into the wrong setting, is never quoted in an error.
_URL_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_WORD = re.compile(r"[A-Za-z_-]{1,12}", re.ASCII)


def _leaks(value: str, secret: Hidden[str] | None) -> bool:
    # The secret travels as Hidden: a traceback's locals show every frame's arguments.
    if secret is None or not secret.value:
        return False
    # A secret too short to be one ("s" in tests) is in every URL: that says nothing.
    return value == secret.value or (len(secret.value) >= 8 and secret.value in value)


def _unshown(value: str, what: str) -> str:
    return f"a value of {len(value)} characters that is not {what} (not shown: it may be a secret)"


def _shown(url: str, secret: Hidden[str] | None = None) -> str:
    """The URL as an error message may quote it: only a value that is recognisably a URL
    and does not hold the secret; user info (which may hold a password) masked, control
    characters escaped by repr."""
    if not _URL_LIKE.match(url) or _leaks(url, secret):
        return _unshown(url, "a URL")
    return repr(re.sub(r"(?<=//)[^/?#]*@", "***@", url))


def check_url(url: str, setting: str, *, carries: str, secret: Hidden[str] | None = None) -> str:
    """Validate an http(s) URL; plain http only to loopback, since ``carries`` (a secret or
    a token) would travel in clear text.

    Only URLs that every parser reads alike are accepted (urllib3, which sends, and
    ``urllib.parse``, which the loopback and scope checks use): no backslash, whitespace,
    control character or user info, an ASCII host and a numeric port. Errors quote ``url``
    only if it looks like one and does not hold ``secret``.
    """
    bad = _AMBIGUOUS.search(url)
    if bad:
        what = "a backslash" if bad.group() == "\\" else f"the character {bad.group()!r}"
        raise CredentialsError(
            f"{setting} contains {what}, which URL parsers read differently; "
            f"remove it (got {_shown(url, secret)})."
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise CredentialsError(
            f"{setting} must be an http(s) URL with a host, got {_shown(url, secret)}."
        )
    if "@" in parts.netloc:
        raise CredentialsError(
            f"{setting} must not hold a user name or password before '@' "
            f"(got {_shown(url, secret)}): pystac-eds sends the credentials itself; "
            "give the plain URL."
        )
    authority = _AUTHORITY.fullmatch(parts.netloc)
    port = authority.group("port") if authority else None
    if authority is None or (port is not None and not 0 < int(port) < 65536):
        raise CredentialsError(
            f"{setting} must be an http(s) URL with an ASCII host name or IP address and an "
            f"optional port 1-65535, got {_shown(url, secret)} (write international names in their "
            "xn-- form)."
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InsecureTransportError(
            f"{setting}={_shown(url, secret)} uses plain http: the {carries} would travel in "
            "clear text. "
            "Use https (plain http is allowed only for loopback addresses)."
        )
    return url


def check_host(
    host: object, setting: str = "allowed_hosts", secret: Hidden[str] | None = None
) -> str:
    """A host name or IP address as ``allowed_hosts`` takes it, lower case and without
    brackets (IPv6 compressed); :class:`CredentialsError` for anything else (a URL, a port,
    user info, spaces), since a host the scope check reads differently from the sender is
    a leak."""
    if isinstance(host, str):
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if ":" in bare or bare != host:  # IPv6, bracketed or not; a "name:port" is not one
            try:
                return str(ipaddress.IPv6Address(bare))
            except ValueError:
                pass
        elif _HOST_NAME.fullmatch(host):
            return host.lower()
    shown = repr(host) if not isinstance(host, str) else _shown_host(host, secret)
    raise CredentialsError(
        f"{setting} takes host names or IP addresses such as 'data.example.com' or '::1' "
        f"(no scheme, port, path, user info or spaces), got {shown}."
    )


def _shown_host(host: str, secret: Hidden[str] | None) -> str:
    if len(host) > 253 or _leaks(host, secret):
        return _unshown(host, "a host name")
    return repr(host)


def check_client_auth(value: object, where: str) -> ClientAuth:
    """``value`` as a client authentication method, or the :class:`CredentialsError` that
    says so (``where``: the setting and where its value came from). Only a short word is
    quoted back: a secret pasted into ``EDS_CLIENT_AUTH`` is not."""
    if value in ("auto", "basic", "post"):
        return value
    if isinstance(value, str) and _WORD.fullmatch(value):
        shown = repr(value)
    elif isinstance(value, str):
        shown = _unshown(value, "a method name")
    else:
        shown = f"a {type(value).__name__}"
    raise CredentialsError(f"{where} must be auto, basic or post, got {shown}.")


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
    scope: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret", "auth_url", "api_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise CredentialsError(
                    f"{name} must be a non-empty string ({ENV_NAMES[name]}).",
                    missing=(ENV_NAMES[name],),
                )
        if self.scope is not None and not isinstance(self.scope, str):
            raise CredentialsError(
                f"scope must be a string of scopes separated by spaces ({_SCOPE_ENV})."
            )
        source = self.sources.get("client_auth", "argument")
        check_client_auth(self.client_auth, f"client_auth ({source})")
        object.__setattr__(self, "api_url", normalize_api_url(self.api_url))
        secret = Hidden(self.client_secret)
        check_url(self.auth_url, "EDS_AUTH_URL", carries="client secret", secret=secret)
        check_url(self.api_url, "EDS_API_URL", carries="access token", secret=secret)

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
        ``api_url``, ``client_auth``, ``scope``) > environment > env file > defaults.

        With no ``env_file``, ``EDS.env`` then ``.env`` in the working directory are read
        if present. Such a file found on its own is trusted less than the rest: a token URL
        from it is used only if the secret came from that same file. Raises
        :class:`CredentialsError` naming what is missing and every source consulted.
        """
        unknown = set(overrides) - {*ENV_NAMES, "client_auth", "scope"}
        if unknown:
            del environ, overrides  # may hold the secret; see below
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        try:
            return cls._gather(env_file, os.environ if environ is None else environ, cwd, overrides)
        except (CredentialsError, InsecureTransportError) as err:
            error = err
        # The frames below held the secret (and, with os.environ, every variable): the
        # error goes on with a fresh traceback, so tracebacks with locals cannot show them.
        del environ, overrides
        raise error.with_traceback(None)

    @classmethod
    def _gather(
        cls,
        env_file: str | os.PathLike[str] | None,
        env: Mapping[str, str],
        cwd: str | os.PathLike[str] | None,
        overrides: Mapping[str, str | None],
    ) -> Credentials:
        files = read_env_files(env_file, cwd)
        consulted = _consulted(env_file, files)
        found = _lookup_all(overrides, env, files, discovered=env_file is None)
        _check_trust(found)
        values = _with_defaults(found, consulted)
        return cls(
            client_id=values["client_id"].value,
            client_secret=values["client_secret"].value,
            auth_url=values["auth_url"].value,
            api_url=values["api_url"].value,
            client_auth=values["client_auth"].value,  # type: ignore[arg-type]
            scope=values["scope"].value if "scope" in values else None,
            sources={name: found.source for name, found in values.items()},
        )


class _Found(NamedTuple):
    """A setting's value and where it came from. ``discovered`` is the env file it was
    read from when that file was found in the working directory rather than named."""

    value: str
    source: str
    discovered: Path | None = None

    def __repr__(self) -> str:  # the value may be the secret
        return f"_Found(source={self.source!r})"


#: Setting name -> environment variable, for every setting :meth:`Credentials.resolve` reads.
_SETTINGS = {**ENV_NAMES, "client_auth": _CLIENT_AUTH_ENV, "scope": _SCOPE_ENV}
#: The names :meth:`Credentials.resolve` takes as overrides.
SETTING_NAMES = tuple(_SETTINGS)


def _consulted(
    env_file: str | os.PathLike[str] | None, files: list[tuple[Path, dict[str, str]]]
) -> list[str]:
    consulted = ["arguments", "environment (" + ", ".join(ENV_NAMES.values()) + ")"]
    consulted += [f"file {path}" for path, _ in files]
    if env_file is None and not files:
        consulted.append(
            "files " + ", ".join(DEFAULT_ENV_FILES) + " in the working directory (none found)"
        )
    return consulted


def _lookup_all(
    overrides: Mapping[str, str | None],
    env: Mapping[str, str],
    files: list[tuple[Path, dict[str, str]]],
    *,
    discovered: bool,
) -> dict[str, _Found]:
    """Every setting that was given somewhere, from the first source that has it.
    ``discovered``: the files were found in the working directory, not named."""
    found = {}
    for name, var in _SETTINGS.items():
        value = _lookup(name, var, overrides, env, files, discovered)
        if value is not None:
            found[name] = value
    return found


def _origins(found: Mapping[str, _Found]) -> dict[str, str]:
    return {_SETTINGS[name]: value.source for name, value in found.items()}


def _check_trust(found: Mapping[str, _Found]) -> None:
    """A secret never goes to a token URL from a less trusted source, nor the token it buys
    to an API URL from one: an env file found in the working directory (a cloned
    repository, a shared folder) may point only the secret it holds itself elsewhere.
    EarthDaily's own API hosts are no risk, wherever their URL came from."""
    secret = found.get("client_secret")
    for name, carries in (("auth_url", "secret"), ("api_url", "access token")):
        url = found.get(name)
        if url is None or secret is None or url.discovered is None:
            continue
        if secret.discovered == url.discovered:
            continue
        if name == "api_url" and _is_earthdaily_https(url.value):
            continue
        var = ENV_NAMES[name]
        raise CredentialsError(
            f"{var} comes from {url.source}, a file found in the working directory, but "
            f"EDS_SECRET comes from {secret.source}: pystac-eds does not send the {carries} "
            "to a URL that a file it merely found chose (a cloned repository or a shared "
            f"folder could send it anywhere). If you trust {url.discovered}, name it "
            f"(env_file= or --env-file) or set {var} in the environment; if not, remove "
            f"{var} from it.",
            sources=[url.source, secret.source],
            origins=_origins(found),
        )


def _is_earthdaily_https(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    return parts.scheme == "https" and (host == EDS_HOST or host.endswith("." + EDS_HOST))


def _with_defaults(found: Mapping[str, _Found], consulted: list[str]) -> dict[str, _Found]:
    """``found`` completed with the defaults of the new login flow, or the error that says
    which setting is missing."""
    values = dict(found)
    if "client_secret" not in values:
        raise CredentialsError(
            "No EDS secret found: set EDS_SECRET (the API token from the EDS console, or a "
            "legacy client secret) in the environment or in an EDS.env file, or pass "
            "credentials=Credentials.resolve(client_secret=...). Looked at: "
            + "; ".join(consulted)
            + ".",
            missing=[v for k, v in ENV_NAMES.items() if k not in values and k != "api_url"],
            sources=consulted,
            origins=_origins(found),
        )
    client_id = values.get("client_id")
    if "auth_url" not in values:
        if client_id is not None and client_id.value != NEW_FLOW_CLIENT_ID:
            raise CredentialsError(
                "EDS_CLIENT_ID is set but EDS_AUTH_URL is not: legacy client credentials "
                "need their own token URL (from the EDS console). API tokens of the new "
                f"login flow need no EDS_CLIENT_ID. Looked at: {'; '.join(consulted)}.",
                missing=["EDS_AUTH_URL"],
                sources=consulted,
                origins=_origins(found),
            )
        values["auth_url"] = _Found(NEW_FLOW_TOKEN_URL, "default (new login flow)")
    if client_id is None:
        auth_url = values["auth_url"].value
        if auth_url != NEW_FLOW_TOKEN_URL:
            raise CredentialsError(
                f"EDS_AUTH_URL is {_shown(auth_url, Hidden(values['client_secret'].value))} but "
                "EDS_CLIENT_ID is not set: set the "
                f"client id that goes with that token URL. Looked at: {'; '.join(consulted)}.",
                missing=["EDS_CLIENT_ID"],
                sources=consulted,
                origins=_origins(found),
            )
        values["client_id"] = _Found(NEW_FLOW_CLIENT_ID, "default (new login flow)")
    values.setdefault("api_url", _Found(DEFAULT_API_URL, "default"))
    values.setdefault("client_auth", _Found("auto", "default"))
    return values


def read_env_files(
    env_file: str | os.PathLike[str] | None, cwd: str | os.PathLike[str] | None = None
) -> list[tuple[Path, dict[str, str]]]:
    """The env files :meth:`Credentials.resolve` reads, in the order it looks, each with
    its values: ``env_file`` alone if given, else ``EDS.env`` and ``.env`` in ``cwd``."""
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
        # Imported only when there is a file to read: `import pystac_eds` and the
        # `pystac-eds token` fast path (settings from the environment) skip it.
        from dotenv import dotenv_values

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
    discovered: bool = False,
) -> _Found | None:
    candidates: list[tuple[str | None, str, Path | None]] = [
        (overrides.get(name), "argument", None),
        (env.get(var), f"environment {var}", None),
    ]
    candidates += [(values.get(var), f"{var} in {path}", path) for path, values in files]
    for value, source, path in candidates:
        if value is not None and str(value).strip():
            return _Found(str(value).strip(), source, path if discovered else None)
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
