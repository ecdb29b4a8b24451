"""4. ``import pystac_eds`` vs ``import pystac_client`` in fresh processes.

Each sample is ``python -c "import X"`` timed from the parent, minus the median of
``python -c "pass"`` (interpreter start-up), rounds interleaved to cancel drift.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _common import median, table

MODULES = ("pystac_client", "pystac_eds", "earthdaily")


def _once(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
    return time.perf_counter() - start


def measure(*, runs: int = 15) -> dict[str, list[float]]:
    codes = {"pass": "pass", **{m: f"import {m}" for m in MODULES}}
    for code in codes.values():  # warm-up: .pyc files and the OS file cache
        _once(code)
    samples: dict[str, list[float]] = {name: [] for name in codes}
    names = list(codes)
    for i in range(runs):
        for k in range(len(names)):
            name = names[(i + k) % len(names)]  # rotate the order each round
            samples[name].append(_once(codes[name]))
    return samples


def report(samples: dict[str, list[float]]) -> str:
    base = median(samples["pass"])
    reference = median(samples["pystac_client"]) - base
    rows = [["(interpreter start-up, `pass`)", f"{base * 1e3:.1f} ms", "", ""]]
    for module in MODULES:
        cost = median(samples[module]) - base
        ratio = (
            f"**{cost / reference:.3f}**" if module == "pystac_eds" else f"{cost / reference:.2f}"
        )
        rows.append(
            [
                f"`import {module}`",
                f"{median(samples[module]) * 1e3:.1f} ms",
                f"{cost * 1e3:.1f} ms",
                ratio,
            ]
        )
    runs = len(samples["pass"])
    title = (
        f"### 4. Import time, fresh processes, median of {runs} each "
        "(goal: pystac_eds ≤ 1.15 x pystac_client)\n\n"
    )
    return title + table(["import", "process", "minus start-up", "vs pystac_client"], rows)
