"""``pystac-eds token`` and ``pystac-eds collections``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from ._common import EXIT_OK, open_io, read_json, resolve_credentials


# `commands` is argparse's private _SubParsersAction.
def add_token(commands: Any) -> None:
    parser = commands.add_parser(
        "token",
        help="print a valid access token",
        description="Print a valid access token, and nothing else, on stdout. It comes from "
        "the shared token cache when one is still valid there.",
        epilog='example: curl -H "Authorization: Bearer $(pystac-eds token)" URL',
    )
    parser.set_defaults(run=run_token)


def run_token(args: argparse.Namespace) -> int:
    from ..cache import TokenCache

    creds = resolve_credentials(args)
    print(TokenCache.default().get(creds).value, flush=True)
    return EXIT_OK


def add_collections(commands: Any) -> None:
    parser = commands.add_parser(
        "collections",
        help="list the collections (id and title)",
        description="List the collections of the STAC API: id and title as a table, or the "
        "full collection documents as a JSON array with --json.",
    )
    parser.add_argument("--json", action="store_true", help="print the collections as a JSON array")
    parser.set_defaults(run=run_collections)


def run_collections(args: argparse.Namespace) -> int:
    collections = iter_collections(args)
    if args.json:
        json.dump(list(collections), sys.stdout)
        sys.stdout.write("\n")
    else:
        rows = [(str(c.get("id", "")), str(c.get("title") or "")) for c in collections]
        sys.stdout.write(table(rows, ("ID", "TITLE")))
    sys.stdout.flush()
    return EXIT_OK


def iter_collections(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The collections as the API sends them, page by page (pystac would rewrite them to
    its own STAC version)."""
    io = open_io(args)
    root = io.auth.credentials.api_url
    landing = read_json(io, root)
    data = next(
        (
            link.get("href")
            for link in landing.get("links") or []
            if isinstance(link, dict) and link.get("rel") == "data"
        ),
        None,
    )
    for page in io.get_pages(str(data or root.rstrip("/") + "/collections")):
        yield from page.get("collections") or []


def table(rows: Iterable[tuple[str, str]], header: tuple[str, str]) -> str:
    """Two left-aligned columns, the first as wide as its longest cell."""
    rows = [header, *rows]
    width = max(len(first) for first, _ in rows)
    return "".join(f"{first:<{width}}  {second}".rstrip() + "\n" for first, second in rows)
