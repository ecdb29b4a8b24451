"""Check every relative link of a built documentation site: offline, no network.

    python scripts/check_site_links.py [SITE]   # default build/site; exit 1 on a broken link

mkdocs --strict checks the links of Markdown pages, but not those of the tutorials (HTML
from mkdocs-jupyter), of the generated reference pages, or of the theme. This reads the
built HTML instead, as a browser would: every ``href`` and ``src`` that is a relative URL
(no scheme, no host) must lead to a file of the site (a folder: its ``index.html``) and its
``#anchor``, if any, to an ``id`` (or ``<a name>``) on that page. Links to other hosts are
not followed. ``404.html`` is skipped: a server shows it at any depth, so its links are
written for the site's root URL.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

LINK_ATTRIBUTES = frozenset({"href", "src"})


class _Page(HTMLParser):
    """The links and the anchors (ids) of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in LINK_ATTRIBUTES:
                self.links.append(value)
            elif name == "id" or (tag == "a" and name == "name"):
                self.anchors.add(value)


@cache
def _parsed(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    page.close()
    return page


def _target(site: Path, page: Path, path: str) -> Path:
    """The file a relative URL path leads to from ``page`` (a folder: its index.html)."""
    base = PurePosixPath(page.relative_to(site).as_posix()).parent
    target = site / base / unquote(path) if path else page
    return target / "index.html" if target.is_dir() else target


def broken_links(site: Path) -> Iterator[str]:
    """One line per broken relative link: ``page: link (why)``."""
    site = site.resolve()
    for page in sorted(site.rglob("*.html")):
        if page == site / "404.html":
            continue
        for link in _parsed(page).links:
            why = _problem(site, page, link)
            if why:
                yield f"{page.relative_to(site).as_posix()}: {link} ({why})"


def _problem(site: Path, page: Path, link: str) -> str | None:
    """What is wrong with one link of ``page``, or None."""
    parts = urlsplit(link)
    if link.startswith("/") and not link.startswith("//"):
        return "an absolute path: breaks when the site is not at the root of its host"
    if parts.scheme or parts.netloc:
        return None  # another host: not followed
    target = _target(site, page, parts.path).resolve()
    if not target.is_relative_to(site):
        return "leads outside the site"
    if not target.is_file():
        return f"no such file: {target.relative_to(site).as_posix()}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in _parsed(target).anchors:
        return f"no #{fragment} on that page"
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    site = Path(args[0] if args else "build/site")
    if not (site / "index.html").is_file():
        print(f"check_site_links: no built site in {site} (run mkdocs build)", file=sys.stderr)
        return 2
    problems = list(broken_links(site))
    for problem in problems:
        print(f"check_site_links: {problem}", file=sys.stderr)
    pages = sorted(site.rglob("*.html"))
    links = sum(len(_parsed(page.resolve()).links) for page in pages)
    print(
        f"check_site_links: {len(problems)} broken of {links} links in {len(pages)} pages",
        file=sys.stderr,
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
