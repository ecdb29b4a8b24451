"""The test kit's asset service over loopback HTTP: S3-like presigned storage
(AssetServer) and EDS-shaped asset presentation and proxy (StacServer)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from pystac_eds.testing import AssetServer, StacServer, TokenServer

from .clock import FakeClock

#: Mid-2025: every URL signed at this time has long expired by the real clock.
MID_2025 = 1_750_000_000.0

HREF = "s3://eds-test/sentinel-2-l2a/00000.tif"
DATA = bytes(range(256)) * 40  # 10 240 bytes, every offset distinguishable


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MID_2025)


@pytest.fixture
def storage(clock: FakeClock) -> Iterator[AssetServer]:
    with AssetServer(ttl=60, clock=clock, files={HREF: DATA}) as server:
        yield server


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def error_code(response: requests.Response) -> str:
    text = response.text
    return text[text.index("<Code>") + 6 : text.index("</Code>")]


# -- presigned storage ------------------------------------------------------------------


def test_presigned_url_has_the_s3_query_auth_shape(storage: AssetServer) -> None:
    url = storage.presign(HREF)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == storage.base_url
    assert parts.path == "/eds-test/sentinel-2-l2a/00000.tif"
    query = dict(parse_qsl(parts.query))
    assert set(query) == {"AWSAccessKeyId", "Signature", "Expires"}
    assert int(query["Expires"]) == int(storage.clock() + 60)


def test_get_head_and_ranges(storage: AssetServer) -> None:
    url = storage.presign(HREF)
    whole = requests.get(url, timeout=5)
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Type"] == "image/tiff"

    head = requests.head(url, timeout=5)  # what GDAL sends first with its defaults
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(DATA))

    cases = {"bytes=16-31": (16, 31), "bytes=10000-": (10000, 10239), "bytes=-40": (10200, 10239)}
    for header, (first, last) in cases.items():
        part = requests.get(url, headers={"Range": header}, timeout=5)
        assert part.status_code == 206, header
        assert part.content == DATA[first : last + 1], header
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    clamped = requests.get(url, headers={"Range": "bytes=10000-99999"}, timeout=5)
    assert clamped.content == DATA[10000:]

    past = requests.get(url, headers={"Range": "bytes=20000-"}, timeout=5)
    assert past.status_code == 416 and error_code(past) == "InvalidRange"
    assert past.headers["Content-Range"] == f"bytes */{len(DATA)}"


def test_expired_url_is_access_denied(storage: AssetServer, clock: FakeClock) -> None:
    url = storage.presign(HREF)
    clock.now += 60  # the last valid second
    assert requests.get(url, headers={"Range": "bytes=0-3"}, timeout=5).status_code == 206
    clock.now += 1
    for method in ("GET", "HEAD"):
        response = requests.request(method, url, timeout=5)
        assert response.status_code == 403, method
    response = requests.get(url, timeout=5)
    assert response.headers["Content-Type"] == "application/xml"
    assert error_code(response) == "AccessDenied"
    assert "<Message>Request has expired</Message>" in response.text
    assert "<Expires>" in response.text and "<ServerTime>" in response.text


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"Expires": "9999999999"}, "SignatureDoesNotMatch"),
        ({"Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "SignatureDoesNotMatch"),
        ({"AWSAccessKeyId": "SOMEONEELSE"}, "InvalidAccessKeyId"),
        ({"Expires": "soon"}, "AccessDenied"),
        ({"Signature": ""}, "AccessDenied"),
    ],
)
def test_tampered_url_is_refused(storage: AssetServer, change: dict[str, str], code: str) -> None:
    response = requests.get(with_query(storage.presign(HREF), **change), timeout=5)
    assert response.status_code == 403
    assert error_code(response) == code


def test_signature_covers_the_key(storage: AssetServer) -> None:
    storage.put("s3://eds-test/other.tif", b"secret pixels")
    url = storage.presign(HREF).replace("/00000.tif", "/../other.tif")
    assert requests.get(url, timeout=5).status_code == 403
    swapped = storage.presign(HREF).replace("sentinel-2-l2a/00000.tif", "other.tif")
    assert error_code(requests.get(swapped, timeout=5)) == "SignatureDoesNotMatch"


# -- SigV4, as strict as S3 -----------------------------------------------------------------


@pytest.fixture
def sigv4(clock: FakeClock) -> Iterator[AssetServer]:
    with AssetServer(ttl=60, clock=clock, files={HREF: DATA}, signature="v4") as server:
        yield server


def test_sigv4_urls_have_the_shape_gdal_and_pystac_eds_recognise(sigv4: AssetServer) -> None:
    from pystac_eds.assets import url_expiry

    url = sigv4.presign(HREF)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert {"X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders"} <= set(query)
    assert query["X-Amz-Expires"] == "60" and len(query["X-Amz-Signature"]) == 64
    expiry = url_expiry(url)
    assert expiry is not None and expiry.timestamp() == int(sigv4.clock()) + 60


def test_sigv4_url_opens_get_only_and_expires(sigv4: AssetServer, clock: FakeClock) -> None:
    url = sigv4.presign(HREF)
    part = requests.get(url, headers={"Range": "bytes=16-31"}, timeout=5)
    assert part.status_code == 206 and part.content == DATA[16:32]
    head = requests.head(url, timeout=5)  # the signature covers the method, as on S3
    assert head.status_code == 403
    assert error_code(requests.get(url, headers={"Authorization": "Bearer x"}, timeout=5)) == (
        "InvalidArgument"  # two auth mechanisms
    )
    clock.now += 61
    expired = requests.get(url, timeout=5)
    assert expired.status_code == 403 and "Request has expired" in expired.text


@pytest.mark.parametrize(
    "change",
    [
        {"X-Amz-Expires": "3600"},
        {"X-Amz-Date": "20300101T000000Z"},
        {"X-Amz-Signature": "0" * 64},
        {"X-Amz-Credential": "SOMEONEELSE/20250615/us-east-1/s3/aws4_request"},
    ],
)
def test_tampered_sigv4_url_is_refused(sigv4: AssetServer, change: dict[str, str]) -> None:
    response = requests.get(with_query(sigv4.presign(HREF), **change), timeout=5)
    assert response.status_code == 403
    assert error_code(response) == "SignatureDoesNotMatch"


def test_sigv4_signature_covers_the_key(sigv4: AssetServer) -> None:
    sigv4.put("s3://eds-test/other.tif", b"secret pixels")
    swapped = sigv4.presign(HREF).replace("sentinel-2-l2a/00000.tif", "other.tif")
    assert error_code(requests.get(swapped, timeout=5)) == "SignatureDoesNotMatch"


def test_a_session_token_is_signed_and_required() -> None:
    with AssetServer(files={HREF: DATA}, session_token="FwoGZXIvYXdzEXAMPLE") as server:
        url = server.presign(HREF)
        assert dict(parse_qsl(urlsplit(url).query))["x-amz-security-token"] == (
            "FwoGZXIvYXdzEXAMPLE"
        )
        assert requests.get(url, timeout=5).content == DATA
        dropped = requests.get(url.split("&x-amz-security-token=")[0], timeout=5)
        assert dropped.status_code == 403 and error_code(dropped) == "InvalidToken"
        changed = requests.get(with_query(url, **{"x-amz-security-token": "other"}), timeout=5)
        assert changed.status_code == 403


def test_unsigned_and_missing(storage: AssetServer) -> None:
    unsigned = requests.get(f"{storage.base_url}/eds-test/sentinel-2-l2a/00000.tif", timeout=5)
    assert unsigned.status_code == 403 and error_code(unsigned) == "AccessDenied"
    missing = requests.get(storage.presign("s3://eds-test/nope.tif"), timeout=5)
    assert missing.status_code == 404 and error_code(missing) == "NoSuchKey"
    put = requests.put(storage.presign(HREF), data=b"x", timeout=5)
    assert put.status_code == 405


def test_a_bearer_with_a_presigned_query_is_refused_as_s3_does(storage: AssetServer) -> None:
    response = requests.get(
        storage.presign(HREF), headers={"Authorization": "Bearer abc"}, timeout=5
    )
    assert response.status_code == 400
    assert error_code(response) == "InvalidArgument"
    assert "Only one auth mechanism allowed" in response.text
    assert storage.seen[-1].headers["Authorization"] == "Bearer abc"  # recorded for asserts


# -- the STAC API presents assets like EDS ----------------------------------------------


@pytest.fixture
def api(eds_token_server: TokenServer, storage: AssetServer) -> Iterator[StacServer]:
    with StacServer(eds_token_server, assets=storage, root_path="/platform/v1/stac") as server:
        yield server


def bearer(tokens: TokenServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.mint()}"}


def first_asset(api: StacServer, headers: dict[str, str]) -> dict[str, object]:
    page = requests.post(api.url + "search", json={"limit": 1}, headers=headers, timeout=5)
    asset: dict[str, object] = page.json()["features"][0]["assets"]["visual"]
    return asset


def test_signed_header_adds_a_readable_download_alternate(
    api: StacServer, storage: AssetServer, eds_token_server: TokenServer
) -> None:
    headers = {**bearer(eds_token_server), "X-Signed-Asset-Urls": "True"}
    asset = first_asset(api, headers)
    assert asset["href"] == HREF  # as stored, like EDS
    download = asset["alternate"]["download"]["href"]  # type: ignore[index]
    assert download.startswith(storage.base_url + "/eds-test/") and "Signature=" in download
    assert requests.get(download, timeout=5).content == DATA


def test_no_header_leaves_hrefs_raw_and_proxy_header_points_at_the_api(
    api: StacServer, eds_token_server: TokenServer
) -> None:
    raw = first_asset(api, bearer(eds_token_server))
    assert raw == {"href": HREF}
    proxied = first_asset(api, {**bearer(eds_token_server), "X-Proxy-Asset-Urls": "True"})
    assert proxied["href"] == api.url + "asset-proxy/eds-test/sentinel-2-l2a/00000.tif"
    assert "alternate" not in proxied


def test_a_single_item_is_signed_by_default(api: StacServer, eds_token_server: TokenServer) -> None:
    url = api.url + "collections/sentinel-2-l2a/items/sentinel-2-l2a-00000"
    item = requests.get(url, headers=bearer(eds_token_server), timeout=5).json()
    assert "Signature=" in item["assets"]["visual"]["alternate"]["download"]["href"]
    assert any("alternate-assets" in ext for ext in item["stac_extensions"])
    unsigned = requests.get(
        url, headers={**bearer(eds_token_server), "X-Signed-Asset-Urls": "False"}, timeout=5
    ).json()
    assert unsigned["assets"]["visual"] == {"href": HREF}
    missing = requests.get(url + "x", headers=bearer(eds_token_server), timeout=5)
    assert missing.status_code == 404


def test_proxy_checks_the_bearer_and_redirects_to_a_fresh_presigned_url(
    api: StacServer, storage: AssetServer, eds_token_server: TokenServer, clock: FakeClock
) -> None:
    proxy = api.url + "asset-proxy/eds-test/sentinel-2-l2a/00000.tif"
    assert requests.get(proxy, timeout=5).status_code == 401
    refused = requests.get(proxy, headers={"Authorization": "Bearer forged"}, timeout=5)
    assert refused.status_code == 401
    revoked = bearer(eds_token_server)
    eds_token_server.revoke()
    assert requests.get(proxy, headers=revoked, timeout=5).status_code == 401

    clock.now += 3600  # proxy URLs do not expire; each redirect is signed afresh
    hop = requests.get(proxy, headers=bearer(eds_token_server), allow_redirects=False, timeout=5)
    assert hop.status_code == 307
    assert int(dict(parse_qsl(urlsplit(hop.headers["Location"]).query))["Expires"]) == int(
        clock.now + 60
    )
    assert requests.head(proxy, headers=bearer(eds_token_server), timeout=5).status_code == 307

    # requests drops the bearer on a redirect to another origin: storage never sees it.
    storage.seen.clear()
    followed = requests.get(proxy, headers=bearer(eds_token_server), timeout=5)
    assert followed.status_code == 200 and followed.content == DATA
    assert storage.seen and all("Authorization" not in r.headers for r in storage.seen)
    # A client that carries the bearer across the redirect is caught.
    forwarded = requests.get(hop.headers["Location"], headers=bearer(eds_token_server), timeout=5)
    assert forwarded.status_code == 400


def test_without_an_asset_server_urls_have_the_shape_but_lead_nowhere(
    eds_token_server: TokenServer,
) -> None:
    with StacServer(eds_token_server) as server:
        headers = {**bearer(eds_token_server), "X-Signed-Asset-Urls": "True"}
        asset = first_asset(server, headers)
    download = asset["alternate"]["download"]["href"]  # type: ignore[index]
    assert download.startswith("http://127.0.0.1:9/eds-test/") and "Signature=" in download


def test_head_answers_have_no_body_even_when_refused(api: StacServer) -> None:
    """GDAL probes with HEAD on a kept-alive connection: a body after a HEAD answer would
    be read as the start of the next answer. Two pipelined requests show it for sure."""
    path = urlsplit(api.url).path + "asset-proxy/eds-test/x.tif"
    requests_ = (
        f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        sock.sendall(requests_.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    first, rest = received.split(b"\r\n\r\n", 1)
    assert first.startswith(b"HTTP/1.1 401") and b"Content-Length: 24" in first
    assert rest.startswith(b"HTTP/1.1 401"), rest[:40]
