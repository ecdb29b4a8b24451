"""The README's first command, ``bash scripts/demo``: set-up that installs only when
pyproject.toml or the extras changed (#15.6), then a real search, against EDS with the
user's settings or else against a sandbox it starts itself."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAMP = ROOT / ".venv" / ".setup-stamp"
DEMO = ROOT / "scripts" / "demo.py"
#: A row of the demo's table: id, datetime, cloud cover.
_ROW = re.compile(r"^\S+ +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* +\S+$", re.MULTILINE)


def demo_rows(stdout: str) -> list[str]:
    """The item rows the demo printed."""
    return _ROW.findall(stdout)


def setup_is_current(*extras: str) -> bool:
    """Whether scripts/setup would install nothing for ``extras``: its stamp records
    this pyproject.toml and them (so a test may run it without a package index)."""
    if not STAMP.exists() or not (ROOT / ".venv" / "bin" / "python").exists():
        return False
    recorded, _, installed = STAMP.read_text().strip().partition(" ")
    current = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return recorded == current and set(extras) <= set(installed.split(","))


def _no_settings(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
    return {**env, "XDG_CACHE_HOME": str(tmp_path / "cache")}


@pytest.mark.skipif(not STAMP.exists(), reason="needs a .venv made by scripts/setup")
def test_setup_skips_the_install_when_nothing_changed() -> None:
    _, extras = STAMP.read_text().split(" ", 1)
    log = ROOT / ".venv" / "pip.log"
    before = log.stat().st_mtime_ns if log.exists() else None
    for asked in (extras.strip().split(","), []):  # the same extras, or fewer
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "setup"), *[e for e in asked if e]],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PIP_NO_INDEX": "1"},  # an install attempt would fail loudly
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # nothing to say: nothing was done
    assert (log.stat().st_mtime_ns if log.exists() else None) == before


@pytest.mark.skipif(not STAMP.exists(), reason="needs a .venv made by scripts/setup")
@pytest.mark.parametrize("tool", ["sha256sum", "shasum", None])
def test_setup_hashes_alike_with_or_without_coreutils(tool: str | None, tmp_path: Path) -> None:
    # The stamp's hash comes from sha256sum, shasum (macOS) or Python, whichever there is:
    # all three must agree, or a machine would reinstall on every run.
    found = shutil.which(tool) if tool else None
    if tool and not found:
        pytest.skip(f"no {tool} here")
    bin_dir = tmp_path / "bin"  # only what scripts/setup needs, and one way to hash
    bin_dir.mkdir()
    # python3 itself, not a launcher such as a pyenv shim (which needs more than this).
    needed = {
        "bash": None,
        "dirname": None,
        "cut": None,
        "python3": os.path.realpath(sys.executable),
    }
    needed.update({tool: found} if tool else {})
    for name, path in needed.items():
        (bin_dir / name).symlink_to(path or shutil.which(name) or pytest.fail(f"no {name}"))
    _, extras = STAMP.read_text().split(" ", 1)
    result = subprocess.run(
        [
            shutil.which("bash") or "bash",
            str(ROOT / "scripts" / "setup"),
            *extras.strip().split(","),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": str(bin_dir), "PIP_NO_INDEX": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # the same hash as the stamp's: nothing to install


@pytest.mark.sandbox
def test_the_demo_without_settings_starts_a_sandbox_and_shows_items(tmp_path: Path) -> None:
    pytest.importorskip("stac_auth_proxy", reason="needs the [sandbox] extra")
    work = tmp_path / "work"  # no EDS.env, no .env, no EDS_* variable
    work.mkdir()
    result = subprocess.run(
        [sys.executable, str(DEMO)],
        cwd=work,
        env=_no_settings(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "starting the offline sandbox" in result.stderr
    assert re.search(r"sandbox ready in \d+\.\d s", result.stderr)
    assert "Searching the offline sandbox at http://127.0.0.1:" in result.stdout
    assert len(demo_rows(result.stdout)) == 10, result.stdout


@pytest.mark.sandbox
def test_the_demo_with_settings_searches_there(eds_sandbox: Any, tmp_path: Path) -> None:
    env = {**_no_settings(tmp_path), **eds_sandbox.settings}
    result = subprocess.run(
        [sys.executable, str(DEMO)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "sandbox" not in result.stderr  # it started none
    assert f"Searching {eds_sandbox.settings['EDS_API_URL']} (your EDS_* settings)" in result.stdout
    assert len(demo_rows(result.stdout)) == 10, result.stdout


@pytest.mark.sandbox
@pytest.mark.skipif(
    not setup_is_current("sandbox"), reason="needs a current .venv made by scripts/setup"
)
@pytest.mark.skipif(
    any((ROOT / name).exists() for name in ("EDS.env", ".env")),
    reason="an EDS.env or .env in the repository would give the demo settings",
)
def test_bash_scripts_demo_as_a_newcomer_runs_it(tmp_path: Path) -> None:
    # The README's first command, in a fresh shell with no settings anywhere: the setup
    # check finds everything installed (no index: an install attempt would fail).
    env = {**_no_settings(tmp_path), "PIP_NO_INDEX": "1"}
    result = subprocess.run(
        ["bash", "scripts/demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "starting the offline sandbox" in result.stderr
    assert len(demo_rows(result.stdout)) == 10, result.stdout
