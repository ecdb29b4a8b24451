"""Test kit for code that uses pystac-eds: loopback servers and pytest fixtures.

Installed as a pytest plugin, so in any project with pystac-eds installed these
fixtures are available with no import:

* ``eds_token_server`` — an OAuth2 client-credentials endpoint (:class:`TokenServer`);
* ``eds_asset_server`` — S3-like storage behind presigned URLs that expire
  (:class:`AssetServer`);
* ``eds_stac_server`` — a small STAC API that demands its tokens (:class:`StacServer`)
  and presents assets as EDS does, signed by ``eds_asset_server``;
* ``eds_credentials`` — :class:`~pystac_eds.Credentials` for the two;
* ``eds_env`` — the same settings as ``EDS_*`` environment variables for one test;
* ``eds_sandbox`` / ``eds_sandbox_env`` — the real-server stack of
  :mod:`pystac_eds.sandbox` (needs the ``[sandbox]`` extra).
"""

from .assets import AssetRequest, AssetServer
from .servers import Reply, StacServer, TokenServer, sample_items

__all__ = [
    "AssetRequest",
    "AssetServer",
    "Reply",
    "StacServer",
    "TokenServer",
    "sample_items",
]
