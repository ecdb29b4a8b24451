"""The sandbox's gateway (stac-auth-proxy) against forged bearer tokens (#13, "Withstood").

A real gateway child trusts an issuer whose signing key this test holds, so each forgery
below differs from a token the gateway accepts in exactly one respect; the accepted one
is checked first, so every 401 means the gateway refused that one thing. Tokens of
another real sandbox, and the loopback-only binding of every server, are checked too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

# The forgeries are made with the sandbox's own JOSE library: without the [sandbox] extra
# (Python 3.10, or a bare install) there is no gateway to attack either.
pytest.importorskip("joserfc", reason="needs the [sandbox] extra")
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from pystac_eds.sandbox import Sandbox
from pystac_eds.sandbox._constants import HEALTH_PATH, ROOT_PATH
from pystac_eds.sandbox._process import Child, free_port, wait_until_ready

from .helpers import listening_addresses, need_extra, rustac_pid, token

pytestmark = pytest.mark.sandbox
_ROOT = str(Path(__file__).resolve().parents[2])


class Documents(ThreadingHTTPServer):
    """Serves fixed JSON documents by path on 127.0.0.1 and records every path asked."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _DocumentHandler)
        self.documents: dict[str, Any] = {}
        self.asked: list[str] = []
        self.origin = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _DocumentHandler(BaseHTTPRequestHandler):
    server: Documents

    def do_GET(self) -> None:
        self.server.asked.append(self.path)
        document = self.server.documents.get(self.path)
        body = json.dumps(document).encode()
        self.send_response(200 if document is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class UnixUpstream(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The gateway's upstream, on a Unix socket as the api layer is: 200 to every GET."""

    daemon_threads = True

    def __init__(self, path: Path) -> None:
        super().__init__(str(path), _UpstreamHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _UpstreamHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"collections": [], "links": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _rsa_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True)
    key.ensure_kid()
    return key


class Rig:
    """A gateway child trusting ``issuer`` (key :attr:`key`), for audience :attr:`audience`."""

    def __init__(self, tmp: Path) -> None:
        self.key = _rsa_key()
        self.issuer = Documents()
        self.attacker = Documents()  # a JWKS a forged ``jku`` points at
        self.attacker_key = _rsa_key()
        self.attacker.documents["/jwks.json"] = KeySet([self.attacker_key]).as_dict(private=False)
        origin = self.issuer.origin
        self.issuer.documents["/.well-known/openid-configuration"] = {
            "issuer": origin,
            "jwks_uri": origin + "/jwks.json",
            "token_endpoint": origin + "/token",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }
        self.issuer.documents["/jwks.json"] = KeySet([self.key]).as_dict(private=False)
        self.upstream = UnixUpstream(tmp / "api.sock")
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}{ROOT_PATH}"
        self.audience = self.api_url
        self.gateway = Child(
            "gateway",
            [
                sys.executable,
                *("-m", "pystac_eds.sandbox.gateway", "--port", str(port)),
                *("--upstream-socket", "api.sock"),
                *("--discovery", origin + "/.well-known/openid-configuration"),
                *("--audience", self.audience),
            ],
            tmp / "gateway.log",
            cwd=tmp,
        )
        self.gateway.start({"PATH": os.environ.get("PATH", ""), "PYTHONPATH": _ROOT})
        wait_until_ready(self.gateway, self.api_url + HEALTH_PATH, time.monotonic() + 60)

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer.origin,
            "sub": "eds-sandbox-client",
            "client_id": "eds-sandbox-client",
            "aud": self.audience,
            "iat": now,
            "exp": now + 600,
            "jti": "forged",
        }
        claims.update(changes)
        return claims

    def signed(self, header: dict[str, Any] | None = None, **changes: Any) -> str:
        header = {"alg": "RS256", "typ": "at+jwt", "kid": self.key.kid, **(header or {})}
        return jwt.encode(header, self.claims(**changes), self.key)

    def status(self, value: str) -> int:
        response = requests.get(
            self.api_url + "/collections",
            headers={"Authorization": f"Bearer {value}"},
            timeout=10,
        )
        return response.status_code

    def close(self) -> None:
        self.gateway.stop()
        for server in (self.upstream, self.issuer, self.attacker):
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    need_extra()
    rig = Rig(tmp_path_factory.mktemp("gateway"))
    try:
        yield rig
    finally:
        rig.close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def test_the_rig_accepts_a_genuine_token(rig: Rig) -> None:
    # Without this, every 401 below could be the rig's fault rather than the gateway's.
    assert rig.status(rig.signed()) == 200


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(rig: Rig, alg: str) -> None:
    unsigned = _unsigned({"alg": alg, "typ": "at+jwt", "kid": rig.key.kid}, rig.claims())
    for value in (unsigned + ".", unsigned + "." + _b64(b"x")):
        assert rig.status(value) == 401


def test_hs256_keyed_with_the_public_key_is_refused(rig: Rig) -> None:
    """The classic key confusion: HMAC with the RSA public key, which anyone can fetch."""
    public_pem = rig.key.as_pem(private=False)
    for secret in (public_pem, public_pem.strip()):
        signing_input = _unsigned(
            {"alg": "HS256", "typ": "at+jwt", "kid": rig.key.kid}, rig.claims()
        )
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert rig.status(f"{signing_input}.{_b64(signature)}") == 401


def test_jku_header_is_not_followed(rig: Rig) -> None:
    forged = jwt.encode(
        {
            "alg": "RS256",
            "typ": "at+jwt",
            "kid": rig.attacker_key.kid,
            "jku": rig.attacker.origin + "/jwks.json",
        },
        rig.claims(),
        rig.attacker_key,
    )
    assert rig.status(forged) == 401
    assert rig.attacker.asked == []  # the gateway never fetched the attacker's keys


def test_embedded_jwk_header_is_not_trusted(rig: Rig) -> None:
    public = rig.attacker_key.as_dict(private=False)
    forged = jwt.encode(
        {"alg": "RS256", "typ": "at+jwt", "kid": rig.key.kid, "jwk": public},
        rig.claims(),
        rig.attacker_key,
    )
    assert rig.status(forged) == 401


@pytest.mark.parametrize(
    "aud", ["http://127.0.0.1:1/platform/v1/stac", "eds-sandbox-client", ["someone-else"], ""]
)
def test_wrong_audience_is_refused(rig: Rig, aud: Any) -> None:
    assert rig.status(rig.signed(aud=aud)) == 401


def test_missing_audience_is_refused(rig: Rig) -> None:
    claims = rig.claims()
    del claims["aud"]
    header = {"alg": "RS256", "typ": "at+jwt", "kid": rig.key.kid}
    assert rig.status(jwt.encode(header, claims, rig.key)) == 401


def test_expired_token_is_refused(rig: Rig) -> None:
    past = int(time.time()) - 3600
    assert rig.status(rig.signed(iat=past - 600, exp=past)) == 401


def test_tampered_payload_is_refused(rig: Rig) -> None:
    header, _, signature = rig.signed(aud="someone-else").split(".")
    payload = _b64(json.dumps(rig.claims()).encode())  # the right audience, old signature
    assert rig.status(f"{header}.{payload}.{signature}") == 401


def test_another_sandboxs_token_is_refused(eds_sandbox: Sandbox, own_children: set[int]) -> None:
    with Sandbox() as other:
        mine, theirs = token(eds_sandbox.settings), token(other.settings)
        for api, value, expected in (
            (eds_sandbox.api_url, mine, 200),
            (eds_sandbox.api_url, theirs, 401),
            (other.api_url, mine, 401),
            (other.api_url, theirs, 200),
        ):
            response = requests.get(
                api + "/collections", headers={"Authorization": f"Bearer {value}"}, timeout=10
            )
            assert response.status_code == expected, (api, expected)


def test_every_server_listens_on_loopback_only(eds_sandbox: Sandbox) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    pids = [*eds_sandbox.pids, rustac_pid(eds_sandbox.pids)]
    seen = {pid: listening_addresses(pid) for pid in pids}
    # token server, asset service (storage; the api layer has a Unix socket), gateway, rustac
    assert sorted(len(addresses) for addresses in seen.values()) == [1, 1, 1, 1], seen
    assert {address for addresses in seen.values() for address, _ in addresses} == {"127.0.0.1"}
