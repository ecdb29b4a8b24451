"""Every example a user can copy runs against the sandbox (#15.1): the python and shell
blocks of README.md and docs/**/*.md, the `examples:` of every `--help`, and the
doctests in pystac_eds's docstrings.

The examples are read when the tests run, so the test follows the documentation as it
changes. Rules, for whoever writes an example:

* python blocks of one page run in order in one namespace, like a tutorial, with the
  sandbox's ``EDS_*`` settings in the environment and a temporary working directory;
  ``>>>`` blocks run as doctests;
* shell blocks (console, bash, sh, shell): the commands that call ``pystac-eds`` run
  (after a ``$ `` prompt when the block has prompts; ``\\`` continues a line), with bash
  ``-o pipefail``; other commands (pip, git, jupyter...) are set-up, not examples, and
  ``pystac-eds sandbox`` (a server that runs until stopped) is not started;
* a block preceded by ``<!-- example: not run (why) -->`` is skipped, with that reason.
"""

from __future__ import annotations

import doctest
import importlib
import itertools
import os
import pkgutil
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import pystac_eds

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\n]*)$")
_NOT_RUN = re.compile(r"<!--\s*example:\s*not run\s*(?P<why>.*?)\s*-->")
_PYTHON = {"python", "py", "pycon"}
_SHELL = {"console", "bash", "sh", "shell", "shell-session"}

#: The console script of this environment first, as an activated venv would have it.
PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

pytestmark = pytest.mark.sandbox


@dataclass
class Block:
    page: Path
    line: int
    language: str
    text: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> Iterator[Block]:
    """The fenced code blocks of a markdown page, with their first line number."""
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        language = (match["info"].split() or [""])[0].strip("{}.").lower()
        before = lines[i - 1] if i else ""
        skipped = _NOT_RUN.search(before)
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:])
            i += 1
        yield Block(
            page,
            i - len(body),
            language,
            "\n".join(body) + "\n",
            (skipped["why"] or "marked not run") if skipped else None,
        )
        i += 1


def shell_commands(text: str) -> list[str]:
    """The commands of a shell block: ``$ `` lines (or every line without prompts),
    continuation lines joined, comments and output left out."""
    lines = text.splitlines()
    prompted = any(line.lstrip().startswith("$ ") for line in lines)
    commands: list[str] = []
    continuing = False
    for raw in lines:
        line = raw.strip()
        if continuing:
            commands[-1] = commands[-1][:-1].rstrip() + " " + line
        elif prompted and line.startswith("$ "):
            commands.append(line[2:].strip())
        elif not prompted and line and not line.startswith("#"):
            commands.append(line)
        else:
            continue
        continuing = commands[-1].endswith("\\")
    return commands


def runnable(command: str) -> str | None:
    """Why ``command`` is not run here, or None to run it."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return "not a shell command"
    stages = [words[0], *(w for p, w in itertools.pairwise(words) if p in ("|", "&&", ";"))]
    if "pystac-eds" not in stages and "$(pystac-eds " not in command:
        return "set-up, not a pystac-eds example"  # pip install 'pystac-eds[...]', curl, ...
    if "sandbox" in words and "--help" not in words:
        return "starts a server that runs until stopped"
    missing = [p for p in stages if shutil.which(p, path=PATH) is None and "=" not in p]
    return f"needs {', '.join(missing)}" if missing else None


def assert_runs(command: str, env: dict[str, str], cwd: Path) -> None:
    """``command`` succeeds under ``bash -o pipefail``. 141 (SIGPIPE) counts as success
    when the reader stopped early on purpose (``| head``), as it does for cat or grep."""
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    stopped_early = result.returncode == 141 and "| head" in command
    assert result.returncode == 0 or stopped_early, (
        f"{command!r} exited {result.returncode}: {result.stderr}"
    )
    assert "error:" not in result.stderr, result.stderr


@pytest.fixture
def example_env(eds_sandbox: Any, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
    return {**env, **eds_sandbox.settings, "EDS_TOKEN_CACHE": "off", "PATH": PATH}


# ---------------------------------------------------------------------------------------
# README.md and docs/
# ---------------------------------------------------------------------------------------


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_python_examples_of_a_page_run(
    page: Path, example_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    python = [b for b in blocks(page) if b.language in _PYTHON]
    if not any(b.not_run is None for b in python):
        pytest.skip("no python example to run")
    for name, value in example_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__example__"}
    for block in python:
        if block.not_run is not None:
            continue
        if block.text.lstrip().startswith(">>>"):
            _run_doctest(block, namespace)
            continue
        try:
            exec(compile(block.text, block.where, "exec"), namespace)  # noqa: S102
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("pystac_eds"):
                raise
            # An optional extra (pixels, dask...) that this environment lacks; CI installs
            # them all, so there the example runs.
            pytest.skip(f"{block.where} needs {exc.name}, from an extra not installed here")
        except Exception as exc:
            pytest.fail(f"{block.where}: {type(exc).__name__}: {exc}")


def _run_doctest(block: Block, namespace: dict[str, Any]) -> None:
    test = doctest.DocTestParser().get_doctest(block.text, namespace, block.where, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, clear_globs=False)
    assert result.failed == 0, f"{block.where}: {result.failed} doctest example(s) failed"


def _shell_cases() -> Iterator[Any]:
    for page in PAGES:
        for block in blocks(page):
            if block.language not in _SHELL:
                continue
            for command in shell_commands(block.text):
                why = block.not_run or runnable(command)
                marks = [pytest.mark.skip(reason=why)] if why else []
                yield pytest.param(command, id=f"{block.where}:{command[:40]}", marks=marks)


@pytest.mark.parametrize("command", list(_shell_cases()))
def test_shell_examples_run(command: str, example_env: dict[str, str], tmp_path: Path) -> None:
    assert_runs(command, example_env, tmp_path)


# ---------------------------------------------------------------------------------------
# --help and docstrings
# ---------------------------------------------------------------------------------------


def help_examples() -> Iterator[str]:
    """The commands listed under ``examples:`` in every --help text."""
    from pystac_eds.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        texts += [sub.format_help() for sub in getattr(action, "choices", {}).values()]
    for text in texts:
        section = text.split("examples:\n", 1)[1] if "examples:\n" in text else ""
        block = section.split("\n\n", 1)[0]
        yield from shell_commands(block)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(c, marks=[pytest.mark.skip(reason=why)] if (why := runnable(c)) else [])
        for c in dict.fromkeys(help_examples())
    ],
)
def test_help_examples_run(command: str, example_env: dict[str, str], tmp_path: Path) -> None:
    assert_runs(command, example_env, tmp_path)


def test_every_command_has_examples_in_its_help() -> None:
    commands = list(help_examples())
    for name in ("token", "check", "collections", "search"):
        assert any(f"pystac-eds {name}" in c for c in commands), name


def _modules() -> list[str]:
    found = [pystac_eds.__name__]
    for info in pkgutil.walk_packages(pystac_eds.__path__, pystac_eds.__name__ + "."):
        # Private modules are not documentation, and some are programs that run on
        # import (__main__, the sandbox's rustac launcher).
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            found.append(info.name)
    return found


def test_docstring_examples_run(
    example_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in example_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    ran = 0
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module):
            if test.examples:
                ran += len(test.examples)
                runner.run(test)
    assert ran > 0  # the package docstring has one: a finder that finds nothing is broken
    assert runner.failures == 0, f"{runner.failures} docstring example(s) failed (see above)"


# ---------------------------------------------------------------------------------------
# The extraction itself
# ---------------------------------------------------------------------------------------


def test_shell_commands_follow_prompts_continuations_and_comments() -> None:
    block = (
        "$ pystac-eds search -c x \\\n      --max-items 2 > out.json\n"
        "output line\n$ pystac-eds token\n"
    )
    assert shell_commands(block) == [
        "pystac-eds search -c x --max-items 2 > out.json",
        "pystac-eds token",
    ]
    assert shell_commands("# set-up\npip install x\npystac-eds check\n") == [
        "pip install x",
        "pystac-eds check",
    ]
    assert runnable("pip install x") == "set-up, not a pystac-eds example"
    assert runnable("pip install 'pystac-eds[sandbox]' jupyterlab") is not None
    assert runnable('curl -H "Authorization: Bearer $(pystac-eds token)" URL') is None
    assert runnable("pystac-eds sandbox > EDS.env &") is not None
    assert runnable("pystac-eds sandbox --help") is None


def test_blocks_find_fences_languages_and_skip_marks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        'text\n```python title="x"\nprint(1)\n```\n'
        "<!-- example: not run (needs an account) -->\n```console\n$ pystac-eds token\n```\n"
    )
    found = list(blocks(page))
    assert [(b.language, b.text, b.not_run) for b in found] == [
        ("python", "print(1)\n", None),
        ("console", "$ pystac-eds token\n", "(needs an account)"),
    ]
