"""Running the examples and judging what they show: a stand-in ``pystac-eds`` on PATH
records what each run printed, :func:`problem` says what is wrong with it; a sandbox
started as the documentation starts it; one session per page (a folder, the shell's
state, maybe a sandbox); python blocks that must not end with empty results.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .example_reading import (
    PATH,
    PYTHON,
    SHELL,
    STATE,
    Block,
    blocks,
    command_words,
    repository_script,
    shell_commands,
    starts_sandbox,
    subcommand,
    words,
)
from .test_scripts import ROOT, demo_rows

_REAL = shutil.which("pystac-eds", path=PATH)
#: How long a sandbox may take to say it is ready: a guard against a hang only.
READY_TIMEOUT = 120.0
EXIT_PIPE_CLOSED = 141


# ---------------------------------------------------------------------------------------
# What each pystac-eds run printed: recorded by a stand-in on PATH, then judged
# ---------------------------------------------------------------------------------------

_RECORDER = """#!/usr/bin/env bash
# pystac-eds as the examples call it: runs the real one, and records each run (argv,
# working directory, stdout, exit status) for the test to judge. The sandbox, a server,
# runs as itself.
real={real}
for arg in "$@"; do [ "$arg" = sandbox ] && exec "$real" "$@"; done
run="$(mktemp -d "$EXAMPLE_RUNS/run.XXXXXX")"
printf '%s\\0' "$@" > "$run/argv"
pwd > "$run/cwd"
"$real" "$@" | tee "$run/stdout"
status=${{PIPESTATUS[0]}}
echo "$status" > "$run/status"
exit "$status"
"""


@dataclass
class Run:
    """One ``pystac-eds`` run inside an example, as the recorder saw it."""

    argv: list[str]
    cwd: Path
    stdout: str
    status: int

    @classmethod
    def read(cls, folder: Path) -> Run:
        status = (folder / "status").read_text().strip() if (folder / "status").exists() else ""
        return cls(
            argv=(folder / "argv").read_text().split("\0")[:-1],
            cwd=Path((folder / "cwd").read_text().strip()),
            stdout=(folder / "stdout").read_text(errors="replace"),
            status=int(status) if status else -1,
        )


def recorder_folder(tmp: Path) -> Path:
    """A folder holding the recording ``pystac-eds``, to put first on PATH."""
    assert _REAL is not None, "the pystac-eds console script is not installed"
    folder = tmp / "recorder"
    folder.mkdir(exist_ok=True)
    script = folder / "pystac-eds"
    script.write_text(_RECORDER.format(real=shlex.quote(_REAL)))
    script.chmod(0o755)
    return folder


def count_features(text: str) -> int:
    """Items in search output: a FeatureCollection, NDJSON, or either cut short."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if data.get("type") == "FeatureCollection":
            return len(data.get("features") or [])
        return int(data.get("type") == "Feature")
    count = 0
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            count += json.loads(line).get("type") == "Feature"
    # A FeatureCollection whose reader stopped early (| head -c) is not JSON any more.
    return count or text.count('"type": "Feature"')


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _search_output(run: Run, args: list[str]) -> str | None:
    """What the search wrote: stdout, or its --save file (None: not readable here)."""
    saved = _option(args, "--save")
    if saved is None or saved in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"):
        return run.stdout
    path = run.cwd / saved
    return path.read_text() if path.is_file() else None


def problem(run: Run) -> str | None:
    """What is wrong with what a ``pystac-eds`` run printed, or None."""
    name, args = subcommand(run.argv)
    if {"-h", "--help", "--version"} & set(run.argv):
        return None
    if run.status not in (0, EXIT_PIPE_CLOSED):
        return f"exited {run.status}"
    shown = " ".join(["pystac-eds", *run.argv])
    if name == "token" and not re.fullmatch(r"\S+\n", run.stdout):
        return f"`{shown}` printed no token"
    if name == "check" and "All checks passed" not in run.stdout:
        return f"`{shown}` did not pass"
    if name == "collections":
        listed = json.loads(run.stdout) if "--json" in args else run.stdout.splitlines()[1:]
        return None if listed else f"`{shown}` listed no collection"
    if name == "search" and "--matched" in args:
        count = run.stdout.strip()
        return None if count.isdigit() and int(count) > 0 else f"`{shown}` matched {count!r} items"
    if name == "search":
        output = _search_output(run, args)
        if output is not None and count_features(output) == 0:
            return (
                f"`{shown}` found no items: an example must show data (does the sample "
                "data cover its collection, bbox and datetime?)"
            )
    return None


# ---------------------------------------------------------------------------------------
# A sandbox started as the documentation starts it
# ---------------------------------------------------------------------------------------


class StartedSandbox:
    """``pystac-eds sandbox ...`` run as written (``&`` or "in a second terminal" alike)
    in ``cwd``, until :meth:`stop`; ready once it printed its ``# ready`` line."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        self.command = command
        self.cwd = cwd
        self.stderr: list[str] = []
        self._ready = threading.Event()
        foreground = command.rstrip().removesuffix("&").rstrip()
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {foreground}"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,  # drained: the export lines when not redirected
            stderr=subprocess.PIPE,
            text=True,
        )
        self._drains = [
            threading.Thread(target=self._drain, args=(self.process.stdout, None), daemon=True),
            threading.Thread(target=self._drain, args=(self.process.stderr, True), daemon=True),
        ]
        for thread in self._drains:
            thread.start()
        # Ready, or gone: the stderr drain sets the event either way.
        if not self._ready.wait(READY_TIMEOUT) or self.process.poll() is not None:
            self.stop()
            pytest.fail(f"{command!r} did not start: {''.join(self.stderr)}")

    def _drain(self, stream: Any, status_lines: bool | None) -> None:
        for line in stream:
            if status_lines:
                self.stderr.append(line)
                if line.startswith("# ready"):
                    self._ready.set()
        if status_lines:
            self._ready.set()  # ended: let the waiter see it

    def settings_file(self) -> Path | None:
        """The file the command writes the settings to (``> FILE`` or ``--env-file``)."""
        tokens = words(self.command)
        for i, token in enumerate(tokens[:-1]):
            if token == ">" or (token == "--env-file" and i > 0):
                return self.cwd / tokens[i + 1]
        return None

    def stop(self) -> None:
        """As a user's Ctrl-C or ``kill %1`` would: SIGTERM, which it handles."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for thread in self._drains:
            thread.join(timeout=10)


# ---------------------------------------------------------------------------------------
# One page's examples: a folder, a shell's state, a python namespace, maybe a sandbox
# ---------------------------------------------------------------------------------------


def base_env(tmp: Path, recorder: Path) -> dict[str, str]:
    """No ``EDS_*`` at all; the token cache in a folder of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
    return {**env, "PATH": os.pathsep.join([str(recorder), PATH]), "XDG_CACHE_HOME": str(tmp)}


@dataclass
class PageSession:
    page: Path
    cwd: Path
    env: dict[str, str]
    sandbox: StartedSandbox | None = None
    state: list[str] = field(default_factory=list)

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()


def _page_sandbox_command(page: Path) -> str | None:
    for block in blocks(page):
        if block.language in SHELL and block.not_run is None:
            for command in shell_commands(block.text):
                if starts_sandbox(command):
                    return command
    return None


class Sessions:
    """The session of the page being tested; the previous page's ends when another's
    examples begin (pages' examples are collected in page order)."""

    def __init__(self, tmp: Path, shared: dict[str, str]) -> None:
        self.tmp = tmp
        self.shared = shared
        self.recorder = recorder_folder(tmp)
        self.current: PageSession | None = None

    def get(self, page: Path) -> PageSession:
        if self.current is not None and self.current.page == page:
            return self.current
        self.close()
        name = re.sub(r"\W", "-", str(page.relative_to(ROOT)))
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.tmp))  # a fresh start
        (folder / "cache").mkdir()
        cwd = folder / "work"
        cwd.mkdir()
        env = base_env(folder / "cache", self.recorder)
        command = _page_sandbox_command(page)
        session = PageSession(page, cwd, env if command else {**env, **self.shared})
        if command is not None:
            session.sandbox = StartedSandbox(command, cwd, env)
        self.current = session
        return session

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


# ---------------------------------------------------------------------------------------
# Running a shell command, and judging it
# ---------------------------------------------------------------------------------------


def assert_runs(command: str, env: dict[str, str], cwd: Path, state: Sequence[str] = ()) -> str:
    """``command`` succeeds under ``bash -o pipefail`` after the ``state`` commands, and
    every ``pystac-eds`` run in it printed what it is for. 141 (SIGPIPE) counts as
    success when the reader stopped early on purpose (``| head``), as for cat or grep.
    Returns its stdout."""
    runs = Path(env["XDG_CACHE_HOME"]) / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    script = "\n".join([*state, command])
    where = ROOT if repository_script(command) else cwd
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        env={**env, "EXAMPLE_RUNS": str(runs)},
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
    )
    stopped_early = result.returncode == EXIT_PIPE_CLOSED and "| head" in command
    assert result.returncode == 0 or stopped_early, (
        f"{command!r} exited {result.returncode}: {result.stderr}"
    )
    assert "error:" not in result.stderr, result.stderr
    for folder in sorted(runs.iterdir()):
        wrong = problem(Run.read(folder))
        assert wrong is None, f"{command!r}: {wrong}"
    if repository_script(command) == "scripts/demo":
        assert demo_rows(result.stdout), f"{command!r} printed no item rows: {result.stdout}"
    return result.stdout


def assert_sandbox_serves(sandbox: StartedSandbox, env: dict[str, str]) -> None:
    """The sandbox wrote its settings where the command says, and a command run in its
    folder with no ``EDS_*`` set finds them there."""
    path = sandbox.settings_file()
    assert path is not None, f"{sandbox.command!r} writes its settings nowhere a command finds"
    from dotenv import dotenv_values

    names = set(dotenv_values(path))
    assert {"EDS_SECRET", "EDS_AUTH_URL", "EDS_API_URL"} <= names, path.read_text()
    clean = {k: v for k, v in env.items() if not k.startswith("EDS_")}
    assert_runs("pystac-eds check", clean, sandbox.cwd)


# ---------------------------------------------------------------------------------------
# Judging a python block
# ---------------------------------------------------------------------------------------

_ZERO_ITEMS = re.compile(r"(?<![\d.,])0 items?\b")


class _Tee(io.StringIO):
    def __init__(self, also: Any) -> None:
        super().__init__()
        self.also = also

    def write(self, text: str) -> int:
        self.also.write(text)
        return super().write(text)


def _is_empty(name: str, value: Any) -> bool:
    """Whether ``value`` is search results with nothing in them."""
    from pystac import ItemCollection
    from pystac_client import ItemSearch

    if isinstance(value, ItemCollection):
        return len(value) == 0
    if isinstance(value, ItemSearch):  # one more request: its first page
        return not next(value.pages_as_dicts(), {}).get("features")
    if isinstance(value, list):
        return not value and "items" in name
    sizes = getattr(value, "sizes", None)  # an xarray Dataset or DataArray
    return type(value).__module__.startswith("xarray") and 0 in dict(sizes or {}).values()


def empty_results(before: dict[str, int], namespace: dict[str, Any]) -> list[str]:
    """The names a block (re)bound to empty search results."""
    return [
        name
        for name, value in namespace.items()
        if not name.startswith("__") and before.get(name) != id(value) and _is_empty(name, value)
    ]


def run_python(text: str, where: str, namespace: dict[str, Any]) -> None:
    """Run a python example in ``namespace``; it must not end with empty results."""
    before = {name: id(value) for name, value in namespace.items()}
    printed = _Tee(sys.stdout)
    with contextlib.redirect_stdout(printed):
        exec(compile(text, where, "exec"), namespace)  # noqa: S102
    empty = empty_results(before, namespace)
    assert not empty, f"{where}: {', '.join(empty)} came back empty: an example must show data"
    zero = _ZERO_ITEMS.search(printed.getvalue())
    assert zero is None, f"{where} printed {zero.group()!r}: an example must show data"


def run_doctest(block: Block, namespace: dict[str, Any]) -> None:
    test = doctest.DocTestParser().get_doctest(block.text, namespace, block.where, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, clear_globs=False)
    assert result.failed == 0, f"{block.where}: {result.failed} doctest example(s) failed"


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], cwd: Path) -> None:
    for name in [n for n in os.environ if n.startswith("EDS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(cwd)


# ---------------------------------------------------------------------------------------
# A page's examples, and examples of no page
# ---------------------------------------------------------------------------------------


def run_page_python(page: Path, session: PageSession, monkeypatch: pytest.MonkeyPatch) -> None:
    """The python blocks of ``page`` in order, in one namespace, in the session's folder
    and with its settings (none exported when the page started a sandbox)."""
    python = [b for b in blocks(page) if b.language in PYTHON]
    if not any(b.not_run is None for b in python):
        pytest.skip("no python example to run")
    exported = {k: v for k, v in session.env.items() if k.startswith("EDS_")}
    use_env(monkeypatch, exported, session.cwd)
    namespace: dict[str, Any] = {"__name__": "__example__"}
    for block in python:
        if block.not_run is not None:
            continue
        if block.text.lstrip().startswith(">>>"):
            run_doctest(block, namespace)
            continue
        try:
            run_python(block.text, block.where, namespace)
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("pystac_eds"):
                raise
            # An optional extra (pixels, dask...) that this environment lacks; CI installs
            # them all, so there the example runs.
            pytest.skip(f"{block.where} needs {exc.name}, from an extra not installed here")
        except AssertionError:
            raise
        except Exception as exc:
            pytest.fail(f"{block.where}: {type(exc).__name__}: {exc}")


def run_page_command(command: str, session: PageSession) -> None:
    """One shell command of a page, in the page's session."""
    if session.sandbox is not None and command == session.sandbox.command:
        assert_sandbox_serves(session.sandbox, session.env)
    elif starts_sandbox(command):  # another sandbox on the page: a folder of its own
        run_sandbox(command, session.cwd.parent / f"sandbox-{len(session.state)}", session.env)
    else:
        assert_runs(command, session.env, session.cwd, session.state)
    programs = command_words(words(command))
    if programs and programs[0] in STATE:
        session.state.append(command)


def run_sandbox(command: str, folder: Path, env: dict[str, str]) -> None:
    """A sandbox command on its own: started in ``folder``, checked, stopped."""
    folder.mkdir(exist_ok=True)
    sandbox = StartedSandbox(command, folder, {k: v for k, v in env.items() if k[:4] != "EDS_"})
    try:
        assert_sandbox_serves(sandbox, env)
    finally:
        sandbox.stop()


def run_anywhere(command: str, env: dict[str, str], cwd: Path) -> None:
    """An example of no page (--help, a docstring): a sandbox in a folder of its own, any
    other command with the settings in ``env``."""
    if starts_sandbox(command):
        run_sandbox(command, cwd / "sandbox", env)
    else:
        assert_runs(command, env, cwd)
