"""The command line's parser, and running the command it names: global options, one
sub-parser per command (each module imported only for its own command), ``-v`` logging,
one-line warnings, and the hand-over to the sandbox's own parser.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._common import EXIT_USAGE, PROG, CLIError, warning_line

if TYPE_CHECKING:
    import argparse

EPILOG = f"""\
settings (environment, else --env-file, else ./EDS.env or ./.env):
  EDS_SECRET      API token from the EDS console (or a legacy client secret)
  EDS_CLIENT_ID   legacy client id (not needed for API tokens)
  EDS_AUTH_URL    token URL (default: the new login flow's exchange URL)
  EDS_API_URL     STAC root (default: https://api.earthdaily.com/platform/v1/stac)
  EDS_TOKEN_CACHE token cache folder, or "off"
  EDS_CLIENT_AUTH how to send the secret to the token URL: auto (default), basic, post
  EDS_SCOPE       OAuth scope(s) to ask for, for token servers that need one

examples:
  {PROG} check
  # settings in EDS.env? export them first: set -a; . ./EDS.env; set +a
  curl -H "Authorization: Bearer $({PROG} token)" "$EDS_API_URL/collections"
  {PROG} collections
  {PROG} search -c sentinel-2-l2a --bbox -105.3 39.9 -105.1 40.1 \\
      --datetime 2024-06-01/2024-08-31 --max-items 100 > items.geojson
  {PROG} search -c sentinel-2-l2a --datetime 2024 --matched
  {PROG} search -c sentinel-2-l2a --ndjson --max-items 100 | jq -r .id
  {PROG} sandbox --help

exit status: 0 ok, 1 the service or a file failed, 2 fix the command line or settings,
130 interrupted, 141 stdout's reader went away (| head), as for cat or grep.
"""


def _global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file", metavar="FILE", help="read settings from FILE instead of ./EDS.env or ./.env"
    )
    parser.add_argument("--api-url", metavar="URL", help="STAC API root (overrides EDS_API_URL)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="DEBUG logs on stderr (tokens redacted)"
    )


#: Each command: the module (in this package) and the function that adds its parser.
_COMMANDS = {
    "token": ("token_command", "add_token"),
    "check": ("check", "add_parser"),
    "collections": ("commands", "add_collections"),
    "search": ("search", "add_parser"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with ``only`` a known command, just that one: its
    module alone is imported, so a command does not pay for the others."""
    import argparse
    import importlib

    from .. import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Use the EarthDaily Earth Data Store STAC API from a shell or a notebook.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, function) in _COMMANDS.items():
        if only in (None, name):
            getattr(importlib.import_module(f".{module}", __package__), function)(commands)
    if only is not None:
        return parser
    # Never parsed here (see _sandbox_split); listed so that --help shows it.
    commands.add_parser(
        "sandbox", help="a local EDS-compatible stack (needs pystac-eds[sandbox])", add_help=False
    )
    return parser


def _setup_logging(verbose: bool, undo: contextlib.ExitStack) -> None:
    """DEBUG logs on stderr for -v, undone by ``undo`` when main() returns (main may be
    called in-process, from a notebook or a test, whose logging must be left as it was)."""
    if not verbose:
        return
    from .. import redaction

    redaction.install()
    handler = logging.StreamHandler(sys.stderr)
    # On the handler, the filter sees records from every logger, not only the ones
    # redaction.install() knows print headers.
    handler.addFilter(redaction.RedactBearerFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    undo.callback(root.setLevel, root.level)
    root.addHandler(handler)
    undo.callback(root.removeHandler, handler)
    root.setLevel(logging.DEBUG)
    logging.captureWarnings(True)
    undo.callback(logging.captureWarnings, False)


def _command_at(argv: list[str]) -> int | None:
    """The index of the command word (the first positional), ``None`` without one or
    when top-level help or the version is asked for."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help", "--version"):
            return None
        if arg in ("--env-file", "--api-url"):
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return i
    return None


def _sandbox_split(argv: list[str]) -> tuple[list[str], list[str]] | None:
    """(global options, sandbox arguments) when the command is ``sandbox``.

    The sandbox parses its own arguments; argparse's REMAINDER cannot hand over ones
    starting with ``-``, so the split happens before argparse sees them.
    """
    i = _command_at(argv)
    if i is None or argv[i] != "sandbox":
        return None
    return argv[:i], argv[i + 1 :]


def _run_sandbox(argv: list[str]) -> int:
    import importlib

    hint = "the sandbox needs the [sandbox] extra: pip install 'pystac-eds[sandbox]'"
    try:
        module = importlib.import_module("pystac_eds.sandbox")
        entry: Callable[[list[str]], int | None] = module.main
    except ImportError as exc:
        raise CLIError(f"{hint} (missing module {exc.name or '?'})", EXIT_USAGE) from None
    except AttributeError:
        raise CLIError(hint, EXIT_USAGE) from None
    try:
        return int(entry(argv) or 0)
    except ModuleNotFoundError as exc:
        # The sandbox may import its extra's packages late, inside main().
        if exc.name and not exc.name.startswith("pystac_eds"):
            raise CLIError(f"{hint} (missing module {exc.name})", EXIT_USAGE) from None
        raise


def dispatch(argv: list[str], undo: contextlib.ExitStack) -> int:
    """Parse ``argv`` and run the command; ``undo`` takes back what was set up for it
    (logging, the warning format) when main() returns."""
    split = _sandbox_split(argv)
    if split is not None:
        head, rest = split
        import argparse

        options = argparse.ArgumentParser(prog=PROG, add_help=False)
        _global_options(options)
        _setup_logging(options.parse_args(head).verbose, undo)
        return _run_sandbox(rest)
    at = _command_at(argv)
    known = argv[at] if at is not None and argv[at] in _COMMANDS else None
    parser = build_parser(known)
    if known == "search":
        from .search import sort_fields_as_values

        argv = sort_fields_as_values(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _one_line_warnings(undo)
    _setup_logging(args.verbose, undo)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


#: pystac-client's conformance class names -> the option that needs them.
_OPTION_FOR_CLASS = {
    "QUERY": "--query",
    "FILTER": "--filter",
    "SORT": "--sortby",
    "FIELDS": "--fields",
}


def _warning_text(message: Warning | str) -> str:
    from pystac_client.warnings import DoesNotConformTo

    if isinstance(message, DoesNotConformTo) and message.args:
        name = str(message.args[0])
        option = _OPTION_FOR_CLASS.get(name)
        if option:
            return (
                f"the STAC API does not declare the {name.lower()} conformance class: it may "
                f"ignore {option}, or match nothing."
            )
    return str(message)


def _one_line_warnings(undo: contextlib.ExitStack) -> None:
    """Library warnings (pystac-client's DoesNotConformTo...) as one
    ``pystac-eds: warning: ...`` line each, not Python's two lines with file paths."""
    import warnings

    shown: set[str] = set()

    def show(message: Warning | str, *_args: object, **_kwargs: object) -> None:
        text = _warning_text(message)
        if text not in shown:  # pystac-client may warn twice about one option
            shown.add(text)
            warning_line(text)

    previous = warnings.showwarning
    warnings.showwarning = show
    undo.callback(setattr, warnings, "showwarning", previous)
