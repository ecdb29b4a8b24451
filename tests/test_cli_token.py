"""`pystac-eds token`: the fast path on a warm disk cache (no requests, no pystac-client), and
`--refresh` for a token the server revoked (#15.4, #13.11)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from pystac_eds.cache import cache_key
from pystac_eds.cli.token_command import disk_key, plain_token_options
from pystac_eds.disk import ENV_VAR
from pystac_eds.settings import NEW_FLOW_CLIENT_ID, NEW_FLOW_TOKEN_URL, Credentials
from pystac_eds.testing.servers import StacServer, TokenServer

from .test_cli import _SCRIPT, CANARY, environment, run, servers  # noqa: F401 - a fixture


@pytest.mark.parametrize(
    "creds",
    [
        Credentials(NEW_FLOW_CLIENT_ID, CANARY, NEW_FLOW_TOKEN_URL),
        Credentials("legacy-id", CANARY + "x", "https://auth.example.com/oauth2/token"),
        Credentials("ünïcode", "s\u00e9cret-with-\0-nul", "http://127.0.0.1:9/token"),
    ],
)
def test_the_fast_path_finds_the_file_the_cache_writes(creds: Credentials) -> None:
    assert disk_key(creds) == cache_key(creds)
    if "scope" in {f.name for f in dataclasses.fields(Credentials)}:  # with EDS_SCOPE
        scoped = dataclasses.replace(creds, scope="read:stac")  # type: ignore[call-arg,unused-ignore]
        assert disk_key(scoped) == cache_key(scoped) != disk_key(creds)


@pytest.fixture
def warm(
    tmp_path: Path,
    servers: tuple[TokenServer, StacServer],  # noqa: F811
) -> dict[str, str]:
    tokens, stac = servers
    return environment(tmp_path, tokens.settings(stac.url), cache=str(tmp_path / "cache"))


@pytest.mark.skipif(not _SCRIPT.exists(), reason="needs the installed console script")
@pytest.mark.parametrize("settings_in", ["environment", "EDS.env"])
def test_a_warm_token_imports_neither_requests_nor_pystac_client(
    tmp_path: Path,
    warm: dict[str, str],
    servers: tuple[TokenServer, StacServer],  # noqa: F811
    settings_in: str,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if settings_in == "EDS.env":  # as `pystac-eds sandbox --env-file EDS.env` leaves them
        settings = {k: v for k, v in warm.items() if k.startswith("EDS_") and k != ENV_VAR}
        (work / "EDS.env").write_text("".join(f"export {k}={v}\n" for k, v in settings.items()))
        warm = {k: v for k, v in warm.items() if k not in settings}
    first = run(warm, "token", cwd=work).stdout
    before = servers[0].issued
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(_SCRIPT), "token"],
        env=warm,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout == first
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "pystac_eds.disk" in imported  # the measurement works: the fast path ran
    assert ("dotenv" in imported) is (settings_in == "EDS.env")  # the file was read
    heavy = {name for name in imported if name.split(".")[0] in ("requests", "pystac_client")}
    assert heavy == set()
    assert servers[0].issued == before


def test_refresh_replaces_a_revoked_token_for_every_process(
    warm: dict[str, str],
    servers: tuple[TokenServer, StacServer],  # noqa: F811
) -> None:
    tokens = servers[0]
    old = run(warm, "token").stdout.strip()
    tokens.revoke()  # server-side: the cached token is refused from now on
    assert run(warm, "token").stdout.strip() == old  # the cache cannot know
    before = tokens.issued
    refreshed = run(warm, "token", "--refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    new = refreshed.stdout.strip()
    assert new != old and tokens.is_valid(new)
    assert tokens.issued == before + 1
    assert run(warm, "token").stdout.strip() == new  # saved for every process
    assert tokens.issued == before + 1


def test_refresh_is_explained_in_help(warm: dict[str, str]) -> None:
    text = " ".join(run(warm, "token", "--help").stdout.split())
    assert "--refresh requests a new token even though the cache holds a valid one" in text
    assert "HTTP 401" in text and "revoked" in text


@pytest.mark.parametrize(
    ("argv", "plain"),
    [
        (["token"], (None, None)),
        (["--env-file", "x.env", "--api-url=http://h/", "token"], ("x.env", "http://h/")),
        (["token", "--refresh"], None),  # argparse's
        (["-v", "token"], None),  # logging needs setting up
        (["token", "--help"], None),
        (["--env-file", "token"], None),  # argparse says what is missing
        (["--env", "x.env", "token"], None),  # an abbreviation: argparse knows them
        ([], None),
    ],
)
def test_only_a_plain_token_request_skips_argparse(
    argv: list[str], plain: tuple[str | None, str | None] | None
) -> None:
    assert plain_token_options(argv) == plain


def test_the_plain_path_reads_the_env_file(
    tmp_path: Path,
    servers: tuple[TokenServer, StacServer],  # noqa: F811
) -> None:
    tokens, stac = servers
    settings = tokens.settings(stac.url)
    env_file = tmp_path / "settings.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = environment(tmp_path, {})
    result = run(env, "--env-file", str(env_file), "token")
    assert result.returncode == 0, result.stderr
    assert tokens.is_valid(result.stdout.strip())
    missing = run(env, "--env-file", str(tmp_path / "nope.env"), "token")
    assert missing.returncode == 2 and missing.stderr.startswith("pystac-eds: error: ")
