"""Helpers for the sandbox tests: tokens by hand and a look at child processes."""

from __future__ import annotations

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
