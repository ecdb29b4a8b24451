"""gdal_env(): GDAL options that let rasterio, odc-stac and stackstac read EDS proxy URLs.

EDS proxy hrefs (``asset_access="proxy"``) need ``Authorization: Bearer <token>`` and
answer ``307`` to a presigned URL. What this sets up, and why:

* the token sits in a private header file (see :mod:`pystac_eds.header_file`) that a
  thread rewrites before the token expires, so reads go on for hours; the options hold
  no token;
* the header file is attached only to URLs under the API's origin (and ``origins``), as
  a GDAL path-specific option (``VSISetPathSpecificOption``, GDAL >= 3.6) set in each
  reading process. That holds for the whole process, inside an ``Env`` or not, so what
  keeps the bearer away from the ``307`` target must hold for the whole process too
  (:data:`PROCESS_OPTIONS`, set with ``CPLSetConfigOption``; path-specific values of
  those two are not read by GDAL 3.10):

  - ``CPL_VSIL_CURL_USE_S3_REDIRECT=NO``: GDAL would otherwise remember a 307 target
    that looks like an S3 URL and send later reads straight there *with* the header
    file's bearer;
  - ``CPL_VSIL_CURL_USE_HEAD=NO``: GDAL would send ``HEAD`` first; S3 refuses it on a URL
    signed for ``GET``, and GDAL then retries with ``GET`` straight at the 307 target,
    again with the bearer (and without that retry the read fails);
* loopback origins get ``GDAL_HTTP_PROXY`` and ``GDAL_HTTPS_PROXY`` set to "" (path-
  specific): curl would otherwise send the bearer, in clear text, through an
  ``http_proxy``/``ALL_PROXY`` of the environment. Loopback traffic never goes through a
  proxy; other origins keep the user's proxy (https: the proxy only sees a tunnel);
* ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` in the options: no directory listings of
  the proxy.

Where the path-specific function cannot be reached, all of that goes into the returned
options instead, with the header file itself, and GDAL sends the bearer to every URL
read in that Env (a warning says so).

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
from ._libgdal import config_option_setter, curl_cache_clearer, path_option_setter
from .cache import TokenCache, cache_key
from .errors import CredentialsError
from .settings import Credentials, check_url, is_loopback

log = logging.getLogger(__name__)

#: The options gdal_env() returns (for the Env that reads proxy hrefs).
ENV_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
#: Set for the whole process by gdal_env() (see the module docstring). Not in the
#: returned options: rasterio deletes an Env's options when a nested Env exits, which
#: would take these with them.
PROCESS_OPTIONS = {"CPL_VSIL_CURL_USE_S3_REDIRECT": "NO", "CPL_VSIL_CURL_USE_HEAD": "NO"}
#: Set path-specifically for loopback origins: no environment proxy.
NO_PROXY_OPTIONS = {"GDAL_HTTP_PROXY": "", "GDAL_HTTPS_PROXY": ""}
HEADER_FILE_OPTION = "GDAL_HTTP_HEADER_FILE"
_VSICURL = "/vsicurl/"
_DEFAULT_PORTS = {"https": 443, "http": 80}


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

    Changes two GDAL options for the whole process (``CPL_VSIL_CURL_USE_S3_REDIRECT`` and
    ``CPL_VSIL_CURL_USE_HEAD``, both ``NO``): see :mod:`pystac_eds.gdal` for why.
    """
    creds = credentials if credentials is not None else Credentials.resolve(env_file)
    prefixes = _prefixes(creds.api_url, origins)
    _forget_earlier_answers(prefixes)
    options = dict(ENV_OPTIONS)
    header = install(creds, prefixes, cache)
    if header is not None:
        _register_on_dask(dask_client, creds, prefixes)
        return options
    log.warning(
        "GDAL's path-specific options are not available (rasterio with GDAL >= 3.6 is "
        "needed); the EDS token will be sent to every URL read in this GDAL Env."
    )
    fallback = header_file.ensure_fresh(creds, cache)
    options.update(PROCESS_OPTIONS)  # the header file is in this Env only: so are these
    if any(_is_loopback_prefix(prefix) for prefix in prefixes):
        options.update(NO_PROXY_OPTIONS)
    options[HEADER_FILE_OPTION] = str(fallback.path)
    return options


#: Prefixes whose cached GDAL answers this process has cleared (once is enough).
_cleared: set[str] = set()


def _forget_earlier_answers(prefixes: list[str]) -> None:
    """GDAL remembers a URL's answer for the whole process, a ``401`` included: a proxy
    href read once without these options (the natural first try in a notebook) would
    stay refused under them. Cleared the first time a prefix is set up, not on every
    call: the cache is what makes repeated reads fast."""
    clear = curl_cache_clearer()
    if clear is None:
        return
    for prefix in set(prefixes) - _cleared:
        clear(prefix)
        _cleared.add(prefix)


def install(
    credentials: Credentials, prefixes: list[str], cache: TokenCache | None = None
) -> header_file.HeaderFile | None:
    """Attach this process's fresh header file to URLs under ``prefixes``, with the
    process-wide and path-specific options that keep the bearer there; ``None`` if
    path-specific options are unavailable (nothing is changed then)."""
    set_option, set_config = path_option_setter(), config_option_setter()
    if set_option is None or set_config is None:
        return None
    for key, value in PROCESS_OPTIONS.items():  # before the bearer is attached anywhere
        set_config(key, value)
    header = header_file.ensure_fresh(credentials, cache)
    for prefix in prefixes:
        if _is_loopback_prefix(prefix):
            for key, value in NO_PROXY_OPTIONS.items():
                set_option(prefix, key, value)
        set_option(prefix, HEADER_FILE_OPTION, str(header.path))
    return header


def _prefixes(api_url: str, origins: Iterable[str]) -> list[str]:
    """The ``/vsicurl/`` prefixes of the API's origin and of ``origins``, validated as
    settings validate URLs (one parser for all)."""
    if isinstance(origins, str):
        raise CredentialsError("gdal_env(origins=...) takes a list of origins, not one string.")
    result = _origin_prefixes(api_url, "the API URL")
    for origin in origins:
        parts = urlsplit(check_url(origin, "gdal_env(origins=...)", carries="EDS token"))
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise CredentialsError(
                f"gdal_env(origins=...) takes origins (scheme://host[:port]), got {origin!r}: "
                "the token goes to the whole origin, so leave the path out."
            )
        result += _origin_prefixes(origin, "gdal_env(origins=...)")
    return list(dict.fromkeys(result))


def _origin_prefixes(url: str, setting: str) -> list[str]:
    parts = urlsplit(check_url(url, setting, carries="EDS token"))
    netloc = parts.netloc.lower()
    if parts.port not in (None, _DEFAULT_PORTS[parts.scheme]):
        return [f"{_VSICURL}{parts.scheme}://{netloc}/"]
    # The default port written out or not: one origin, two spellings GDAL tells apart.
    host = netloc.rsplit(":", 1)[0] if parts.port is not None else netloc
    port = _DEFAULT_PORTS[parts.scheme]
    return [f"{_VSICURL}{parts.scheme}://{host}/", f"{_VSICURL}{parts.scheme}://{host}:{port}/"]


def _is_loopback_prefix(prefix: str) -> bool:
    return is_loopback(urlsplit(prefix[len(_VSICURL) :]).hostname)


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
