"""Write the tutorial notebooks in notebooks/ (without outputs).

    python scripts/make_notebooks.py

The notebooks are generated, not hand-edited: change the cells here and re-run. They
read their settings from the environment (EDS_*) or an EDS.env file, so they run
unchanged against EDS and offline against ``pystac-eds sandbox``; tests/test_notebooks.py
executes them against the sandbox.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parents[1] / "notebooks"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

SETTINGS_NOTE = """\
> **Settings.** This notebook reads `EDS_SECRET` (and, for legacy credentials,
> `EDS_CLIENT_ID` and `EDS_AUTH_URL`) from the environment or from an `EDS.env` file next to
> it, so it runs unchanged against the Earth Data Store. **No EDS account, or offline?** In a
> terminal, in this folder: `pip install 'pystac-eds[sandbox]'`, then
> `pystac-eds sandbox{ttl} > EDS.env` and leave it running. It starts a local EDS look-alike
> and writes its settings to `EDS.env`, which the notebook picks up (or `export` the lines
> it prints before starting Jupyter).
"""


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip("\n"))


# ---------------------------------------------------------------------------------------
# 01 quickstart
# ---------------------------------------------------------------------------------------

QUICKSTART = [
    md(
        """
# Quickstart: search the Earth Data Store from Python

The EarthDaily Earth Data Store (EDS) is a STAC API, so
[pystac-client](https://pystac-client.readthedocs.io) can search it. What EDS adds is
authentication: every request needs a bearer token from an OAuth2 token endpoint, and each
token expires after about an hour. `pystac-eds` takes care of that, so you write the same
code you would write for any STAC API.

In this notebook you will:

1. see where your settings come from,
2. open the catalog and browse its collections,
3. search for Sentinel-2 scenes over farmland in western Kenya,
4. look at the results as a table, then as two plots.
"""
    ),
    md(SETTINGS_NOTE.format(ttl="")),
    md(
        """
## 1. Settings: environment variables or an `EDS.env` file

Four settings describe an EDS account: `EDS_SECRET`, `EDS_CLIENT_ID`, `EDS_AUTH_URL` and
`EDS_API_URL`. Only the secret is required, and the defaults fit the new EDS login flow.
They come from, first match wins:

1. arguments you pass in code,
2. environment variables,
3. an env file: the `EDS.env` you download from the EDS console, placed next to your
   notebook (or `.env`, or any file passed as `env_file=`),
4. defaults.

Keeping the secret in the environment or in a file, and not in a cell, means it never ends
up in a saved notebook, a screenshot or a git commit. `Credentials.resolve()` gathers the
settings the way `pystac_eds.open()` will:
"""
    ),
    code(
        """
import pystac_eds

creds = pystac_eds.Credentials.resolve()
creds  # the secret is masked: only its last 4 characters are shown
"""
    ),
    md(
        """
`.sources` tells you where each value came from. When a search returns the wrong data or a
`401`, look here first: an old `EDS_SECRET` exported in your shell wins over a fresh
`EDS.env`. The sources name variables and files, never values.
"""
    ),
    code(
        """
dict(creds.sources)
"""
    ),
    md(
        """
An `EDS.env` file is a plain list of `NAME=value` lines. For the new login flow one line is
enough, and the client id and token URL take their defaults. Here is a throw-away example
(`environ={}` makes `resolve` ignore this kernel's environment, for the demo only):
"""
    ),
    code(
        """
import tempfile
from pathlib import Path

example = Path(tempfile.mkdtemp()) / "EDS.env"
example.write_text("EDS_SECRET=paste-your-api-token-here\\n")

from_file = pystac_eds.Credentials.resolve(example, environ={})
dict(from_file.sources)
"""
    ),
    md(
        """
## 2. Open the catalog

`pystac_eds.open()` returns a plain `pystac_client.Client`. Everything you know from
pystac-client still works. The difference is that its HTTP session carries an `EDSAuth`,
which fetches a token when one is first needed, shares it with every other client in the
process, and replaces it before it expires.

Opening the catalog reads its landing page, and that first request fetches the first token.
"""
    ),
    code(
        """
catalog = pystac_eds.open()
print(catalog.title or catalog.id)
"""
    ),
    md(
        """
## 3. Browse the collections

A collection groups items from one source. Its extent tells you where and when it has data.
Checking that before you search saves you from searches that come back empty.
"""
    ),
    code(
        """
import pandas as pd

collections = pd.DataFrame(
    {
        "id": c.id,
        "title": c.title,
        "from": c.extent.temporal.intervals[0][0],
        "to": c.extent.temporal.intervals[0][1],
    }
    for c in catalog.get_collections()
)
collections
"""
    ),
    md(
        """
## 4. Search

A search names collections, an area (`bbox`: west, south, east, north in degrees) and a time
range. `max_items` caps how many items come back. Results arrive in pages, one request per
page, and every request carries a valid token. On a long search pystac-eds replaces that
token before it expires (see `02-long-running.ipynb`).
"""
    ),
    code(
        """
BBOX = [34.0, -1.0, 36.0, 1.0]  # farmland around Kisumu and Lake Victoria, western Kenya

search = catalog.search(
    collections=["sentinel-2-l2a"],
    bbox=BBOX,
    datetime="2023-01-01/2024-12-31",
    max_items=200,
)
items = search.item_collection()
print(f"{len(items)} items")
"""
    ),
    md(
        """
## 5. The items as a table

Each item is a GeoJSON feature with a `properties` dictionary. A pandas table of the
properties you care about is the quickest way to get an overview, and to filter, sort and
group without asking the API again.
"""
    ),
    code(
        """
df = (
    pd.DataFrame(
        {
            "id": item.id,
            "datetime": item.datetime,
            "eo:cloud_cover": item.properties.get("eo:cloud_cover"),
            "platform": item.properties.get("platform"),
        }
        for item in items
    )
    .sort_values("datetime")
    .reset_index(drop=True)
)
df.head(10)
"""
    ),
    code(
        """
clear = df[df["eo:cloud_cover"] < 20]
print(f"{len(clear)} of {len(df)} scenes are less than 20% cloudy")
df.groupby("platform")["eo:cloud_cover"].describe().round(1)
"""
    ),
    md(
        """
## 6. Cloud cover over time

A table of dates is hard to read. A scatter plot shows straight away when the clear
scenes are, and whether both satellites cover the area.
"""
    ),
    code(
        """
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(9, 3.5))
for platform, rows in df.groupby("platform"):
    ax.scatter(rows["datetime"], rows["eo:cloud_cover"], label=platform, s=25)
ax.axhline(20, color="grey", linestyle="--", linewidth=1)
ax.set_ylabel("cloud cover (%)")
ax.set_title("Sentinel-2 scenes over western Kenya")
ax.legend()
fig.autofmt_xdate()
plt.show()
"""
    ),
    md(
        """
## 7. Footprints on a map

Each item's `geometry` is its footprint in longitude/latitude. You don't need a GIS
library to look at footprints: matplotlib's `PolyCollection` draws the outlines, coloured by
cloud cover. The dashed box is the search area. Footprints only need to touch it, so some
reach outside.
"""
    ),
    code(
        """
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle


def outer_rings(geometry):
    \"\"\"The outer ring of each polygon of a GeoJSON Polygon or MultiPolygon.\"\"\"
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"][0]]
    if geometry["type"] == "MultiPolygon":
        return [polygon[0] for polygon in geometry["coordinates"]]
    return []


rings, cloud = [], []
for item in items:
    for ring in outer_rings(item.geometry):
        rings.append(ring)
        cloud.append(item.properties.get("eo:cloud_cover", 0))

fig, ax = plt.subplots(figsize=(7, 6))
footprints = PolyCollection(
    rings, array=cloud, cmap="viridis_r", alpha=0.35, edgecolor="k", linewidth=0.4
)
ax.add_collection(footprints)
west, south, east, north = BBOX
ax.add_patch(Rectangle((west, south), east - west, north - south, fill=False, linestyle="--"))
ax.autoscale_view()
ax.set_aspect("equal")
ax.set_xlabel("longitude")
ax.set_ylabel("latitude")
fig.colorbar(footprints, ax=ax, label="cloud cover (%)", shrink=0.8)
ax.set_title(f"{len(items)} footprints")
plt.show()
"""
    ),
    md(
        """
## Next

- `02-long-running.ipynb`: searches that run longer than a token lives.
- `03-existing-code.ipynb`: adding pystac-eds to pystac-client code you already have, to any
  `requests` session, and the `pystac-eds` command line.
- `04-scale-out.ipynb`: parallel searches on dask workers.

Asset links: by default EDS returns pre-signed asset URLs (`asset_access="presigned"`), so
odc-stac, stackstac and rasterio can read the pixels with no extra authentication. Use
`pystac_eds.open(asset_access="proxy")` for EDS proxy URLs, or `"raw"` for the stored hrefs.
"""
    ),
]

# ---------------------------------------------------------------------------------------
# 02 long-running
# ---------------------------------------------------------------------------------------

LONG_RUNNING = [
    md(
        """
# Searches that outlive their token

An EDS access token lives about an hour. A notebook left open over lunch, a search that
pages through ten thousand items, or a loop over two years of months can all run longer
than that. A token pasted into `headers=` then starts getting `401 Unauthorized`, partway
through and usually after a lot of work is done.

pystac-eds requests tokens itself. It replaces the token a margin **before** it expires and
recovers from a `401` by fetching one new token and sending the request again, once. In this
notebook you watch that happen, and you count the token requests it costs.
"""
    ),
    md(SETTINGS_NOTE.format(ttl=" --token-ttl 5")),
    md(
        """
With the sandbox started with `--token-ttl 5`, tokens live 5 seconds, so you can watch
several expire in a few seconds. Against EDS, tokens live an hour: the notebook notices and
skips the waiting, so it still runs quickly. Everything else is the same.
"""
    ),
    code(
        """
import time
from urllib.parse import urlsplit

import pandas as pd
import requests

import pystac_eds
from pystac_eds import TokenCache

catalog = pystac_eds.open()  # reads the landing page, which fetches the first token
auth = pystac_eds.EDSAuth()  # same credentials, so it shares that token
cache = TokenCache.default()  # the process-wide cache behind every client and EDSAuth
token = cache.peek(auth.credentials)  # its repr shows only the last 4 characters

print(f"tokens live {token.lifetime:.0f} s; token requests so far: {cache.token_requests}")
"""
    ),
    md(
        """
`cache.token_requests` counts the token requests this process has made. The sandbox's token
server keeps its own count, which also includes other processes, such as the command line or
dask workers. This small helper reads it. Against EDS it returns `None`.
"""
    ),
    code(
        """
def server_token_requests():
    \"\"\"The sandbox token server's own count (None for anything but a local sandbox).\"\"\"
    parts = urlsplit(auth.credentials.auth_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        stats = requests.get(f"{parts.scheme}://{parts.netloc}/stats", timeout=5)
        return stats.json()["token_requests"]
    except (requests.RequestException, ValueError, KeyError):
        return None


SHORT = token.lifetime <= 120  # short-lived tokens: we can afford to wait for them to expire
PAUSE = token.lifetime / 5 if SHORT else 0.0  # seconds between pages
PAGES = 12
lifetimes = (PAGES - 1) * PAUSE / token.lifetime
print(f"{PAGES} pages, {PAUSE:.1f} s apart: about {lifetimes:.1f} token lifetimes")
"""
    ),
    md(
        """
## The broken way: a token pasted into `headers=`

A lot of notebooks do this: get a token once and give it to pystac-client as a header. It
works at first:
"""
    ),
    code(
        """
from pystac_client import Client
from pystac_client.exceptions import APIError

pasted = Client.open(
    auth.credentials.api_url,
    headers={"Authorization": f"Bearer {auth.token()}"},  # fixed for the client's whole life
)
print("opened with a pasted token")
"""
    ),
    md(
        """
## Page through the same search with both clients

Both clients run the same search. We take one page from each, wait `PAUSE` seconds, and
repeat, as a slow pipeline that processes each page before asking for the next would. For
every page we record the time, what each client got, and how many token requests
pystac-eds has made.
"""
    ),
    code(
        """
QUERY = dict(
    collections=["sentinel-2-l2a"], bbox=[34.0, -1.0, 36.0, 1.0], limit=4, max_items=4 * PAGES
)


def next_page(pages):
    \"\"\"What one more page gave: its item count, an HTTP error, or the end.\"\"\"
    try:
        return f"{len(next(pages).items)} items"
    except APIError as error:
        return f"HTTP {error.status_code}"
    except StopIteration:
        return "end"


pasted_pages = pasted.search(**QUERY).pages()
eds_pages = catalog.search(**QUERY).pages()

rows, first, start, started_at = [], cache.token_requests, time.monotonic(), time.time()
pasted_alive = True
for page in range(1, PAGES + 1):
    if page > 1:
        time.sleep(PAUSE)
    row = {"page": page, "seconds": round(time.monotonic() - start, 1)}
    row["pasted token"] = next_page(pasted_pages) if pasted_alive else "-"
    pasted_alive = pasted_alive and row["pasted token"].endswith("items")
    row["pystac-eds"] = next_page(eds_pages)
    row["token requests"] = cache.token_requests - first
    rows.append(row)

pages = pd.DataFrame(rows).set_index("page")
pages
"""
    ),
    md(
        """
**What happened?** With short-lived tokens, the pasted token expired after a few pages.
From then on every request with it gets `401`, and the search stops. pystac-eds started each
request with a token that still had time left. It refreshes `min(60 s, lifetime / 4)` before
expiry, so a 5-second token is used for 3.75 s and an hour-long token for 59 minutes. The
`token requests` column grows by one per token lifetime, not once per page.
"""
    ),
    code(
        """
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
if SHORT:  # against EDS this is an hour away: off the chart
    expired = token.expires_at - started_at
    ax.axvline(expired, color="tab:red", linestyle="--", label="the pasted token expires")
    ax.legend(loc="upper right")
ax.set_yticks([0, 1], ["pystac-eds", "pasted token"])
ax.set_ylim(-0.6, 1.6)
ax.set_xlabel("seconds since the first page (dotted: pystac-eds fetched a new token)")
ax.set_title("green: a page of items; red: 401 Unauthorized")
plt.show()
"""
    ),
    code(
        """
elapsed = pages["seconds"].iloc[-1]
print(f"{PAGES} pages over {elapsed:.0f} s with {token.lifetime:.0f}-second tokens")
print(f"token requests by pystac-eds during the search: {cache.token_requests - first}")
print(f"token requests seen by the sandbox's token server, in all: {server_token_requests()}")
"""
    ),
    md(
        """
## Many threads crossing expiry: one token request

Parallel code, such as a thread pool of searches, has its own failure mode. Every thread
notices at the same moment that the token has expired, and each one asks for a new token.
The token endpoint can answer that with `429 Too Many Requests`.

pystac-eds makes the refresh *single flight*: one thread fetches the token while the others
wait for it. Below, twelve threads search at once, just after the token has expired (with
short-lived tokens we wait for that; against EDS the current token is still valid and the
count is zero).
"""
    ),
    code(
        """
from concurrent.futures import ThreadPoolExecutor

if SHORT:  # wait for the current token to expire, so that every thread needs a new one
    time.sleep(max(0.0, cache.peek(auth.credentials).expires_at - time.time()) + 0.1)


def first_page(month):
    search = catalog.search(collections=["sentinel-2-l2a"], datetime=f"2023-{month:02d}", limit=10)
    return len(next(search.pages()).items)


before = cache.token_requests
with ThreadPoolExecutor(max_workers=12) as pool:
    found = list(pool.map(first_page, range(1, 13)))
print(f"12 threads, {sum(found)} items, {cache.token_requests - before} token request(s)")
"""
    ),
    md(
        """
## Across kernels and processes: the disk cache

Tokens are also kept in a small cache on disk, in your user cache folder, with owner-only
permissions. It holds tokens only, never secrets. A restarted kernel, another notebook, the
`pystac-eds` command line or a dask worker on the same machine picks up a token from there
instead of requesting its own. Set `EDS_TOKEN_CACHE` to choose the folder, or to `off`
to keep tokens in memory only (the test suite does that).
"""
    ),
    code(
        """
cache  # keys = credentials in use, store = where tokens persist (None: memory only)
"""
    ),
    md(
        """
## Summary

| | pasted token in `headers=` | pystac-eds |
|---|---|---|
| after the token expires | `401 Unauthorized` | a new token, fetched a margin before expiry |
| token requests | one, by hand | one per token lifetime, whatever the number of pages |
| many threads at expiry | each fails | exactly one token request |
| a token revoked server-side | fails | one new token, the request is resent once |
"""
    ),
]

# ---------------------------------------------------------------------------------------
# 03 existing code
# ---------------------------------------------------------------------------------------

EXISTING_CODE = [
    md(
        """
# Bring pystac-eds to code you already have

You don't need to rewrite anything. There are three ways in, depending on what your code
already does:

1. **pystac-client code**: add one argument, `stac_io=pystac_eds.stac_io()`.
2. **Anything built on `requests`**: put an `EDSAuth` on the session.
3. **Shell scripts and notebook `!` cells**: the `pystac-eds` command line.

All three read the same settings and share one token cache, so they don't each request a
token of their own.
"""
    ),
    md(SETTINGS_NOTE.format(ttl="")),
    md(
        """
## 1. `Client.open(url, stac_io=pystac_eds.stac_io())`

If your code opens the catalog with a pasted token, change one line:

```diff
- catalog = Client.open(URL, headers={"Authorization": f"Bearer {token}"})
+ catalog = Client.open(URL, stac_io=pystac_eds.stac_io())
```

`URL` stays as it was. Here we take it from the settings so that the notebook also works
against the sandbox.
"""
    ),
    code(
        """
from pystac_client import Client

import pystac_eds

URL = pystac_eds.Credentials.resolve().api_url  # in your code: the URL you already use

catalog = Client.open(URL, stac_io=pystac_eds.stac_io())
[c.id for c in catalog.get_collections()]
"""
    ),
    md(
        """
One catch: `Client.open(..., stac_io=io)` replaces the io's `timeout` and `request_modifier`
with its own arguments. So pass those to `Client.open`, not to `stac_io()`. (Or switch to
`pystac_eds.open(...)`, which takes every argument of `Client.open` and handles this for
you.)
"""
    ),
    code(
        """
catalog = Client.open(URL, stac_io=pystac_eds.stac_io(), timeout=(10, 120))
items = catalog.search(collections=["sentinel-2-l2a"], max_items=5).item_collection()
[item.id for item in items]
"""
    ),
    md(
        """
## 2. `EDSAuth` on a `requests` session

Not everything is a pystac-client call. You may want the raw JSON, an endpoint pystac-client
doesn't wrap, or your own HTTP helpers. `EDSAuth` is a standard `requests` auth: it adds the
token, refreshes it, and retries a `401` once, on any session.
"""
    ),
    code(
        """
import requests

session = requests.Session()
session.auth = pystac_eds.EDSAuth()

landing = session.get(URL, timeout=30).json()
sorted({link["rel"] for link in landing["links"]})
"""
    ),
    code(
        """
response = session.post(
    f"{URL}/search", json={"collections": ["sentinel-2-l2a"], "limit": 3}, timeout=30
)
response.raise_for_status()
[feature["id"] for feature in response.json()["features"]]
"""
    ),
    md(
        """
The token goes only to the API's own origin (scheme, host and port). It is never sent to a
`next` link or redirect on another host, and never over plain http except to your own
machine. So the same session can download files from other hosts without leaking the token:
"""
    ),
    code(
        """
auth = session.auth
print("the API itself:    ", auth.in_scope(f"{URL}/collections"))
print("some other server: ", auth.in_scope("https://example.com/scene/B04.tif"))
"""
    ),
    md(
        """
When another tool needs the raw token (curl, GDAL's HTTP headers, a different library), ask
for it at the moment you use it: `auth.token()` returns a token that is valid now. Don't
print it, and don't keep it in a variable for later: it expires.
"""
    ),
    code(
        """
token = auth.token()
print(f"a valid token of {len(token)} characters (not shown)")
"""
    ),
    md(
        """
## 3. The command line, from a cell

`pystac-eds` offers `check`, `token`, `collections` and `search` in the shell. A `!` cell
runs a shell command. To make sure it runs the `pystac-eds` installed next to this kernel's
Python, and not another one on your `PATH`, we look it up there:
"""
    ),
    code(
        """
import shutil
import sys
from pathlib import Path

cli = shutil.which("pystac-eds", path=str(Path(sys.executable).parent)) or "pystac-eds"
"""
    ),
    md(
        """
`check` tests every step (settings, token URL, token, API) and says what to fix when one
fails. It is the first thing to run when something is wrong. It shows where each setting
came from, but not the secret (only a fingerprint).
"""
    ),
    code(
        """
!{cli} check
"""
    ),
    code(
        """
!{cli} collections
"""
    ),
    md(
        """
`search` takes the options of pystac-client's `stac-client search`. With `--save FILE` it
writes a GeoJSON FeatureCollection that pystac reads back. (`--ndjson` streams one item per
line instead, handy with `jq`. Against EDS, `--matched` prints how many items match without
downloading them. The sandbox's STAC server doesn't count matches, so it isn't used here.)
"""
    ),
    code(
        """
import tempfile

saved = Path(tempfile.mkdtemp()) / "kenya-2023.geojson"
where = "--bbox 34 -1 36 1 --datetime 2023-01-01/2023-12-31"
!{cli} search -c sentinel-2-l2a {where} --max-items 50 --save {saved}
"""
    ),
    code(
        """
import pystac

from_cli = pystac.ItemCollection.from_file(str(saved))
print(f"{len(from_cli)} items saved by the command line, e.g. {from_cli[0].id}")
"""
    ),
    md(
        """
In a shell script, `pystac-eds token` prints a valid token for tools such as curl, for
example `curl -H "Authorization: Bearer $(pystac-eds token)" "$EDS_API_URL/collections"`.
With the disk cache on (the default), it is the token this notebook already holds, so
no extra token request is made.
"""
    ),
]

# ---------------------------------------------------------------------------------------
# 04 scale out
# ---------------------------------------------------------------------------------------

SCALE_OUT = [
    md(
        """
# Scale out: parallel searches on dask workers

A big question, such as every scene of three collections over two years, is quicker as many
small searches run side by side: one per month and collection. This notebook fans the
searches out to [dask](https://distributed.dask.org) worker processes and gathers the
results into one table.

This only works if authentication travels with the work. A catalog from
`pystac_eds.open()` can be pickled: its credentials go to each worker with it, and each
worker fetches and refreshes its own token there. No token is pasted anywhere, so none
expires halfway through the job.
"""
    ),
    md(SETTINGS_NOTE.format(ttl="")),
    code(
        """
import os

import pandas as pd

import pystac_eds
from pystac_eds import TokenCache

catalog = pystac_eds.open()
"""
    ),
    md(
        """
## A local cluster

Two worker processes on this machine. The same code runs on a remote cluster: point
`Client` at its scheduler instead. (`dashboard_address=None` keeps the example free of
the dashboard's extra dependencies. Leave it out to get the dashboard.)
"""
    ),
    code(
        """
from dask.distributed import Client, LocalCluster

cluster = LocalCluster(
    n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None
)
dask_client = Client(cluster)
print(f"{len(dask_client.scheduler_info()['workers'])} workers")
"""
    ),
    md(
        """
## One task: one search, plain rows back

A task runs one search and returns plain dictionaries, which are cheaper to send back than
full STAC items. The catalog is *scattered* once, so every worker holds one copy of it and
all tasks on that worker share its connection pool and token.
"""
    ),
    code(
        """
BBOX = [34.0, -1.0, 36.0, 1.0]  # western Kenya
COLLECTIONS = ["sentinel-2-l2a", "landsat-c2l2-sr", "venus-l2a"]
MONTHS = [f"{year}-{month:02d}" for year in (2023, 2024) for month in range(1, 13)]


def search_rows(catalog, collection, month):
    \"\"\"One month of one collection, as plain rows.\"\"\"
    search = catalog.search(collections=[collection], bbox=BBOX, datetime=month, max_items=500)
    return [
        {
            "collection": collection,
            "month": month,
            "id": item.id,
            "datetime": item.datetime,
            "eo:cloud_cover": item.properties.get("eo:cloud_cover"),
            "platform": item.properties.get("platform"),
            "worker pid": os.getpid(),
        }
        for item in search.items()
    ]
"""
    ),
    code(
        """
shared = dask_client.scatter(catalog, broadcast=True)
futures = [dask_client.submit(search_rows, shared, c, m) for c in COLLECTIONS for m in MONTHS]
df = pd.DataFrame([row for rows in dask_client.gather(futures) for row in rows])
print(f"{len(futures)} searches on {df['worker pid'].nunique()} worker processes: {len(df)} items")
df.head()
"""
    ),
    md(
        """
## One table, one picture

The results are now one pandas table, ready to group. Scenes per month and collection show
how often each sensor saw the area:
"""
    ),
    code(
        """
import matplotlib.pyplot as plt

per_month = df.pivot_table(
    index="month", columns="collection", values="id", aggfunc="count", fill_value=0
).reindex(MONTHS, fill_value=0)
ax = per_month.plot.bar(stacked=True, figsize=(10, 3.5), width=0.8)
ax.set_ylabel("scenes")
ax.set_title("Scenes per month over western Kenya")
ax.legend(title="collection", loc="upper left", bbox_to_anchor=(1, 1))
plt.show()
per_month.sum()
"""
    ),
    md(
        """
## What it cost in tokens

Every process has its own `TokenCache.default()`. `dask_client.run` asks each worker for
its count. Each worker requests a token the first time it needs one and reuses it for all
its searches. With the disk cache on (the default), the workers even pick up the token this
kernel already has, so the count on the workers can be zero. With `EDS_TOKEN_CACHE=off`
(as in the tests) expect one per worker.
"""
    ),
    code(
        """
on_workers = dask_client.run(lambda: TokenCache.default().token_requests)
here = TokenCache.default().token_requests
print(f"{len(futures)} searches")
print(f"token requests in this kernel: {here}")
for worker, count in on_workers.items():
    print(f"token requests on worker {worker}: {count}")
print(f"in all: {here + sum(on_workers.values())}")
"""
    ),
    md(
        """
## Pixels

Against EDS, item assets are pre-signed URLs by default, so the same workers can load the
pixels with [odc-stac](https://odc-stac.readthedocs.io) or
[stackstac](https://stackstac.readthedocs.io) and no extra authentication:

```python
import odc.stac

data = odc.stac.load(items, bands=["red", "nir"], resolution=10, chunks={})
```

The sandbox serves metadata only: its asset links point nowhere, so this notebook stops here.
"""
    ),
    code(
        """
dask_client.close()
cluster.close()
"""
    ),
]

NOTEBOOKS = {
    "01-quickstart.ipynb": QUICKSTART,
    "02-long-running.ipynb": LONG_RUNNING,
    "03-existing-code.ipynb": EXISTING_CODE,
    "04-scale-out.ipynb": SCALE_OUT,
}


def build(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    # Stable cell ids, so re-running this script gives the same files.
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:02d}"
    nbformat.validate(nb)
    return nb


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), OUT / name)
        print(f"wrote {OUT / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
