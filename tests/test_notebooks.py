"""The tutorial notebooks: generated from their sources, committed without outputs, and
executed against the sandbox.

The fast tests check what is committed: each ``notebooks/NN-name.ipynb`` is exactly what
``scripts/notebooks.py`` writes from ``notebooks/NN-name.py`` (no drift), holds no outputs
and no token, and has a test of its own here. The slow ones, marked ``notebooks`` and
deselected by default (run them with ``pytest -m notebooks``), execute each notebook in a
fresh ipykernel on this interpreter, with the sandbox's EDS_* settings in its environment
and the disk token cache on (in a fresh folder of the test's own), as a user would run it
after ``pystac-eds sandbox --env-file EDS.env`` (``02-long-running`` starts its own sandbox). They
need the ``[notebooks]`` and ``[sandbox]`` extras; skipped without them. With
``PYSTAC_EDS_EXECUTED_NOTEBOOKS=DIR`` each executed notebook is also written to DIR
(relative to the repository), with its outputs: the documentation site renders those.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
KERNEL_NAME = "pystac-eds-notebooks"
SHORT_TTL = 5.0  # the lifetime of the tokens of 02-long-running's own sandbox

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


def test_the_tutorials_exist() -> None:
    names = {path.name for path in NOTEBOOKS}
    for name in (
        "01-quickstart.ipynb",
        "02-long-running.ipynb",
        "03-existing-code.ipynb",
        "04-scale-out.ipynb",
        "05-pixels.ipynb",
    ):
        assert name in names


def _test_of(notebook: Path) -> str:
    """The name of the test that executes a tutorial: 01-quickstart -> test_01_quickstart."""
    return "test_" + re.sub(r"\W", "_", notebook.stem)


def test_every_tutorial_has_a_test_of_its_own() -> None:
    # Running a tutorial proves little: each test below checks that what the text says
    # is what the outputs show. A new tutorial needs one too.
    missing = [path.name for path in NOTEBOOKS if not callable(globals().get(_test_of(path)))]
    assert not missing, (
        f"no test for {missing}: add {[_test_of(NOTEBOOKS_DIR / m) for m in missing]}"
    )


def test_committed_notebooks_are_generated_from_their_sources() -> None:
    pytest.importorskip("jupytext")
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "notebooks.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


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
    # On, as a user has it (the kernel, its `!pystac-eds` commands and dask workers share
    # it), in a folder of this test's own: no token from another run or from the user's.
    monkeypatch.setenv("EDS_TOKEN_CACHE", str(workdir / "token-cache"))
    # `!pystac-eds` cells run the command installed next to this interpreter.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
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
    errors = [
        f"{output.get('ename')}: {output.get('evalue')}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]  # e.g. a plot that fails to render: shown as an error, yet execution goes on
    assert not errors, f"{name} shows errors: {errors}"
    output = _all_output(nb)
    assert settings["EDS_SECRET"] not in output, f"{name} printed the secret"
    assert not re.search(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}", output), f"{name} printed a JWT"
    assert "pystac-eds: error" not in output
    keep = os.environ.get("PYSTAC_EDS_EXECUTED_NOTEBOOKS")
    if keep:  # for the documentation site: the tutorials with the outputs of this run
        folder = ROOT / keep  # a relative path is from the repository (tests run elsewhere)
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / name)
    return nb


@pytest.mark.notebooks
@pytest.mark.sandbox
def test_01_quickstart(
    kernel_dir: Path, eds_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = execute("01-quickstart.ipynb", eds_sandbox.settings, kernel_dir, tmp_path, monkeypatch)
    output = _all_output(nb)
    assert "sentinel-2-l2a" in output
    found = re.search(r"^(\d+) items$", output, re.MULTILINE)  # scenes over western Kenya
    assert found is not None and 0 < int(found.group(1)) <= 200  # max_items=200
    assert "client_secret from environment EDS_SECRET" in output  # where settings came from
    # The map draws each tile once (its scenes share a footprint), not one outline per item.
    tiles = re.search(rf"^{found.group(1)} items on (\d+) tile\(s\)$", output, re.MULTILINE)
    assert tiles is not None and 0 < int(tiles.group(1)) < int(found.group(1))
    assert _images(nb) >= 3  # cloud cover over time, tiles (on a basemap), true colour
    assert re.search(r"signed URL valid until \d{4}-\d\d-\d\dT", output)  # pixels via href


@pytest.mark.notebooks
@pytest.mark.sandbox
def test_02_long_running(
    kernel_dir: Path, eds_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The notebook starts its own 5-second-token sandbox and ignores these settings; they
    # are set so that a notebook that wrongly used them would be caught (1-hour tokens:
    # no 401, no new token).
    nb = execute("02-long-running.ipynb", eds_sandbox.settings, kernel_dir, tmp_path, monkeypatch)
    output = _all_output(nb)
    assert f"tokens live {SHORT_TTL:.0f} s" in output
    assert "HTTP 401" in output  # the pasted token died
    during = re.search(r"token requests by pystac-eds during the search: (\d+)", output)
    assert during is not None
    assert 2 <= int(during.group(1)) <= 5  # one per token lifetime, not one per page
    assert re.search(r"12 threads, \d+ items, 1 token request\(s\)", output)  # single flight
    # "also keeps tokens in a small cache on disk": the default cache has a disk store.
    assert f"disk cache: DiskStore({str(tmp_path / 'token-cache')!r})" in output
    assert _images(nb) >= 1


@pytest.mark.notebooks
@pytest.mark.sandbox
def test_03_existing_code(
    kernel_dir: Path, eds_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = execute("03-existing-code.ipynb", eds_sandbox.settings, kernel_dir, tmp_path, monkeypatch)
    output = _all_output(nb)
    assert "Sentinel-2 Level-2A" in output  # `pystac-eds collections`
    assert "[ ok ]" in output  # `pystac-eds check`
    saved = re.search(r"\b(\d+) items saved by the command line\b", output)
    assert saved is not None and 0 < int(saved.group(1)) <= 50  # --max-items 50
    # Client.open(..., modifier=use_presigned_hrefs): the signed URL in href, s3:// kept.
    assert re.search(r"^s3://\S+$", output, re.MULTILINE)  # without the modifier
    assert re.search(r"^href +http://127\.0\.0\.1:\d+/\S+ \?… \(signed\)$", output, re.MULTILINE)
    assert re.search(r"^stored as +s3://", output, re.MULTILINE)
    assert re.search(r"^expires +\d{4}-\d\d-\d\dT", output, re.MULTILINE)
    # "With the disk cache on (the default)": what `pystac-eds check` shows.
    assert str(tmp_path / "token-cache") in output
    assert "the API itself:     True" in output
    assert "some other server:  False" in output


@pytest.mark.notebooks
@pytest.mark.sandbox
def test_04_scale_out(
    kernel_dir: Path, eds_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("dask.distributed")
    pytest.importorskip("odc.stac", reason="tutorial 04's last cell needs the [pixels] extra")
    nb = execute("04-scale-out.ipynb", eds_sandbox.settings, kernel_dir, tmp_path, monkeypatch)
    output = _all_output(nb)
    serial = re.search(r"72 searches one after the other: (\d+) items", output)
    on_dask = re.search(r"72 searches on 2 worker processes: (\d+) items", output)
    assert serial is not None and on_dask is not None
    assert int(serial.group(1)) == int(on_dask.group(1)) > 0  # the same items either way
    # The text leaves the winner open: the output names it, whichever it was.
    timing = re.search(r"serial ([\d.]+) s, dask ([\d.]+) s: (dask|the serial loop) was", output)
    assert timing is not None
    serial_s, dask_s, faster = float(timing[1]), float(timing[2]), timing[3]
    if serial_s != dask_s:  # (equal once rounded: either may be named)
        assert faster == ("dask" if dask_s < serial_s else "the serial loop")
    # Disk cache on: one token request in the kernel, which the workers pick up from disk.
    assert "disk token cache: on" in output
    assert re.findall(r"token requests on worker \S+: (\d+)", output) == ["0", "0"]
    assert "in all: 1" in output
    assert "Warning" not in output  # e.g. dask's "Port 8787 is already in use"
    ndvi = re.search(r"mean NDVI of (\d+) June scene\(s\), computed on the workers", output)
    assert ndvi is not None and int(ndvi[1]) > 0


@pytest.mark.notebooks
@pytest.mark.sandbox
def test_05_pixels(
    kernel_dir: Path, eds_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("odc.stac", reason="tutorial 05 needs the [pixels] extra")
    nb = execute("05-pixels.ipynb", eds_sandbox.settings, kernel_dir, tmp_path, monkeypatch)
    output = _all_output(nb)
    assert re.search(r"^stored as s3://", output, re.MULTILINE)  # the original href is kept
    resigned = re.search(r"^(\d+) items re-signed with (\d+) request\(s\)$", output, re.MULTILINE)
    assert resigned is not None and int(resigned.group(1)) > 0
    assert int(resigned.group(2)) == 1  # one search by ids, never one request per item
    assert "same items, same order: True" in output
    # GDAL's options name no token nor its file (the header file is attached to EDS's
    # origin only), and the redirect to storage is not remembered (it would get the bearer).
    assert "Bearer" not in output and "GDAL_HTTP_HEADER_FILE" not in output
    assert "redirects followed afresh: True" in output
    assert "same pixels as the presigned load: True" in output  # proxy == presigned
    assert _images(nb) >= 2  # true colour + NDVI, the NDVI time series
