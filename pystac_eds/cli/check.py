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
import shutil
import textwrap
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from ._common import (
    AUTH_URL_FIX,
    DIAGNOSIS_TIMEOUT,
    DIFFERENT_ENVIRONMENTS,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    CLIError,
    api_url_name,
    collections_url,
    error_line,
    hide_secrets,
    link_href,
    mixup_hint,
    not_a_token_endpoint,
    register_sensitive,
    resolve_credentials,
    resolved_settings,
    token_url_unreachable_fix,
    unreachable_fix,
)

if TYPE_CHECKING:
    import requests

    from ..errors import TokenError
    from ..settings import Credentials
    from ..token_request import RetryPolicy
    from ..tokens import Token

#: Beyond this difference with the server's clock, warn (tokens carry absolute times).
MAX_CLOCK_SKEW = 300.0
#: Pages of /collections followed at most.
MAX_COLLECTION_PAGES = 100


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="diagnose the setup step by step",
        # Line breaks by hand: the raw formatter (which keeps the examples as written)
        # does not wrap the description either.
        description="Check the settings, the token URL, the credentials and the STAC API,\n"
        "step by step; at the first failing step, say what to fix. Exit status 0 when all\n"
        "is well, 2 when a setting must change (a missing or rejected secret, a wrong URL),\n"
        "1 when the service or the network fails.",
        epilog=f"examples:\n  {PROG} check\n  {PROG} -v check 2> check.log  # and every request",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    #: Wrap lines at this width; 0: do not wrap (not a terminal: logs, grep, files).
    width: int = 0

    def _emit(self, status: str, text: str, fix: str | None = None) -> None:
        self.out.write(self._wrap(f"[{status}] {hide_secrets(text)}", indent=" " * 7))
        if fix:
            self.out.write(self._wrap(f"fix: {hide_secrets(fix)}", " " * 12, first=" " * 7))
        self.out.flush()

    def detail(self, text: str) -> None:
        self.out.write(self._wrap(hide_secrets(text), indent=" " * 9, first=" " * 7))

    def _wrap(self, text: str, indent: str, first: str = "") -> str:
        if not self.width:
            return first + text.replace("\n", " ") + "\n"
        return (
            textwrap.fill(
                text,
                width=self.width,
                initial_indent=first,
                subsequent_indent=indent,
                break_on_hyphens=False,
                break_long_words=False,
            )
            + "\n"
        )

    def ok(self, text: str) -> None:
        self._emit(" ok ", text)

    def warn(self, text: str, fix: str | None = None) -> None:
        self.warnings += 1
        self._emit("warn", text, fix)

    def fail(self, step: str, text: str, fix: str | None, code: int = EXIT_FAILED) -> NoReturn:
        self._emit("FAIL", f"{step}: {text}", fix)
        raise _Stop(step, text, fix, code)


def _terminal_width(stream: TextIO) -> int:
    try:
        if not stream.isatty():
            return 0
    except (AttributeError, ValueError):
        return 0
    return max(shutil.get_terminal_size().columns, 40)


def run_check(args: argparse.Namespace) -> int:
    from ._common import stdout

    out = stdout()
    report = Report(out, width=_terminal_width(out))
    try:
        creds = _check_settings(args, report)
        token = _check_token(creds, report)
        session, landing = _check_stac(creds, token, report)
        _check_conformance(session, creds.api_url, landing, report)
        _check_collections(session, creds.api_url, landing, report)
    except _Stop as stop:
        report.out.write("Stopped at the first failing step.\n")
        report.out.flush()
        # The report above says what and how to fix; stderr gets only the verdict.
        error_line(f"check failed at '{stop.step}' (see the [FAIL] line above).")
        return stop.code
    extra = f", with {report.warnings} warning(s)" if report.warnings else ""
    report.out.write(f"All checks passed{extra}.\n")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------


def _check_settings(args: argparse.Namespace, report: Report) -> Credentials:
    from ..settings import legacy_hint, quoted_secret_hint

    try:
        creds = resolve_credentials(args)
    except CLIError as err:  # told in the command line's words already
        report.fail("settings", str(err), None, err.code)
    hint = mixup_hint(creds)
    if not hint:  # one verdict for the step: the table, then FAIL below if mixed up
        report.ok("settings")
    for line in settings_lines(creds):
        report.detail(line)
    if hint:
        report.fail(
            "settings", "the token URL and the STAC API URL are mixed up.", hint, EXIT_USAGE
        )
    for warning in (legacy_hint(creds), quoted_secret_hint(creds), _stale_exports(creds, args)):
        if warning:
            report.warn(warning)
    return creds


def _stale_exports(creds: Credentials, args: argparse.Namespace) -> str | None:
    """Settings exported from an env file that has changed since (a restarted sandbox
    writes new ports and a new secret): the environment wins, so the file's are unused."""
    import os

    from ..settings import ENV_NAMES, read_env_files

    files = read_env_files(args.env_file)  # as resolve read them: they were readable
    differ: dict[str, Path] = {}
    for key, var in ENV_NAMES.items():
        if not creds.sources.get(key, "").startswith("environment"):
            continue
        # The value resolve would have taken from the files, had the environment not won.
        path, value = next(((p, v[var]) for p, v in files if var in v), (None, None))
        if path is not None and value != os.environ.get(var):
            differ[var] = path
    if not differ:
        return None
    path = next(iter(differ.values()))
    # Found here, it is named as found here; `. EDS.env` without ./ would search PATH.
    shown = str(path) if args.env_file else f"./{path.name}"
    shown = shown if "/" in shown else f"./{shown}"
    names = list(differ)
    verb = "differs" if len(names) == 1 else "differ"
    return (
        f"{', '.join(names)} in the environment {verb} from {shown}, which the environment "
        f"overrides: if {shown} is newer (a restarted sandbox writes new settings), export "
        f"it again (set -a; . {shown}; set +a) or unset {' '.join(names)}."
    )


def _source(creds: Credentials, name: str) -> str:
    source = creds.sources.get(name, "default")
    # Credentials.resolve calls what the CLI passes "argument"; only --api-url is one.
    return api_url_name(creds) if source == "argument" else source


def settings_lines(creds: Credentials) -> list[str]:
    """Each setting with where it came from; the secret only as a fingerprint."""
    rows = [
        ("client id", creds.client_id, _source(creds, "client_id")),
        ("secret", f"fingerprint {creds.secret_fingerprint}", _source(creds, "client_secret")),
        ("token URL", creds.auth_url, _source(creds, "auth_url")),
        ("STAC API", creds.api_url, _source(creds, "api_url")),
        ("client auth", creds.client_auth, _source(creds, "client_auth")),
        *([("scope", creds.scope, _source(creds, "scope"))] if creds.scope else []),
        _cache_row(),
    ]
    width = max(len(value) for _, value, _ in rows)
    return [f"{label:<12} {value:<{width}}  from {source}" for label, value, source in rows]


def _cache_row() -> tuple[str, str, str]:
    import os

    from ..disk import ENV_VAR, store_from_env

    store = store_from_env()
    if store is None:
        where = "off"
    elif store.private_folder(create=True) is None:  # what every command would find
        where = f"off: {store.off_reason or 'not usable'} (see the warning)"
    else:
        where = str(store.folder)
    return "token cache", where, f"environment {ENV_VAR}" if os.environ.get(ENV_VAR) else "default"


# ---------------------------------------------------------------------------------------
# Token
# ---------------------------------------------------------------------------------------

_METHODS = {"basic": "HTTP Basic (client_secret_basic)", "post": "form fields (client_secret_post)"}


def _policy() -> RetryPolicy:
    from ..token_request import RetryPolicy

    # Fewer, shorter retries than the library's: a diagnosis should answer quickly.
    return RetryPolicy(attempts=2, timeout=DIAGNOSIS_TIMEOUT, total=20.0)


def _check_token(creds: Credentials, report: Report) -> Token:
    from ..errors import TokenError
    from ..learnt import LearntMethods
    from ..token_request import request_token

    started = time.monotonic()
    try:
        learnt = LearntMethods()  # in memory only: say what works now, not what did
        token = request_token(creds, policy=_policy(), learnt=learnt)
    except TokenError as err:
        _token_failed(creds, err, report)
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


def _token_failed(creds: Credentials, err: TokenError, report: Report) -> NoReturn:
    from ..settings import legacy_hint
    from .failures import token_error_code

    code = token_error_code(err)
    step = "token URL reachable"
    if err.status is None:
        fix = token_url_unreachable_fix(creds) if err.retryable else err.hint
        report.fail(step, err.message, fix, code)
    # It answers, but it is no token URL: "reachable" would send the user elsewhere.
    verdict = not_a_token_endpoint(err, creds.auth_url)
    if verdict:
        report.fail(step, verdict, AUTH_URL_FIX, EXIT_USAGE)
    report.ok(f"{step}: {creds.auth_url} (HTTP {err.status})")
    report.fail("credentials accepted", err.message, _join(err.hint, legacy_hint(creds)), code)


def _join(*parts: str | None) -> str | None:
    """The hints that are set, each once (two sources may say the same thing)."""
    unique = dict.fromkeys(p.strip() for p in parts if p and p.strip())
    return " ".join(unique) or None


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
            _root_fix(creds.api_url),
            EXIT_USAGE,
        )
    name = landing.get("title") or landing.get("id") or "?"
    report.ok(f"{step}: {creds.api_url} ({name!s}, {_ms(started)})")
    _check_clock(response.headers.get("Date"), report)
    return session, landing


def _get(session: requests.Session, url: str, step: str, report: Report) -> requests.Response:
    import requests

    try:
        response = session.get(url, timeout=DIAGNOSIS_TIMEOUT)
    except requests.Timeout:
        report.fail(
            step,
            f"{url} did not answer in time.",
            f"try again later, or check {_api_setting()} and your network (proxy, VPN).",
        )
    except requests.RequestException as exc:
        report.fail(
            step,
            f"could not connect to {url} ({type(exc).__name__}).",
            unreachable_fix(url, _api_setting()),
        )
    if response.status_code in (401, 403):
        report.fail(
            step,
            f"{url} refused the token (HTTP {response.status_code}).",
            DIFFERENT_ENVIRONMENTS,
            EXIT_USAGE,
        )
    if not 200 <= response.status_code < 300:
        # A 4xx says the URL is wrong (a setting to change); a 5xx, the service is down.
        report.fail(
            step,
            f"{url} answered HTTP {response.status_code}"
            f"{' with an HTML page' if _is_html(response) else ''}.",
            _status_fix(response),
            EXIT_FAILED if response.status_code >= 500 else EXIT_USAGE,
        )
    return response


def _status_fix(response: requests.Response) -> str:
    down = "the service has a problem; try again later."
    if _is_html(response):
        return (
            f"{_html_fix()} If {_api_setting()} is right, {down}"
            if response.status_code >= 500
            else _html_fix()
        )
    if response.status_code >= 500:
        return down
    return _root_fix(response.url)


def _api_setting() -> str:
    """What the user called the STAC API URL in this run: ``--api-url`` or ``EDS_API_URL``."""
    return api_url_name(resolved_settings())


def _root_fix(url: str) -> str:
    from ..settings import is_loopback_url

    where = (
        # A local server: EarthDaily's URL would be the wrong example.
        "the URL whose answer is the STAC landing page (for the sandbox: EDS_API_URL in "
        "the EDS.env it wrote)"
        if is_loopback_url(url)
        else "e.g. https://api.earthdaily.com/platform/v1/stac"
    )
    return f"set {_api_setting()} to the STAC root, {where}."


def _html_fix() -> str:
    return (
        "an HTML page came back instead of JSON: a web proxy, captive portal or login page "
        f"is in the way, or {_api_setting()} is a web page rather than the STAC API root."
    )


def _is_html(response: requests.Response) -> bool:
    from ..tokens import looks_like_html

    return looks_like_html(response.content, response.headers.get("Content-Type", ""))


def _json_or_fail(response: requests.Response, step: str, report: Report) -> Any:
    try:
        return response.json()
    except ValueError:
        fix = _html_fix() if _is_html(response) else _root_fix(response.url)
        report.fail(step, f"{response.url} did not answer with JSON.", fix, EXIT_USAGE)


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
        url = link_href(landing, "conformance") or root.rstrip("/") + "/conformance"
        body = _json_or_fail(_get(session, url, "conformance", report), "conformance", report)
        classes = body.get("conformsTo") if isinstance(body, dict) else None
    if not isinstance(classes, list) or not classes:
        report.warn(
            "conformance: the API lists no conformance classes.",
            f"pystac-client will not search it: check {_api_setting()}.",
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


def _check_collections(
    session: requests.Session, root: str, landing: dict[str, Any], report: Report
) -> None:
    url: str | None = collections_url(landing, root)
    count, pages = 0, 0
    while url and pages < MAX_COLLECTION_PAGES:
        body = _json_or_fail(_get(session, url, "collections", report), "collections", report)
        found = body.get("collections") if isinstance(body, dict) else None
        if not isinstance(found, list):
            report.fail(
                "collections",
                f"{url} did not list collections.",
                _root_fix(url),
                EXIT_USAGE,
            )
        count, pages = count + len(found), pages + 1
        url = link_href(body, "next")
    if count == 0:
        report.warn(
            "collections: none listed.",
            "your account may have no collection enabled: check it in the EDS console.",
        )
    else:
        report.ok(f"collections: {count}")
