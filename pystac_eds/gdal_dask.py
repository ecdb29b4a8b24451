"""The dask worker plugin that gives every worker process its own fresh GDAL header file.

Kept apart from :mod:`pystac_eds.gdal` so that importing that needs no ``distributed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class GDALWorkerPlugin(WorkerPlugin):
    """Runs ``setup`` in each worker when it starts (or the plugin is registered) and
    ``teardown`` when it stops (or the plugin is replaced): picklable callables, see
    ``gdal._WorkerSetup``."""

    def __init__(self, setup: Callable[[], None], teardown: Callable[[], None]) -> None:
        self._setup = setup
        self._teardown = teardown

    def setup(self, worker: Any) -> None:
        self._setup()

    def teardown(self, worker: Any) -> None:
        self._teardown()
