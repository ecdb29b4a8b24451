"""``pystac-eds collections``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from typing import Any

from ._common import (
    EXIT_OK,
    collections_url,
    named_errors,
    open_io,
    read_json,
    scrub,
    stdout,
)


# `commands` is argparse's private _SubParsersAction.
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
    out = stdout()
    collections = list(iter_collections(args))
    with named_errors("standard output"):
        if args.json:
            json.dump(collections, out)  # JSON escapes control characters itself
            out.write("\n")
        else:
            # Text from the server goes to a terminal: no escape sequences in it.
            rows = [
                (scrub(str(c.get("id", ""))), scrub(str(c.get("title") or ""))) for c in collections
            ]
            out.write(table(rows, ("ID", "TITLE")))
        out.flush()
    return EXIT_OK


def iter_collections(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The collections as the API sends them, page by page (pystac would rewrite them to
    its own STAC version)."""
    io = open_io(args)
    root = io.auth.credentials.api_url
    landing = read_json(io, root)
    for page in io.get_pages(collections_url(landing, root)):
        yield from page.get("collections") or []


def table(rows: Iterable[tuple[str, str]], header: tuple[str, str]) -> str:
    """Two left-aligned columns, the first as wide as its longest cell."""
    rows = [header, *rows]
    width = max(len(first) for first, _ in rows)
    return "".join(f"{first:<{width}}  {second}".rstrip() + "\n" for first, second in rows)
