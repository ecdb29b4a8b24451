# %% [markdown]
# # Searches that outlive their token
#
# An EDS access token lives about an hour. A notebook left open over lunch, a search that
# pages through ten thousand items, or a loop over two years of months can all run longer
# than that. A token pasted into `headers=` then starts getting `401 Unauthorized`, partway
# through and usually after a lot of work is done.
#
# pystac-eds requests tokens itself. It replaces the token a margin **before** it expires, so
# a search never meets an expired one; should the server still refuse a token (revoked
# early, say), it fetches one new token and sends the request again, once. In this notebook
# you watch the first happen, and you count the token requests it costs.
#
# Waiting an hour for a token to expire makes a dull tutorial, so this notebook starts its
# own offline EDS look-alike, the sandbox, whose tokens live **5 seconds**. It does not use
# your EDS settings at all, so what you read here is what you get, wherever you run it. Against
# EDS, `pystac_eds.open()` with no arguments is all the search needs; the `creds` and `cache`
# here only let this notebook count what it costs, and its tokens expire after an hour
# instead of 5 seconds.
# The sandbox needs the extra: `pip install 'pystac-eds[sandbox]'`.

# %%
import time

import pandas as pd

import pystac_eds
from pystac_eds import Credentials, TokenCache
from pystac_eds.sandbox import Sandbox

sandbox = Sandbox(token_ttl=5).start()  # a token server, a JWT gateway and a STAC API
settings = sandbox.settings
creds = Credentials(
    client_id=settings["EDS_CLIENT_ID"],
    client_secret=settings["EDS_SECRET"],
    auth_url=settings["EDS_AUTH_URL"],
    api_url=settings["EDS_API_URL"],
)
cache = TokenCache()  # in memory, so the counts below are this notebook's alone

catalog = pystac_eds.open(credentials=creds, cache=cache)  # the landing page: first token
auth = pystac_eds.EDSAuth(creds, cache=cache)  # same credentials, so it shares that token
token = cache.peek(creds)  # its repr shows only the last 4 characters
assert token is not None

print(f"tokens live {token.lifetime:.0f} s; token requests so far: {cache.token_requests}")

# %% [markdown]
# `cache.token_requests` counts the token requests this cache has made. The sandbox's token
# server keeps its own count, `sandbox.token_requests`, which also counts other processes,
# such as the command line or dask workers.
#
# We will read a search page by page, one page a second, for twelve pages: a little over two
# token lifetimes.

# %%
PAGES = 12
PAUSE = token.lifetime / 5  # seconds between pages
print(f"{PAGES} pages, {PAUSE:.1f} s apart: {(PAGES - 1) * PAUSE / token.lifetime:.1f} lifetimes")

# %% [markdown]
# ## The broken way: a token pasted into `headers=`
#
# A lot of notebooks do this: get a token once and give it to pystac-client as a header. It
# works at first:

# %%
from pystac_client import Client
from pystac_client.exceptions import APIError

pasted = Client.open(
    creds.api_url,
    headers={"Authorization": f"Bearer {auth.token()}"},  # fixed for the client's whole life
)
print("opened with a pasted token")

# %% [markdown]
# ## Page through the same search with both clients
#
# Both clients run the same search. We take one page from each, wait `PAUSE` seconds, and
# repeat, as a slow pipeline that processes each page before asking for the next would. For
# every page we record the time, what each client got, and how many token requests
# pystac-eds has made.

# %%
from collections.abc import Iterator

from pystac import ItemCollection


def next_page(pages: Iterator[ItemCollection]) -> str:
    """What one more page gave: its item count, an HTTP error, or the end."""
    try:
        return f"{len(next(pages).items)} items"
    except APIError as error:
        return f"HTTP {error.status_code}"
    except StopIteration:
        return "end"


def pages_of(client: Client) -> Iterator[ItemCollection]:
    search = client.search(
        collections=["sentinel-2-l2a"], bbox=[34.0, -1.0, 36.0, 1.0], limit=4, max_items=4 * PAGES
    )
    return search.pages()


pasted_pages, eds_pages = pages_of(pasted), pages_of(catalog)
rows: list[dict[str, object]] = []
first, start, started_at = cache.token_requests, time.monotonic(), time.time()
pasted_said = ""
for page in range(1, PAGES + 1):
    if page > 1:
        time.sleep(PAUSE)
    seconds = round(time.monotonic() - start, 1)
    # After its first 401 the pasted client is finished: we stop asking it.
    alive = page == 1 or pasted_said.endswith("items")
    pasted_said = next_page(pasted_pages) if alive else "-"
    rows.append(
        {
            "page": page,
            "seconds": seconds,
            "pasted token": pasted_said,
            "pystac-eds": next_page(eds_pages),
            "token requests": cache.token_requests - first,
        }
    )

pages = pd.DataFrame(rows).set_index("page")
pages

# %% [markdown]
# **What happened?** The pasted token expired 5 seconds after it was issued. From then on
# every request with it gets `401`, and that search stops. pystac-eds started each request
# with a token that still had time left: it refreshes `min(60 s, lifetime / 4)` before expiry,
# so a 5-second token is used for 3.75 s and an hour-long EDS token for 59 minutes. The
# `token requests` column grows by one per token lifetime, not once per page.

# %%
import base64
import json

import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(9, 2.8))
for y, column in enumerate(["pystac-eds", "pasted token"]):
    ok = pages[column].str.endswith("items")
    failed = pages[column].str.startswith("HTTP")
    ax.scatter(pages["seconds"][ok], [y] * ok.sum(), marker="o", s=60, color="tab:green")
    ax.scatter(pages["seconds"][failed], [y] * failed.sum(), marker="x", s=80, color="tab:red")
new_token = pages["token requests"].diff().fillna(pages["token requests"].iloc[0]) > 0
for seconds in pages["seconds"][new_token]:
    ax.axvline(seconds, color="grey", linestyle=":", linewidth=1)
# When the server stops accepting the pasted token: the `exp` claim inside it (a JWT), whole
# seconds, so up to a second before the `expires_in` count pystac-eds keeps.
claims = json.loads(base64.urlsafe_b64decode(token.value.split(".")[1] + "=="))
ax.axvline(claims["exp"] - started_at, color="tab:red", linestyle="--")
ax.text(claims["exp"] - started_at, 1.35, " the pasted token expires", color="tab:red")
ax.set_yticks([0, 1], ["pystac-eds", "pasted token"])
ax.set_ylim(-0.6, 1.6)
ax.set_xlabel("seconds since the first page (dotted: pystac-eds fetched a new token)")
ax.set_title("green: a page of items; red: 401 Unauthorized")
plt.show()

# %%
elapsed = pages["seconds"].iloc[-1]
print(f"{PAGES} pages over {elapsed:.0f} s with {token.lifetime:.0f}-second tokens")
print(f"token requests by pystac-eds during the search: {cache.token_requests - first}")
print(f"token requests seen by the sandbox's token server, in all: {sandbox.token_requests}")

# %% [markdown]
# ## Many threads crossing expiry: one token request
#
# Parallel code, such as a thread pool of searches, has its own failure mode. Every thread
# notices at the same moment that the token has expired, and each one asks for a new token.
# The token endpoint can answer that with `429 Too Many Requests`.
#
# pystac-eds makes the refresh *single flight*: one thread fetches the token while the others
# wait for it. Below, we wait until the current token has expired, then twelve threads
# search at once.

# %%
from concurrent.futures import ThreadPoolExecutor

current = cache.peek(creds)
time.sleep(max(0.0, current.expires_at - time.time()) + 0.1 if current else 0.0)


def first_page(month: int) -> int:
    search = catalog.search(collections=["sentinel-2-l2a"], datetime=f"2023-{month:02d}", limit=10)
    return len(next(search.pages()).items)


before = cache.token_requests
with ThreadPoolExecutor(max_workers=12) as pool:
    found = list(pool.map(first_page, range(1, 13)))
print(f"12 threads, {sum(found)} items, {cache.token_requests - before} token request(s)")

# %% [markdown]
# ## Across kernels and processes: the disk cache
#
# `pystac_eds.open()` without `cache=` uses the process-wide `TokenCache.default()`, which
# also keeps tokens in a small cache on disk, with owner-only permissions: in your user
# cache folder (`~/.cache/pystac-eds` on Linux), or in the folder `EDS_TOKEN_CACHE` names.
# It holds tokens only, never secrets. A restarted kernel, another notebook, the
# `pystac-eds` command line or a dask worker on the same machine picks up a token from there
# instead of requesting its own. Set `EDS_TOKEN_CACHE=off` to keep tokens in memory only.
# Which folder this kernel uses:

# %%
disk = TokenCache.default().store  # None with EDS_TOKEN_CACHE=off
print("disk cache:", disk or "off, tokens in memory only")

# %% [markdown]
# ## Summary
#
# | | pasted token in `headers=` | pystac-eds |
# |---|---|---|
# | after the token expires | `401 Unauthorized` | a new token, fetched a margin before expiry |
# | token requests | one, by hand | one per token lifetime, whatever the number of pages |
# | many threads at expiry | each fails | exactly one token request |
# | a token revoked early (not shown) | fails | one new token, the request resent once |
#
# The sandbox stops with the kernel; we stop it now.

# %%
sandbox.stop()
