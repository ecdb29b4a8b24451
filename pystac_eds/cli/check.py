"""``pystac-eds check``: diagnose a setup step by step, stop at the first failing step and
say what to fix there.

Steps: settings (and where each came from) > token URL reachable > credentials accepted
> token lifetime > STAC API reachable > clock > conformance > collections.
The check asks for a token of its own (not from the shared cache) so that it really
tests the credentials, and never prints the secret or the token.
"""

from __future__ import annotations

import argparse
import email.utils
import sys
import textwrap
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    api_url_is_token_url,
    error_line,
    redact,
    register_sensitive,
    resolve_credentials,
)

if TYPE_CHECKING:
    import requests

    from ..settings import Credentials
    from ..tokens import Token

#: Beyond this difference with the server's clock, warn (tokens carry absolute times).
MAX_CLOCK_SKEW = 300.0
#: Pages of /collections followed at most.
MAX_COLLECTION_PAGES = 100
_TIMEOUT = (5.0, 30.0)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="diagnose the setup step by step",
        description="Check the settings, the token URL, the credentials and the STAC API, "
        "step by step; at the first failing step, say what to fix. Exit status 0 when all "
        "is well, 2 when a setting must change, 1 when the service fails.",
    )
    parser.set_defaults(run=run_check)


class _Stop(Exception):
    def __init__(self, step: str, message: str, fix: str | None, code: int) -> None:
        super().__init__(message)
        self.step, self.message, self.fix, self.code = step, message, fix, code


@dataclass
class Report:
    """The check's output: one status line per step, details and fixes indented."""

    out: TextIO
    warnings: int = 0

    def _emit(self, status: str, text: str, fix: str | None = None) -> None:
        self.out.write(_wrap(f"[{status}] {redact(text)}", indent=" " * 7))
        if fix:
            self.out.write(_wrap(f"fix: {redact(fix)}", indent=" " * 12, first=" " * 7))
        self.out.flush()

    def detail(self, text: str) -> None:
        self.out.write(_wrap(redact(text), indent=" " * 9, first=" " * 7))

    def ok(self, text: str) -> None:
        self._emit(" ok ", text)

    def warn(self, text: str, fix: str | None = None) -> None:
        self.warnings += 1
        self._emit("warn", text, fix)

    def fail(self, step: str, text: str, fix: str | None, code: int = EXIT_FAILED) -> NoReturn:
        self._emit("FAIL", f"{step}: {text}", fix)
        raise _Stop(step, text, fix, code)


def _wrap(text: str, indent: str, first: str = "") -> str:
    return (
        textwrap.fill(
            text,
            width=100,
            initial_indent=first,
            subsequent_indent=indent,
            break_on_hyphens=False,
            break_long_words=False,
        )
        + "\n"
    )


def run_check(args: argparse.Namespace) -> int:
    report = Report(sys.stdout)
    try:
        creds = _check_settings(args, report)
        token = _check_token(creds, report)
        session, landing = _check_stac(creds, token, report)
        _check_conformance(session, creds.api_url, landing, report)
        _check_collections(session, creds.api_url, landing, report)
    except _Stop as stop:
        report.out.write("Stopped at the first failing step.\n")
        report.out.flush()
        fix = f" Fix: {stop.fix}" if stop.fix else ""
        error_line(f"check failed at '{stop.step}': {stop.message}{fix}")
        return stop.code
    extra = f", with {report.warnings} warning(s)" if report.warnings else ""
    report.out.write(f"All checks passed{extra}.\n")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------


def _check_settings(args: argparse.Namespace, report: Report) -> Credentials:
    from ..errors import CredentialsError, InsecureTransportError

    try:
        creds = resolve_credentials(args)
    except (CredentialsError, InsecureTransportError) as err:
        report.fail("settings", str(err), None, EXIT_USAGE)
    report.ok("settings")
    for line in settings_lines(creds):
        report.detail(line)
    hint = api_url_is_token_url(creds)
    if hint:
        report.fail("settings", "EDS_API_URL is a token URL.", hint, EXIT_USAGE)
    for warning in (legacy_hint(creds), _quoted_secret(creds)):
        if warning:
            report.warn(warning)
    return creds


def _source(creds: Credentials, name: str) -> str:
    source = creds.sources.get(name, "default")
    # Credentials.resolve calls what the CLI passes "argument"; only --api-url is one.
    return "--api-url" if source == "argument" else source


def settings_lines(creds: Credentials) -> list[str]:
    """Each setting with where it came from; the secret only as a fingerprint."""
    rows = [
        ("client id", creds.client_id, _source(creds, "client_id")),
        ("secret", f"fingerprint {creds.secret_fingerprint}", _source(creds, "client_secret")),
        ("token URL", creds.auth_url, _source(creds, "auth_url")),
        ("STAC API", creds.api_url, _source(creds, "api_url")),
        ("client auth", creds.client_auth, _source(creds, "client_auth")),
        _cache_row(),
    ]
    width = max(len(value) for _, value, _ in rows)
    return [f"{label:<12} {value:<{width}}  ({source})" for label, value, source in rows]


def _cache_row() -> tuple[str, str, str]:
    import os

    from ..disk import ENV_VAR, store_from_env

    store = store_from_env()
    where = "off" if store is None else str(store.folder)
    return "token cache", where, f"environment {ENV_VAR}" if os.environ.get(ENV_VAR) else "default"


def legacy_hint(creds: Credentials) -> str | None:
    """A hint when the new login flow's URL and client id are mixed with other ones."""
    from ..settings import NEW_FLOW_CLIENT_ID, NEW_FLOW_TOKEN_URL

    new_url = creds.auth_url == NEW_FLOW_TOKEN_URL
    new_id = creds.client_id == NEW_FLOW_CLIENT_ID
    if new_url and not new_id:
        return (
            f"legacy client credentials (client id {creds.client_id}) sent to the new login "
            f"flow's exchange URL: set EDS_AUTH_URL to your legacy token URL from the EDS "
            f"console, or use an API token with EDS_CLIENT_ID unset (or {NEW_FLOW_CLIENT_ID})."
        )
    if new_id and not new_url:
        return (
            f"client id {NEW_FLOW_CLIENT_ID} is for API tokens of the new login flow, which are "
            f"exchanged at {NEW_FLOW_TOKEN_URL}: unset EDS_AUTH_URL, or set the legacy "
            "client id that goes with it."
        )
    return None


def _quoted_secret(creds: Credentials) -> str | None:
    # A frequent copy-paste mistake in env files: unbalanced or doubled quotes.
    if creds.client_secret[:1] in "'\"" or creds.client_secret[-1:] in "'\"":
        return "EDS_SECRET starts or ends with a quote: check the quoting in the env file."
    return None


# ---------------------------------------------------------------------------------------
# Token
# ---------------------------------------------------------------------------------------

_METHODS = {"basic": "HTTP Basic (client_secret_basic)", "post": "form fields (client_secret_post)"}


def _check_token(creds: Credentials, report: Report) -> Token:
    from ..errors import TokenError
    from ..learnt import LearntMethods
    from ..token_request import RetryPolicy, request_token

    # Fewer, shorter retries than the library's: a diagnosis should answer quickly.
    policy = RetryPolicy(attempts=2, timeout=(5.0, 15.0), total=20.0)
    started = time.monotonic()
    try:
        learnt = LearntMethods()  # in memory only: say what works now, not what did
        token = request_token(creds, policy=policy, learnt=learnt)
    except TokenError as err:
        message, fix = err.message, err.hint
        if err.status is None:
            report.fail("token URL reachable", message, fix)
        report.ok(f"token URL reachable: {creds.auth_url} (HTTP {err.status})")
        report.fail("credentials accepted", message, _join(fix, legacy_hint(creds)))
    register_sensitive(token.value)
    report.ok(f"token URL reachable: {creds.auth_url} ({_ms(started)})")
    if creds.client_auth == "auto":
        method = learnt.get(creds) or "basic"
        how = f"{_METHODS[method]}, found automatically"
    else:
        how = f"{_METHODS[creds.client_auth]}, set by EDS_CLIENT_AUTH"
    report.ok(f"credentials accepted: client auth {how}")
    expires = datetime.fromtimestamp(token.expires_at, timezone.utc).strftime("%H:%M:%S UTC")
    report.ok(f"token valid for {_duration(token.lifetime)} (until {expires})")
    return token


def _join(*parts: str | None) -> str | None:
    text = " ".join(p for p in parts if p)
    return text or None


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


def _duration(seconds: float) -> str:
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


# ---------------------------------------------------------------------------------------
# STAC API
# ---------------------------------------------------------------------------------------


def _check_stac(
    creds: Credentials, token: Token, report: Report
) -> tuple[requests.Session, dict[str, Any]]:
    from ..auth import EDSAuth
    from ..cache import TokenCache
    from ..transport import new_session

    session = new_session()  # loopback APIs direct: an environment proxy would get the token
    # A private cache holding the token just checked: EDSAuth's scoping, no second request.
    session.auth = EDSAuth(creds, cache=TokenCache(fetch=lambda _creds: token))
    session.headers["Accept"] = "application/json"
    step = "STAC API reachable"
    started = time.monotonic()
    response = _get(session, creds.api_url, step, report)
    landing = _json_or_fail(response, step, report)
    if not isinstance(landing, dict) or not isinstance(landing.get("links"), list):
        report.fail(
            step,
            f"{creds.api_url} answered JSON that is not a STAC landing page.",
            "set EDS_API_URL to the STAC root, e.g. https://api.earthdaily.com/platform/v1/stac",
            EXIT_USAGE,
        )
    name = landing.get("title") or landing.get("id") or "?"
    report.ok(f"{step}: {creds.api_url} ({name!s}, {_ms(started)})")
    _check_clock(response.headers.get("Date"), report)
    return session, landing


def _get(session: requests.Session, url: str, step: str, report: Report) -> requests.Response:
    import requests

    try:
        response = session.get(url, timeout=_TIMEOUT)
    except requests.Timeout:
        report.fail(
            step,
            f"{url} did not answer in time.",
            "try again later, or check EDS_API_URL and your network (proxy, VPN).",
        )
    except requests.RequestException as exc:
        report.fail(
            step,
            f"could not connect to {url} ({type(exc).__name__}).",
            "check EDS_API_URL and your network (proxy, VPN).",
        )
    if response.status_code in (401, 403):
        report.fail(
            step,
            f"{url} refused the token (HTTP {response.status_code}).",
            "the token URL and the STAC API do not belong together (e.g. a sandbox "
            "token for production): check that EDS_AUTH_URL and EDS_API_URL are from "
            "the same environment, and that your account may use the API.",
        )
    if not 200 <= response.status_code < 300:
        report.fail(
            step,
            f"{url} answered HTTP {response.status_code}"
            f"{' with an HTML page' if _is_html(response) else ''}.",
            _status_fix(response),
        )
    return response


def _status_fix(response: requests.Response) -> str:
    down = "the service has a problem; try again later."
    if _is_html(response):
        return (
            f"{_HTML_FIX} If EDS_API_URL is right, {down}"
            if response.status_code >= 500
            else _HTML_FIX
        )
    if response.status_code >= 500:
        return down
    return "check EDS_API_URL: it must be the STAC root, e.g. https://api.earthdaily.com/platform/v1/stac"


_HTML_FIX = (
    "an HTML page came back instead of JSON: a web proxy, captive portal or login page "
    "is in the way, or EDS_API_URL is a web page rather than the STAC API root."
)


def _is_html(response: requests.Response) -> bool:
    head = response.content.lstrip()[:64].lower()
    return "html" in response.headers.get("Content-Type", "").lower() or head.startswith(
        (b"<!doctype", b"<html")
    )


def _json_or_fail(response: requests.Response, step: str, report: Report) -> Any:
    try:
        return response.json()
    except ValueError:
        fix = _HTML_FIX if _is_html(response) else "check EDS_API_URL."
        report.fail(step, f"{response.url} did not answer with JSON.", fix)


def clock_skew(date_header: str | None, now: float) -> float | None:
    """Server time minus local time, in seconds, from an HTTP ``Date`` header."""
    if not date_header:
        return None
    try:
        server = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:
        server = server.replace(tzinfo=timezone.utc)
    return server.timestamp() - now


def _check_clock(date_header: str | None, report: Report) -> None:
    skew = clock_skew(date_header, time.time())
    if skew is None:
        return  # no Date header: nothing to compare with, and nothing wrong
    if abs(skew) > MAX_CLOCK_SKEW:
        direction = "behind" if skew > 0 else "ahead of"
        report.warn(
            f"clock: this computer is {_duration(abs(skew))} {direction} the server.",
            "tokens carry absolute expiry times: sync the system clock (NTP).",
        )
    else:
        report.ok(f"clock: within {max(abs(skew), 1):.0f} s of the server")


def _check_conformance(
    session: requests.Session, root: str, landing: dict[str, Any], report: Report
) -> None:
    classes = landing.get("conformsTo")
    if not isinstance(classes, list):
        url = _link(landing, "conformance") or root.rstrip("/") + "/conformance"
        body = _json_or_fail(_get(session, url, "conformance", report), "conformance", report)
        classes = body.get("conformsTo") if isinstance(body, dict) else None
    if not isinstance(classes, list) or not classes:
        report.warn(
            "conformance: the API lists no conformance classes.",
            "pystac-client will not search it: check EDS_API_URL.",
        )
        return
    report.ok(f"conformance: {len(classes)} classes")
    report.detail(", ".join(short_class(str(c)) for c in classes))
    if not any(str(c).rstrip("/").endswith("/item-search") for c in classes):
        report.warn("conformance: no item-search class, so `pystac-eds search` will refuse.")


def short_class(uri: str) -> str:
    """``https://api.stacspec.org/v1.0.0/item-search#filter`` -> ``item-search#filter``."""
    for marker in ("api.stacspec.org/", "opengis.net/spec/"):
        if marker in uri:
            parts = uri.split(marker, 1)[1].split("/")
            if marker.startswith("api"):
                return "/".join(parts[1:]) or uri  # drop the version
            return f"{parts[0]}/{parts[-1]}" if len(parts) > 1 else uri
    return uri


def _link(document: dict[str, Any], rel: str) -> str | None:
    for link in document.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == rel and link.get("href"):
            return str(link["href"])
    return None


def _check_collections(
    session: requests.Session, root: str, landing: dict[str, Any], report: Report
) -> None:
    url: str | None = _link(landing, "data") or root.rstrip("/") + "/collections"
    count, pages = 0, 0
    while url and pages < MAX_COLLECTION_PAGES:
        body = _json_or_fail(_get(session, url, "collections", report), "collections", report)
        found = body.get("collections") if isinstance(body, dict) else None
        if not isinstance(found, list):
            report.fail("collections", f"{url} did not list collections.", "check EDS_API_URL.")
        count, pages = count + len(found), pages + 1
        url = _link(body, "next")
    if count == 0:
        report.warn(
            "collections: none listed.",
            "your account may have no collection enabled: check it in the EDS console.",
        )
    else:
        report.ok(f"collections: {count}")
