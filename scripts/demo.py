"""The main job: a real search through pystac_eds.open().

With EDS settings (EDS_* in the environment, or an EDS.env / .env here) it searches the
Earth Data Store. Without them it starts the offline sandbox (pystac-eds[sandbox]) on
loopback and searches that, so it works on a fresh machine with no account.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

import pystac_eds
from pystac_eds import CredentialsError, TokenCache


@contextlib.contextmanager
def settings() -> Iterator[str]:
    """Yield where the settings come from; start the sandbox when there are none."""
    try:
        credentials = pystac_eds.Credentials.resolve()
    except CredentialsError as err:
        if "EDS_SECRET" not in err.missing:
            raise
    else:
        yield f"{credentials.api_url} (your EDS_* settings)"
        return
    from pystac_eds.sandbox import Sandbox

    print("No EDS_SECRET found: starting the offline sandbox…", file=sys.stderr, flush=True)
    with Sandbox(token_ttl=3600) as sandbox:
        print(f"sandbox ready in {sandbox.startup_seconds or 0:.1f} s", file=sys.stderr)
        os.environ.update(sandbox.settings)
        os.environ.setdefault("EDS_TOKEN_CACHE", "off")
        yield f"the offline sandbox at {sandbox.settings['EDS_API_URL']}"
        print("stopping the sandbox…", file=sys.stderr, flush=True)


def main() -> int:
    with settings() as where:
        started = time.perf_counter()
        catalog = pystac_eds.open()
        print(f"Searching {where}\n")
        collections = [c.id for c in catalog.get_collections()]
        print("collections:", ", ".join(collections))
        collection = "sentinel-2-l2a" if "sentinel-2-l2a" in collections else collections[0]
        search = catalog.search(
            collections=[collection], datetime="2024-01-01/2025-12-31", max_items=10
        )
        print(f"\n{'id':<52} {'datetime':<26} cloud %")
        for item in search.items():
            when = item.datetime.isoformat(timespec="seconds") if item.datetime else "-"
            cloud = item.properties.get("eo:cloud_cover", "-")
            print(f"{item.id:<52} {when:<26} {cloud}")
        elapsed = time.perf_counter() - started
        requests = TokenCache.default().token_requests
        print(f"\n{elapsed:.2f} s, {requests} token request(s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except pystac_eds.EDSError as err:
        print(f"demo: error: {err}", file=sys.stderr)
        sys.exit(1)
