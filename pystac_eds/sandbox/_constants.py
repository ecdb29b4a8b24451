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
