"""A local, offline EarthDaily Earth Data Store look-alike for tutorials and tests.

Real servers on loopback, each a child process: an Authlib OAuth2 token server
(client credentials in, RFC 9068 JWTs out), stac-auth-proxy checking those JWTs,
``rustac serve`` over sample data shipped in this package, and an asset service that
presents assets as EDS does (presigned ``alternate.download.href``, bearer-checked proxy
URLs) and serves the sample COGs behind presigned URLs that expire. Needs the
``[sandbox]`` extra; importing this module does not (only starting a sandbox does).

    from pystac_eds.sandbox import Sandbox
    with Sandbox(token_ttl=60, asset_url_ttl=30) as sandbox:
        sandbox.settings   # EDS_CLIENT_ID, EDS_SECRET, EDS_AUTH_URL, EDS_API_URL

Known limits (rustac 0.9): GET ``/search`` with ``collections`` or ``bbox`` answers 500
(POST, pystac-client's default, works); ``sortby`` is ignored, ``query`` and ``filter``
match nothing; no ``numberMatched``. See docs/sandbox.md.
"""

from __future__ import annotations

from ._sandbox import Sandbox, require_extra
from .command import main
from .errors import SandboxError, SandboxUnavailable

__all__ = ["Sandbox", "SandboxError", "SandboxUnavailable", "main", "require_extra"]
