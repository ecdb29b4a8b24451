"""pystac-eds: pystac-client for the EarthDaily Earth Data Store, authenticated for hours.

>>> import pystac_eds
>>> catalog = pystac_eds.open()   # a pystac_client.Client

The public names are imported on first use, so ``import pystac_eds`` (and the
``pystac-eds token`` fast path) does not pay for ``requests`` or ``pystac_client``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    CredentialsError,
    EDSError,
    InsecureTransportError,
    MissingItemsError,
    ResignError,
    TokenError,
)

if TYPE_CHECKING:
    from .assets import use_presigned_hrefs
    from .auth import EDSAuth
    from .cache import TokenCache
    from .client import open as open  # public, though not in __all__ (see there)
    from .client import stac_io
    from .disk import DiskStore
    from .gdal import gdal_env
    from .resigning import resign
    from .settings import Credentials
    from .token_request import RetryPolicy
    from .tokens import Token

__version__ = "0.2.0"

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "Credentials": "settings",
    "EDSAuth": "auth",
    "TokenCache": "cache",
    "Token": "tokens",
    "RetryPolicy": "token_request",
    "DiskStore": "disk",
    "open": "client",
    "stac_io": "client",
    "use_presigned_hrefs": "assets",
    "resign": "resigning",
    "gdal_env": "gdal",
}

# `open` is public (`pystac_eds.open()`) but left out of __all__: `from pystac_eds import *`
# must not shadow the builtin open() in the importing module.
__all__ = [
    "Credentials",
    "CredentialsError",
    "DiskStore",
    "EDSAuth",
    "EDSError",
    "InsecureTransportError",
    "MissingItemsError",
    "ResignError",
    "RetryPolicy",
    "Token",
    "TokenCache",
    "TokenError",
    "__version__",
    "gdal_env",
    "resign",
    "stac_io",
    "use_presigned_hrefs",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pystac_eds' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
