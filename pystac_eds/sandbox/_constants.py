"""Values the parent process and the servers must agree on (stdlib only: the parent
imports this without the ``[sandbox]`` extra)."""

# EDS's own token path (new login flow), so URLs in tutorials look like the real thing.
TOKEN_PATH = "/account_management/v1/authentication/api_tokens/exchange"  # noqa: S105 - a path
# EDS's path layout for the STAC API.
ROOT_PATH = "/platform/v1/stac"
# The gateway's only public path, polled to know it is up.
HEALTH_PATH = "/healthz"
# The token server reads the client secret from this variable, not argv (``ps`` shows argv).
SECRET_ENV = "PYSTAC_EDS_SANDBOX_SECRET"  # noqa: S105 - a variable name
# The asset service reads its URL-signing key from this variable (not argv either).
ASSET_KEY_ENV = "PYSTAC_EDS_SANDBOX_ASSET_KEY"
# What the asset service writes to its isolation file when rustac runs in a private
# network; anything else there says why it does not.
ISOLATED = "isolated"
# The gateway's name for the api layer behind it, in requests and in the links rustac
# writes: the connection goes to a Unix socket, and stac-auth-proxy rewrites links on this
# host to whatever host the client used (127.0.0.1, localhost) plus ROOT_PATH. A
# ``.invalid`` host (RFC 6761) fails at once should anything try it over the network.
UPSTREAM = "http://asset-service.invalid"
