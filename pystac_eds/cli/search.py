"""``pystac-eds search``: the options of ``stac-client search``, streamed output."""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ._common import (
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    CLIError,
    named_errors,
    note_line,
    open_client,
    open_io,
    read_json,
    stdout,
)
from .output import open_output
from .progress import Page, Progress, isatty

if TYPE_CHECKING:
    from pystac_client import Client, ItemSearch

Writer = Callable[[Iterable[Page], IO[str]], None]


SEARCH_EPILOG = f"""\
examples:
  {PROG} search -c sentinel-2-l2a --bbox -105.3 39.9 -105.1 40.1 \\
      --datetime 2024-06-01/2024-08-31 --sortby -properties.datetime --max-items 20
  {PROG} search -c sentinel-2-l2a --datetime 2024 --matched
  {PROG} search -c sentinel-2-l2a --ndjson --max-items 1000 | head -3
  {PROG} search -c sentinel-2-l2a --max-items 100 --save items.geojson

--query, --filter, --sortby and --fields need the API to support them: when it does
not declare the conformance class, a warning says so (the API may ignore the option or
match nothing). Output piped into a reader that stops early (| head) ends the search
quietly with status 141, as cat or grep do.
"""

#: A sort field as a shell user types it: -properties.datetime, +id, -eo:cloud_cover.
_SORT_FIELD = re.compile(r"[-+][A-Za-z_][\w.:-]+")


def sort_fields_as_values(argv: list[str]) -> list[str]:
    """``--sortby -properties.datetime`` rewritten as ``--sortby=-properties.datetime``.

    argparse takes any word starting with ``-`` for an option; a sort field never looks
    like one of ours (those are ``--long`` or a single letter), so fields after
    ``--sortby`` become ``--sortby=FIELD``, which ``action="extend"`` adds up.
    """
    result: list[str] = []
    in_sortby = pending = False  # pending: --sortby seen, no field after it yet
    for arg in argv:
        if in_sortby and (_SORT_FIELD.fullmatch(arg) or not arg.startswith("-")):
            result.append(f"--sortby={arg}")
            pending = False
            continue
        if pending:
            result.append("--sortby")  # no field: let argparse say so
        in_sortby = pending = arg == "--sortby"
        if not in_sortby:
            result.append(arg)
    if pending:
        result.append("--sortby")
    return result


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "search",
        help="search items; GeoJSON or NDJSON out",
        # Line breaks by hand: the raw formatter keeps the examples, and does not wrap.
        description="Search items (the options of `stac-client search`). Prints a GeoJSON\n"
        "FeatureCollection by default, streamed page by page; nothing is printed until the\n"
        "first page has arrived.",
        epilog=SEARCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _search_options(parser.add_argument_group("search options"))
    out = parser.add_argument_group("output options")
    out.add_argument(
        "--matched",
        action="store_true",
        help="print only the number of matches (counted page by page, and said so on "
        "stderr, when the API does not report numberMatched)",
    )
    out.add_argument(
        "--save",
        metavar="FILE",
        help="write the output to FILE instead of stdout: a regular file is replaced only "
        "once complete (a new one is created 0600); FIFOs, devices and /dev/fd/N are "
        "written straight into",
    )
    out.add_argument(
        "--ndjson", action="store_true", help="one item per line, written as pages arrive"
    )
    parser.set_defaults(run=run_search)


def _search_options(group: Any) -> None:
    group.add_argument("-c", "--collections", nargs="+", metavar="ID", help="collection ids")
    group.add_argument("--ids", nargs="+", metavar="ID", help="item ids")
    group.add_argument(
        "--bbox",
        nargs=4,
        type=float,
        metavar=("WEST", "SOUTH", "EAST", "NORTH"),
        help="bounding box in degrees",
    )
    group.add_argument("--intersects", metavar="GEOJSON", help="GeoJSON file or text")
    group.add_argument("--datetime", help="a datetime or an interval, e.g. 2024-06-01/2024-06-30")
    group.add_argument(
        "--query", nargs="+", metavar="EXPR", help="property conditions, e.g. eo:cloud_cover<20"
    )
    group.add_argument("--filter", help="a CQL2 filter in --filter-lang")
    group.add_argument(
        "--filter-lang",
        default="cql2-json",
        choices=("cql2-json", "cql2-text"),
        help="language of --filter (default: cql2-json)",
    )
    group.add_argument(
        "--sortby",
        nargs="+",
        action="extend",
        metavar="FIELD",
        help="sort fields, '-' for descending, e.g. -properties.datetime",
    )
    group.add_argument("--fields", nargs="+", metavar="FIELD", help="fields to include/exclude")
    group.add_argument("--limit", type=_positive, help="page size asked of the API")
    group.add_argument("--max-items", type=_positive, help="stop after this many items")
    group.add_argument(
        "--method",
        type=str.upper,
        choices=("GET", "POST"),
        default="POST",
        help="HTTP method (default: POST)",
    )


def search_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``Client.search`` arguments from the command line; usage errors before any request."""
    kwargs: dict[str, Any] = {"method": args.method, "filter_lang": args.filter_lang}
    for name in (
        "collections",
        "ids",
        "bbox",
        "datetime",
        "query",
        "sortby",
        "fields",
        "limit",
        "max_items",
    ):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    if args.intersects is not None:
        kwargs["intersects"] = read_geometry(args.intersects)
    if args.filter is not None:
        kwargs["filter"] = _filter(args.filter, args.filter_lang)
    if args.matched and (args.ndjson or args.save is not None):
        raise CLIError(
            "--matched prints a number: it goes with neither --ndjson nor --save.", EXIT_USAGE
        )
    return kwargs


def _filter(text: str, lang: str) -> Any:
    if lang != "cql2-json":
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise CLIError(
            "--filter is not valid JSON (or pass --filter-lang cql2-text).", EXIT_USAGE
        ) from None


def read_geometry(value: str) -> dict[str, Any]:
    """A GeoJSON geometry from ``--intersects``: a file name or GeoJSON text, holding a
    geometry, a Feature or a FeatureCollection of one feature."""
    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = Path(value).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CLIError(
                f"--intersects: cannot read {value!r}: {getattr(exc, 'strerror', None) or exc}",
                EXIT_USAGE,
            ) from None
    try:
        data = json.loads(text)
    except ValueError:
        raise CLIError("--intersects is not GeoJSON.", EXIT_USAGE) from None
    return _geometry(data)


def _geometry(data: Any) -> dict[str, Any]:
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "FeatureCollection":
        features = data.get("features") or []
        if len(features) != 1:
            # Using only the first one (as stac-client does) would silently search less.
            raise CLIError(
                f"--intersects: the FeatureCollection has {len(features)} features; "
                "pass a single geometry (e.g. their union).",
                EXIT_USAGE,
            )
        return _geometry(features[0])
    if kind == "Feature":
        return _geometry(data.get("geometry"))
    if (
        isinstance(data, dict)
        and isinstance(kind, str)
        and ("coordinates" in data or "geometries" in data)
    ):
        return data
    raise CLIError(
        "--intersects: not a GeoJSON geometry, Feature or FeatureCollection.", EXIT_USAGE
    )


def run_search(args: argparse.Namespace) -> int:
    kwargs = search_kwargs(args)
    client = open_client(args)
    search = _build_search(client, kwargs)
    if args.matched:
        return _print_matched(args, client, search, kwargs)
    writer: Writer = write_ndjson if args.ndjson else write_feature_collection
    out = None if args.save is not None else stdout()
    progress = Progress(sys.stderr, stdout_shown=out is not None and isatty(out))
    try:
        pages = _first_page_checked(progress.track(search.pages_as_dicts()), args)
        if args.save is not None:
            with open_output(args.save) as saved:
                writer(pages, saved)
        else:
            assert out is not None
            with named_errors("standard output"):
                writer(pages, out)
    finally:
        # On success the count; on Ctrl-C or an error, end the line so the message that
        # follows starts on its own.
        progress.done()
    if args.save is not None and isatty(sys.stderr):
        note_line(f"wrote {progress.items:,} items to {args.save}")
    return EXIT_OK


def _build_search(client: Client, kwargs: dict[str, Any]) -> ItemSearch:
    from pystac_client.warnings import PystacClientWarning

    try:
        return client.search(**kwargs)
    except PystacClientWarning as exc:  # raised, not warned: DoesNotConformTo ITEM_SEARCH
        raise CLIError(f"the STAC API cannot search items: {exc}.") from None
    except Exception as exc:  # pystac-client raises a bare Exception for a bad
        # datetime, ValueError/TypeError for others; building a search sends no request.
        raise CLIError(f"invalid search: {exc}", EXIT_USAGE) from None


def _first_page_checked(pages: Iterable[Page], args: argparse.Namespace) -> Iterator[Page]:
    """``pages``, once the first one has arrived and the collections are known to exist:
    a search that fails on its first request prints nothing on stdout, and so does one
    naming a collection that does not exist (the API answers it with no error: no items
    from that one)."""
    iterator = iter(pages)
    first = next(iterator, None)
    if args.collections:
        # A collection that sent items exists: only the others cost a request.
        seen = {f.get("collection") for f in (first or {}).get("features", [])}
        _check_collections_exist(args, [c for c in args.collections if c not in seen])
    if first is None:
        return
    yield first
    yield from iterator


def _check_collections_exist(args: argparse.Namespace, collections: list[str]) -> None:
    """A usage error naming every id of ``collections`` the API does not know (404)."""
    from urllib.parse import quote

    from pystac_client.exceptions import APIError

    if not collections:
        return
    io = open_io(args)
    root = io.auth.credentials.api_url.rstrip("/")
    missing = []
    for collection in dict.fromkeys(collections):
        try:
            read_json(io, f"{root}/collections/{quote(collection, safe='')}")
        except APIError as err:
            if getattr(err, "status_code", None) == 404:
                missing.append(collection)
    if missing:
        names = ", ".join(repr(c) for c in missing)
        noun = "collection" if len(missing) == 1 else "collections"
        raise CLIError(
            f"no such {noun}: {names} (see `{PROG} collections` for the ids).", EXIT_USAGE
        )


def _print_matched(
    args: argparse.Namespace, client: Client, search: ItemSearch, kwargs: dict[str, Any]
) -> int:
    if args.collections:  # a count of 0 must not hide a wrong id, nor 12 a second one
        _check_collections_exist(args, args.collections)
    with warnings.catch_warnings():
        # "numberMatched or context.matched not in response": handled below, in words.
        warnings.filterwarnings("ignore", message="numberMatched")
        count = search.matched()
    if count is None:
        count = _count_by_paging(client, kwargs)
    print(count, file=stdout(), flush=True)
    return EXIT_OK


def _count_by_paging(client: Client, kwargs: dict[str, Any]) -> int:
    # Big pages: fewer requests (the API caps the page size anyway).
    search = _build_search(client, {**kwargs, "limit": kwargs.get("limit", 1000)})
    count = sum(len(page.get("features", [])) for page in search.pages_as_dicts())
    limit = kwargs.get("max_items")
    capped = " (stopped at --max-items)" if limit and count >= limit else ""
    note_line(
        f"the STAC API does not report numberMatched: counted {count:,} items by fetching "
        f"every page{capped}."
    )
    return count


def write_feature_collection(pages: Iterable[Page], out: IO[str]) -> None:
    """One GeoJSON FeatureCollection, written item by item so memory stays flat; nothing
    is written before the first page has arrived (or the search ended)."""
    pages = iter(pages)
    first = next(pages, None)
    out.write('{"type": "FeatureCollection", "features": [')
    separator = ""
    for page in itertools.chain([first] if first is not None else [], pages):
        for feature in page.get("features", []):
            out.write(separator + json.dumps(feature))
            separator = ", "
    out.write("]}\n")
    out.flush()


def write_ndjson(pages: Iterable[Page], out: IO[str]) -> None:
    """One item per line; flushed per page so a reader downstream sees items as they come."""
    for page in pages:
        out.writelines(json.dumps(feature) + "\n" for feature in page.get("features", []))
        out.flush()
