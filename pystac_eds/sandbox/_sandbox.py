"""The :class:`Sandbox`: a local, offline, EDS-compatible stack of real servers.

    token server (Authlib)  <-- discovery + JWKS --  gateway (stac-auth-proxy)
         EDS_AUTH_URL                                     EDS_API_URL
                                                              | Unix socket
                                        asset service: api layer --> rustac (sample data,
                                                                         private network)
                                                       storage (presigned COGs, "S3")

Children run in the sandbox's private (0700) folder with ``PYTHONSAFEPATH`` set: a
module in the user's working folder named like a dependency (``h11.py``) is never
imported by a server, some of which hold secrets.

Only the standard library and requests are imported here: the servers' own packages
(the ``[sandbox]`` extra) are imported by the child processes.
"""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from ._constants import (
    ASSET_KEY_ENV,
    HEALTH_PATH,
    ISOLATED,
    ROOT_PATH,
    SECRET_ENV,
    TOKEN_PATH,
    UPSTREAM,
)
from ._orphan_guard import PARENT_ENV
from ._process import LOOPBACK, Child, check_port_free, free_port, wait_until_ready
from .errors import BackendNotIsolatedWarning, SandboxError, SandboxUnavailable

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_CLIENT_ID = "eds-sandbox-client"
#: Import names of the ``[sandbox]`` extra, checked before anything is started.
EXTRA_MODULES = (
    "authlib",
    "joserfc",
    "starlette",
    "uvicorn",
    "httpx",
    "stac_auth_proxy",
    "rustac",
)
#: EDS's presigned URLs live 12 hours.
DEFAULT_ASSET_URL_TTL = 43200.0
# What children inherit: enough to run Python. Never the user's EDS_* settings, cloud
# credentials, proxies or anything else a server could leak or be reconfigured by.
_CHILD_ENV_KEEP = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TMPDIR",
    "TEMP",
    "TMP",
    "TZ",
    "USER",
    "LOGNAME",
    "SYSTEMROOT",
    "VIRTUAL_ENV",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
)
# Starts rustac's CLI from its Python package, so no console script needs to be on PATH.
_RUSTAC = str(Path(__file__).resolve().parent / "_rustac_cli.py")
# The api layer's Unix socket, in the private folder the children run in (a relative
# name: a long TMPDIR could exceed a socket path's ~100 bytes).
_API_SOCKET = "api.sock"


def require_extra() -> None:
    """Raise :class:`SandboxUnavailable` naming the first missing package of the extra."""
    for name in EXTRA_MODULES:
        if importlib.util.find_spec(name) is None:
            raise SandboxUnavailable(name)


class Sandbox:
    """A local EDS look-alike: OAuth2 client-credentials token server, JWT-checking
    gateway, and a STAC API over shipped sample data with real pixels, all on loopback::

        import pystac_eds
        from pystac_eds.sandbox import Sandbox

        with Sandbox(token_ttl=60) as sandbox:
            settings = sandbox.settings
            credentials = pystac_eds.Credentials(
                client_id=settings["EDS_CLIENT_ID"],
                client_secret=settings["EDS_SECRET"],
                auth_url=settings["EDS_AUTH_URL"],
                api_url=settings["EDS_API_URL"],
            )
            catalog = pystac_eds.open(credentials=credentials)
            print(sorted(collection.id for collection in catalog.get_collections()))
            # ['landsat-c2l2-sr', 'sentinel-2-l2a', 'venus-l2a']

    ``token_ttl`` is the access-token lifetime in seconds (rounded up to whole seconds,
    as JWT ``exp`` is); ``asset_url_ttl`` the presigned asset URLs' (default 12 hours,
    as on EDS). ``port`` is the gateway's port (the API's); the other servers take free
    ports. Children are stopped by :meth:`stop`, on leaving the ``with``
    block, at interpreter exit, and (on Linux) when this process dies. Nothing behind the
    gateway answers without a token: the api layer listens on a Unix socket in a private
    folder, and rustac runs in a private network of the asset service's
    (:attr:`backend_isolated`; where user namespaces are refused, a
    :class:`BackendNotIsolatedWarning` says so once).
    """

    def __init__(
        self,
        token_ttl: float = 3600,
        port: int | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        data_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
        asset_url_ttl: float = DEFAULT_ASSET_URL_TTL,
    ) -> None:
        if not token_ttl > 0:
            raise ValueError(f"token_ttl must be a positive number of seconds, got {token_ttl}")
        if not asset_url_ttl > 0:
            raise ValueError(
                f"asset_url_ttl must be a positive number of seconds, got {asset_url_ttl}"
            )
        self.asset_url_ttl = asset_url_ttl
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {port}")
        self.token_ttl = token_ttl
        self.port = port
        self.client_id = client_id
        # Absolute: the servers run in another folder.
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else DATA_DIR
        self.startup_timeout = startup_timeout
        self._children: list[Child] = []
        self._settings: dict[str, str] | None = None
        self._token_origin = ""
        self._storage_url = ""
        self._log_dir: Path | None = None
        self._extra_logs: dict[str, Path] = {}
        self.backend_isolation: str | None = None
        self.startup_seconds: float | None = None

    # -- life cycle -------------------------------------------------------------------

    def start(self, *, interrupt: threading.Event | None = None) -> Sandbox:
        """Start the servers and wait until each answers. Idempotent.

        Once ``interrupt`` is set (by a signal handler, say), start-up stops the servers
        started so far and raises :class:`KeyboardInterrupt`, without waiting for the
        others to answer.
        """
        if self._settings is not None:
            return self
        require_extra()
        began = time.monotonic()
        deadline = began + self.startup_timeout
        # Registered first, so even a start-up interrupted half-way leaves nothing behind.
        atexit.register(self.stop)
        try:
            self._start(deadline, interrupt)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _start(self, deadline: float, interrupt: threading.Event | None) -> None:
        if self.port is not None:
            check_port_free(self.port)
        api_port = self.port or free_port()
        # rustac's port is picked free here too: where namespaces are refused, rustac
        # shares this network.
        token_port, stac_port, storage_port = _distinct_ports(3, taken=api_port)
        secret = secrets.token_urlsafe(32)
        token_origin = f"http://{LOOPBACK}:{token_port}"
        api_url = f"http://{LOOPBACK}:{api_port}{ROOT_PATH}"
        self._log_dir = Path(tempfile.mkdtemp(prefix="pystac-eds-sandbox-"))
        env = self._child_env()

        token = self._child(
            "token server",
            *("-m", "pystac_eds.sandbox.token_server"),
            *("--port", str(token_port), "--client-id", self.client_id),
            *("--audience", api_url, "--ttl", repr(float(self.token_ttl))),
        )
        token.start({**env, SECRET_ENV: secret})
        isolation_file = self._log_dir / "isolation"
        backend_log = self._log_dir / "rustac.log"
        self._extra_logs = {"rustac": backend_log}
        assets = self._child(
            "asset service",
            *("-m", "pystac_eds.sandbox.asset_service"),
            *("--api-socket", _API_SOCKET, "--storage-port", str(storage_port)),
            *("--backend-port", str(stac_port), "--backend-log", str(backend_log)),
            *("--isolation-file", str(isolation_file)),
            *("--startup-timeout", repr(max(deadline - time.monotonic(), 1.0))),
            *("--public-root", api_url, "--ttl", repr(float(self.asset_url_ttl))),
            *("--data-dir", str(self.data_dir)),
            *("--", sys.executable, _RUSTAC, "serve", *self._rustac_args(stac_port)),
        )
        assets.start({**env, ASSET_KEY_ENV: secrets.token_urlsafe(32)})
        # Needs neither to start: it asks the token server on the first request, and
        # its health check (below) answers only once the api layer does.
        gateway = self._child(
            "gateway",
            *("-m", "pystac_eds.sandbox.gateway", "--port", str(api_port)),
            *("--upstream-socket", _API_SOCKET),
            *("--discovery", f"{token_origin}/.well-known/openid-configuration"),
            *("--audience", api_url),
        )
        gateway.start(env)
        discovery = f"{token_origin}/.well-known/oauth-authorization-server"
        wait_until_ready(token, discovery, deadline, interrupt=interrupt)
        health = api_url + HEALTH_PATH
        wait_until_ready(gateway, health, deadline, behind=[assets], interrupt=interrupt)
        self._note_isolation(isolation_file.read_text())

        self._token_origin = token_origin
        self._storage_url = f"http://{LOOPBACK}:{storage_port}"
        self._settings = {
            "EDS_CLIENT_ID": self.client_id,
            "EDS_SECRET": secret,
            "EDS_AUTH_URL": token_origin + TOKEN_PATH,
            "EDS_API_URL": api_url,
        }

    def _note_isolation(self, report: str) -> None:
        """Keep what the asset service says about rustac's network; warn once if shared."""
        self.backend_isolation = report
        if report != ISOLATED:
            warnings.warn(
                "pystac-eds sandbox: rustac (the STAC backend) could not get a private "
                f"network ({report}); its port answers anyone on this machine without a "
                "token. The gateway still checks tokens; see docs/sandbox.md.",
                BackendNotIsolatedWarning,
                stacklevel=4,
            )

    @property
    def backend_isolated(self) -> bool:
        """True when rustac runs in a private network namespace, reachable only through
        the gateway; False when it shares this machine's loopback (see the warning)."""
        self.settings  # noqa: B018 - raises if not running
        return self.backend_isolation == ISOLATED

    def _rustac_args(self, stac_port: int) -> list[str]:
        files = sorted(self.data_dir.glob("*.json")) + sorted(self.data_dir.glob("*.ndjson"))
        if not files:
            raise SandboxError(f"no sample data (*.json, *.ndjson) in {self.data_dir}")
        return [
            # Links are written for the gateway's name of the api layer; stac-auth-proxy
            # rewrites them to the host the client asked for, plus the root path. (rustac
            # 0.9 drops any path given here from every link but root/self.)
            "--addr",
            UPSTREAM,
            "--bind",
            f"{LOOPBACK}:{stac_port}",
            *(str(path) for path in files),
        ]

    def _child(self, name: str, *args: str) -> Child:
        assert self._log_dir is not None
        slug = name.replace(" ", "-")
        child = Child(name, [sys.executable, *args], self._log_dir / f"{slug}.log", self._log_dir)
        self._children.append(child)
        return child

    @staticmethod
    def _child_env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in _CHILD_ENV_KEEP or k.startswith("LC_")}
        # Children must import this very package, even from a source checkout.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"  # log lines reach the log file (and -v) at once
        # No working folder (nor script folder) on sys.path, in rustac's process too.
        env["PYTHONSAFEPATH"] = "1"
        env[PARENT_ENV] = str(os.getpid())
        return env

    def stop(self) -> None:
        """Stop every child (gateway first). Safe to call twice, or after a failed start."""
        atexit.unregister(self.stop)
        for child in reversed(self._children):
            child.stop()
        self._children = []
        self._extra_logs = {}
        self._settings = None
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- state ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._settings is not None

    def failure(self) -> SandboxError | None:
        """An error describing the first child that has exited, if any did."""
        for child in self._children:
            code = child.exit_code()
            if code is not None:
                return child.failure(f"stopped unexpectedly with status {code}")
        return None

    @property
    def pids(self) -> list[int]:
        return [pid for child in self._children if (pid := child.pid) is not None]

    @property
    def settings(self) -> dict[str, str]:
        """``EDS_CLIENT_ID``, ``EDS_SECRET``, ``EDS_AUTH_URL``, ``EDS_API_URL``."""
        if self._settings is None:
            raise SandboxError("the sandbox is not running: call start() first")
        return dict(self._settings)

    @property
    def api_url(self) -> str:
        return self.settings["EDS_API_URL"]

    @property
    def auth_url(self) -> str:
        return self.settings["EDS_AUTH_URL"]

    @property
    def storage_url(self) -> str:
        """The origin presigned asset URLs point at (the sandbox's "S3")."""
        self.settings  # noqa: B018 - raises if not running
        return self._storage_url

    @property
    def log_paths(self) -> dict[str, Path]:
        """Each server's log file (request lines of the asset service among them)."""
        return {
            **{child.name: child.log_path for child in self._children},
            **self._extra_logs,
        }

    def stats(self) -> dict[str, int]:
        """The token server's counters: ``token_requests``, ``tokens_issued``,
        ``token_errors`` (every request to the token endpoint, whatever its outcome)."""
        self.settings  # noqa: B018 - raises if not running
        session = requests.Session()
        session.trust_env = False
        with session:
            response = session.get(f"{self._token_origin}/stats", timeout=5)
            response.raise_for_status()
            data: dict[str, Any] = response.json()
        return {key: int(value) for key, value in data.items()}

    @property
    def token_requests(self) -> int:
        """How many requests reached the token endpoint so far."""
        return self.stats()["token_requests"]

    def __repr__(self) -> str:
        state = f"api_url={self._settings['EDS_API_URL']!r}" if self._settings else "stopped"
        return f"Sandbox(token_ttl={self.token_ttl}, {state})"


def _distinct_ports(count: int, taken: int) -> list[int]:
    """``count`` free loopback ports, distinct from each other and from ``taken``."""
    for _ in itertools.count():
        ports = [free_port() for _ in range(count)]
        if len({*ports, taken}) == count + 1:
            return ports
    raise AssertionError("unreachable")  # pragma: no cover
