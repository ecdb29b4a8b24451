"""MkDocs hooks: pages made from the code itself, so they cannot drift from it.

- Tutorials: every ``notebooks/NN-name.py`` becomes ``tutorials/NN-name.ipynb`` in the
  site and an entry under "Tutorials" in the nav. The notebook comes, with its outputs,
  from the last ``pytest -m notebooks`` run that kept them (``PYSTAC_EDS_EXECUTED_NOTEBOOKS``,
  default ``build/notebooks``, as ``scripts/test`` does) if its cells are still the
  committed ones, else the committed one without outputs.
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
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

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
        notebook = EXECUTED / f"{source.stem}.ipynb"
        if not _same_cells(notebook, source.with_suffix(".ipynb")):
            log.info("tutorial %s without outputs (run pytest -m notebooks)", source.stem)
            notebook = source.with_suffix(".ipynb")
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


def _same_cells(executed: Path, committed: Path) -> bool:
    """Whether ``executed`` exists and ran the cells ``committed`` holds now (not stale)."""
    if not executed.exists():
        return False

    def sources(path: Path) -> list[str]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return ["".join(cell["source"]) for cell in cells]

    return sources(executed) == sources(committed)


# The docstrings use Sphinx roles (:class:`X`), which Markdown shows as ":class:" + code.
SPHINX_ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|data|obj):(?=<code)")


# `{{ include benchmarks/results.md }}` on a page: that file as it is in the repository.
INCLUDE = re.compile(r"^\{\{ include (\S+) \}\}$", re.MULTILINE)


def on_page_markdown(markdown: str, **_: object) -> str:
    return INCLUDE.sub(lambda match: _included(match.group(1)), markdown)


def _included(relative: str) -> str:
    """A repository file's markdown, with the blank line Python-Markdown needs (and GitHub
    does not) before a list that follows a paragraph."""
    text = (ROOT / relative).read_text(encoding="utf-8")
    return re.sub(r"^([^\s`|#-].*)\n(- )", r"\1\n\n\2", text, flags=re.MULTILINE)


def on_page_content(html: str, **_: object) -> str:
    """Drop the Sphinx role prefixes the API reference would otherwise show."""
    return SPHINX_ROLE.sub("", html)


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
