"""Test kit for code that uses pystac-eds: loopback servers and pytest fixtures.

Installed as a pytest plugin, so in any project with pystac-eds installed these
fixtures are available with no import:

* ``eds_token_server`` — an OAuth2 client-credentials endpoint (:class:`TokenServer`);
* ``eds_stac_server`` — a small STAC API that demands its tokens (:class:`StacServer`);
* ``eds_credentials`` — :class:`~pystac_eds.Credentials` for the two;
* ``eds_env`` — the same settings as ``EDS_*`` environment variables for one test;
* ``eds_sandbox`` / ``eds_sandbox_env`` — the real-server stack of
  :mod:`pystac_eds.sandbox` (needs the ``[sandbox]`` extra).
"""

from .servers import Reply, StacServer, TokenServer, sample_items

__all__ = ["Reply", "StacServer", "TokenServer", "sample_items"]
