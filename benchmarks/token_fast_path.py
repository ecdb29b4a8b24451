"""5. ``pystac-eds token`` with a warm disk cache vs ``python -c pass``, fresh processes.

Shell loops call ``$(pystac-eds token)`` once per request, so its cost is the process:
with a valid token in the disk cache it must read that file with the standard library
only (goal: ≤ 3 x interpreter start-up). Also shown: the same with the settings in
./EDS.env rather than the environment (python-dotenv reads the file), and with the cache
off (a token request to a loopback server each time, the full path). Each command runs in
a folder of its own (an EDS.env in the working directory would be read). Rounds are
interleaved to cancel drift.

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
#: The cases the goal is for: a valid token on disk, settings from either place.
WARM = ("token, warm disk cache", "token, warm disk cache, settings in ./EDS.env")


Case = tuple[list[str], dict[str, str], Path]


def _once(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=cwd, timeout=60)
    return time.perf_counter() - start


def measure(*, runs: int = 21) -> dict[str, list[float]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
    with loopback() as (tokens, stac), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        empty, with_file, cache = folder / "empty", folder / "with-file", str(folder / "cache")
        empty.mkdir(), with_file.mkdir()
        settings = tokens.settings(stac.url)
        (with_file / "EDS.env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        in_env = {**base, **settings}
        cases: dict[str, Case] = {
            "pass": ([sys.executable, "-c", "pass"], base, empty),
            "token, warm disk cache": (
                [*COMMAND, "token"],
                {**in_env, "EDS_TOKEN_CACHE": cache},
                empty,
            ),
            "token, warm disk cache, settings in ./EDS.env": (
                [*COMMAND, "token"],
                {**base, "EDS_TOKEN_CACHE": cache},
                with_file,
            ),
            "token, cache off": ([*COMMAND, "token"], {**in_env, "EDS_TOKEN_CACHE": "off"}, empty),
        }
        for case in cases.values():  # warm-up: .pyc files, and the token file
            _once(*case)
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
        shown = f"**{ratio:.2f}**" if name in WARM else f"{ratio:.2f}"
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
    warm = max(median(samples[name]) for name in WARM) / median(samples["pass"])
    return 0 if warm <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
