"""The command line speaks a shell user's words: options and variables, never the Python
arguments the library's own messages name (``env_file=``, ``client_secret=``, "Looked
at: arguments"); and every command gives the same advice for the same failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pystac_eds import settings
from pystac_eds.disk import ENV_VAR
from pystac_eds.testing.servers import StacServer, TokenServer

from .test_cli import CANARY, environment, flat, run, servers  # noqa: F401 - a fixture

#: Python's words, which a shell user cannot act on.
PYTHON_WORDS = ("env_file", "client_secret=", "arguments", "argument")


def assert_shell_words(text: str) -> None:
    for word in PYTHON_WORDS:
        assert word not in text, f"{word!r} in {text!r}"


@pytest.fixture
def env(tmp_path: Path, servers: tuple[TokenServer, StacServer]) -> dict[str, str]:  # noqa: F811
    tokens, stac = servers
    return environment(tmp_path, tokens.settings(stac.url))


def error_of(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line, without its prefix."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pystac-eds: error: "), result.stderr
    return lines[0].removeprefix("pystac-eds: error: ")


# ---------------------------------------------------------------------------------------
# A refused loopback token URL: the same question from every command (#15.2)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("token",), ("collections",), ("search", "--max-items", "1")])
def test_a_refused_loopback_token_url_asks_whether_the_sandbox_runs(
    env: dict[str, str], command: tuple[str, ...]
) -> None:
    result = run({**env, "EDS_AUTH_URL": "http://127.0.0.1:9/oauth/token"}, *command)
    assert result.returncode == 1
    message = error_of(result)
    assert message.startswith("Could not connect to the token URL http://127.0.0.1:9/oauth/token")
    assert message.endswith(
        "Is `pystac-eds sandbox` (or your local server) running? Start it, or check EDS_AUTH_URL."
    )
    assert "your network connection" not in message  # the library's generic hint


# ---------------------------------------------------------------------------------------
# Settings errors in the command line's words
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [("nope.env", "no such file"), ("folder", "is a folder; name the settings file in it")],
)
def test_a_missing_env_file_names_the_option(
    tmp_path: Path, env: dict[str, str], name: str, problem: str
) -> None:
    (tmp_path / "folder").mkdir()
    path = str(tmp_path / name)
    for command in (("token",), ("collections",)):
        result = run(env, "--env-file", path, *command)
        assert result.returncode == 2
        assert error_of(result) == f"--env-file {path}: {problem}."
    checked = run(env, "--env-file", path, "check")
    assert checked.returncode == 2
    assert f"[FAIL] settings: --env-file {path}: {problem}." in checked.stdout


def test_no_secret_lists_only_places_a_shell_user_can_set(tmp_path: Path) -> None:
    result = run(environment(tmp_path, {}), "token", cwd=tmp_path)
    assert result.returncode == 2
    message = error_of(result)
    assert message.startswith("no EDS secret found: set EDS_SECRET")
    assert "Looked at: environment (" in message and "EDS.env, .env in the working" in message
    assert "`pystac-eds sandbox --env-file EDS.env`" in message
    assert_shell_words(message)


def test_a_legacy_client_id_without_its_token_url_lists_shell_places(tmp_path: Path) -> None:
    settings = {"EDS_CLIENT_ID": "legacy-client", "EDS_SECRET": CANARY}
    result = run(environment(tmp_path, settings), "collections", cwd=tmp_path)
    assert result.returncode == 2
    message = error_of(result)
    assert message.startswith("EDS_CLIENT_ID is set but EDS_AUTH_URL is not")
    assert "Looked at: environment (" in message
    assert_shell_words(message)


def test_an_untrusted_dot_env_is_explained_with_the_option(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # The secret comes from the environment; a ./.env found by chance redirects it.
    (tmp_path / ".env").write_text("EDS_CLIENT_ID=x\nEDS_AUTH_URL=http://127.0.0.1:9/steal\n")
    env = {k: v for k, v in env.items() if k not in ("EDS_AUTH_URL", "EDS_CLIENT_ID")}
    result = run(env, "token", cwd=tmp_path)
    assert result.returncode == 2
    message = error_of(result)
    assert message.startswith(
        "EDS_AUTH_URL comes from .env, a file found in the working directory, but EDS_SECRET "
        "comes from the environment: pystac-eds does not send the secret to a URL"
    )
    assert "If you trust .env, pass --env-file .env or export EDS_AUTH_URL" in message
    assert "EDS_AUTH_URL comes from EDS_AUTH_URL" not in message
    assert_shell_words(message)
    checked = run(env, "check", cwd=tmp_path)
    assert "pass --env-file .env" in flat(checked.stdout)
    assert_shell_words(checked.stdout)


def test_a_bad_api_url_option_is_named_as_the_option(env: dict[str, str]) -> None:
    result = run(env, "--api-url", "http://stac.example.com/v1", "collections")
    assert result.returncode == 2
    assert error_of(result).startswith("--api-url='http://stac.example.com/v1' uses plain http")
    # Without the option, the variable is what to fix.
    plain = run({**env, "EDS_API_URL": "http://stac.example.com/v1"}, "collections")
    assert error_of(plain).startswith("EDS_API_URL='http://stac.example.com/v1' uses plain http")


# ---------------------------------------------------------------------------------------
# Every setting is visible: in check's table and in --help (#15.2)
# ---------------------------------------------------------------------------------------


def test_check_shows_the_scope_and_client_auth_settings_when_set(env: dict[str, str]) -> None:
    result = run({**env, "EDS_SCOPE": "read:stac", "EDS_CLIENT_AUTH": "post"}, "check")
    assert result.returncode == 0, result.stdout
    rows = {line.split()[0] + " " + line.split()[1]: line for line in result.stdout.splitlines()}
    assert rows["scope read:stac"].endswith("from environment EDS_SCOPE")
    assert rows["client auth"].split()[2:] == ["post", "from", "environment", "EDS_CLIENT_AUTH"]
    unscoped = run(env, "check")
    assert not any(line.split()[:1] == ["scope"] for line in unscoped.stdout.splitlines())


def test_help_lists_every_setting(env: dict[str, str]) -> None:
    text = run(env, "--help").stdout
    section = text.split("settings (", 1)[1].split("\n\n", 1)[0]
    names = [line.split()[0] for line in section.splitlines()[1:]]
    # Every variable the settings read, and the cache's: a new setting must be listed.
    assert sorted(names) == sorted({*settings._SETTINGS.values(), ENV_VAR})
