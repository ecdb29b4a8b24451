"""Across processes: the disk token cache shared by racing and restarted processes, and
clients that travel by pickle to processes that have no EDS settings of their own.

Every child is a fresh interpreter (``sys.executable -c``), as a notebook kernel, a CLI run
or a pool worker would be: nothing is shared with this process but the environment, the
files and the loopback servers, whose counters are the ground truth.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import pystac_eds
from pystac_eds import EDSAuth, TokenCache
from pystac_eds.client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from pystac_eds.testing import StacServer, TokenServer

ALL_S2 = [f"sentinel-2-l2a-{i:05d}" for i in range(95)]
CHILD_TIMEOUT = 60.0

# A child that waits at a barrier (a file appearing), then opens the catalog from its
# environment and searches. It reports what it saw on its last stdout line, the token as
# a hash only: enough to tell whether processes shared one token, without printing it.
RACER = """
import hashlib, json, os, sys, time
import pystac_eds
from pystac_eds import EDSAuth, TokenCache

ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()                 # imports done: ready to race
deadline = time.monotonic() + 30
while not os.path.exists(go):            # the barrier: everyone starts together
    if time.monotonic() > deadline:
        sys.exit("barrier never opened")
    time.sleep(0.001)
catalog = pystac_eds.open()
found = [item.id for item in catalog.search(collections=["landsat-c2l2-sr"]).items()]
token = EDSAuth().token()                # from the process-wide cache: no new request
print(json.dumps({
    "items": found,
    "token_requests": TokenCache.default().token_requests,
    "token_sha": hashlib.sha256(token.encode()).hexdigest(),
    "store": repr(TokenCache.default().store),
}))
"""

# A child with no EDS settings at all that unpickles a client and pages through a search
# slowly enough to cross the expiry of its short-lived tokens. DEBUG logging of
# pystac-client (which prints request headers) is captured to check no token leaks.
BARE = """
import io, json, logging, pickle, sys, time
from pystac_eds import CredentialsError, EDSAuth, TokenCache

try:
    EDSAuth()
    has_settings = True
except CredentialsError:
    has_settings = False
log = io.StringIO()
handler = logging.StreamHandler(log)
logging.getLogger("pystac_client").addHandler(handler)
logging.getLogger("pystac_client").setLevel(logging.DEBUG)
with open(sys.argv[1], "rb") as f:
    catalog = pickle.load(f)
pause = float(sys.argv[2])
started = time.monotonic()
found = []
for page in catalog.search(collections=["sentinel-2-l2a"], method=sys.argv[3]).pages():
    found += [item.id for item in page]
    time.sleep(pause)
print(json.dumps({
    "has_settings": has_settings,
    "items": found,
    "signed": all("Signature=" in json.dumps(item.assets["visual"].to_dict()) for item in page),
    "elapsed": time.monotonic() - started,
    "token_requests": TokenCache.default().token_requests,
    "log": log.getvalue(),
}))
"""


def bare_env(**settings: str) -> dict[str, str]:
    """This process's environment without any EDS_* setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDS_")}
    env.update(settings)
    return env


def report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_child(code: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    return report(proc)


def race(n: int, env: dict[str, str], workdir: Path) -> list[dict[str, Any]]:
    """Start ``n`` racers, open the barrier once all have imported, collect reports."""
    go = workdir / "go"
    ready = [workdir / f"ready-{i}" for i in range(n)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(ready[i]), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT
        # Imports take most of a child's start-up: waiting for all of them before opening
        # the barrier is what makes their token requests really concurrent.
        while not all(path.exists() for path in ready):
            assert time.monotonic() < deadline, "children did not start"
            assert all(p.poll() is None for p in procs), "a child died before the barrier"
            time.sleep(0.01)
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=CHILD_TIMEOUT)
            results.append(report(subprocess.CompletedProcess(p.args, p.returncode, out, err)))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def shared_cache_env(tokens: TokenServer, api: StacServer, folder: Path) -> dict[str, str]:
    return bare_env(**tokens.settings(api.url), EDS_TOKEN_CACHE=str(folder))


# ---------------------------------------------------------------------------------------
# The disk cache across processes
# ---------------------------------------------------------------------------------------


def test_six_processes_started_together_make_one_token_request(tmp_path: Path) -> None:
    with TokenServer() as tokens, StacServer(tokens) as api:
        env = shared_cache_env(tokens, api, tmp_path / "token-cache")
        results = race(6, env, tmp_path)
        assert len(tokens.requests) == 1  # counted at the token endpoint itself
        assert tokens.issued == 1
    assert all(r["items"] == [f"landsat-c2l2-sr-{i:05d}" for i in range(30)] for r in results)
    assert len({r["token_sha"] for r in results}) == 1  # all six use the one token
    # Exactly one process fetched; the five others waited for its lock, then read its token.
    assert sorted(r["token_requests"] for r in results) == [0, 0, 0, 0, 0, 1]
    assert all(str(tmp_path / "token-cache") in r["store"] for r in results)


def test_a_restarted_process_reuses_the_cached_token(tmp_path: Path) -> None:
    with TokenServer() as tokens, StacServer(tokens) as api:
        env = shared_cache_env(tokens, api, tmp_path / "token-cache")
        first = run_child(RACER, env, str(tmp_path / "r1"), str(tmp_path))
        second = run_child(RACER, env, str(tmp_path / "r2"), str(tmp_path))
        assert tokens.issued == 1
    assert (first["token_requests"], second["token_requests"]) == (1, 0)
    assert first["token_sha"] == second["token_sha"]
    assert len(second["items"]) == 30


def test_a_revoked_cached_token_is_replaced_once_and_for_everyone(tmp_path: Path) -> None:
    with TokenServer() as tokens, StacServer(tokens) as api:
        env = shared_cache_env(tokens, api, tmp_path / "token-cache")
        before = run_child(RACER, env, str(tmp_path / "r1"), str(tmp_path))
        tokens.revoke()  # the token on disk is still unexpired, but the API now refuses it
        after = run_child(RACER, env, str(tmp_path / "r2"), str(tmp_path))
        again = run_child(RACER, env, str(tmp_path / "r3"), str(tmp_path))
        assert api.rejected == 1  # the stale disk token was tried once, then replaced
        assert tokens.issued == 2
    assert len(after["items"]) == len(again["items"]) == 30
    assert after["token_requests"] == 1 and again["token_requests"] == 0
    assert after["token_sha"] == again["token_sha"] != before["token_sha"]


# ---------------------------------------------------------------------------------------
# Pickling
# ---------------------------------------------------------------------------------------


def test_auth_io_and_client_pickle_without_tokens_or_locks() -> None:
    with TokenServer() as tokens, StacServer(tokens) as api:
        cache = TokenCache()
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=cache)
        io = pystac_eds.stac_io(credentials=tokens.credentials(api.url), cache=cache)
        auth = EDSAuth(tokens.credentials(api.url), cache=cache)
        # Used first, so sessions hold pooled connections and the cache a token.
        assert len(list(catalog.search(collections=["landsat-c2l2-sr"]).items())) == 30
        token = auth.token()
        assert tokens.issued == 1
        # pickle.dumps would raise on a lock, a socket or an open connection pool.
        blobs = {
            "auth": pickle.dumps(auth),
            "io": pickle.dumps(io),
            "client": pickle.dumps(catalog),
        }
    for name, blob in blobs.items():
        assert token.encode() not in blob, f"the token travels in the pickled {name}"
        # The documented trade-off: the secret travels, so the copy can get its own tokens
        # where there are no settings. Treat a pickled client like the secret itself.
        assert tokens.client_secret.encode() in blob, name
    clone_auth = pickle.loads(blobs["auth"])
    clone_io = pickle.loads(blobs["io"])
    clone = pickle.loads(blobs["client"])
    assert clone_auth.credentials == auth.credentials
    assert clone_auth.cache is TokenCache.default()  # the process-wide cache of the receiver
    for copy in (clone_io, clone._stac_io):
        # What matters in the session survives: auth, asset-access header, timeout, retries.
        assert isinstance(copy.session.auth, EDSAuth)
        assert copy.session.auth.credentials == auth.credentials
        assert copy.session.auth.headers["X-Signed-Asset-Urls"] == "True"  # goes with the token
        assert copy.timeout == DEFAULT_TIMEOUT
        assert copy.session.get_adapter(api.url).max_retries.total == DEFAULT_MAX_RETRIES


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unpickled_client_in_a_process_without_settings_searches_across_expiry(
    method: str, tmp_path: Path
) -> None:
    # Tokens announced to live 2 s are refreshed 0.5 s before: the 10th of 10 pages 0.25 s
    # apart is requested at least 2.25 s after the child's first token, so it needs
    # another. The server honours tokens for a minute, so a request that a loaded machine
    # delays past the announced expiry is still served: no 401 by luck.
    with TokenServer(lifetime=60) as tokens, StacServer(tokens, page_size=10) as api:
        tokens.extra_fields["expires_in"] = 2
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=TokenCache())
        blob = tmp_path / "client.pickle"
        blob.write_bytes(pickle.dumps(catalog))
        child = run_child(BARE, bare_env(EDS_TOKEN_CACHE="off"), str(blob), "0.25", method)
        assert api.rejected == 0
        assert tokens.issued == 1 + child["token_requests"]  # the parent's + the child's
    assert child["has_settings"] is False
    assert child["items"] == ALL_S2  # nothing lost or repeated across the refreshes
    assert child["elapsed"] > 2.0 and child["token_requests"] >= 2
    assert child["signed"] is True  # the asset-access header came along


def test_unpickled_client_keeps_tokens_out_of_debug_logs(tmp_path: Path) -> None:
    with TokenServer() as tokens, StacServer(tokens, page_size=50) as api:
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=TokenCache())
        blob = tmp_path / "client.pickle"
        blob.write_bytes(pickle.dumps(catalog))
        child = run_child(BARE, bare_env(EDS_TOKEN_CACHE="off"), str(blob), "0", "GET")
        issued = set(tokens._issued)  # every token value handed out, to look for in logs
    assert child["items"] == ALL_S2
    assert "Authorization" in child["log"], "pystac-client logged request headers"
    leaked = [t for t in issued if t in child["log"]]
    assert leaked == [], "a bearer token reached the DEBUG log of the unpickled client"


#: Unpickles the client given as argv[1], then says whether pystac's extension hooks were
#: all found by then: a later change to them, while another thread parses, is the race.
HOOKS_CHILD = """
import json, pickle, sys
import pystac
catalog = pickle.loads(open(sys.argv[1], "rb").read())
found = len(pystac.EXTENSION_HOOKS.hooks)
pystac.Item.from_dict({
    "type": "Feature", "stac_version": "1.0.0", "id": "x", "geometry": None,
    "properties": {"datetime": "2024-01-01T00:00:00Z"}, "links": [], "assets": {},
})
print(json.dumps({"found": found, "after_parse": len(pystac.EXTENSION_HOOKS.hooks)}))
"""


def test_an_unpickled_client_leaves_no_extension_hooks_for_threads_to_race_over(
    tmp_path: Path,
) -> None:
    # A fresh dask worker: the client arrives pickled, then two threads parse items at
    # once. pystac finds its extension hooks on the first parse, adding to the dict the
    # other thread iterates ("dictionary changed size during iteration"), unless they
    # were all found before: on unpickling.
    with TokenServer() as tokens, StacServer(tokens) as api:
        catalog = pystac_eds.open(credentials=tokens.credentials(api.url), cache=TokenCache())
        blob = tmp_path / "client.pickle"
        blob.write_bytes(pickle.dumps(catalog))
    result = subprocess.run(
        [sys.executable, "-c", HOOKS_CHILD, str(blob)],
        env=bare_env(EDS_TOKEN_CACHE="off"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    counts = json.loads(result.stdout)
    assert counts["found"] > 0 and counts["found"] == counts["after_parse"], counts
