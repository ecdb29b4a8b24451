"""5. ``pystac-eds token`` with a warm disk cache vs ``python -c pass``, fresh processes.

Shell loops call ``$(pystac-eds token)`` once per request, so its cost is the process:
with a valid token in the disk cache it must read that file with the standard library
only (goal: ≤ 3 x interpreter start-up). Also shown: the same with the cache off (a token
request to a loopback server each time, the full path). Rounds are interleaved to
cancel drift.

python benchmarks/token_fast_path.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import loopback, median, table

#: The console script of this interpreter's environment, else the module.
_SCRIPT = Path(sys.executable).parent / "pystac-eds"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pystac_eds.cli"]
GOAL = 3.0


def _once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env, timeout=60)
    return time.perf_counter() - start


def measure(*, runs: int = 21) -> dict[str, list[float]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
    with loopback() as (tokens, stac), tempfile.TemporaryDirectory() as cache:
        settings = {**base, **tokens.settings(stac.url)}
        cases = {
            "pass": ([sys.executable, "-c", "pass"], base),
            "token, warm disk cache": ([*COMMAND, "token"], {**settings, "EDS_TOKEN_CACHE": cache}),
            "token, cache off": ([*COMMAND, "token"], {**settings, "EDS_TOKEN_CACHE": "off"}),
        }
        for argv, env in cases.values():  # warm-up: .pyc files, and the token file
            _once(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for i in range(runs):
            for k in range(len(names)):
                name = names[(i + k) % len(names)]  # rotate the order each round
                samples[name].append(_once(*cases[name]))
    return samples


def report(samples: dict[str, list[float]]) -> str:
    base = median(samples["pass"])
    rows = []
    for name, values in samples.items():
        ratio = median(values) / base
        shown = f"**{ratio:.2f}**" if name == "token, warm disk cache" else f"{ratio:.2f}"
        rows.append([f"`{name}`", f"{median(values) * 1e3:.1f} ms", shown])
    runs = len(samples["pass"])
    title = (
        f"### 5. `pystac-eds token`, fresh processes, median of {runs} each "
        f"(goal: warm ≤ {GOAL:g} x `python -c pass`)\n\n"
    )
    return title + table(["command", "process", "vs `python -c pass`"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args(argv)
    samples = measure(runs=args.runs)
    print(report(samples))
    warm = median(samples["token, warm disk cache"]) / median(samples["pass"])
    return 0 if warm <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
