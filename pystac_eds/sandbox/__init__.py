"""A local, offline EarthDaily Earth Data Store look-alike for tutorials and tests.

Three real servers on loopback, each a child process: an Authlib OAuth2 token server
(client credentials in, RFC 9068 JWTs out), stac-auth-proxy checking those JWTs, and
``rustac serve`` over sample data shipped in this package. Needs the ``[sandbox]``
extra; importing this module does not (only starting a sandbox does).

    from pystac_eds.sandbox import Sandbox
    with Sandbox(token_ttl=60) as sandbox:
        sandbox.settings   # EDS_CLIENT_ID, EDS_SECRET, EDS_AUTH_URL, EDS_API_URL

Known limits: no asset signing (``X-Signed-Asset-Urls`` is ignored; hrefs point to an
unreachable ``.invalid`` host), and rustac answers GET ``/search`` with ``collections``
or ``bbox`` with a 500 (POST, pystac-client's default, works).
"""

from __future__ import annotations

from ._sandbox import Sandbox, require_extra
from .command import main
from .errors import SandboxError, SandboxUnavailable

__all__ = ["Sandbox", "SandboxError", "SandboxUnavailable", "main", "require_extra"]
