"""The pytest plugin's fixtures, used exactly as the README shows users."""

from __future__ import annotations

import os
import re
import select
import socket
import time
from pathlib import Path
from typing import Any

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


def test_the_plugin_is_registered_by_its_entry_point(request: pytest.FixtureRequest) -> None:
    from pystac_eds.testing import plugin

    # Loaded by pytest from the pytest11 entry point, not by a conftest of this project.
    assert request.config.pluginmanager.get_plugin("pystac_eds") is plugin


def test_eds_token_server_issues_tokens(eds_token_server: TokenServer) -> None:
    import requests

    answer = requests.post(
        eds_token_server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(eds_token_server.client_id, eds_token_server.client_secret),
        timeout=5,
    )
    assert answer.status_code == 200
    assert eds_token_server.is_valid(answer.json()["access_token"])


def test_eds_asset_server_serves_what_was_put_through_presigned_urls(
    eds_asset_server: AssetServer,
) -> None:
    import requests

    eds_asset_server.put("s3://bucket/scene/red.tif", b"pixels")
    url = eds_asset_server.presign("s3://bucket/scene/red.tif")
    assert url.startswith(eds_asset_server.base_url + "/bucket/scene/red.tif?")
    assert "Signature=" in url and eds_asset_server.ttl == 12 * 3600
    assert requests.get(url, timeout=5).content == b"pixels"
    unsigned = requests.get(eds_asset_server.base_url + "/bucket/scene/red.tif", timeout=5)
    assert unsigned.status_code == 403
    assert [seen.status for seen in eds_asset_server.seen] == [200, 403]


def test_eds_stac_server_uses_the_token_and_asset_servers(
    eds_stac_server: StacServer, eds_token_server: TokenServer, eds_asset_server: AssetServer
) -> None:
    import requests

    assert eds_stac_server.tokens is eds_token_server
    assert eds_stac_server.assets is eds_asset_server
    headers = {"Authorization": f"Bearer {eds_token_server.mint()}"}
    search = eds_stac_server.url + "search"
    counts = {
        name: requests.get(search, params={"collections": name}, headers=headers, timeout=5).json()[
            "numberMatched"
        ]
        for name in ("sentinel-2-l2a", "landsat-c2l2-sr")
    }
    assert counts == {"sentinel-2-l2a": 95, "landsat-c2l2-sr": 30}  # as the guide says
    assert requests.get(eds_stac_server.url, timeout=5).status_code == 401


def test_eds_credentials_and_eds_env_point_at_the_two_servers(
    eds_credentials: Credentials,
    eds_env: dict[str, str],
    eds_token_server: TokenServer,
    eds_stac_server: StacServer,
) -> None:
    assert eds_credentials == eds_token_server.credentials(eds_stac_server.url)
    assert eds_env == eds_token_server.settings(eds_stac_server.url)
    assert {name: os.environ[name] for name in eds_env} == eds_env
    assert os.environ["EDS_TOKEN_CACHE"] == "off"


def test_eds_token_cache_is_fresh_and_in_memory(
    eds_token_cache: TokenCache, eds_credentials: Credentials, eds_token_server: TokenServer
) -> None:
    assert isinstance(eds_token_cache, TokenCache) and eds_token_cache.store is None
    assert eds_token_cache is not TokenCache.default()
    auth = pystac_eds.EDSAuth(eds_credentials, cache=eds_token_cache)
    assert auth.token() == auth.token()  # cached: one token for both
    assert len(eds_token_server.requests) == 1


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


def test_the_pixel_example_of_the_testing_guide(
    eds_env: dict[str, str], eds_asset_server: AssetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The example reads with GDAL's defaults, which the eds_asset_server fixture makes work
    # in-process; a regression would make GDAL wait on the server: give up soon, not in 2 min.
    pytest.importorskip("rasterio")
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "10")
    page = Path(__file__).resolve().parents[1] / "docs" / "how-to" / "testing.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    (example,) = [block for block in blocks if "def test_my_code_reads_the_pixels" in block]
    namespace: dict[str, Any] = {}
    exec(compile(example, f"{page}:pixels", "exec"), namespace)  # noqa: S102 - our own docs
    namespace["test_my_code_reads_the_pixels"](eds_env, eds_asset_server)
    assert eds_asset_server.seen and {seen.status for seen in eds_asset_server.seen} <= {200, 206}
