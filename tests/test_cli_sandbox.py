"""The CLI against the real sandbox (rustac behind stac-auth-proxy), which differs from the
test kit's STAC server where users notice: no numberMatched, no query/filter/sort
conformance classes (#15.1)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .test_cli import COMMAND, assert_not_a_token_endpoint

pytestmark = pytest.mark.sandbox


@pytest.fixture
def env(eds_sandbox: Any) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
    return {**base, **eds_sandbox.settings, "EDS_TOKEN_CACHE": "off"}


def run(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*COMMAND, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert env["EDS_SECRET"] not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


def test_matched_counts_when_the_api_does_not_and_says_so(env: dict[str, str]) -> None:
    result = run(env, "search", "-c", "landsat-c2l2-sr", "--matched")
    assert result.returncode == 0, result.stderr
    listed = run(env, "search", "-c", "landsat-c2l2-sr", "--ndjson")
    count = len(listed.stdout.splitlines())
    assert count > 0 and result.stdout == f"{count}\n"
    assert result.stderr == (
        "pystac-eds: the STAC API does not report numberMatched: "
        f"counted {count:,} items by fetching every page.\n"
    )


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--query", "eo:cloud_cover<5"), "--query"),
        (("--filter-lang", "cql2-text", "--filter", "eo:cloud_cover < 5"), "--filter"),
        (("--sortby", "-properties.datetime"), "--sortby"),
    ],
)
def test_options_the_sandbox_does_not_declare_are_warned_about(
    env: dict[str, str], args: tuple[str, ...], option: str
) -> None:
    result = run(env, "search", "-c", "sentinel-2-l2a", "--max-items", "2", *args)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("pystac-eds: warning: ")
    assert f"it may ignore {option}, or match nothing." in warnings[0]


def test_an_unknown_collection_is_named(env: dict[str, str]) -> None:
    result = run(env, "search", "-c", "sentinel-2-l2b")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no such collection: 'sentinel-2-l2b'" in result.stderr


def test_check_passes_on_the_sandbox(env: dict[str, str]) -> None:
    result = run(env, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed" in result.stdout


def test_check_says_a_stac_api_behind_the_gateway_is_not_a_token_endpoint(
    env: dict[str, str],
) -> None:
    # stac-auth-proxy answers the token POST 401 with `WWW-Authenticate: Bearer` and
    # {"detail": "...Authorization header..."}: no OAuth `error`, so not a token endpoint.
    result = run({**env, "EDS_AUTH_URL": env["EDS_API_URL"] + "/collections"}, "check")
    assert_not_a_token_endpoint(result)
