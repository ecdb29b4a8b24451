"""pystac-eds: pystac-client for the EarthDaily Earth Data Store, authenticated for hours.

>>> import pystac_eds
>>> catalog = pystac_eds.open()   # a pystac_client.Client
"""

from .auth import EDSAuth
from .cache import TokenCache
from .client import open, stac_io
from .errors import CredentialsError, EDSError, InsecureTransportError, TokenError
from .settings import Credentials
from .tokens import Token

__version__ = "0.1.0"

__all__ = [
    "Credentials",
    "CredentialsError",
    "EDSAuth",
    "EDSError",
    "InsecureTransportError",
    "Token",
    "TokenCache",
    "TokenError",
    "__version__",
    "open",
    "stac_io",
]
