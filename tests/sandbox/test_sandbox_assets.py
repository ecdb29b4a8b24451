"""The sandbox's assets, as EDS serves them: presigned URLs that really expire, proxy URLs
behind the bearer, pixels equal to the source. rasterio reads a presigned URL with GDAL's
default options (no option at all), and a proxy URL with the bearer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from pystac_eds.sandbox import Sandbox
from pystac_eds.sandbox._constants import ASSET_KEY_ENV
from pystac_eds.testing import StacServer, TokenServer

from .helpers import need_extra, rustac_pid, token

pytestmark = pytest.mark.sandbox

DATA = Path(__file__).resolve().parents[2] / "pystac_eds" / "sandbox" / "data"
BOULDER = [-105.3, 39.9, -105.1, 40.1]
SUMMER = "2024-06-01T00:00:00Z/2024-08-31T23:59:59Z"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def search(sandbox: Sandbox, headers: dict[str, str], **body: Any) -> list[dict[str, Any]]:
    body = {"collections": ["sentinel-2-l2a"], "bbox": BOULDER, "datetime": SUMMER, **body}
    answer = requests.post(
        sandbox.api_url + "/search",
        json=body,
        headers={**bearer(token(sandbox.settings)), **headers},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    features: list[dict[str, Any]] = answer.json()["features"]
    assert features
    return features


def source(href: str) -> Path:
    assert href.startswith("s3://eds-sandbox-assets/")
    return DATA / "assets" / href.removeprefix("s3://eds-sandbox-assets/")


@pytest.fixture(scope="module")
def expiring_sandbox() -> Iterator[Sandbox]:
    """A sandbox whose presigned URLs live 2 seconds."""
    need_extra()
    with Sandbox(asset_url_ttl=2) as sandbox:
        yield sandbox


# -- presentation ---------------------------------------------------------------------


def test_signed_search_keeps_hrefs_and_adds_a_presigned_download(eds_sandbox: Sandbox) -> None:
    for item in search(eds_sandbox, {"X-Signed-Asset-Urls": "True"}):
        assert "visual" in item["assets"]  # the README example's asset
        for asset in item["assets"].values():
            assert asset["href"].startswith("s3://eds-sandbox-assets/")
            download = asset["alternate"]["download"]["href"]
            assert download.startswith(eds_sandbox.storage_url + "/eds-sandbox-assets/")
            query = dict(parse_qsl(urlsplit(download).query))
            assert {"AWSAccessKeyId", "Signature", "Expires", "x-amz-security-token"} == set(query)
            assert 43000 < int(query["Expires"]) - time.time() <= 43200


def test_unsigned_search_and_signed_single_item(eds_sandbox: Sandbox) -> None:
    item = search(eds_sandbox, {})[0]
    assert all("alternate" not in asset for asset in item["assets"].values())
    url = f"{eds_sandbox.api_url}/collections/sentinel-2-l2a/items/{item['id']}"
    single = requests.get(url, headers=bearer(token(eds_sandbox.settings)), timeout=10).json()
    assert "Signature=" in single["assets"]["red"]["alternate"]["download"]["href"]


def test_the_landing_page_says_it_is_the_sandbox(eds_sandbox: Sandbox) -> None:
    landing = requests.get(
        eds_sandbox.api_url + "/", headers=bearer(token(eds_sandbox.settings)), timeout=10
    ).json()
    assert "EDS sandbox" in landing["title"]


# -- presigned URLs -------------------------------------------------------------------


def test_presigned_bytes_and_ranges_equal_the_source(eds_sandbox: Sandbox) -> None:
    asset = search(eds_sandbox, {"X-Signed-Asset-Urls": "True"})[0]["assets"]["red"]
    url = asset["alternate"]["download"]["href"]
    expected = source(asset["href"]).read_bytes()
    assert requests.get(url, timeout=10).content == expected
    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206 and part.content == expected[100:200]
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(expected)
    tampered = url.replace("/red.tif", "/nir.tif")
    assert requests.get(tampered, timeout=10).status_code == 403
    no_session = url.split("&x-amz-security-token=")[0]
    assert requests.get(no_session, timeout=10).status_code == 403
    both = requests.get(url, headers=bearer(token(eds_sandbox.settings)), timeout=10)
    assert both.status_code == 400 and "Only one auth mechanism allowed" in both.text


def test_presigned_url_expires(expiring_sandbox: Sandbox) -> None:
    asset = search(expiring_sandbox, {"X-Signed-Asset-Urls": "True"})[0]["assets"]["blue"]
    url = asset["alternate"]["download"]["href"]
    expires = int(dict(parse_qsl(urlsplit(url).query))["Expires"])
    # Poll the server until it says expired (bounded): no bare sleep that could race.
    deadline = time.monotonic() + 30
    while (answer := requests.get(url, timeout=10)).status_code == 200:
        assert time.monotonic() < deadline, "never expired"
        time.sleep(0.2)
    assert time.time() >= expires
    assert answer.status_code == 403
    assert "<Code>AccessDenied</Code>" in answer.text and "Request has expired" in answer.text


# -- proxy URLs -----------------------------------------------------------------------


def test_proxy_needs_the_bearer_and_redirects_to_storage(eds_sandbox: Sandbox) -> None:
    asset = search(eds_sandbox, {"X-Proxy-Asset-Urls": "True"})[0]["assets"]["nir"]
    proxy = asset["href"]
    assert proxy.startswith(eds_sandbox.api_url + "/asset-proxy/eds-sandbox-assets/")
    assert "alternate" not in asset
    assert requests.get(proxy, timeout=10).status_code == 401
    assert requests.get(proxy, headers=bearer("forged"), timeout=10).status_code == 401
    hop = requests.get(
        proxy, headers=bearer(token(eds_sandbox.settings)), allow_redirects=False, timeout=10
    )
    assert hop.status_code == 307
    assert hop.headers["Location"].startswith(eds_sandbox.storage_url + "/")
    # requests drops the bearer on the way to another origin; storage would refuse it.
    followed = requests.get(proxy, headers=bearer(token(eds_sandbox.settings)), timeout=10)
    assert followed.status_code == 200
    key = proxy.split("/asset-proxy/eds-sandbox-assets/")[1]
    assert followed.content == (DATA / "assets" / key).read_bytes()


# -- rasterio ----------------------------------------------------------------------------


def rasterio_read(url: str, **options: str) -> Any:
    """Read with GDAL's default options plus ``options``."""
    rasterio = pytest.importorskip("rasterio")
    with rasterio.Env(**options), rasterio.open(url) as dataset:
        return dataset.read()


def test_rasterio_reads_a_presigned_url_with_gdal_default_options(short_sandbox: Sandbox) -> None:
    """No option at all, as a user's first ``rasterio.open(href)``: GDAL's first request
    is a HEAD (not on an AWS host), then ranges; it also lists the "folder" (refused).
    A sandbox of this module's own: its URLs (own port, own key) are in no GDAL cache."""
    np = pytest.importorskip("numpy")
    rasterio = pytest.importorskip("rasterio")
    asset = search(short_sandbox, {"X-Signed-Asset-Urls": "True"})[0]["assets"]["nir"]
    log = short_sandbox.log_paths["asset service"]
    before = len(log.read_text().splitlines())
    with rasterio.open(asset["alternate"]["download"]["href"]) as dataset:
        pixels = dataset.read()
    assert np.array_equal(pixels, rasterio_read(str(source(asset["href"]))))
    key = asset["href"].removeprefix("s3://")
    lines = log.read_text().splitlines()[before:]
    asked = [line.split()[0] for line in lines if line.split()[1:2] == [f"/{key}"]]
    assert asked[0] == "HEAD" and "GET" in asked, asked


def test_rasterio_reads_presigned_pixels_equal_to_the_source(eds_sandbox: Sandbox) -> None:
    np = pytest.importorskip("numpy")
    asset = search(eds_sandbox, {"X-Signed-Asset-Urls": "True"})[0]["assets"]["visual"]
    pixels = rasterio_read(asset["alternate"]["download"]["href"])
    assert np.array_equal(pixels, rasterio_read(str(source(asset["href"]))))


def test_rasterio_cannot_read_an_expired_url(expiring_sandbox: Sandbox) -> None:
    rasterio = pytest.importorskip("rasterio")
    asset = search(expiring_sandbox, {"X-Signed-Asset-Urls": "True"})[0]["assets"]["green"]
    url = asset["alternate"]["download"]["href"]
    deadline = time.monotonic() + 30
    while requests.head(url, timeout=10).status_code == 200:
        assert time.monotonic() < deadline, "never expired"
        time.sleep(0.2)
    with pytest.raises(rasterio.errors.RasterioIOError, match="403"):
        rasterio_read(url)


def test_head_on_a_proxy_url_behaves_like_get_in_the_sandbox_and_the_test_kit(
    eds_sandbox: Sandbox, eds_token_server: TokenServer, eds_stac_server: StacServer
) -> None:
    """GDAL's first request to a proxy href is a HEAD: 401 without a token, 307 with one,
    as for GET (EDS's behaviour), in the sandbox and in the test kit alike."""
    proxied = search(eds_sandbox, {"X-Proxy-Asset-Urls": "True"})[0]["assets"]["red"]["href"]
    kit_page = requests.post(
        eds_stac_server.url + "search",
        json={"limit": 1},
        headers={**bearer(eds_token_server.mint()), "X-Proxy-Asset-Urls": "True"},
        timeout=10,
    ).json()
    cases = [
        (proxied, token(eds_sandbox.settings), eds_sandbox.storage_url),
        (
            kit_page["features"][0]["assets"]["visual"]["href"],
            eds_token_server.mint(),
            eds_stac_server.assets.base_url if eds_stac_server.assets else "",
        ),
    ]
    for url, valid, storage in cases:
        for method in ("GET", "HEAD"):
            refused = requests.request(method, url, allow_redirects=False, timeout=10)
            assert refused.status_code == 401, (method, url)
            hop = requests.request(
                method, url, headers=bearer(valid), allow_redirects=False, timeout=10
            )
            assert hop.status_code == 307, (method, url, hop.status_code)
            assert hop.headers["Location"].startswith(storage + "/"), (method, url)


def test_rasterio_reads_a_proxy_url_with_a_bearer(eds_sandbox: Sandbox) -> None:
    np = pytest.importorskip("numpy")
    rasterio = pytest.importorskip("rasterio")
    asset = search(eds_sandbox, {"X-Proxy-Asset-Urls": "True"})[0]["assets"]["red"]
    with pytest.raises(rasterio.errors.RasterioIOError):
        rasterio_read(asset["href"] + "?anonymous")  # no bearer: 401
    # GDAL caches the redirect's target and would send the bearer there too, which
    # storage refuses (two auth mechanisms): so the redirect must not be reused.
    options = {
        "GDAL_HTTP_HEADERS": f"Authorization: Bearer {token(eds_sandbox.settings)}",
        "CPL_VSIL_CURL_USE_S3_REDIRECT": "NO",
    }
    pixels = rasterio_read(asset["href"], **options)
    key = asset["href"].split("/asset-proxy/eds-sandbox-assets/")[1]
    assert np.array_equal(pixels, rasterio_read(str(DATA / "assets" / key)))


def test_no_child_inherits_the_users_secrets(
    monkeypatch: pytest.MonkeyPatch, own_children: set[int]
) -> None:
    need_extra()
    planted = {
        "EDS_SECRET": "canary-SECRET-7f3a9c1e5b2d4f60",
        "EDS_CLIENT_ID": "someone",
        "AWS_SECRET_ACCESS_KEY": "aws-canary",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "DEFAULT_PUBLIC": "true",  # would unprotect stac-auth-proxy
    }
    for name, value in planted.items():
        monkeypatch.setenv(name, value)
    with Sandbox() as sandbox:
        backend = rustac_pid(sandbox.pids)  # the asset service's child
        for pid in [*sandbox.pids, backend]:
            raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            names = {entry.split(b"=", 1)[0].decode() for entry in raw if entry}
            assert not names & set(planted), (pid, names & set(planted))
            assert "PATH" in names and "HOME" in names
            # The asset service's signing key is its own: rustac starts without it.
            assert pid != backend or ASSET_KEY_ENV not in names
        with requests.Session() as session:
            session.trust_env = False  # this test's planted proxy is for the children only
            assert session.get(sandbox.api_url + "/", timeout=10).status_code == 401
