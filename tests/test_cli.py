"""The ``pystac-eds`` command line, driven as a user drives it: the installed console
script in a subprocess, settings in its environment, against the loopback servers."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pystac_eds.cli import main
from pystac_eds.cli.check import clock_skew, short_class
from pystac_eds.cli.progress import Progress
from pystac_eds.cli.search import read_geometry
from pystac_eds.settings import NEW_FLOW_CLIENT_ID, NEW_FLOW_TOKEN_URL, Credentials, legacy_hint
from pystac_eds.testing.servers import Reply, StacServer, TokenServer

CANARY = "canary-CLI-SECRET-5e1f0b7a9d3c2468"
_SCRIPT = Path(sys.executable).parent / "pystac-eds"
#: The installed console script when there is one (a venv), else the same entry point.
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pystac_eds.cli"]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[TokenServer, StacServer]]:
    with TokenServer(client_secret=CANARY) as tokens, StacServer(tokens) as stac:
        yield tokens, stac


def environment(tmp_path: Path, settings: dict[str, str], cache: str = "off") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
    return {**env, **settings, "EDS_TOKEN_CACHE": cache}


@pytest.fixture
def env(tmp_path: Path, servers: tuple[TokenServer, StacServer]) -> dict[str, str]:
    tokens, stac = servers
    return environment(tmp_path, tokens.settings(stac.url))


def run(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*COMMAND, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    # Whatever the command and outcome: never the secret, never a traceback.
    assert CANARY not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


def flat(text: str) -> str:
    """The check report without its line wrapping."""
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------
# help, token
# ---------------------------------------------------------------------------------------


def test_help_shows_commands_and_examples(env: dict[str, str]) -> None:
    result = run(env, "--help")
    assert result.returncode == 0
    for word in ("token", "check", "collections", "search", "sandbox", "examples:"):
        assert word in result.stdout


def test_no_command_is_a_usage_error(env: dict[str, str]) -> None:
    assert run(env).returncode == 2


def test_token_prints_exactly_an_issued_token(
    env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    result = run(env, "token")
    assert result.returncode == 0, result.stderr
    value = result.stdout.removesuffix("\n")
    assert result.stdout == value + "\n" and value.strip() == value
    assert servers[0].is_valid(value)
    assert result.stderr == ""


def test_token_comes_from_the_shared_disk_cache(
    tmp_path: Path, servers: tuple[TokenServer, StacServer]
) -> None:
    tokens, stac = servers
    env = environment(tmp_path, tokens.settings(stac.url), cache=str(tmp_path / "cache"))
    before = tokens.issued
    first, second = run(env, "token"), run(env, "token")
    assert first.stdout == second.stdout
    assert tokens.issued == before + 1  # the second process read the first one's token


def test_token_with_a_rejected_secret_fails_in_one_line(
    env: dict[str, str],
) -> None:
    result = run({**env, "EDS_SECRET": CANARY + "-wrong"}, "token")
    assert result.returncode == 2  # a setting must change
    assert result.stdout == ""
    assert result.stderr.startswith("pystac-eds: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "EDS_SECRET" in result.stderr


# ---------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------


def test_check_passes_on_good_settings(env: dict[str, str]) -> None:
    result = run(env, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "All checks passed" in out
    assert "from environment EDS_SECRET" in out and "fingerprint" in out
    assert "client auth HTTP Basic" in out
    assert "conformance: 6 classes" in out and "item-search" in out
    assert "collections: 2" in out
    assert "[FAIL]" not in out


def test_check_names_the_api_url_option_as_a_source(
    env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    wrong = {**env, "EDS_API_URL": "http://127.0.0.1:9/"}
    result = run(wrong, "--api-url", servers[1].url, "check")
    assert result.returncode == 0, result.stdout
    assert "from --api-url" in result.stdout


def test_check_rejected_secret(env: dict[str, str]) -> None:
    result = run({**env, "EDS_SECRET": "not-the-" + CANARY}, "check")
    assert result.returncode == 2  # as `check --help` says: a setting must change
    assert "[ ok ] token URL reachable" in result.stdout
    assert "[FAIL] credentials accepted" in result.stdout
    assert "client id or secret was rejected" in flat(result.stdout)
    assert "check failed at 'credentials accepted'" in result.stderr
    assert "STAC API" not in result.stdout.split("[FAIL]")[1]  # stopped at the first failure


def test_check_html_token_url(tmp_path: Path, servers: tuple[TokenServer, StacServer]) -> None:
    with TokenServer(client_secret=CANARY) as tokens:
        tokens.script.append(Reply(200, "<html><body>Please log in</body></html>"))
        result = run(environment(tmp_path, tokens.settings(servers[1].url)), "check")
    assert result.returncode == 2
    assert "[FAIL] credentials accepted" in result.stdout
    assert "HTML page" in flat(result.stdout) and "EDS_AUTH_URL" in result.stdout


def test_check_missing_settings(tmp_path: Path, env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "EDS_SECRET"}
    result = run(env, "check", cwd=tmp_path)  # no EDS.env there
    assert result.returncode == 2
    assert "[FAIL] settings" in result.stdout
    report = flat(result.stdout)
    assert "no EDS secret found: set EDS_SECRET" in report and "EDS.env" in report
    # Shell advice, not Python's (client_secret=), and a way to try without an account.
    assert "client_secret=" not in report and "pystac-eds sandbox" in report


def test_check_reads_an_env_file(
    tmp_path: Path, env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    (tmp_path / "EDS.env").write_text(f"EDS_SECRET={CANARY}\n")
    env = {k: v for k, v in env.items() if k != "EDS_SECRET"}
    result = run(env, "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert f"from EDS_SECRET in {tmp_path / 'EDS.env'}" in flat(result.stdout)


def test_check_api_url_pointing_at_the_token_url(
    env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    result = run({**env, "EDS_API_URL": servers[0].token_url}, "check")
    assert result.returncode == 2
    assert "points at a token endpoint" in flat(result.stdout)


def test_check_html_instead_of_the_stac_api(
    env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    # The token server answers GET with http.server's HTML error page, like a proxy would.
    result = run({**env, "EDS_API_URL": servers[0].base_url + "/stac"}, "check")
    assert result.returncode == 1
    assert "[FAIL] STAC API reachable" in result.stdout and "HTML page" in flat(result.stdout)


def test_check_unreachable_token_url(env: dict[str, str]) -> None:
    result = run({**env, "EDS_AUTH_URL": "http://127.0.0.1:9/oauth/token"}, "check")
    assert result.returncode == 1
    assert "[FAIL] token URL reachable" in result.stdout


# ---------------------------------------------------------------------------------------
# collections, search
# ---------------------------------------------------------------------------------------


def test_collections_table(env: dict[str, str]) -> None:
    result = run(env, "collections")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "TITLE"]
    assert lines[1].split()[0] == "sentinel-2-l2a" and lines[1].endswith("Sentinel 2 L2A")
    assert lines[2].split()[0] == "landsat-c2l2-sr"
    titles = ("TITLE", "Sentinel", "Landsat")
    assert len({line.index(t) for line, t in zip(lines, titles, strict=True)}) == 1


def test_collections_json(env: dict[str, str]) -> None:
    result = run(env, "collections", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [c["id"] for c in data] == ["sentinel-2-l2a", "landsat-c2l2-sr"]
    assert data[0]["stac_version"] == "1.0.0"  # as the API sent it


def test_search_max_items(env: dict[str, str]) -> None:
    result = run(env, "search", "-c", "sentinel-2-l2a", "--max-items", "25", "--limit", "10")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["type"] == "FeatureCollection"
    assert len(data["features"]) == 25
    assert len({f["id"] for f in data["features"]}) == 25


def test_search_matched(env: dict[str, str]) -> None:
    result = run(env, "search", "-c", "sentinel-2-l2a", "--matched")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "95\n"


def test_search_ndjson_streams_one_item_per_line(env: dict[str, str]) -> None:
    result = run(env, "search", "--collections", "landsat-c2l2-sr", "--ndjson", "--method", "get")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 30
    assert all(json.loads(line)["collection"] == "landsat-c2l2-sr" for line in lines)
    assert result.stderr == ""  # no progress line: stderr is not a terminal


def test_search_save(tmp_path: Path, env: dict[str, str]) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "items.geojson"
    result = run(env, "search", "--ids", "sentinel-2-l2a-00003", "--save", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert [f["id"] for f in json.loads(target.read_text())["features"]] == ["sentinel-2-l2a-00003"]
    assert [p.name for p in folder.iterdir()] == ["items.geojson"]  # no temporary left


def test_search_save_into_a_missing_folder(tmp_path: Path, env: dict[str, str]) -> None:
    result = run(env, "search", "--save", str(tmp_path / "no" / "such" / "items.json"))
    assert result.returncode == 1
    assert result.stderr.startswith("pystac-eds: error: cannot write")


def test_search_intersects_file(tmp_path: Path, env: dict[str, str]) -> None:
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Point", "coordinates": [-99.8, 40.2]},
    }
    (tmp_path / "aoi.geojson").write_text(json.dumps(feature))
    result = run(env, "search", "--intersects", str(tmp_path / "aoi.geojson"), "--matched")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--filter", "{not json"),
        ("--datetime", "not-a-date"),
        ("--intersects", "/no/such/file.geojson"),
        ("--max-items", "0"),
        ("--matched", "--ndjson"),
    ],
)
def test_search_usage_errors(env: dict[str, str], args: tuple[str, ...]) -> None:
    result = run(env, "search", *args)
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr.strip().splitlines()[-1]


def test_service_down_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with TokenServer(client_secret=CANARY) as tokens:
        stac = StacServer(tokens)
        stac.start()
        url = stac.url
        stac.stop()
        result = run(environment(tmp_path, tokens.settings(url)), "collections")
    assert result.returncode == 1
    assert result.stderr.startswith("pystac-eds: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_verbose_logs_redact_tokens(
    env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    result = run(env, "-v", "search", "--max-items", "3", "--ndjson")
    assert result.returncode == 0
    assert "DEBUG" in result.stderr and "Bearer <redacted>" in result.stderr
    assert "eds-test-" not in result.stderr  # the server's token prefix
    token = run(env, "-v", "token")
    assert token.stdout.strip() not in token.stderr


@pytest.mark.parametrize(
    "args", [("-v", "check"), ("-v", "collections", "--json"), ("--env-file", "/nope", "token")]
)
def test_canary_secret_never_printed(env: dict[str, str], args: tuple[str, ...]) -> None:
    run(env, *args)  # run() asserts the canary appears nowhere
    run({**env, "EDS_SECRET": CANARY + "-rejected"}, *args)


# ---------------------------------------------------------------------------------------
# In-process: the sandbox hand-over and the pieces that need no server
# ---------------------------------------------------------------------------------------


def test_sandbox_without_its_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pystac_eds.sandbox", None)  # import now fails
    assert main(["-v", "sandbox", "up", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'pystac-eds[sandbox]'" in err


def test_verbose_in_process_leaves_logging_as_it_was(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A notebook cell or a test may call main(); -v must not leave a DEBUG handler behind.
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    monkeypatch.setitem(sys.modules, "pystac_eds.sandbox", None)
    main(["-v", "sandbox", "up"])
    assert (list(root.handlers), root.level) == before


def test_clock_skew() -> None:
    assert clock_skew("Wed, 01 Jan 2025 00:10:00 GMT", 1735689600.0) == 600.0
    assert clock_skew(None, 0.0) is None and clock_skew("garbage", 0.0) is None


def test_legacy_hint() -> None:
    legacy = Credentials("my-legacy-id", CANARY, NEW_FLOW_TOKEN_URL)
    assert "legacy" in (legacy_hint(legacy) or "")
    new = Credentials(NEW_FLOW_CLIENT_ID, CANARY, NEW_FLOW_TOKEN_URL)
    assert legacy_hint(new) is None
    mixed = Credentials(NEW_FLOW_CLIENT_ID, CANARY, "https://auth.example.com/oauth/token")
    assert "unset EDS_AUTH_URL" in (legacy_hint(mixed) or "")


def test_short_conformance_names() -> None:
    assert short_class("https://api.stacspec.org/v1.0.0/item-search#filter") == "item-search#filter"
    assert short_class("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core") == (
        "ogcapi-features-1/core"
    )


def test_read_geometry_accepts_text_features_and_single_feature_collections() -> None:
    point = {"type": "Point", "coordinates": [1, 2]}
    assert read_geometry(json.dumps(point)) == point
    collection = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": point}]}
    assert read_geometry(json.dumps(collection)) == point


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_on_a_terminal_only() -> None:
    now = [0.0]
    stream = _Terminal()
    progress = Progress(stream, clock=lambda: now[0])
    pages: list[dict[str, Any]] = [{"features": [{}] * 100} for _ in range(3)]
    for _ in progress.track(pages):
        now[0] += 1.0
    progress.done()
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n")
    assert "300 items, 3 pages" in text.splitlines()[-1]
    quiet = io.StringIO()  # not a terminal
    silent = Progress(quiet, clock=lambda: now[0])
    for _ in silent.track(pages):
        now[0] += 5.0
    silent.done()
    assert quiet.getvalue() == ""


# ---------------------------------------------------------------------------------------
# check blames the right setting (#15.2)
# ---------------------------------------------------------------------------------------


def test_check_auth_url_set_to_the_api_url_blames_eds_auth_url(
    env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    result = run({**env, "EDS_AUTH_URL": servers[1].url}, "check")  # EDS_AUTH_URL=$EDS_API_URL
    assert result.returncode == 2
    report = flat(result.stdout)
    assert f"EDS_AUTH_URL ({servers[1].url}) is the STAC API's URL" in report
    assert "points at a token endpoint" not in report
    assert "[ ok ] settings" not in report  # one verdict for the step: FAIL
    assert f"token URL {servers[1].url}" in report  # the settings are still shown


def test_check_auth_url_of_a_protected_api_is_not_a_rejected_secret(
    tmp_path: Path, servers: tuple[TokenServer, StacServer]
) -> None:
    # Another STAC API refuses the token POST without an OAuth `error` (400 here; 401
    # with {"detail": ...} behind stac-auth-proxy) and answers GET 401 `WWW-Authenticate:
    # Bearer`, as resource servers do.
    tokens, stac = servers
    with StacServer(tokens, root_path="/platform/v1/stac") as other_api:
        settings = {**tokens.settings(stac.url), "EDS_AUTH_URL": other_api.url}
        result = run(environment(tmp_path, settings), "check")
    assert_not_a_token_endpoint(result)


@pytest.mark.parametrize("command", [("token",), ("search", "--max-items", "1")])
def test_other_commands_name_an_auth_url_that_is_a_protected_api(
    tmp_path: Path, servers: tuple[TokenServer, StacServer], command: tuple[str, ...]
) -> None:
    tokens, stac = servers
    with StacServer(tokens, root_path="/platform/v1/stac") as other_api:
        settings = {**tokens.settings(stac.url), "EDS_AUTH_URL": other_api.url + "/search"}
        result = run(environment(tmp_path, settings), *command)
    assert result.returncode == 2
    assert "is not a token endpoint: it asks for a bearer token itself" in result.stderr
    assert "Set EDS_AUTH_URL to the OAuth2 token URL" in result.stderr
    assert "tried both ways" not in result.stderr  # not the rejected-secret hint


def test_check_names_the_api_url_option_when_it_was_given(
    env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    refused = run(env, "--api-url", "http://127.0.0.1:9/platform/v1/stac", "check")
    assert refused.returncode == 1  # the network: nothing to change but start it
    assert "running? Start it, or check --api-url." in flat(refused.stdout)
    # A URL that answers 404 is a setting to change: exit status 2, named as given, and
    # no EarthDaily URL as the example for a local server.
    wrong = run(env, "--api-url", servers[1].url + "nothing", "check")
    assert wrong.returncode == 2
    report = flat(wrong.stdout)
    assert "answered HTTP 404" in report and "set --api-url to the STAC root" in report
    assert "EDS_API_URL to" not in report and "api.earthdaily.com" not in report


def test_a_default_token_url_with_a_local_api_says_to_set_the_token_url() -> None:
    from pystac_eds.cli._common import token_url_unreachable_fix

    local = Credentials.resolve(
        environ={"EDS_SECRET": "x" * 8, "EDS_API_URL": "http://127.0.0.1:1/"}
    )
    assert local.sources["auth_url"].startswith("default")
    assert "EDS_AUTH_URL is not set" in token_url_unreachable_fix(local)
    assert "sandbox --env-file EDS.env" in token_url_unreachable_fix(local)
    remote = Credentials.resolve(environ={"EDS_SECRET": "x" * 8})
    assert token_url_unreachable_fix(remote).startswith("check your network")
    assert "EDS_AUTH_URL" not in token_url_unreachable_fix(remote)


def assert_not_a_token_endpoint(result: subprocess.CompletedProcess[str]) -> None:
    """``check`` says the token URL is an API, at the token URL step: not "reachable"."""
    assert result.returncode == 2
    report = flat(result.stdout)
    assert "[ ok ] token URL reachable" not in report
    assert "[FAIL] token URL reachable:" in report and "is not a token endpoint" in report
    assert "set EDS_AUTH_URL to the OAuth2 token URL" in report
    assert "secret was rejected" not in report and "credentials accepted" not in report


def test_check_api_url_option_pointing_at_the_token_url_names_the_option(
    env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    result = run(env, "--api-url", servers[0].token_url, "check")
    assert result.returncode == 2
    report = flat(result.stdout)
    assert f"--api-url ({servers[0].token_url}) points at a token endpoint" in report
    assert "EDS_API_URL (" not in report


def test_check_loopback_token_url_refused_asks_about_the_sandbox(env: dict[str, str]) -> None:
    result = run({**env, "EDS_AUTH_URL": "http://127.0.0.1:9/oauth/token"}, "check")
    assert result.returncode == 1  # the service, not a setting, as far as we can tell
    assert "is `pystac-eds sandbox` (or your local server) running?" in flat(result.stdout)


def test_check_loopback_api_refused_asks_about_the_sandbox(env: dict[str, str]) -> None:
    result = run({**env, "EDS_API_URL": "http://127.0.0.1:9/platform/v1/stac"}, "check")
    assert result.returncode == 1
    assert "[FAIL] STAC API reachable" in result.stdout
    assert "pystac-eds sandbox" in flat(result.stdout)


def test_commands_on_a_loopback_api_refused_ask_about_the_sandbox(env: dict[str, str]) -> None:
    result = run({**env, "EDS_API_URL": "http://127.0.0.1:9/platform/v1/stac"}, "collections")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "could not connect to" in result.stderr and "pystac-eds sandbox" in result.stderr


def test_check_failure_is_reported_once(env: dict[str, str]) -> None:
    result = run({**env, "EDS_SECRET": "not-the-" + CANARY}, "check")
    fix = flat(result.stdout).split("fix: ", 1)[1]
    # stderr: the verdict only, short; the fix is in the report, once.
    assert result.stderr == (
        "pystac-eds: error: check failed at 'credentials accepted' (see the [FAIL] line above).\n"
    )
    assert fix[:40] not in result.stderr
    assert flat(result.stdout).count(fix[:40]) == 1


def test_check_does_not_wrap_when_not_on_a_terminal(
    env: dict[str, str], servers: tuple[TokenServer, StacServer]
) -> None:
    result = run({**env, "EDS_AUTH_URL": servers[1].url}, "check")  # a long fix
    lines = result.stdout.splitlines()
    fix_lines = [line for line in lines if "fix:" in line]
    # One line, to grep or to log: the report goes on with the next step's verdict.
    assert len(fix_lines) == 1 and len(fix_lines[0]) > 100
    assert lines[lines.index(fix_lines[0]) + 1] == "Stopped at the first failing step."
    assert "(default (" not in result.stdout


def test_settings_lines_say_where_each_value_came_from() -> None:
    from pystac_eds.cli.check import settings_lines

    creds = Credentials(
        NEW_FLOW_CLIENT_ID,
        CANARY,
        NEW_FLOW_TOKEN_URL,
        sources={"client_id": "default (new login flow)", "api_url": "argument"},
    )
    lines = settings_lines(creds)
    assert lines[0].endswith("  from default (new login flow)")
    assert lines[3].endswith("  from --api-url")
    assert not any(CANARY in line for line in lines)


def test_legacy_hint_is_not_given_for_loopback_token_urls() -> None:
    local = Credentials(NEW_FLOW_CLIENT_ID, CANARY, "http://127.0.0.1:9/oauth/token")
    assert legacy_hint(local) is None


def test_check_rejected_secret_on_loopback_gives_no_earthdaily_advice(
    tmp_path: Path, servers: tuple[TokenServer, StacServer]
) -> None:
    tokens, stac = servers
    settings = {**tokens.settings(stac.url), "EDS_CLIENT_ID": NEW_FLOW_CLIENT_ID}
    result = run(environment(tmp_path, settings), "check")
    failure = result.stdout.split("[FAIL] credentials accepted", 1)[1]
    assert "earthdaily.com" not in failure.lower()


def test_check_shows_why_an_untrusted_dot_env_is_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # The secret comes from the environment; a ./.env found by chance redirects it.
    (tmp_path / ".env").write_text(
        "EDS_CLIENT_ID=test-client\nEDS_AUTH_URL=http://127.0.0.1:9/steal\n"
    )
    env = {k: v for k, v in env.items() if k not in ("EDS_AUTH_URL", "EDS_CLIENT_ID")}
    result = run(env, "check", cwd=tmp_path)
    assert result.returncode == 2
    assert "[FAIL] settings" in result.stdout and ".env" in flat(result.stdout)


def test_check_says_when_exported_settings_differ_from_the_env_file_here(
    env: dict[str, str], tmp_path: Path
) -> None:
    # Exported from EDS.env once; then the sandbox restarted and rewrote EDS.env with new
    # ports and a new secret. The stale exports win, and the check must say so.
    (tmp_path / "EDS.env").write_text(
        f"EDS_AUTH_URL=http://127.0.0.1:1/new-token-url\nEDS_API_URL={env['EDS_API_URL']}\n"
    )
    result = run(env, "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert (
        "[warn] EDS_AUTH_URL in the environment differs from ./EDS.env, which the "
        "environment overrides" in flat(result.stdout)
    )
    assert "set -a; . ./EDS.env; set +a" in flat(result.stdout)
    (tmp_path / "EDS.env").write_text(f"EDS_API_URL={env['EDS_API_URL']}\n")
    assert "[warn]" not in run(env, "check", cwd=tmp_path).stdout  # agreeing: nothing


@pytest.mark.parametrize("kind", ["a file", "an untagged folder"])
def test_check_says_when_the_disk_token_cache_is_off(
    env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    # EDS_TOKEN_CACHE naming a file, or a folder pystac-eds did not create: every command
    # runs without the disk cache, so the check must not list the folder as if in use.
    target = tmp_path / "cache"
    if kind == "a file":
        target.write_text("not a folder")
    else:
        (target / "pystac-eds-tokens").mkdir(parents=True, mode=0o700)
    result = run({**env, "EDS_TOKEN_CACHE": str(target)}, "check")
    assert result.returncode == 0, result.stdout
    row = next(line for line in result.stdout.splitlines() if "token cache" in line)
    assert "off: " in row and "(see the warning)" in row
    assert "The disk token cache is off" in result.stderr  # the one warning, with the fix


def test_check_strips_control_characters_from_server_text(
    tmp_path: Path, servers: tuple[TokenServer, StacServer]
) -> None:
    tokens, _ = servers
    with StacServer(tokens) as stac:
        landing = {
            "type": "Catalog",
            "id": "x",
            "title": "\x1b[31mEvil\x1b[0m\x07 API",
            "conformsTo": [],
            "links": [{"rel": "data", "href": stac.url + "collections"}],
        }
        collections = {
            "collections": [{"id": "c\x1b]0;pwned\x07", "title": "T\x1b[2J\u202eflow\u2066"}]
        }
        stac.script += [Reply(200, landing), Reply(200, collections)]
        checked = run(environment(tmp_path, tokens.settings(stac.url)), "check")
        stac.script += [Reply(200, landing), Reply(200, collections)]
        listed = run(environment(tmp_path, tokens.settings(stac.url)), "collections")
    assert "Evil API" in checked.stdout
    assert "pwned" not in listed.stdout
    assert listed.stdout.splitlines()[1].split() == ["c", "Tflow"]
    for out in (checked.stdout, listed.stdout):
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out


def test_check_wraps_at_the_terminal_width(env: dict[str, str]) -> None:
    import pty

    primary, replica = pty.openpty()
    with os.fdopen(primary, "rb") as terminal:
        process = subprocess.Popen(
            [*COMMAND, "check"],
            env={**env, "EDS_SECRET": "not-the-" + CANARY, "COLUMNS": "60"},
            stdout=replica,
            stderr=subprocess.DEVNULL,
        )
        os.close(replica)
        chunks = []
        while True:
            try:
                chunk = os.read(terminal.fileno(), 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 2
    lines = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    # Only a word longer than the width (a URL: never cut, it is copied) may stick out.
    too_long = [line for line in lines if len(line) > 60 and len(line.split()) > 1]
    assert len(lines) > 10 and too_long == []
