"""MkDocs hooks: pages made from the code itself, so they cannot drift from it.

- Tutorials: every ``notebooks/NN-name.py`` becomes ``tutorials/NN-name.ipynb`` in the
  site and an entry under "Tutorials" in the nav. The notebook comes, with its outputs,
  from the last ``pytest -m notebooks`` run that kept them (``PYSTAC_EDS_EXECUTED_NOTEBOOKS``,
  default ``build/notebooks``, as ``scripts/test`` does) if its cells are still the
  committed ones, else the committed one without outputs. That fallback is a warning (so
  ``--strict`` fails) in CI (``CI`` set) and in ``scripts/test``
  (``PYSTAC_EDS_REQUIRE_OUTPUTS=1``): the published site must show outputs. Elsewhere,
  e.g. ``bash scripts/docs`` for someone editing a page, it is an INFO line.
- A tutorial page gets a button to download its notebook.
- Links in the tutorials are written for GitHub and Jupyter, relative to ``notebooks/``
  (``../docs/assets.md#limits``, ``02-long-running.ipynb``): on the site they become the
  URLs of those pages. A relative link to anything the site does not have is a warning.
- ``{{ include PATH }}`` lines: that repository file (``benchmarks/results.md``).
- The API reference: Sphinx roles in docstrings shown as plain code.
- ``reference/cli.md``: ``pystac-eds --help`` and each command's ``--help``, for every
  command ``pystac_eds.cli.build_parser()`` declares, run as a user would run them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import posixpath
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import AnchorLink
from mkdocs.utils import get_relative_url

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# A relative path is from the repository, as in tests/test_notebooks.py.
EXECUTED = ROOT / (os.environ.get("PYSTAC_EDS_EXECUTED_NOTEBOOKS") or "build/notebooks")
HELP_COLUMNS = "88"  # argparse wraps to $COLUMNS: fixed, so the page is the same everywhere
log = logging.getLogger("mkdocs.hooks.pystac_eds")


def tutorial_sources() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9]*.py"))


def tutorial_title(source: Path) -> str:
    """The notebook's first level-1 heading, else its file name."""
    match = re.search(r"^# # (.+)$", source.read_text(encoding="utf-8"), re.MULTILINE)
    return f"{source.stem[:2]}. {match.group(1)}" if match else source.stem


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the nav's empty "Tutorials" section with one entry per tutorial."""
    tutorials = [{tutorial_title(s): f"tutorials/{s.stem}.ipynb"} for s in tutorial_sources()]
    for entry in config.nav or []:
        if isinstance(entry, dict) and entry.get("Tutorials") == []:
            entry["Tutorials"] = tutorials
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which converts the .ipynb files
def on_files(files: Files, config: MkDocsConfig) -> Files:
    # mkdocs-jupyter needs real files under a docs folder: stage the chosen notebooks.
    staged = ROOT / "build" / "docs-staging"
    shutil.rmtree(staged, ignore_errors=True)
    (staged / "tutorials").mkdir(parents=True)
    for source in tutorial_sources():
        notebook = chosen_notebook(source)
        shutil.copyfile(notebook, staged / "tutorials" / notebook.name)
        files.append(
            File(
                f"tutorials/{notebook.name}",
                src_dir=str(staged),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    files.append(File.generated(config, "reference/cli.md", content=cli_reference()))
    return files


def outputs_required() -> bool:
    """Whether a tutorial without outputs must fail the build: in CI, and in scripts/test."""
    flags = (os.environ.get("CI", ""), os.environ.get("PYSTAC_EDS_REQUIRE_OUTPUTS", ""))
    return any(flag.strip().lower() not in ("", "0", "false", "no") for flag in flags)


def chosen_notebook(source: Path) -> Path:
    """The executed notebook of ``source`` if it ran the committed cells, else the committed
    one (no outputs), with a warning where outputs are required and an INFO line elsewhere."""
    executed = EXECUTED / f"{source.stem}.ipynb"
    committed = source.with_suffix(".ipynb")
    if _same_cells(executed, committed):
        return executed
    why = "is stale (its cells differ)" if executed.exists() else "does not exist"
    level = logging.WARNING if outputs_required() else logging.INFO
    log.log(
        level,
        "tutorial %s shown without outputs: %s %s; run "
        "`PYSTAC_EDS_EXECUTED_NOTEBOOKS=%s pytest -m notebooks` first",
        source.stem,
        _shown(executed),
        why,
        _shown(EXECUTED),
    )
    return committed


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _same_cells(executed: Path, committed: Path) -> bool:
    """Whether ``executed`` exists and ran the cells ``committed`` holds now (not stale)."""
    if not executed.exists():
        return False

    def sources(path: Path) -> list[str]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return ["".join(cell["source"]) for cell in cells]

    return sources(executed) == sources(committed)


# The docstrings use Sphinx roles (:class:`X`, :exc:`~pkg.X`), which Markdown shows as
# ":class:" + code (and the "~" that tells Sphinx to show the last name only), and end
# the paragraph before a literal block with reStructuredText's "::".
SPHINX_ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|data|obj):(<code>)~?")
LITERAL_BLOCK_MARK = re.compile(r"(?<=\w)::(?=</p>)")


# `{{ include benchmarks/results.md }}` on a page: that file as it is in the repository.
INCLUDE = re.compile(r"^\{\{ include (\S+) \}\}$", re.MULTILINE)


def on_page_markdown(markdown: str, **_: object) -> str:
    return INCLUDE.sub(lambda match: _included(match.group(1)), markdown)


def _included(relative: str) -> str:
    """A repository file's markdown, with the blank line Python-Markdown needs (and GitHub
    does not) before a list that follows a paragraph."""
    text = (ROOT / relative).read_text(encoding="utf-8")
    return re.sub(r"^([^\s`|#-].*)\n(- )", r"\1\n\n\2", text, flags=re.MULTILINE)


def on_page_content(html: str, page: Page, files: Files, **_: object) -> str:
    """Drop the Sphinx and reStructuredText marks the API reference would otherwise show;
    point the tutorials' links and table of contents at the site's pages and headings."""
    if TUTORIAL_PAGE.fullmatch(page.file.src_uri):
        html = site_links(html, page.url, lambda src: _url_of(files, src))
        _align_toc(page, html)
        html = _download_button(page) + html
    return LITERAL_BLOCK_MARK.sub(":", SPHINX_ROLE.sub(r"\1", html))


# Material Design's "download" icon, as the theme draws its page buttons.
DOWNLOAD_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
    '<path d="M5 20h14v-2H5m14-9h-4V3H9v6H5l7 7z"/></svg>'
)


def _download_button(page: Page) -> str:
    """A button to download the notebook, which mkdocs-jupyter (``include_source``) copies
    next to the page but does not link."""
    name = posixpath.basename(page.file.src_uri)
    notebook = posixpath.join(posixpath.dirname(page.file.dest_uri), name)
    return (
        f'<a href="{get_relative_url(notebook, page.url)}" download '
        f'title="Download the notebook" class="md-content__button md-icon">{DOWNLOAD_ICON}</a>'
    )


HEADING = re.compile(
    r"<h([1-6])\b[^>]*?\bid=\"(?P<id>[^\"]+)\"[^>]*>(?P<inner>.*?)</h\1>", re.DOTALL
)
ANCHOR_LINK = re.compile(r'<a class="anchor-link"[^>]*>.*?</a>', re.DOTALL)
TAG = re.compile(r"<[^>]+>")


def _align_toc(page: Page, html: str) -> None:
    """Point the table of contents of a tutorial at its headings, with their whole titles.
    mkdocs-jupyter makes it with Python-Markdown, which drops code spans ("or an `EDS.env`
    file" -> title "or an  file", anchor "or-an-file"), while the headings keep them
    (anchor "or-an-edsenv-file", as on GitHub)."""
    entries = list(_flat(page.toc.items))
    headings = list(HEADING.finditer(html))
    if len(entries) != len(headings):
        log.warning("%s: %d TOC entries for %d headings", page.url, len(entries), len(headings))
        return
    for entry, heading in zip(entries, headings, strict=True):
        entry.id = heading["id"]
        # Still HTML-escaped text, as the theme expects a TOC title to be.
        entry.title = TAG.sub("", ANCHOR_LINK.sub("", heading["inner"])).strip()


def _flat(entries: list[AnchorLink]) -> Iterator[AnchorLink]:
    for entry in entries:
        yield entry
        yield from _flat(entry.children)


TUTORIAL_PAGE = re.compile(r"tutorials/[^/]+\.ipynb")
# A link attribute whose value is a relative path: no scheme, not `//host`, `/x` or `#x`.
RELATIVE_HREF = re.compile(
    r"""(?P<attr>\b(?:href|src)=)(?P<q>["'])"""
    r"""(?P<path>(?![a-z][a-z0-9+.-]*:|[/#])[^"'#?]+)(?P<rest>[?#][^"']*)?(?P=q)""",
    re.IGNORECASE,
)


def site_links(html: str, page_url: str, url_of: Callable[[str], str | None]) -> str:
    """``html`` of a tutorial page with its repository-relative links (from ``notebooks/``,
    as on GitHub and in Jupyter) replaced by links to the site's pages. ``url_of`` maps a
    docs source path (``assets.md``, ``tutorials/02-x.ipynb``) to its URL, or None."""

    def replace(match: re.Match[str]) -> str:
        path, rest = match["path"], match["rest"] or ""
        in_repo = posixpath.normpath(posixpath.join("notebooks", unquote(path)))
        if in_repo.startswith("docs/"):
            src = in_repo.removeprefix("docs/")
        elif in_repo.startswith("notebooks/") and in_repo.endswith(".ipynb"):
            src = "tutorials/" + in_repo.removeprefix("notebooks/")
        else:
            src = None
        url = url_of(src) if src else None
        if url is None:
            log.warning("%s: the link %s leads to no page of the site", page_url, path)
            return match[0]
        new = get_relative_url(url, page_url) + rest
        return f"{match['attr']}{match['q']}{new}{match['q']}"

    return RELATIVE_HREF.sub(replace, html)


def _url_of(files: Files, src: str) -> str | None:
    file = files.get_file_from_path(src)
    return None if file is None else file.url


def _commands() -> list[str]:
    from pystac_eds.cli import build_parser

    parser = build_parser()
    for action in parser._actions:  # argparse has no public way to list sub-commands
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def _help(*args: str) -> str:
    env = {**os.environ, "COLUMNS": HELP_COLUMNS}
    run = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "pystac_eds.cli", *args, "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return run.stdout.rstrip()


def cli_reference() -> str:
    parts = [
        "# Command-line reference",
        "",
        "The `--help` of `pystac-eds` and of each of its commands, generated from the "
        "installed command when this site was built. For a guided tour, see "
        "[The command line](../cli.md).",
        "",
        "## pystac-eds",
        "",
        "```text",
        _help(),
        "```",
    ]
    for command in _commands():
        parts += ["", f"## pystac-eds {command}", "", "```text", _help(command), "```"]
    return "\n".join(parts) + "\n"
