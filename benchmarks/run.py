"""Run every pystac-eds benchmark against its peers, on loopback servers, in one go.

python benchmarks/run.py            # ~2.5 minutes; writes benchmarks/results.md
python benchmarks/run.py --quick    # a smoke run in ~30 s (numbers are noisier)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling modules, however this file was started

import cold_start  # noqa: E402
import import_time  # noqa: E402
import overhead  # noqa: E402
import token_fast_path  # noqa: E402
import token_refresh  # noqa: E402
from _common import load, machine  # noqa: E402


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter windows")
    parser.add_argument("--lifetime", type=float, default=2.0, help="token lifetime, seconds")
    parser.add_argument("--lifetimes", type=float, default=3.0, help="lifetimes per window")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    return parser.parse_args(argv)


def _timed(label: str, step: Callable[[], str]) -> str:
    # Progress on stderr, so stdout is exactly the markdown that lands in the file.
    print(f"… {label}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    text = step()
    print(f"  done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return text


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    load_before = load()
    runs = 5 if args.quick else 31
    lifetime = args.lifetime
    duration = lifetime * (2 if args.quick else args.lifetimes)
    threads = (1, 8) if args.quick else (1, 8, 32)
    sections = [
        _timed("1. per-request overhead", lambda: overhead.report(overhead.measure(runs=runs))),
        _timed(
            "2. token requests under concurrency",
            lambda: token_refresh.report(
                token_refresh.measure(thread_counts=threads, lifetime=lifetime, duration=duration),
                lifetime=lifetime,
                duration=duration,
            ),
        ),
        _timed(
            "3. cold start",
            lambda: cold_start.report(cold_start.measure(runs=3 if args.quick else 9)),
        ),
        _timed(
            "4. import time",
            lambda: import_time.report(import_time.measure(runs=5 if args.quick else 15)),
        ),
        _timed(
            "5. pystac-eds token",
            lambda: token_fast_path.report(token_fast_path.measure(runs=5 if args.quick else 21)),
        ),
    ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
    header = (
        f"## pystac-eds benchmarks\n\n`{command}`, {stamp}. Machine: {machine()}. "
        f"Load average {load_before} before, {load()} after (on {os.cpu_count()} CPUs).\n"
    )
    text = "\n\n".join([header, *sections]) + "\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
