"""The pytest plugin's fixtures, used exactly as the README shows users."""

from __future__ import annotations

import os
import select
import socket
import time

import pytest

import pystac_eds
from pystac_eds import Credentials, TokenCache
from pystac_eds.testing import AssetServer, Reply, StacServer, TokenServer


def test_eds_env_sets_the_settings_for_one_test(
    eds_env: dict[str, str], eds_stac_server: StacServer
) -> None:
    assert os.environ["EDS_API_URL"] == eds_stac_server.url
    assert os.environ["EDS_TOKEN_CACHE"] == "off"
    catalog = pystac_eds.open()
    assert len(list(catalog.search(collections=["sentinel-2-l2a"]).items())) == 95


def test_token_outage_is_retried(
    eds_token_server: TokenServer, eds_credentials: Credentials
) -> None:
    eds_token_server.script.append(Reply(503, {"error": "temporarily_unavailable"}))
    token = pystac_eds.EDSAuth(eds_credentials, cache=TokenCache()).token()
    assert eds_token_server.is_valid(token)
    assert len(eds_token_server.requests) == 2


def test_the_stac_server_refuses_requests_without_its_tokens(eds_stac_server: StacServer) -> None:
    import requests

    assert requests.get(eds_stac_server.url, timeout=5).status_code == 401
    assert eds_stac_server.rejected == 1


@pytest.mark.parametrize(
    "fixture",
    [
        "eds_token_server",
        "eds_asset_server",
        "eds_stac_server",
        "eds_credentials",
        "eds_env",
        "eds_token_cache",
    ],
)
def test_fixtures_are_registered_by_the_entry_point(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    assert request.getfixturevalue(fixture) is not None


def test_presigned_assets_of_the_stac_server_are_served_by_the_asset_server(
    eds_token_server: TokenServer, eds_stac_server: StacServer, eds_asset_server: AssetServer
) -> None:
    import requests

    headers = {
        "Authorization": f"Bearer {eds_token_server.mint()}",
        "X-Signed-Asset-Urls": "True",
    }
    page = requests.post(
        eds_stac_server.url + "search", json={"limit": 1}, headers=headers, timeout=5
    ).json()
    asset = page["features"][0]["assets"]["visual"]
    assert asset["href"].startswith("s3://")  # as stored, like EDS
    eds_asset_server.put(asset["href"], b"pixels")
    download = asset["alternate"]["download"]["href"]
    assert requests.get(download, timeout=5).content == b"pixels"


def test_a_burst_of_connections_is_queued_not_dropped() -> None:
    # 32 client threads with a 10-connection pool open connections in bursts; with
    # socketserver's backlog of 5 the kernel dropped some while the accept loop was not
    # scheduled, and those clients got "connection reset" (a flaky 32-thread test).
    # Before start() the server listens but accepts nothing: the burst must wait in the
    # kernel's queue, every handshake complete, and every request be answered once it runs.
    burst = 64
    server = TokenServer()  # listening, not yet accepting
    clients = [socket.socket() for _ in range(burst)]
    try:
        for client in clients:
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", server.port))
        pending = set(clients)
        deadline = time.monotonic() + 10  # loopback handshakes take microseconds
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], list(pending), [], 0.1)
            pending -= {c for c in writable if not c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)}
        assert not pending, f"{len(pending)} of {burst} connections were not queued"
        server.start()
        for client in clients:
            client.setblocking(True)
            client.settimeout(30)
            client.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert client.recv(12).startswith(b"HTTP/1.")
    finally:
        for client in clients:
            client.close()
        server.stop()
