# %% [markdown]
# # Bring pystac-eds to code you already have
#
# You don't need to rewrite anything. There are three ways in, depending on what your code
# already does:
#
# 1. **pystac-client code**: add one argument, `stac_io=pystac_eds.stac_io()`.
# 2. **Anything built on `requests`**: put an `EDSAuth` on the session.
# 3. **Shell scripts and notebook `!` cells**: the `pystac-eds` command line.
#
# All three read the same settings and share one token cache, so they don't each request a
# token of their own.

# %% [markdown]
# > **Settings.** This notebook reads `EDS_SECRET` (and, for legacy credentials,
# > `EDS_CLIENT_ID` and `EDS_AUTH_URL`) from the environment or from an `EDS.env` file next to
# > it, so it runs unchanged against the Earth Data Store. **No EDS account, or offline?** In a
# > terminal, in this folder: `pip install 'pystac-eds[sandbox]'`, then
# > `pystac-eds sandbox --env-file EDS.env` and leave it running. It starts a local EDS look-alike
# > and writes its settings to `EDS.env`, which the notebook picks up.

# %% [markdown]
# ## 1. `Client.open(url, stac_io=pystac_eds.stac_io())`
#
# If your code opens the catalog with a pasted token, change one line:
#
# ```diff
# - catalog = Client.open(URL, headers={"Authorization": f"Bearer {token}"})
# + catalog = Client.open(URL, stac_io=pystac_eds.stac_io())
# ```
#
# `URL` stays as it was. Here we take it from the settings so that the notebook also works
# against the sandbox.

# %%
from pystac_client import Client

import pystac_eds

URL = pystac_eds.Credentials.resolve().api_url  # in your code: the URL you already use

catalog = Client.open(URL, stac_io=pystac_eds.stac_io())
[c.id for c in catalog.get_collections()]

# %% [markdown]
# One catch: `Client.open(..., stac_io=io)` replaces the io's `timeout` and `request_modifier`
# with its own arguments. So pass those to `Client.open`, not to `stac_io()`. (Or switch to
# `pystac_eds.open(...)`, which takes every argument of `Client.open` and handles this for
# you.)

# %%
catalog = Client.open(URL, stac_io=pystac_eds.stac_io(), timeout=(10, 120))
items = catalog.search(collections=["sentinel-2-l2a"], max_items=5).item_collection()
[item.id for item in items]

# %% [markdown]
# ### Asset hrefs ready to read: `modifier=pystac_eds.use_presigned_hrefs`
#
# `stac_io()` asks EDS for presigned asset URLs, but EDS leaves each asset's `href` as
# stored (`s3://…`) and puts the signed HTTPS URL aside, at `alternate.download.href`, where
# odc-stac, stackstac and rasterio do not look:

# %%
print(items[0].assets["red"].href)

# %% [markdown]
# `pystac_eds.open()` moves the signed URLs into `href` for you. With `Client.open`, pass
# `modifier=pystac_eds.use_presigned_hrefs`: pystac-client runs it on every item and
# collection it returns, as it runs planetary-computer's `sign_inplace`. It keeps the stored
# href as `alternate["s3"]` and records in `expires` when the URL stops working.

# %%
catalog = Client.open(
    URL, stac_io=pystac_eds.stac_io(), modifier=pystac_eds.use_presigned_hrefs, timeout=(10, 120)
)
item = next(catalog.search(collections=["sentinel-2-l2a"], max_items=1).items())
red = item.assets["red"]
print("href      ", red.href.split("?")[0], "?… (signed)")
print("stored as ", red.extra_fields["alternate"]["s3"]["href"])
print("expires   ", red.extra_fields["expires"])

# %% [markdown]
# ## 2. `EDSAuth` on a `requests` session
#
# Not everything is a pystac-client call. You may want the raw JSON, an endpoint pystac-client
# doesn't wrap, or your own HTTP helpers. `EDSAuth` is a standard `requests` auth: it adds the
# token, refreshes it, and retries a `401` once, on any session.

# %%
import requests

session = requests.Session()
session.auth = pystac_eds.EDSAuth()

landing = session.get(URL, timeout=30).json()
sorted({link["rel"] for link in landing["links"]})

# %%
response = session.post(
    f"{URL}/search", json={"collections": ["sentinel-2-l2a"], "limit": 3}, timeout=30
)
response.raise_for_status()
[feature["id"] for feature in response.json()["features"]]

# %% [markdown]
# The token goes only to the API's own origin (scheme, host and port). It is never sent to a
# `next` link or redirect on another host, and never over plain http except to your own
# machine. So the same session can download files from other hosts without leaking the token:

# %%
auth = session.auth
print("the API itself:    ", auth.in_scope(f"{URL}/collections"))
print("some other server: ", auth.in_scope("https://example.com/scene/B04.tif"))

# %% [markdown]
# When another tool needs the raw token (curl, GDAL's HTTP headers, a different library), ask
# for it at the moment you use it: `auth.token()` returns a token that is valid now. Don't
# print it, and don't keep it in a variable for later: it expires.

# %%
token = auth.token()
print(f"a valid token of {len(token)} characters (not shown)")

# %% [markdown]
# ## 3. The command line, from a cell
#
# `pystac-eds` offers `check`, `token`, `collections` and `search` in the shell, and a `!`
# cell runs a shell command. `check` tests every step (settings, token URL, token, API) and
# says what to fix when one fails: it is the first thing to run when something is wrong. It
# shows where each setting came from, but not the secret (only a fingerprint).

# %%
# !pystac-eds check

# %%
# !pystac-eds collections

# %% [markdown]
# `search` takes the options of pystac-client's `stac-client search`. With `--save FILE` it
# writes a GeoJSON FeatureCollection that pystac reads back. (`--ndjson` streams one item per
# line instead, handy with `jq`; `--matched` prints only how many items match.)

# %%
import tempfile
from pathlib import Path

saved = Path(tempfile.mkdtemp()) / "kenya-2023.geojson"
where = "--bbox 34 -1 36 1 --datetime 2023-01-01/2023-12-31"
# !pystac-eds search -c sentinel-2-l2a {where} --max-items 50 --save {saved}

# %%
import pystac

from_cli = pystac.ItemCollection.from_file(str(saved))
print(f"{len(from_cli)} items saved by the command line, e.g. {from_cli[0].id}")

# %% [markdown]
# In a shell script, `pystac-eds token` prints a valid token for tools such as curl, for
# example `curl -H "Authorization: Bearer $(pystac-eds token)" "$EDS_API_URL/collections"`.
# With the disk cache on (the default), it is the token this notebook already holds, so
# no extra token request is made.
