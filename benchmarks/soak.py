"""Soak: 32 threads paginating searches through one client for N seconds, with 2-second
tokens and random server-side revocations, over loopback servers.

Reports failed requests (goal: 0) and token requests per token lifetime (goal: ~1).

    python benchmarks/soak.py --seconds 60
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections import Counter

import pystac_eds
from pystac_eds import Credentials, TokenCache
from pystac_eds.testing import StacServer, TokenServer

COLLECTION = "landsat-c2l2-sr"
ITEMS = 30


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to run")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--lifetime", type=float, default=2.0, help="token lifetime, seconds")
    parser.add_argument(
        "--revoke-every",
        type=float,
        default=5.0,
        help="mean seconds between server-side revocations (exponential, at least 1 s apart)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    with (
        TokenServer(client_secret="soak-secret-0123456789abcdef", lifetime=args.lifetime) as tokens,
        StacServer(tokens, collections={COLLECTION: ITEMS}, page_size=10) as api,
    ):
        credentials = Credentials(
            client_id=tokens.client_id,
            client_secret=tokens.client_secret,
            auth_url=tokens.token_url,
            api_url=api.url,
        )
        cache = TokenCache()
        catalog = pystac_eds.open(credentials=credentials, cache=cache)
        expected = [f"{COLLECTION}-{i:05d}" for i in range(ITEMS)]
        stop = threading.Event()
        lock = threading.Lock()
        searches = 0
        wrong: list[int] = []
        failures: Counter[str] = Counter()

        def worker() -> None:
            nonlocal searches
            while not stop.is_set():
                try:
                    got = [i.id for i in catalog.search(collections=[COLLECTION]).items()]
                except Exception as exc:
                    with lock:
                        failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                    continue
                with lock:
                    searches += 1
                    if got != expected:
                        wrong.append(len(got))

        seen_before = len(api.seen)
        started = time.monotonic()
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
        for t in threads:
            t.start()
        revocations = 0
        deadline = started + args.seconds
        while True:
            wait = max(1.0, rng.expovariate(1 / args.revoke_every))
            if time.monotonic() + wait >= deadline:
                break
            time.sleep(wait)
            tokens.revoke()
            revocations += 1
        time.sleep(max(0.0, deadline - time.monotonic()))
        stop.set()
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - started

        requests_sent = len(api.seen) - seen_before
        lifetimes = elapsed / args.lifetime
        # Each revocation legitimately costs one extra token.
        per_lifetime = (cache.token_requests - revocations) / lifetimes
        failed = sum(failures.values())
        print(f"duration            {elapsed:.1f} s, {args.threads} threads")
        print(f"token lifetime      {args.lifetime:g} s; revocations {revocations}")
        print(f"searches            {searches} ({searches * 3} pages), wrong results {len(wrong)}")
        print(f"API requests        {requests_sent} (401s answered: {api.rejected})")
        print(f"failed searches     {failed}")
        for message, count in failures.most_common(5):
            print(f"    {count} x {message}")
        print(f"token requests      {cache.token_requests} (server issued {tokens.issued})")
        print(f"per token lifetime  {per_lifetime:.2f} (excluding one per revocation)")
        return 0 if failed == 0 and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
