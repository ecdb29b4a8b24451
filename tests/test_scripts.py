"""scripts/setup, which scripts/demo and scripts/test run first: it installs only when
pyproject.toml or the extras changed (#15.6)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAMP = ROOT / ".venv" / ".setup-stamp"


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
