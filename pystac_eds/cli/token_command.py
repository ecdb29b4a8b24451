"""``pystac-eds token``: print a valid access token, fast.

It is called in shell loops (``curl -H "Authorization: Bearer $(pystac-eds token)"``), so
with a warm disk cache it skips requests and pystac-client: settings, the cache key and
:class:`~pystac_eds.disk.DiskStore` only, on the standard library (plus python-dotenv
when the settings come from a file such as ./EDS.env: a few milliseconds, measured in
``benchmarks/token_fast_path.py``). Only a missing or expiring token takes the full path
through the shared :class:`~pystac_eds.cache.TokenCache`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._common import EXIT_OK, PROG, named_errors, resolve_settings, stdout

if TYPE_CHECKING:
    import argparse

    from ..settings import Credentials
    from ..tokens import Token

DESCRIPTION = """\
Print a valid access token, and nothing else, on stdout. It comes from the shared token
cache (on disk: every process of this user shares it) while one is still valid there;
otherwise a new one is requested and saved there.

--refresh requests a new token even though the cache holds a valid one, and saves it
for every process. Use it when the API refuses a token that has not expired yet (HTTP
401: it was revoked on the server, e.g. the API token was deleted and created again in
the EDS console); Python code using pystac-eds recovers from such a 401 by itself.
"""

EPILOG = f"""\
examples:
  # settings in EDS.env? export them first: set -a; . ./EDS.env; set +a
  curl -H "Authorization: Bearer $({PROG} token)" "$EDS_API_URL/collections"
  {PROG} token --refresh > /dev/null     # after a 401: replace the cached token
"""


# `commands` is argparse's private _SubParsersAction.
def add_token(commands: Any) -> None:
    import argparse

    parser = commands.add_parser(
        "token",
        help="print a valid access token",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="request a new token and save it for every process (after a 401)",
    )
    parser.set_defaults(run=run_token)


def run_token(args: argparse.Namespace) -> int:
    return print_token(args.env_file, args.api_url, refresh=args.refresh)


def print_token(env_file: str | None, api_url: str | None, *, refresh: bool = False) -> int:
    creds = resolve_settings(env_file, api_url)
    token = refreshed_token(creds) if refresh else cached_token(creds) or shared_token(creds)
    with named_errors("standard output"):
        print(token.value, file=stdout(), flush=True)
    return EXIT_OK


def plain_token_options(argv: Sequence[str]) -> tuple[str | None, str | None] | None:
    """``(env_file, api_url)`` when ``argv`` is just ``token`` after ``--env-file`` and
    ``--api-url`` (the shell-loop case), so main() can skip building the argparse parser;
    ``None`` for anything else (help, -v, other spellings), which argparse handles."""
    values: dict[str, str] = {}
    i = 0
    while i < len(argv) - 1:
        name, eq, value = argv[i].partition("=")
        if name not in ("--env-file", "--api-url"):
            return None
        if not eq:
            if i + 2 >= len(argv):
                return None
            value, i = argv[i + 1], i + 1
        values[name] = value
        i += 1
    if i != len(argv) - 1 or argv[i] != "token":
        return None
    return values.get("--env-file"), values.get("--api-url")


def disk_key(creds: Credentials) -> str:
    """The shared cache's key for ``creds``, as ``pystac_eds.cache.cache_key`` computes it
    (a test keeps the two equal); computed here because ``cache`` imports requests."""
    parts = [creds.auth_url, creds.client_id, creds.secret_fingerprint]
    scope = getattr(creds, "scope", None)  # EDS_SCOPE, where settings have it
    if scope:
        parts.append("scope=" + scope)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def cached_token(creds: Credentials) -> Token | None:
    """The token on disk, if it is not due for refresh yet; neither requests nor
    pystac-client imported."""
    from ..disk import store_from_env

    store = store_from_env()
    if store is None:
        return None
    token = store.load(disk_key(creds))
    if token is None or token.needs_refresh(time.time()):
        return None
    return token


def shared_token(creds: Credentials) -> Token:
    """A valid token from the process-wide cache, requesting one if needed."""
    from ..cache import TokenCache

    return TokenCache.default().get(creds)


def refreshed_token(creds: Credentials) -> Token:
    """A new token, saved to the disk cache so every process uses it from now on.

    Through the cache's own API: the current token is marked refused, as a 401 would,
    so the next ``get`` neither returns it nor adopts its copy on disk, and fetches (with
    the cache's retry policy and learnt client authentication) and saves a new one.
    """
    from ..cache import TokenCache

    cache = TokenCache.default()
    before = cache.token_requests
    current = cache.get(creds)
    if cache.token_requests > before:
        return current  # there was none: this one is new
    cache.invalidate(creds, current.value)
    return cache.get(creds)
