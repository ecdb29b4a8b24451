"""Every example a user can copy runs against the sandbox and shows data (#15.1): the
python and shell blocks of README.md and docs/**/*.md, the ``examples:`` of every
``--help`` (the sandbox's too), and the examples in pystac_eds's docstrings (doctests,
and ``::`` literal blocks). Reading them is :mod:`.example_reading`'s job, running and
judging them :mod:`.example_running`'s.

The examples are read when the tests run, so the test follows the documentation as it
changes. Rules, for whoever writes an example:

* The examples of a page run in order, like a tutorial, in a working directory of the
  page's own: its python blocks in one namespace (``>>>`` blocks as doctests), then its
  shell commands with bash ``-o pipefail`` (after a ``$ `` prompt when the block has
  prompts; ``\\`` continues a line). ``set``, ``.`` and ``source`` commands carry over
  to the page's later commands, as in one terminal.
* Settings: a page that starts the sandbox (``pystac-eds sandbox > EDS.env &``, or "in a
  second terminal") runs every example of the page against that sandbox, started as
  written in the page's folder before its first example, with no ``EDS_*`` variable
  set: they find ./EDS.env as a newcomer's would. The other pages, ``--help`` and
  docstrings run with the ``EDS_*`` variables of a shared sandbox exported, as for a
  user with an account. The token cache is on, in a folder of the test's own.
* Set-up is not run: commands whose first word is in ``SETUP`` (pip, git, python,
  export, cd...), ``bash scripts/test`` (CI itself, which runs this test) and servers
  (``bash scripts/docs``). Every other command runs; ``bash scripts/...`` from the
  repository's root. A command that needs a program this machine lacks is skipped,
  saying which.
* Examples show data. Each ``pystac-eds`` run inside a command must succeed and print
  what it is for: a search at least one item (on stdout, through a pipe, or in its
  ``--save`` file), ``--matched`` a count above 0, ``collections`` a collection,
  ``check`` "All checks passed", ``token`` a token. A python block must not leave an
  empty ItemCollection, an empty search or an empty ``...items`` list behind, nor print
  "0 items". ``bash scripts/demo`` must print item rows.
* A docstring's ``::`` block runs when it is Python (with ``pystac_eds`` imported, and
  its ``test_*`` functions called with the fixtures they name) or a ``pystac-eds``
  command; any other literal block (a diagram, a URL's shape) is listed as not run.
* ``<!-- example: not run (why) -->`` before a block skips it, with that reason.
"""

from __future__ import annotations

import doctest
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import pystac_eds

from .example_reading import (
    NOT_EXAMPLES,
    PAGES,
    PYTHON,
    SHELL,
    UNIMPORTABLE,
    Block,
    blocks,
    command_words,
    documented,
    help_examples,
    is_python,
    literal_blocks,
    runnable,
    shell_commands,
    starts_sandbox,
    words,
)
from .example_running import (
    Sessions,
    assert_runs,
    base_env,
    recorder_folder,
    run_anywhere,
    run_page_command,
    run_page_python,
    run_python,
    use_env,
)
from .test_scripts import ROOT

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sessions(eds_sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sessions]:
    manager = Sessions(tmp_path_factory.mktemp("pages"), eds_sandbox.settings)
    yield manager
    manager.close()


@pytest.fixture
def shared_env(eds_sandbox: Any, tmp_path: Path) -> dict[str, str]:
    """For --help and docstring examples: the shared sandbox's settings exported."""
    (tmp_path / "cache").mkdir()
    return {**base_env(tmp_path / "cache", recorder_folder(tmp_path)), **eds_sandbox.settings}


# ---------------------------------------------------------------------------------------
# README.md and docs/
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    page: Path
    block: Block
    command: str | None  # None: the page's python blocks, run together

    def __str__(self) -> str:
        return f"{self.block.where}:{(self.command or 'python')[:70]}"


#: Page examples known to fail, on pages another engineer owns: run, and expected to
#: fail until fixed there (strict: a fix shows up as XPASS, to remove here).
KNOWN_FAILING_PAGES: dict[str, str] = {}


def _page_examples() -> Iterator[Any]:
    """Every page's examples in page order: its python blocks (one namespace), then its
    shell commands in order."""
    for page in PAGES:
        python = [b for b in blocks(page) if b.language in PYTHON]
        if python:
            case = f"{page.relative_to(ROOT)}:python"
            why = KNOWN_FAILING_PAGES.get(case)
            marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
            yield pytest.param(Example(page, python[0], None), id=case, marks=marks)
        for block in blocks(page):
            if block.language not in SHELL:
                continue
            for command in shell_commands(block.text):
                why = block.not_run or (None if starts_sandbox(command) else runnable(command))
                marks = [pytest.mark.skip(reason=why)] if why else []
                example = Example(page, block, command)
                yield pytest.param(example, id=str(example), marks=marks)


@pytest.mark.parametrize("example", list(_page_examples()))
def test_page_examples_run(
    example: Example, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = sessions.get(example.page)
    if example.command is None:
        run_page_python(example.page, session, monkeypatch)
    else:
        run_page_command(example.command, session)


# ---------------------------------------------------------------------------------------
# --help
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(c, marks=[pytest.mark.skip(reason=why)] if (why := runnable(c)) else [])
        for c in dict.fromkeys(help_examples())
    ],
)
def test_help_examples_run(command: str, shared_env: dict[str, str], tmp_path: Path) -> None:
    run_anywhere(command, shared_env, tmp_path)


def test_every_command_has_examples_in_its_help() -> None:
    commands = list(help_examples())
    for name in ("token", "check", "collections", "search", "sandbox"):
        assert any(f"pystac-eds {name}" in c for c in commands), name


# ---------------------------------------------------------------------------------------
# Docstrings
# ---------------------------------------------------------------------------------------

#: Literal-block examples known to fail, in modules another engineer owns (as above).
KNOWN_FAILING: dict[str, str] = {}
_NOT_AN_EXAMPLE = "not Python nor a pystac-eds command: a diagram, a format, a command line"


def _literal_cases() -> Iterator[Any]:
    for name, obj in documented():
        for number, text in enumerate(literal_blocks(inspect.getdoc(obj) or ""), 1):
            if text.lstrip().startswith(">>>"):
                continue  # a doctest: test_docstring_doctests_run runs it
            case, marks = f"{name}:{number}", []
            if not is_python(text) and not text.lstrip().startswith(("pystac-eds", "$ ")):
                first = text.splitlines()[0][:50]
                marks.append(pytest.mark.skip(reason=f"{_NOT_AN_EXAMPLE} ({first})"))
            if case in KNOWN_FAILING:
                marks.append(pytest.mark.xfail(reason=KNOWN_FAILING[case], strict=True))
            yield pytest.param(text, id=case, marks=marks)
    for module, missing in UNIMPORTABLE.items():
        why = f"{module} needs {missing}, not installed here"
        yield pytest.param("", id=f"{module}:*", marks=[pytest.mark.skip(reason=why)])


#: Fixtures a docstring's test function may ask for: (sandbox, tmp_path) -> value.
FIXTURES: dict[str, Callable[[Any, Path], Any]] = {
    "eds_sandbox": lambda sandbox, tmp: sandbox,
    "eds_sandbox_env": lambda sandbox, tmp: sandbox.settings,
    "tmp_path": lambda sandbox, tmp: tmp,
}


@pytest.mark.parametrize("text", list(_literal_cases()))
def test_docstring_literal_examples_run(
    text: str,
    eds_sandbox: Any,
    shared_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    if not is_python(text):
        for command in shell_commands(text):
            run_anywhere(command, shared_env, tmp_path)
        return
    use_env(monkeypatch, eds_sandbox.settings, tmp_path)
    namespace: dict[str, Any] = {"__name__": "__example__", "pystac_eds": pystac_eds}
    run_python(text, "docstring example", namespace)
    for name, function in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(function):
            wanted = inspect.signature(function).parameters
            unknown = set(wanted) - set(FIXTURES)
            assert not unknown, f"{name} asks for fixtures this test lacks: {unknown}"
            function(**{p: FIXTURES[p](eds_sandbox, tmp_path) for p in wanted})


def test_docstring_doctests_run(
    eds_sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_env(monkeypatch, eds_sandbox.settings, tmp_path)
    finder = doctest.DocTestFinder(recurse=False)  # members come as objects of their own
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    ran = 0
    for name, obj in documented():
        for test in finder.find(obj, name, module=False):
            ran += len(test.examples)
            runner.run(test)
    assert ran > 0  # the package docstring has one: a finder that finds nothing is broken
    assert runner.failures == 0, f"{runner.failures} docstring example(s) failed (see above)"


# ---------------------------------------------------------------------------------------
# The reading and the judging themselves
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


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("pip install 'pystac-eds[sandbox]' jupyterlab", "set-up (pip), not an example"),
        ("export EDS_SECRET=...", "set-up (export), not an example"),
        ("cd pystac-eds", "set-up (cd), not an example"),
        ("python benchmarks/run.py", "set-up (python), not an example"),
        ("bash scripts/test", NOT_EXAMPLES["scripts/test"]),
        ("pystac-eds token | no-such-program-here", "needs no-such-program-here"),
        # Run, not set-up, whatever comes before pystac-eds:
        ("EDS_TOKEN_CACHE=off pystac-eds token", None),
        ("time pystac-eds token", None),
        ("for i in 1 2; do pystac-eds token; done", None),
        ('curl -H "Authorization: Bearer $(pystac-eds token)" URL', None),
        ("set -a; . ./EDS.env; set +a", None),
        ("pystac-eds sandbox --help", None),
    ],
)
def test_only_set_up_is_left_out(command: str, why: str | None) -> None:
    assert runnable(command) == why


def test_commands_and_sandboxes_are_recognised() -> None:
    assert command_words(words("X=1 time pystac-eds token | head -3")) == ["pystac-eds", "head"]
    assert command_words(words("for i in 1 2; do pystac-eds token; done")) == ["pystac-eds"]
    assert starts_sandbox("pystac-eds sandbox > EDS.env &")
    assert starts_sandbox("pystac-eds -v sandbox --env-file EDS.env --token-ttl 60")
    assert not starts_sandbox("pystac-eds sandbox --help")
    assert not starts_sandbox("pystac-eds search -c sentinel-2-l2a")


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


def test_literal_blocks_are_found_in_docstrings() -> None:
    doc = """Summary.

    Use it so::

        import pystac_eds
        pystac_eds.open()

    .. note::

        Not code.

    And a diagram::

        a --> b
    """
    assert list(literal_blocks(doc)) == ["import pystac_eds\npystac_eds.open()\n", "a --> b\n"]


#: A box of open ocean, far from any sample item.
OCEAN = "-30 -50 -29 -49"


@pytest.mark.parametrize(
    "command",
    [
        f"pystac-eds search -c sentinel-2-l2a --bbox {OCEAN} --max-items 5",
        f"pystac-eds search -c sentinel-2-l2a --bbox {OCEAN} --save ocean.geojson",
        f"pystac-eds search -c sentinel-2-l2a --bbox {OCEAN} --ndjson | head -3",
        f"pystac-eds search -c sentinel-2-l2a --bbox {OCEAN} --matched",
        "pystac-eds search -c nope --max-items 1 2> /dev/null || true",  # a failure, hidden
    ],
)
def test_a_command_that_shows_no_data_fails(
    command: str, shared_env: dict[str, str], tmp_path: Path
) -> None:
    # The original bug of #15.1: an example bbox with no sample data "passed".
    with pytest.raises(AssertionError, match=r"found no items|matched '0' items|exited 2"):
        assert_runs(command, shared_env, tmp_path)


def test_a_python_block_that_shows_no_data_fails(
    eds_sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_env(monkeypatch, eds_sandbox.settings, tmp_path)
    bbox = OCEAN.replace(" ", ", ")
    search = (
        "import pystac_eds\ncatalog = pystac_eds.open()\n"
        f"search = catalog.search(collections=['sentinel-2-l2a'], bbox=[{bbox}])\n"
    )
    for ending in ("", "items = search.item_collection()\n", "items = list(search.items())\n"):
        with pytest.raises(AssertionError, match="came back empty"):
            run_python(search + ending, "ocean", {})
    printed = "print(len(search.item_collection()), 'items')\ndel search\n"
    with pytest.raises(AssertionError, match="printed '0 items'"):
        run_python(search + printed, "ocean", {})
