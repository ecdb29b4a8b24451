"""GDAL's ``VSISetPathSpecificOption`` and ``CPLSetConfigOption``, called on the libgdal
that rasterio reads with.

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

log = logging.getLogger(__name__)

SetOption = Callable[[str, str, str | None], None]
SetConfig = Callable[[str, str], None]


@cache
def path_option_setter() -> SetOption | None:
    """A function ``(path_prefix, key, value)`` that sets a GDAL option for every file
    under ``path_prefix`` in this process — in rasterio's libgdal and, when installed, in
    ``osgeo``'s (which may be another copy) — or ``None`` when neither can."""
    setters = [s for s in (_rasterio_setter(), _osgeo_setter()) if s is not None]
    if not setters:
        return None

    def set_option(prefix: str, key: str, value: str | None) -> None:
        for setter in setters:
            setter(prefix, key, value)

    return set_option


def _rasterio_setter() -> SetOption | None:
    try:
        from rasterio import _env  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        log.debug("rasterio is not installed")
        return None
    try:
        lib = ctypes.CDLL(_env.__file__)
        function = lib.VSISetPathSpecificOption
    except (OSError, AttributeError):
        log.debug("VSISetPathSpecificOption not found in rasterio's GDAL (GDAL < 3.6?)")
        return None
    function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]
    function.restype = None

    def set_option(prefix: str, key: str, value: str | None) -> None:
        function(prefix.encode(), key.encode(), None if value is None else value.encode())

    return set_option


def _osgeo_setter() -> SetOption | None:
    try:
        from osgeo import gdal  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    setter = getattr(gdal, "SetPathSpecificOption", None)  # GDAL >= 3.6
    return setter if callable(setter) else None


@cache
def config_option_setter() -> SetConfig | None:
    """A function ``(key, value)`` that sets a GDAL config option for the whole process
    (``CPLSetConfigOption``: every thread that has no thread-local value of its own), in
    rasterio's libgdal and ``osgeo``'s; ``None`` when neither can."""
    setters: list[SetConfig] = []
    try:
        from rasterio import _env  # type: ignore[import-untyped,import-not-found,unused-ignore]

        function = ctypes.CDLL(_env.__file__).CPLSetConfigOption
    except (ImportError, OSError, AttributeError):
        log.debug("CPLSetConfigOption not reachable through rasterio")
    else:
        function.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        function.restype = None
        setters.append(lambda key, value: function(key.encode(), value.encode()))
    try:
        from osgeo import gdal  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        setters.append(gdal.SetConfigOption)
    if not setters:
        return None

    def set_config(key: str, value: str) -> None:
        for setter in setters:
            setter(key, value)

    return set_config


@cache
def curl_cache_clearer() -> Callable[[str], None] | None:
    """``VSICurlPartialClearCache(prefix)`` on rasterio's libgdal and ``osgeo``'s: forget
    what ``/vsicurl/`` remembers of URLs under ``prefix`` (sizes, blocks, and answers such
    as a ``401``); ``None`` when neither library is reachable."""
    clearers: list[Callable[[str], None]] = []
    try:
        from rasterio import _env  # type: ignore[import-untyped,import-not-found,unused-ignore]

        function = ctypes.CDLL(_env.__file__).VSICurlPartialClearCache
    except (ImportError, OSError, AttributeError):
        log.debug("VSICurlPartialClearCache not reachable through rasterio")
    else:
        function.argtypes = [ctypes.c_char_p]
        function.restype = None
        clearers.append(lambda prefix: function(prefix.encode()))
    try:
        from osgeo import gdal  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        clearers.append(gdal.VSICurlPartialClearCache)
    if not clearers:
        return None

    def clear(prefix: str) -> None:
        for clearer in clearers:
            clearer(prefix)

    return clear


def config_option_getter() -> Callable[[str], str | None] | None:
    """``CPLGetConfigOption(key, None)`` on rasterio's libgdal (for tests)."""
    try:
        from rasterio import _env  # type: ignore[import-untyped,import-not-found,unused-ignore]

        function = ctypes.CDLL(_env.__file__).CPLGetConfigOption
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    function.restype = ctypes.c_char_p

    def get_config(key: str) -> str | None:
        value = function(key.encode(), None)
        return value.decode() if value is not None else None

    return get_config


def path_option_getter() -> Callable[[str, str], str | None] | None:
    """``VSIGetPathSpecificOption(path, key, None)`` on the same library (for tests)."""
    try:
        from rasterio import _env  # type: ignore[import-untyped,import-not-found,unused-ignore]

        function = ctypes.CDLL(_env.__file__).VSIGetPathSpecificOption
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]
    function.restype = ctypes.c_char_p

    def get_option(path: str, key: str) -> str | None:
        value = function(path.encode(), key.encode(), None)
        return value.decode() if value is not None else None

    return get_option
