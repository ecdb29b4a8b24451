"""Helpers shared by the benchmarks: loopback servers, statistics, machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata

from pystac_eds.testing import servers

COLLECTION = "sentinel-2-l2a"
#: Where EarthDaily's own client looks for the STAC API under its ``EDS_API_URL`` base.
EDS_STAC_PREFIX = "/platform/v1/stac"


@contextmanager
def loopback(
    *, lifetime: float | None = 3600, items: int = 100, page_size: int = 10
) -> Iterator[tuple[servers.TokenServer, servers.StacServer]]:
    """A fresh token server and STAC server pair, so counters start at zero."""
    with servers.TokenServer(lifetime=lifetime) as tokens:
        # Served under EDS's own path: EarthDaily's client always appends it to its base URL.
        stac = servers.StacServer(
            tokens,
            collections={COLLECTION: items},
            page_size=page_size,
            root_path=EDS_STAC_PREFIX,
        )
        with stac:
            yield tokens, stac


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """``median (min-max)`` in milliseconds, for the tables."""
    return f"{median(values) * 1e3:.1f} ms ({min(values) * 1e3:.1f}-{max(values) * 1e3:.1f})"


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> str:
    """One line that says where the numbers come from."""
    dists = ("pystac-eds", "pystac-client", "requests", "requests-auth", "authlib", "earthdaily")
    versions = ", ".join(f"{d} {version(d)}" for d in dists)
    return (
        f"{os.cpu_count()} CPUs, {platform.platform()}, "
        f"{platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable}); {versions}"
    )


def load() -> str:
    """The 1-minute load average: other work on the machine is the main source of noise."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):  # not on Windows
        return "n/a"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
