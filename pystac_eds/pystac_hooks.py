"""Make pystac find its extension hooks once, before threads parse STAC objects.

pystac (1.15) discovers the extension hooks that installed packages advertise lazily, on
the first parse of a STAC object in a process, and not thread-safely: it marks discovery
done, then adds the hooks, while another thread may already iterate over them
(``RuntimeError: dictionary changed size during iteration`` from ``Item.from_dict``). A
fresh dask worker whose threads search at once hits it. pystac-eds runs the discovery
once, under a lock, wherever one of its clients is built or unpickled, so every parse
in that process comes after it.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

_lock = threading.Lock()
_done = False


def discover_extension_hooks() -> None:
    """Run pystac's extension-hook discovery now, once per process (idempotent)."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        import pystac

        # A public call that starts with the discovery; an object with no extensions
        # makes it do nothing else.
        no_extensions: Any = SimpleNamespace(stac_extensions=[])
        pystac.EXTENSION_HOOKS.get_extended_object_links(no_extensions)
        _done = True
