"""Where settings come from, how they are validated, and that the secret never shows."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from pystac_eds import Credentials, CredentialsError, InsecureTransportError
from pystac_eds.settings import (
    DEFAULT_API_URL,
    NEW_FLOW_CLIENT_ID,
    NEW_FLOW_TOKEN_URL,
)

from .conftest import CANARY_SECRET

LEGACY = {
    "EDS_CLIENT_ID": "legacy-id",
    "EDS_SECRET": CANARY_SECRET,
    "EDS_AUTH_URL": "https://auth.example.com/oauth2/token",
}


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_environment_gives_all_four_settings_and_records_sources() -> None:
    env = {**LEGACY, "EDS_API_URL": "https://api.example.com/stac"}
    creds = Credentials.resolve(environ=env)
    assert (creds.client_id, creds.client_secret) == ("legacy-id", CANARY_SECRET)
    assert creds.auth_url == LEGACY["EDS_AUTH_URL"]
    assert creds.api_url == "https://api.example.com/stac"
    assert creds.sources["client_secret"] == "environment EDS_SECRET"


def test_only_the_secret_means_new_login_flow_defaults() -> None:
    creds = Credentials.resolve(environ={"EDS_SECRET": CANARY_SECRET})
    assert creds.client_id == NEW_FLOW_CLIENT_ID
    assert creds.auth_url == NEW_FLOW_TOKEN_URL
    assert creds.api_url == DEFAULT_API_URL
    assert creds.sources["auth_url"].startswith("default")


def test_bare_eds_base_url_gets_the_stac_path() -> None:
    env = {"EDS_SECRET": CANARY_SECRET, "EDS_API_URL": "https://api.earthdaily.com/"}
    assert Credentials.resolve(environ=env).api_url == DEFAULT_API_URL


def test_other_hosts_are_taken_as_given() -> None:
    env = {"EDS_SECRET": CANARY_SECRET, "EDS_API_URL": "http://127.0.0.1:8080"}
    assert Credentials.resolve(environ=env).api_url == "http://127.0.0.1:8080"


def test_precedence_arguments_then_environment_then_file(tmp_path: Path) -> None:
    env_file = write_env(tmp_path / "EDS.env", {**LEGACY, "EDS_CLIENT_ID": "from-file"})
    env = {"EDS_CLIENT_ID": "from-env"}
    creds = Credentials.resolve(env_file, environ=env)
    assert creds.client_id == "from-env"
    assert creds.client_secret == CANARY_SECRET  # only the file had it
    assert creds.sources["client_secret"] == f"EDS_SECRET in {env_file}"
    creds = Credentials.resolve(env_file, environ=env, client_id="from-arg")
    assert creds.client_id == "from-arg"
    assert creds.sources["client_id"] == "argument"


def test_eds_env_in_working_directory_is_read_without_touching_os_environ(
    tmp_path: Path,
) -> None:
    write_env(tmp_path / "EDS.env", LEGACY)
    write_env(tmp_path / ".env", {**LEGACY, "EDS_CLIENT_ID": "from-dotenv"})
    creds = Credentials.resolve(environ={}, cwd=tmp_path)
    assert creds.client_id == "legacy-id"  # EDS.env wins over .env
    assert "EDS_SECRET" not in os.environ


def test_dotenv_alone_is_read(tmp_path: Path) -> None:
    write_env(tmp_path / ".env", {"EDS_SECRET": CANARY_SECRET})
    assert Credentials.resolve(environ={}, cwd=tmp_path).client_secret == CANARY_SECRET


def test_missing_secret_names_the_setting_and_every_source(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        Credentials.resolve(environ={}, cwd=tmp_path)
    err = info.value
    assert "EDS_SECRET" in err.missing
    assert "EDS_SECRET" in str(err)
    assert any("environment" in s for s in err.sources)
    assert any("EDS.env" in s for s in err.sources)
    # What to write in code: a form that works (open() takes no client_secret=).
    assert "credentials=Credentials.resolve(client_secret=...)" in str(err)


def test_explicit_env_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="does not exist"):
        Credentials.resolve(tmp_path / "nope.env", environ={})


def test_legacy_client_id_without_token_url_says_what_to_set() -> None:
    with pytest.raises(CredentialsError) as info:
        Credentials.resolve(environ={"EDS_CLIENT_ID": "legacy", "EDS_SECRET": CANARY_SECRET})
    assert info.value.missing == ("EDS_AUTH_URL",)
    assert "legacy" in str(info.value)


def test_custom_token_url_without_client_id_is_an_error() -> None:
    env = {"EDS_SECRET": CANARY_SECRET, "EDS_AUTH_URL": "https://auth.example.com/token"}
    with pytest.raises(CredentialsError) as info:
        Credentials.resolve(environ=env)
    assert info.value.missing == ("EDS_CLIENT_ID",)


@pytest.mark.parametrize(
    ("name", "url"),
    [("EDS_AUTH_URL", "http://auth.example.com/token"), ("EDS_API_URL", "http://api.example.com")],
)
def test_plain_http_to_a_remote_host_is_refused(name: str, url: str) -> None:
    with pytest.raises(InsecureTransportError, match="plain http"):
        Credentials.resolve(environ={**LEGACY, name: url})


@pytest.mark.parametrize("url", ["ftp://x/token", "not a url", "https://"])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(CredentialsError, match="EDS_AUTH_URL"):
        Credentials.resolve(environ={**LEGACY, "EDS_AUTH_URL": url})


def test_plain_http_on_loopback_is_allowed() -> None:
    env = {
        **LEGACY,
        "EDS_AUTH_URL": "http://127.0.0.1:9/token",
        "EDS_API_URL": "http://localhost:8",
    }
    assert Credentials.resolve(environ=env).auth_url == "http://127.0.0.1:9/token"


def test_unknown_override_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="client_secrt"):
        Credentials.resolve(environ=LEGACY, client_secrt="x")


def test_bad_client_auth_is_refused() -> None:
    with pytest.raises(CredentialsError, match="EDS_CLIENT_AUTH"):
        Credentials.resolve(environ={**LEGACY, "EDS_CLIENT_AUTH": "digest"})


def test_repr_str_and_errors_never_show_the_secret() -> None:
    creds = Credentials.resolve(environ=LEGACY)
    assert CANARY_SECRET not in repr(creds)
    assert CANARY_SECRET not in str(creds)
    assert CANARY_SECRET not in f"{creds!r} {[creds]}"
    assert len(creds.secret_fingerprint) == 12
    assert creds.secret_fingerprint not in CANARY_SECRET


def test_credentials_are_frozen_hashable_and_pickle() -> None:
    creds = Credentials.resolve(environ=LEGACY)
    with pytest.raises(AttributeError):
        creds.client_id = "x"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(creds)) == creds
    assert creds == Credentials.resolve(environ=LEGACY)
    assert hash(creds) == hash(Credentials.resolve(environ=LEGACY))
