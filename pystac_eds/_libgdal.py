"""GDAL's ``VSISetPathSpecificOption``, ``CPLSetConfigOption`` and
``VSICurlPartialClearCache``, called on the libgdal that rasterio reads with.

rasterio's wheels bundle their own libgdal and no ``osgeo``; odc-stac and stackstac read
through rasterio. So the functions are looked up through rasterio's own extension module:
``dlsym`` on a library handle searches that library's dependencies too, which finds the
very libgdal rasterio loaded (bundled or system). Where GDAL's own bindings (``osgeo``)
are installed, their copy gets the option too (``gdal.SetPathSpecificOption``,
``gdal.SetConfigOption``). GDAL < 3.6, neither library, or a platform where the look-up
fails → ``None``, and the caller falls back to options in the ``Env`` only.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

SetOption = Callable[[str, str, str | None], None]
SetConfig = Callable[[str, str], None]


@cache
def path_option_setter() -> SetOption | None:
    """A function ``(path_prefix, key, value)`` that sets a GDAL option for every file
    under ``path_prefix`` in this process — in rasterio's libgdal and, when installed, in
    ``osgeo``'s (which may be another copy) — or ``None`` when neither can (GDAL < 3.6)."""
    return _in_each(
        _rasterio_function("VSISetPathSpecificOption", 3), _osgeo_function("SetPathSpecificOption")
    )


@cache
def config_option_setter() -> SetConfig | None:
    """A function ``(key, value)`` that sets a GDAL config option for the whole process
    (``CPLSetConfigOption``: every thread that has no thread-local value of its own), in
    rasterio's libgdal and ``osgeo``'s; ``None`` when neither can."""
    return _in_each(_rasterio_function("CPLSetConfigOption", 2), _osgeo_function("SetConfigOption"))


@cache
def curl_cache_clearer() -> Callable[[str], None] | None:
    """``VSICurlPartialClearCache(prefix)`` on rasterio's libgdal and ``osgeo``'s: forget
    what ``/vsicurl/`` remembers of URLs under ``prefix`` (sizes, blocks, and answers such
    as a ``401``); ``None`` when neither library is reachable."""
    return _in_each(
        _rasterio_function("VSICurlPartialClearCache", 1),
        _osgeo_function("VSICurlPartialClearCache"),
    )


def config_option_getter() -> Callable[[str], str | None] | None:
    """``CPLGetConfigOption(key, None)`` on rasterio's libgdal (for tests)."""
    get = _rasterio_function("CPLGetConfigOption", 2, returns_text=True)
    return None if get is None else lambda key: get(key, None)


def path_option_getter() -> Callable[[str, str], str | None] | None:
    """``VSIGetPathSpecificOption(path, key, None)`` on the same library (for tests)."""
    get = _rasterio_function("VSIGetPathSpecificOption", 3, returns_text=True)
    return None if get is None else lambda path, key: get(path, key, None)


def _rasterio_function(
    name: str, arity: int, *, returns_text: bool = False
) -> Callable[..., Any] | None:
    """GDAL's C function ``name`` (``arity`` string arguments) from the libgdal rasterio
    loaded, called with Python strings (``None`` for NULL) and, if ``returns_text``,
    returning one; ``None`` when rasterio is missing or its GDAL lacks the function."""
    try:
        from rasterio import _env  # type: ignore[import-untyped,import-not-found,unused-ignore]

        function = getattr(ctypes.CDLL(_env.__file__), name)
    except (ImportError, OSError, AttributeError):
        log.debug("%s not reachable through rasterio's GDAL", name)
        return None
    function.argtypes = [ctypes.c_char_p] * arity
    function.restype = ctypes.c_char_p if returns_text else None

    def call(*texts: str | None) -> str | None:
        result = function(*(None if text is None else text.encode() for text in texts))
        return result.decode() if returns_text and result is not None else None

    return call


def _osgeo_function(name: str) -> Callable[..., Any] | None:
    """``osgeo.gdal.<name>`` when GDAL's own bindings are installed and have it."""
    try:
        from osgeo import gdal  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    function = getattr(gdal, name, None)
    return function if callable(function) else None


def _in_each(*functions: Callable[..., Any] | None) -> Callable[..., None] | None:
    """One function calling each of ``functions`` that exists (rasterio's libgdal and
    osgeo's may be two copies, each with its own options); ``None`` if none does."""
    found = [function for function in functions if function is not None]
    if not found:
        return None

    def call(*args: Any) -> None:
        for function in found:
            function(*args)

    return call
