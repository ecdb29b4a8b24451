"""gdal_env and its header file: content, privacy, refresh timing, scoping, bad input."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import pystac_eds
from pystac_eds import _libgdal, gdal, header_file
from pystac_eds.cache import TokenCache
from pystac_eds.errors import CredentialsError, EDSError, InsecureTransportError
from pystac_eds.settings import Credentials
from pystac_eds.testing import TokenServer
from pystac_eds.tokens import Token

from .clock import FakeClock

pytest.importorskip("rasterio")


@pytest.fixture(autouse=True)
def _no_refreshers_left() -> Iterator[None]:
    yield
    header_file.stop_all()


def creds(api_url: str = "https://api.example/stac/") -> Credentials:
    return Credentials(
        client_id="id", client_secret="s" * 20, auth_url="https://auth.example/t", api_url=api_url
    )


def scripted_cache(clock: FakeClock, lifetime: float = 100.0) -> TokenCache:
    counter = iter(range(1, 1000))

    def fetch(_: Credentials) -> Token:
        return Token(f"tok-{next(counter)}", expires_at=clock() + lifetime, issued_at=clock())

    return TokenCache(clock=clock, fetch=fetch, store=None)


# -- the header file -------------------------------------------------------------------------


def test_header_file_is_private_and_holds_only_the_bearer_header(tmp_path: Path) -> None:
    clock = FakeClock(1_000_000.0)
    (tmp_path / "f").mkdir()
    header = header_file.HeaderFile(tmp_path / "f" / "h", creds(), scripted_cache(clock))
    header.refresh()
    assert header.path.read_text() == "Authorization: Bearer tok-1\n"
    assert stat.S_IMODE(header.path.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "f").iterdir()] == ["h"]  # no temporary file left


def test_header_file_is_rewritten_a_margin_before_expiry_not_earlier(tmp_path: Path) -> None:
    clock = FakeClock(1_000_000.0)
    header = header_file.HeaderFile(tmp_path / "h", creds(), scripted_cache(clock, 100.0))
    wake = header.refresh()
    assert wake == pytest.approx(clock.now + 75.0)  # margin: a quarter of a 100 s token
    clock.now = wake - 1
    header.refresh()
    assert (header.writes, header.path.read_text()) == (1, "Authorization: Bearer tok-1\n")
    clock.now = wake
    next_wake = header.refresh()
    # rewritten while tok-1 is still valid for another 25 s
    assert (header.writes, header.path.read_text()) == (2, "Authorization: Bearer tok-2\n")
    assert next_wake == pytest.approx(clock.now + 75.0)


def test_a_removed_header_file_is_written_again(tmp_path: Path) -> None:
    clock = FakeClock(1_000_000.0)
    header = header_file.HeaderFile(tmp_path / "h", creds(), scripted_cache(clock))
    header.refresh()
    header.path.unlink()
    header.refresh()
    assert header.path.read_text() == "Authorization: Bearer tok-1\n"


def test_rewrite_replaces_the_file_atomically(tmp_path: Path) -> None:
    # A reader holding the old file keeps reading the old content (rename, not truncate).
    clock = FakeClock(1_000_000.0)
    header = header_file.HeaderFile(tmp_path / "h", creds(), scripted_cache(clock))
    header.refresh()
    with open(header.path) as old:
        clock.now += 1000
        header.refresh()
        assert old.read() == "Authorization: Bearer tok-1\n"
    assert header.path.read_text() == "Authorization: Bearer tok-2\n"


def test_a_token_that_would_inject_a_header_is_refused(tmp_path: Path) -> None:
    clock = FakeClock(1_000_000.0)

    def fetch(_: Credentials) -> Token:
        return Token("ok\r\nX-Evil: 1", expires_at=clock() + 100, issued_at=clock())

    cache = TokenCache(clock=clock, fetch=fetch, store=None)
    header = header_file.HeaderFile(tmp_path / "h", creds(), cache)
    with pytest.raises(EDSError, match="cannot send as a header"):
        header.refresh()
    assert not header.path.exists()


# -- gdal_env ---------------------------------------------------------------------------------


def test_gdal_env_without_credentials_is_a_credentials_error() -> None:
    with pytest.raises(CredentialsError):
        pystac_eds.gdal_env()


def test_gdal_env_options_hold_no_token_and_scope_the_header_file(
    eds_token_server: TokenServer, eds_token_cache: TokenCache
) -> None:
    api = "http://127.0.0.1:9/stac/"
    options = pystac_eds.gdal_env(eds_token_server.credentials(api), cache=eds_token_cache)
    assert options == {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
    (token,) = eds_token_server.issued_tokens
    assert token not in repr(options)
    get = _libgdal.path_option_getter()
    assert get is not None
    path = get("/vsicurl/http://127.0.0.1:9/proxy/x.tif", "GDAL_HTTP_HEADER_FILE")
    assert path is not None
    assert Path(path).read_text() == f"Authorization: Bearer {token}\n"
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    # another host, another port, another scheme: no header file
    for other in ("http://127.0.0.2:9/x.tif", "http://127.0.0.1:99/x.tif", "https://127.0.0.1:9/"):
        assert get(f"/vsicurl/{other}", "GDAL_HTTP_HEADER_FILE") is None


def test_gdal_env_header_file_lives_in_the_token_cache_folder(
    eds_token_server: TokenServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EDS_TOKEN_CACHE", str(tmp_path / "cache"))
    pystac_eds.gdal_env(eds_token_server.credentials("http://127.0.0.1:9/"))
    (header,) = (tmp_path / "cache").rglob("gdal-*.headers")  # where the tokens are
    assert stat.S_IMODE(header.parent.stat().st_mode) == 0o700
    assert header.read_text().startswith("Authorization: Bearer eds-test-")
    header_file.stop_all()
    assert not header.exists()  # removed when the process is done with it


def test_gdal_env_extra_origins_must_be_https_or_loopback(eds_token_server: TokenServer) -> None:
    credentials = eds_token_server.credentials("http://127.0.0.1:9/")
    with pytest.raises(InsecureTransportError):
        pystac_eds.gdal_env(credentials, origins=["http://assets.example"])
    assert eds_token_server.issued == 0  # refused before any token request


@pytest.mark.parametrize(
    "origin",
    [
        "ftp://assets.example",
        "https://a b.example",  # whitespace
        "https://assets.example\\@evil.example",  # a backslash
        "http://[fe80::1%25eth0]:9",  # a zone id
        "https://assets.example:99999",
        "https://user@assets.example",
        "https://assets.example/some/path",  # the token would go to the whole origin
        "https://assets.example/?q=1",
        "https://",
    ],
)
def test_gdal_env_refuses_an_origin_url_parsers_would_read_differently(
    eds_token_server: TokenServer, origin: str
) -> None:
    # The same validation as the settings' URLs: every parser reads what passes alike.
    credentials = eds_token_server.credentials("http://127.0.0.1:9/")
    with pytest.raises(CredentialsError, match="origins"):
        pystac_eds.gdal_env(credentials, origins=[origin])
    assert eds_token_server.issued == 0


def test_gdal_env_origins_must_be_a_list(eds_token_server: TokenServer) -> None:
    credentials = eds_token_server.credentials("http://127.0.0.1:9/")
    with pytest.raises(CredentialsError, match="list of origins"):
        pystac_eds.gdal_env(credentials, origins="https://assets.example")


def test_an_origin_with_or_without_its_default_port_covers_both_spellings(
    eds_token_server: TokenServer, eds_token_cache: TokenCache
) -> None:
    credentials = eds_token_server.credentials("http://127.0.0.1:9/")
    pystac_eds.gdal_env(
        credentials, cache=eds_token_cache, origins=["https://Assets.Example:443", "https://[::1]"]
    )
    get = _libgdal.path_option_getter()
    assert get is not None
    for href in ("https://assets.example/x.tif", "https://assets.example:443/x.tif"):
        assert get(f"/vsicurl/{href}", "GDAL_HTTP_HEADER_FILE") is not None, href
    for href in ("https://[::1]/x.tif", "https://[::1]:443/x.tif"):
        assert get(f"/vsicurl/{href}", "GDAL_HTTP_HEADER_FILE") is not None, href
    assert get("/vsicurl/https://assets.example:8443/x.tif", "GDAL_HTTP_HEADER_FILE") is None


def test_without_path_specific_options_the_header_file_is_global_and_we_say_so(
    eds_token_server: TokenServer,
    eds_token_cache: TokenCache,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(gdal, "path_option_setter", lambda: None)
    with caplog.at_level(logging.WARNING, logger="pystac_eds.gdal"):
        options = pystac_eds.gdal_env(
            eds_token_server.credentials("http://127.0.0.1:9/"), cache=eds_token_cache
        )
    assert "sent to every URL" in caplog.text
    assert Path(options["GDAL_HTTP_HEADER_FILE"]).read_text().startswith("Authorization: Bearer")


def test_stopping_one_refresher_leaves_the_others(eds_token_server: TokenServer) -> None:
    first = eds_token_server.credentials("http://127.0.0.1:9/")
    second = eds_token_server.credentials("http://127.0.0.1:10/", client_id="other")
    eds_token_server.client_id = "other"  # (the server accepts one id at a time)
    kept = header_file.ensure_fresh(second)
    eds_token_server.client_id = first.client_id
    dropped = header_file.ensure_fresh(first)
    header_file.stop(first)
    assert not dropped.path.exists() and kept.path.exists()
    assert header_file.ensure_fresh(second) is kept


def test_two_caches_of_the_same_credentials_get_two_files(eds_token_server: TokenServer) -> None:
    credentials = eds_token_server.credentials("http://127.0.0.1:9/")
    shared = header_file.ensure_fresh(credentials)
    own = header_file.ensure_fresh(credentials, TokenCache(store=None))
    assert own.path != shared.path
    header_file.stop(credentials)  # the default cache's refresher only
    assert not shared.path.exists()
    assert own.path.read_text().startswith("Authorization: Bearer eds-test-")
