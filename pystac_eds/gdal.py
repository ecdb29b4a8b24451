"""gdal_env(): GDAL options that let rasterio, odc-stac and stackstac read EDS proxy URLs.

EDS proxy hrefs (``asset_access="proxy"``) need ``Authorization: Bearer <token>`` and
answer ``307`` to a presigned URL. What this sets up, and why:

* the token sits in a private header file (see :mod:`pystac_eds.header_file`) that a
  thread rewrites before the token expires, so reads go on for hours; the options hold
  no token;
* the header file is attached only to URLs under the API's origin (and ``origins``), as
  a GDAL path-specific option (``VSISetPathSpecificOption``, GDAL >= 3.6) set in each
  reading process; other hosts never see the token. Where that function cannot be
  reached, the options name the header file themselves and GDAL sends it to every URL
  read in that Env (a warning says so);
* ``CPL_VSIL_CURL_USE_S3_REDIRECT=NO``: GDAL would otherwise remember the 307 target
  and send later range reads straight there *with* the header file's bearer, which S3
  refuses (two auth mechanisms) and which leaks the token to the storage host;
* ``CPL_VSIL_CURL_USE_HEAD=NO``: a presigned URL signs GET only, so the HEAD GDAL sends
  first would be refused;
* ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR``: no directory listings of the proxy.

On a ``distributed`` cluster each worker process needs the same set-up: ``gdal_env``
registers a worker plugin on ``dask_client`` (default: the current client, if one
exists) that does it on every worker, present and future, through the shared disk token
cache.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import header_file
from ._libgdal import path_option_setter
from .cache import TokenCache, cache_key
from .errors import EDSError, InsecureTransportError
from .settings import Credentials, is_loopback

log = logging.getLogger(__name__)

#: Options that do not depend on the token (see the module docstring for each).
STATIC_OPTIONS = {
    "CPL_VSIL_CURL_USE_S3_REDIRECT": "NO",
    "CPL_VSIL_CURL_USE_HEAD": "NO",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
}
HEADER_FILE_OPTION = "GDAL_HTTP_HEADER_FILE"


def gdal_env(
    credentials: Credentials | None = None,
    *,
    env_file: str | os.PathLike[str] | None = None,
    cache: TokenCache | None = None,
    origins: Iterable[str] = (),
    dask_client: Any = None,
) -> dict[str, str]:
    """GDAL config options for reading EDS proxy URLs with a bearer that stays valid.

    For ``rasterio.Env(**gdal_env())``, ``odc.stac.configure_rio(**gdal_env())`` or
    stackstac's ``gdal_env=stackstac.DEFAULT_GDAL_ENV.updated(always=gdal_env())``. The token
    is sent only to the API's origin and to ``origins`` (extra ``https://host[:port]``
    origins, or ``http://`` on loopback). Credentials come as for :func:`pystac_eds.open`;
    none → :class:`~pystac_eds.CredentialsError`. The first token is fetched now, so a
    wrong secret fails here rather than inside GDAL.
    """
    creds = credentials if credentials is not None else Credentials.resolve(env_file)
    prefixes = _prefixes(creds.api_url, origins)
    options = dict(STATIC_OPTIONS)
    header = install(creds, prefixes, cache)
    if header is not None:
        _register_on_dask(dask_client, creds, prefixes)
        return options
    log.warning(
        "GDAL's path-specific options are not available (rasterio with GDAL >= 3.6 is "
        "needed); the EDS token will be sent to every URL read in this GDAL Env."
    )
    fallback = header_file.ensure_fresh(creds, cache)
    options[HEADER_FILE_OPTION] = str(fallback.path)
    return options


def install(
    credentials: Credentials, prefixes: list[str], cache: TokenCache | None = None
) -> header_file.HeaderFile | None:
    """Attach this process's fresh header file to URLs under ``prefixes``; ``None`` if
    path-specific options are unavailable (nothing is changed then)."""
    set_option = path_option_setter()
    if set_option is None:
        return None
    header = header_file.ensure_fresh(credentials, cache)
    for prefix in prefixes:
        set_option(prefix, HEADER_FILE_OPTION, str(header.path))
    return header


def _prefixes(api_url: str, origins: Iterable[str]) -> list[str]:
    result = []
    for url in (api_url, *origins):
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("https", "http") or not host or "@" in parts.netloc:
            raise EDSError(f"Not an origin to send the EDS token to: {url!r}.")
        if parts.scheme == "http" and not is_loopback(host):
            raise InsecureTransportError(
                f"Refusing to send the EDS token over plain http to {host}; use https."
            )
        result.append(f"/vsicurl/{parts.scheme}://{parts.netloc.lower()}/")
    return list(dict.fromkeys(result))


# -- dask ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WorkerSetup:
    """What a worker needs to run :func:`install` (pickled to it; holds no token)."""

    credentials: Credentials
    prefixes: tuple[str, ...]

    def __call__(self) -> None:
        if install(self.credentials, list(self.prefixes)) is None:
            log.warning("worker cannot scope GDAL options; EDS proxy reads will get 401")

    def stop(self) -> None:
        header_file.stop(self.credentials)


def _register_on_dask(dask_client: Any, credentials: Credentials, prefixes: list[str]) -> None:
    if dask_client is None:
        if "distributed" not in sys.modules:
            return  # dask.distributed was never imported: there is no cluster to set up
        from distributed import default_client

        try:
            dask_client = default_client()  # type: ignore[no-untyped-call,unused-ignore]
        except ValueError:  # no client in this process
            return
    from .gdal_dask import GDALWorkerPlugin

    setup = _WorkerSetup(credentials, tuple(prefixes))
    plugin = GDALWorkerPlugin(setup, setup.stop)
    name = f"pystac-eds-gdal-{cache_key(credentials)[:16]}"
    dask_client.register_plugin(plugin, name=name)
