"""3. Cold start: time to the first search result in a brand-new Python process.

Each sample is a subprocess that imports, opens and reads the first page of a search,
timed from the parent (interpreter start-up included, as a user waits for it). The
token server counts the token requests those processes made. The warm case shares an
``EDS_TOKEN_CACHE`` folder that a first, untimed process filled.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import COLLECTION, loopback, spread, table

# The child: the shortest real program, plus its own timer around the library part.
# {mode} is "eds" (the default cache, which EDS_TOKEN_CACHE configures), "eds-memory"
# (an explicit in-memory cache, for when the disk store is missing) or "static".
CHILD = """
import time
start = time.perf_counter()
import os, sys
mode = sys.argv[1]
if mode == "static":
    from pystac_client import Client
    client = Client.open(os.environ["EDS_API_URL"],
                         headers={{"Authorization": "Bearer " + os.environ["STATIC_TOKEN"]}})
else:
    import pystac_eds
    cache = pystac_eds.TokenCache(store=None) if mode == "eds-memory" else None
    client = pystac_eds.open(cache=cache)
next(iter(client.search(collections=[{collection!r}], limit=10).items_as_dicts()))
print(time.perf_counter() - start)
"""


@dataclass
class Case:
    name: str
    wall: list[float]  # whole process, seen from the parent
    inside: list[float]  # import + open + first page, seen from the child
    token_requests: int
    note: str = ""


def disk_store_available() -> bool:
    return importlib.util.find_spec("pystac_eds.disk") is not None


def _run_child(mode: str, env: dict[str, str], cwd: str) -> tuple[float, float]:
    script = CHILD.format(collection=COLLECTION)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, mode],
        env=env,
        cwd=cwd,  # an empty folder: no EDS.env or .env is picked up by accident
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"child ({mode}) failed:\n{done.stderr[-2000:]}")
    return wall, float(done.stdout.strip().splitlines()[-1])


def _rounds(
    plans: list[tuple[str, str, dict[str, str]]], cwd: str, runs: int, tokens: object
) -> list[Case]:
    # Round-robin with a rotating order, so drift over the run hits every case alike.
    # Token requests are counted per case from the server's total before/after each child.
    cases = [Case(name, [], [], 0) for name, _, _ in plans]
    for i in range(runs):
        for k in range(len(plans)):
            j = (i + k) % len(plans)
            _, mode, env = plans[j]
            before = tokens.issued  # type: ignore[attr-defined]
            wall, inside = _run_child(mode, env, cwd)
            cases[j].wall.append(wall)
            cases[j].inside.append(inside)
            cases[j].token_requests += tokens.issued - before  # type: ignore[attr-defined]
    return cases


def measure(*, runs: int = 9) -> list[Case]:
    with loopback(lifetime=3600) as (tokens, stac), tempfile.TemporaryDirectory() as tmp:
        base = {**os.environ, **tokens.settings(stac.url)}
        cwd = str(Path(tmp) / "cwd")
        os.makedirs(cwd)
        static = (
            "pystac-client, static header",
            "static",
            {**base, "STATIC_TOKEN": tokens.mint()},
        )
        if not disk_store_available():
            note = "n/a: pystac_eds/disk.py not present when this ran"
            plans = [("pystac-eds, memory cache only", "eds-memory", base), static]
            return [
                Case("pystac-eds, warm disk cache", [], [], 0, note),
                *_rounds(plans, cwd, runs, tokens),
            ]
        warm = {**base, "EDS_TOKEN_CACHE": str(Path(tmp) / "token-cache")}
        _run_child("eds", warm, cwd)  # untimed: fills the cache folder
        plans = [
            ("pystac-eds, warm disk cache", "eds", warm),
            ("pystac-eds, `EDS_TOKEN_CACHE=off`", "eds", {**base, "EDS_TOKEN_CACHE": "off"}),
            static,
        ]
        return _rounds(plans, cwd, runs, tokens)


def report(cases: list[Case]) -> str:
    rows = []
    for case in cases:
        if case.note:
            rows.append([case.name, case.note, "", ""])
            continue
        per_process = case.token_requests / len(case.wall)
        rows.append(
            [case.name, spread(case.wall), spread(case.inside), f"{per_process:g} per process"]
        )
    runs = max((len(c.wall) for c in cases), default=0)
    title = f"### 3. Cold start: new process → first search page, {runs} processes each\n\n"
    header = ["case", "process wall time", "import + open + first page", "token requests"]
    return title + table(header, rows)
