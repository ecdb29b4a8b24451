"""Reading the examples a user can copy: the fenced blocks of the markdown pages, the
commands in a shell block and what they run, the ``examples:`` of every ``--help``, and
the documented objects' docstrings with their ``::`` literal blocks.

What is an example and what is set-up is decided here (see :func:`runnable`); running
and judging them is :mod:`.example_running`'s.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import os
import pkgutil
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pystac_eds

from .test_scripts import ROOT, setup_is_current

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\n]*)$")
_NOT_RUN = re.compile(r"<!--\s*example:\s*not run\s*(?P<why>.*?)\s*-->")
PYTHON = frozenset({"python", "py", "pycon"})
SHELL = frozenset({"console", "bash", "sh", "shell", "shell-session"})

#: First words of set-up commands: installing, fetching, moving, building, testing.
SETUP = frozenset(
    {
        *("pip", "pip3", "pipx", "uv", "conda", "mamba", "apt", "apt-get", "brew"),
        *("git", "python", "python3", "export", "cd", "pushd"),
        *("jupyter", "mkdocs", "pytest", "npm", "make", "docker"),
    }
)
#: Commands that change the shell for the commands after them: replayed before those.
STATE = frozenset({"set", ".", "source"})
#: Repository scripts that are not examples to run here, and why.
NOT_EXAMPLES = {
    "scripts/test": "CI itself: it runs this very test",
    "scripts/docs": "serves the documentation until stopped",
}
_SHELL_WORDS = frozenset(
    subprocess.run(
        ["bash", "-c", "compgen -k; compgen -b"], capture_output=True, text=True, check=True
    ).stdout.split()
)
OPERATORS = frozenset({"|", "||", "&&", ";", "&", "(", ")", "|&", ";;"})
#: The console script of this environment first, as an activated venv would have it.
PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


# ---------------------------------------------------------------------------------------
# Pages and shell commands
# ---------------------------------------------------------------------------------------


@dataclass
class Block:
    page: Path
    line: int
    language: str
    text: str
    not_run: str | None

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{page}:{self.line}"


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


def words(command: str) -> list[str]:
    """``command`` split as bash splits it, operators (``|``, ``;``, ``&&``) apart."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def command_words(tokens: list[str]) -> list[str]:
    """The programs a command line runs: the first word of each stage, past variable
    assignments and keywords (``time``, ``for ... do``), in order."""
    found: list[str] = []
    start, skip_to_do = True, False
    for token in tokens:
        if token in OPERATORS:
            start = True
            continue
        if skip_to_do:  # for NAME in WORDS; do ...
            skip_to_do = token != "do"
            continue
        if not start or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token):
            continue
        if token in ("for", "select", "case"):
            skip_to_do = True
        elif token not in ("time", "!", "do", "then", "else", "{", "}", "done", "fi"):
            found.append(token)
            start = False
    return found


def subcommand(argv: list[str]) -> tuple[str | None, list[str]]:
    """A ``pystac-eds`` argv's command and its own arguments (global options skipped)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in ("--env-file", "--api-url") else 1
    return (argv[i], argv[i + 1 :]) if i < len(argv) else (None, [])


def _pystac_eds_argv(command: str) -> list[str] | None:
    """The arguments of the command's first ``pystac-eds`` stage, if it has one."""
    tokens = words(command)
    for i, token in enumerate(tokens):
        if token == "pystac-eds" and (i == 0 or tokens[i - 1] in OPERATORS):
            end = next((j for j in range(i + 1, len(tokens)) if tokens[j] in OPERATORS), None)
            return tokens[i + 1 : end]
    return None


def starts_sandbox(command: str) -> bool:
    """Whether ``command`` runs ``pystac-eds sandbox`` (not its --help)."""
    argv = _pystac_eds_argv(command)
    if argv is None:
        return False
    name, rest = subcommand(argv)
    return name == "sandbox" and not {"-h", "--help"} & set(rest)


def repository_script(command: str) -> str | None:
    """``scripts/NAME`` when ``command`` runs one of this repository's scripts."""
    tokens = words(command)
    if len(tokens) >= 2 and tokens[0] in ("bash", "sh") and tokens[1].startswith("scripts/"):
        return tokens[1]
    return None


def runnable(command: str) -> str | None:
    """Why ``command`` is not run here, or None to run it."""
    try:
        tokens = words(command)
    except ValueError:
        return "not a shell command"
    programs = command_words(tokens)
    if not programs:
        return "no command"
    program = Path(programs[0]).name  # `.venv/bin/python` is python too
    if program in SETUP:
        return f"set-up ({program}), not an example"
    script = repository_script(command)
    if script in NOT_EXAMPLES:
        return NOT_EXAMPLES[script]
    if script is not None and not setup_is_current("sandbox"):
        return "needs a current .venv made by scripts/setup (bash scripts/setup sandbox)"
    missing = [p for p in programs if p not in _SHELL_WORDS and not shutil.which(p, path=PATH)]
    return f"needs {', '.join(dict.fromkeys(missing))}" if missing else None


# ---------------------------------------------------------------------------------------
# --help and docstrings
# ---------------------------------------------------------------------------------------


def _sandbox_help() -> str:
    from pystac_eds.sandbox import main as sandbox_main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
        sandbox_main(["--help"])
    return printed.getvalue()


def help_examples() -> Iterator[str]:
    """The commands listed under ``examples:`` in every --help text, the sandbox's too."""
    from pystac_eds.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help(), _sandbox_help()]
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        texts += [sub.format_help() for sub in getattr(action, "choices", {}).values()]
    for text in texts:
        section = text.split("examples:\n", 1)[1] if "examples:\n" in text else ""
        block = section.split("\n\n", 1)[0]
        yield from shell_commands(block)


def _modules() -> list[str]:
    found = [pystac_eds.__name__]
    for info in pkgutil.walk_packages(pystac_eds.__path__, pystac_eds.__name__ + "."):
        # Private modules are not documentation, and some are programs that run on
        # import (__main__, the sandbox's rustac launcher); what they define is
        # documented where a public module exports it (__all__).
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return found


#: Public modules that cannot be imported here, and the package each misses (an
#: optional extra's, or a newer Python's): their examples are reported as skipped.
UNIMPORTABLE: dict[str, str] = {}


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if (exc.name or "").startswith("pystac_eds"):
            raise
        UNIMPORTABLE[name] = exc.name or str(exc)
        return None


def documented() -> Iterator[tuple[str, Any]]:
    """Every public module, and every object it defines or exports (``__all__``), with
    the classes' members: each once, under its public name."""
    seen: set[int] = set()

    def visit(name: str, obj: Any, module: str) -> Iterator[tuple[str, Any]]:
        obj = getattr(obj, "__func__", obj)  # classmethod, staticmethod
        obj = getattr(obj, "fget", obj)  # property
        if id(obj) in seen or not (getattr(obj, "__module__", "") or "").startswith("pystac_eds"):
            return
        seen.add(id(obj))
        yield name, obj
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if not member.startswith("_"):
                    yield from visit(f"{name}.{member}", value, module)

    for module_name in _modules():
        module = _import(module_name)
        if module is None:
            continue
        seen.add(id(module))
        yield module_name, module
        exported = list(getattr(module, "__all__", ()))
        for attr in dict.fromkeys([*exported, *vars(module)]):
            value = getattr(module, attr, None)
            wanted = attr in exported or getattr(value, "__module__", None) == module_name
            kind = inspect.isclass(value) or inspect.isfunction(value)
            if not attr.startswith("_") and wanted and kind:
                yield from visit(f"{module_name}.{attr}", value, module_name)


#: A paragraph ending in ``::``, or a code directive; other directives (``.. note::``)
#: hold text.
_LITERAL_START = re.compile(r"^(?!\s*\.\. )[^\n]*::\s*$|^\s*\.\. (?:code-block|code|sourcecode)::")


def literal_blocks(doc: str) -> Iterator[str]:
    """The ``::`` literal blocks (and ``.. code-block::`` directives) of a docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    for i, line in enumerate(lines):
        if not _LITERAL_START.search(line):
            continue
        indent = len(line) - len(line.lstrip())
        body: list[str] = []
        for following in lines[i + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        text = textwrap.dedent("\n".join(body)).strip("\n")
        if text:
            yield text + "\n"


def is_python(text: str) -> bool:
    try:
        compile(text, "<docstring>", "exec")
    except SyntaxError:
        return False
    return True
