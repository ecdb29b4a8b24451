"""Header files of processes killed before they could remove them (SIGTERM) are swept by
the next process, and nothing else is: not another machine's, not a live process's, not a
link, not a file or folder that merely looks like ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystac_eds import header_file, header_sweep
from pystac_eds.settings import Credentials
from pystac_eds.testing import TokenServer

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX PIDs and modes")

# A process that sets up its header file, says where it is, and waits to be killed.
CHILD = """
import sys
from pystac_eds import header_file
from pystac_eds.settings import Credentials
print(header_file.ensure_fresh(Credentials.resolve()).path, flush=True)
sys.stdin.read()
"""


@pytest.fixture(autouse=True)
def _no_refreshers_left() -> Iterator[None]:
    yield
    header_file.stop_all()


def killed_child(server: TokenServer, environ: dict[str, str]) -> tuple[Path, int]:
    """The header file of a process that got SIGTERM, and that process's (now free) PID."""
    env = {**os.environ, **server.settings("http://127.0.0.1:9/"), **environ}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    path = Path(child.stdout.readline().decode().strip())
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == -signal.SIGTERM
    assert path.read_text().startswith("Authorization: Bearer ")  # left behind
    return path, child.pid


def name(pid: int, machine: str = header_sweep.MACHINE) -> str:
    return f"gdal-{'ab' * 8}-{machine}-{pid}-1.headers"


def private_file(path: Path, mode: int = 0o600) -> Path:
    path.write_text("Authorization: Bearer not-ours-to-delete\n")
    path.chmod(mode)
    return path


def test_a_killed_process_header_file_is_swept_from_the_token_cache_folder(
    eds_token_server: TokenServer,
    eds_credentials: Credentials,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    left, dead = killed_child(eds_token_server, {"EDS_TOKEN_CACHE": str(cache)})
    folder = left.parent
    keep = [
        private_file(folder / name(dead, machine="0badc0de")),  # another machine's PID
        private_file(folder / name(os.getppid())),  # a process that runs
        private_file(folder / name(dead).replace(".headers", ".txt")),  # not our name
        private_file(folder / ("x" + name(dead))),
        private_file(folder / name(dead).replace("-1.headers", "-2.headers"), 0o644),  # not 0600
    ]
    target = private_file(tmp_path / "target")
    (folder / name(dead).replace("-1.headers", "-3.headers")).symlink_to(target)  # a link
    fifo = folder / name(dead).replace("-1.headers", "-4.headers")
    os.mkfifo(fifo, 0o600)  # not a regular file
    keep.append(fifo)
    monkeypatch.setenv("EDS_TOKEN_CACHE", str(cache))
    mine = header_file.ensure_fresh(eds_credentials)
    assert mine.path.parent == folder and mine.path.exists()
    assert not left.exists()
    assert all(path.exists() for path in keep)
    assert (folder / name(dead).replace("-1.headers", "-3.headers")).is_symlink()
    assert target.read_text() == "Authorization: Bearer not-ours-to-delete\n"


def test_a_killed_process_temporary_folder_is_removed(
    eds_token_server: TokenServer,
    eds_credentials: Credentials,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    left, dead = killed_child(eds_token_server, {"EDS_TOKEN_CACHE": "off", "TMPDIR": str(temp)})
    assert left.parent.parent == temp
    # Folders that look like a dead process's but are not pystac-eds's to remove:
    prefix = f"pystac-eds-gdal-{header_sweep.MACHINE}-{dead}-"
    unmarked = temp / (prefix + "unmarked")
    unmarked.mkdir(0o700)
    private_file(unmarked / name(dead))
    open_to_all = temp / (prefix + "opentoal")
    open_to_all.mkdir()
    open_to_all.chmod(0o755)
    marker = (left.parent / ".pystac-eds-gdal").read_bytes()
    (open_to_all / ".pystac-eds-gdal").write_bytes(marker)
    private_file(open_to_all / name(dead))
    (left.parent / "notes.txt").write_text("the user's")

    monkeypatch.setenv("EDS_TOKEN_CACHE", "off")
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(header_file, "_temp_folder", None)
    mine = header_file.ensure_fresh(eds_credentials)
    try:
        assert not left.exists()
        # the dead process's folder kept only for the file that is not ours
        assert sorted(p.name for p in left.parent.iterdir()) == ["notes.txt"]
        assert (unmarked / name(dead)).exists() and (open_to_all / name(dead)).exists()
        assert mine.path.parent.parent == temp and mine.path.exists()
    finally:
        header_file.stop_all()
        header_sweep.remove_temp_folder(mine.path.parent)
    assert not mine.path.parent.exists()  # our own folder goes when we are done


def test_header_file_names_carry_machine_and_pid() -> None:
    made = header_sweep.header_name("0123456789abcdef" * 2, 7)
    match = header_sweep.HEADER_NAME.fullmatch(made)
    assert match is not None
    assert (match["machine"], int(match["pid"])) == (header_sweep.MACHINE, os.getpid())
