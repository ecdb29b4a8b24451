"""The dask worker plugin that gives every worker process its own fresh GDAL header file.

Kept apart from :mod:`pystac_eds.gdal` so that importing that needs no ``distributed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class GDALWorkerPlugin(WorkerPlugin):
    """Runs ``setup`` (a picklable callable, see ``gdal._WorkerSetup``) in each worker."""

    def __init__(self, setup: Callable[[], None]) -> None:
        self._setup = setup

    def setup(self, worker: Any) -> None:
        self._setup()
