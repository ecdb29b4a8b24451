"""The tutorial notebooks: committed without outputs, and executed against the sandbox.

Each notebook runs in a fresh ipykernel on this interpreter, with the sandbox's EDS_*
settings in its environment and the disk token cache off, exactly as a user would run it
after ``pystac-eds sandbox > EDS.env`` (``02-long-running`` gets a sandbox whose tokens
live 5 seconds). Needs the ``[notebooks]`` and ``[sandbox]`` extras; skipped without them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
KERNEL_NAME = "pystac-eds-notebooks"
SHORT_TTL = 5.0

# A JWT, a bearer header with a value, or a long run of token characters.
TOKEN_LIKE = re.compile(
    r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"
    r"|Bearer\s+[\w.~+/-]{16,}"
    r"|[A-Za-z0-9_-]{40,}"
)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _output_text(cell: dict[str, Any]) -> str:
    """Everything a code cell printed or displayed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append(_text(output["text"]))
        for mime in ("text/plain", "text/html"):
            if mime in output.get("data", {}):
                parts.append(_text(output["data"][mime]))
        if output.get("output_type") == "error":
            parts.append("\n".join(output.get("traceback", [])))
    return "\n".join(parts)


def _all_output(nb: Any) -> str:
    return "\n".join(_output_text(cell) for cell in nb.cells if cell.cell_type == "code")


def _images(nb: Any) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


# ---------------------------------------------------------------------------------------
# What is committed
# ---------------------------------------------------------------------------------------


def test_the_four_tutorials_exist() -> None:
    names = {path.name for path in NOTEBOOKS}
    for name in (
        "01-quickstart.ipynb",
        "02-long-running.ipynb",
        "03-existing-code.ipynb",
        "04-scale-out.ipynb",
    ):
        assert name in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs_or_tokens(path: Path) -> None:
    nb = _load(path)
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {index} has outputs: clear them"
            assert cell.get("execution_count") is None, f"{path.name} cell {index} was run"
        source = _text(cell["source"])
        match = TOKEN_LIKE.search(source)
        assert match is None, f"{path.name} cell {index} holds a token-like string"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


# ---------------------------------------------------------------------------------------
# Executing them against the sandbox
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_ttl_sandbox() -> Iterator[Any]:
    """A second sandbox whose tokens live a few seconds, for 02-long-running."""
    sandbox_module = pytest.importorskip("pystac_eds.sandbox")
    try:
        sandbox_module.require_extra()
    except sandbox_module.SandboxUnavailable as error:
        pytest.skip(f"EDS sandbox unavailable: {error}")
    with sandbox_module.Sandbox(token_ttl=SHORT_TTL) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data folder with a kernelspec that runs ipykernel on this very interpreter
    (a system-wide ``python3`` spec may point at another Python). Session-scoped and asked
    for before the sandbox, so missing packages skip before any sandbox starts."""
    for module in ("nbclient", "nbformat", "ipykernel", "matplotlib", "pandas"):
        pytest.importorskip(module)
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "pystac-eds tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return root


def execute(
    name: str,
    settings: dict[str, str],
    kernel_dir: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Run notebooks/<name> in a fresh kernel whose environment holds ``settings``."""
    import nbformat
    from nbclient import NotebookClient

    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("EDS_TOKEN_CACHE", "off")
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))  # found before any other spec
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the inline backend: plots as PNGs
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets debugpy's warning
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=120,
        startup_timeout=60,
        resources={"metadata": {"path": str(workdir)}},  # no EDS.env there: env only
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on error
    output = _all_output(nb)
    assert settings["EDS_SECRET"] not in output, f"{name} printed the secret"
    assert not re.search(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}", output), f"{name} printed a JWT"
    assert "pystac-eds: error" not in output
    return nb


@pytest.mark.sandbox
def test_01_quickstart(
    kernel_dir: Path, eds_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = execute("01-quickstart.ipynb", eds_sandbox.settings, kernel_dir, tmp_path, monkeypatch)
    output = _all_output(nb)
    assert "sentinel-2-l2a" in output
    assert re.search(r"\b48 items\b", output)  # the sandbox's scenes over western Kenya
    assert "EDS_SECRET in " in output  # the EDS.env demo shows where the secret came from
    assert _images(nb) >= 2  # cloud cover over time, footprints


@pytest.mark.sandbox
def test_02_long_running(
    kernel_dir: Path, short_ttl_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = execute(
        "02-long-running.ipynb", short_ttl_sandbox.settings, kernel_dir, tmp_path, monkeypatch
    )
    output = _all_output(nb)
    assert f"tokens live {SHORT_TTL:.0f} s" in output
    assert "HTTP 401" in output  # the pasted token died
    during = re.search(r"token requests by pystac-eds during the search: (\d+)", output)
    assert during is not None
    assert 2 <= int(during.group(1)) <= 5  # one per token lifetime, not one per page
    assert re.search(r"12 threads, \d+ items, 1 token request\(s\)", output)  # single flight
    assert _images(nb) >= 1


@pytest.mark.sandbox
def test_03_existing_code(
    kernel_dir: Path, eds_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = execute("03-existing-code.ipynb", eds_sandbox.settings, kernel_dir, tmp_path, monkeypatch)
    output = _all_output(nb)
    assert "Sentinel-2 Level-2A" in output  # `pystac-eds collections`
    assert "[ ok ]" in output  # `pystac-eds check`
    assert re.search(r"\b24 items saved by the command line\b", output)
    assert "the API itself:     True" in output
    assert "some other server:  False" in output


@pytest.mark.sandbox
def test_04_scale_out(
    kernel_dir: Path, eds_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("dask.distributed")
    nb = execute("04-scale-out.ipynb", eds_sandbox.settings, kernel_dir, tmp_path, monkeypatch)
    output = _all_output(nb)
    assert "72 searches on 2 worker processes: 80 items" in output
    # Disk cache off: one token in the kernel and one per worker, for 72 searches.
    assert "in all: 3" in output
