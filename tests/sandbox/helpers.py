"""Helpers for the sandbox tests: tokens by hand and a look at child processes."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import pytest
import requests

from pystac_eds.sandbox import SandboxUnavailable, require_extra


def need_extra() -> None:
    try:
        require_extra()
    except SandboxUnavailable as error:
        pytest.skip(str(error))


def fetch_token(settings: dict[str, str], method: str = "basic") -> requests.Response:
    data = {"grant_type": "client_credentials"}
    auth: tuple[str, str] | None = None
    if method == "basic":
        auth = (settings["EDS_CLIENT_ID"], settings["EDS_SECRET"])
    else:
        data |= {"client_id": settings["EDS_CLIENT_ID"], "client_secret": settings["EDS_SECRET"]}
    return requests.post(settings["EDS_AUTH_URL"], data=data, auth=auth, timeout=10)


def token(settings: dict[str, str]) -> str:
    response = fetch_token(settings)
    response.raise_for_status()
    value: str = response.json()["access_token"]
    return value


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc; children may have left its group)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("process tree checks read /proc")
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (2nd field) is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":  # zombies are dead, just not reaped yet
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            living.add(pid)
    return living


def cmdline(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def rustac_pid(sandbox_pids: list[int]) -> int:
    """rustac's pid: a child of the asset service (it starts rustac in its namespace)."""
    found = [
        pid
        for parent in sandbox_pids
        for pid in descendants(parent)
        if any(part.endswith("_rustac_cli.py") for part in cmdline(pid))
    ]
    assert len(found) == 1, found
    return found[0]


def rustac_port(pid: int) -> int:
    """The port rustac was told to bind (``--bind 127.0.0.1:PORT``), as ``ps`` shows it."""
    argv = cmdline(pid)
    host, _, port = argv[argv.index("--bind") + 1].rpartition(":")
    assert host == "127.0.0.1", argv
    return int(port)


def listening_addresses(pid: int, own: bool = True) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket ``pid`` listens on (``own=False``: that
    anything in ``pid``'s network namespace listens on), from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    # A socket shows in the table of the namespace it was made in: the asset service's
    # public ones in this process's, though the asset service itself moved on.
    tables = [f"/proc/{pid}/net/{t}" for t in ("tcp", "tcp6")]
    if own:
        tables += [f"/proc/self/net/{t}" for t in ("tcp", "tcp6")]
    for table in tables:
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and (inode in inodes or not own):  # 0A: TCP_LISTEN
                address, port = local.split(":")
                found.add((_address(address), int(port, 16)))
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host byte order.
    words = [
        raw[i : i + 4][::-1] if sys.byteorder == "little" else raw[i : i + 4]
        for i in range(0, len(raw), 4)
    ]
    return str(ipaddress.ip_address(b"".join(words)))
