"""``pystac-eds sandbox --env-file``: the settings file, for the owner only, never
replacing what is not a regular file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dotenv import dotenv_values

from pystac_eds.sandbox import SandboxError
from pystac_eds.sandbox._output import write_env_file

SETTINGS = {
    "EDS_CLIENT_ID": "eds-sandbox-client",
    "EDS_SECRET": "s3cr3t with spaces and $dollars",
    "EDS_AUTH_URL": "http://127.0.0.1:1/token",
    "EDS_API_URL": "http://127.0.0.1:2/platform/v1/stac",
}


def test_written_0600_and_read_back_by_dotenv(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    target = folder / "EDS.env"
    target.write_text("old")
    target.chmod(0o644)
    write_env_file(target, SETTINGS)
    assert target.stat().st_mode & 0o777 == 0o600
    assert dotenv_values(target) == SETTINGS
    assert os.listdir(folder) == ["EDS.env"]  # no temporary file left


def test_a_symlink_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.env"
    link = tmp_path / "EDS.env"
    link.symlink_to(real)
    write_env_file(link, SETTINGS)
    assert link.is_symlink() and dotenv_values(real) == SETTINGS


def test_what_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in (fifo, tmp_path):
        with pytest.raises(SandboxError, match="not a regular file"):
            write_env_file(target, SETTINGS)
    assert fifo.exists() and not fifo.is_file()


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="--env-file"):
        write_env_file(tmp_path / "nope" / "EDS.env", SETTINGS)
