"""The ``User-Agent`` pystac-eds sends on API and token requests, so operators can tell it
apart: ``pystac-eds/<v> pystac-client/<v> python-requests/<v>``."""

from __future__ import annotations

import functools
import sys
from importlib import metadata


def _version(module: str, distribution: str) -> str:
    # Already imported (the usual case): its __version__ costs nothing. Otherwise (the
    # `pystac-eds token` fast path does not import pystac_client) read the metadata,
    # which does not import the package.
    loaded = sys.modules.get(module)
    version = getattr(loaded, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def user_agent() -> str:
    from . import __version__

    return (
        f"pystac-eds/{__version__} "
        f"pystac-client/{_version('pystac_client', 'pystac-client')} "
        f"python-requests/{_version('requests', 'requests')}"
    )
