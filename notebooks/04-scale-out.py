# %% [markdown]
# # Scale out: parallel searches on dask workers
#
# A big question, such as every scene of three collections over two years, can be asked as
# many small searches run side by side: one per month and collection. This notebook fans
# the searches out to [dask](https://distributed.dask.org) worker processes and gathers the
# results into one table. (Whether that is quicker depends on the API's latency: against a
# remote API many searches in flight at once win; against the local sandbox, as you will
# see below, the workers' start-up costs more than it saves.)
#
# This only works if authentication travels with the work. A catalog from
# `pystac_eds.open()` can be pickled: its credentials go to each worker with it, and each
# worker fetches and refreshes its own token there. No token is pasted anywhere, so none
# expires halfway through the job.

# %% [markdown]
# > **Settings.** This notebook reads `EDS_SECRET` (and, for legacy credentials,
# > `EDS_CLIENT_ID` and `EDS_AUTH_URL`) from the environment or from an `EDS.env` file next to
# > it, so it runs unchanged against the Earth Data Store. It needs dask and, for its last
# > cell, odc-stac: `pip install 'pystac-eds[notebooks,pixels]'`. **No EDS account, or
# > offline?** In a terminal, in this folder: `pip install 'pystac-eds[sandbox]'`, then
# > `pystac-eds sandbox --env-file EDS.env` and leave it running. It starts a local EDS look-alike
# > and writes its settings to `EDS.env`, which the notebook picks up.

# %%
import os

import pandas as pd
from pystac_client import Client

import pystac_eds
from pystac_eds import TokenCache

catalog = pystac_eds.open()

# %% [markdown]
# ## A local cluster
#
# Two worker processes on this machine. The same code runs on a remote cluster: point
# dask's `Client` at its scheduler instead. (`dashboard_address="127.0.0.1:0"` puts dask's
# status page on any free local port, not on 8787, which another cluster may hold; the page
# itself needs `pip install bokeh`. `dashboard_address=None` would still take 8787 for the
# scheduler's other web pages.)

# %%
from dask.distributed import Client as DaskClient
from dask.distributed import LocalCluster

cluster = LocalCluster(
    n_workers=2,
    threads_per_worker=2,
    processes=True,
    host="127.0.0.1",
    dashboard_address="127.0.0.1:0",
)
dask_client = DaskClient(cluster)
print(f"{len(dask_client.scheduler_info()['workers'])} workers")

# %% [markdown]
# ## One task: one search, plain rows back
#
# A task runs one search and returns plain dictionaries, which are cheaper to send back than
# full STAC items.

# %%
BBOX = [34.0, -1.0, 36.0, 1.0]  # western Kenya
COLLECTIONS = ["sentinel-2-l2a", "landsat-c2l2-sr", "venus-l2a"]
MONTHS = [f"{year}-{month:02d}" for year in (2023, 2024) for month in range(1, 13)]


def search_rows(catalog: Client, collection: str, month: str) -> list[dict[str, object]]:
    """One month of one collection, as plain rows."""
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


# %% [markdown]
# ## Serial first, for comparison
#
# The same 72 searches, one after the other, in this kernel:

# %%
import time

searches = [(c, m) for c in COLLECTIONS for m in MONTHS]
began = time.perf_counter()
serial = [row for c, m in searches for row in search_rows(catalog, c, m)]
serial_seconds = time.perf_counter() - began
print(f"{len(searches)} searches one after the other: {len(serial)} items, {serial_seconds:.1f} s")

# %% [markdown]
# ## The same searches on the workers
#
# The catalog is *scattered* once, so every worker holds one copy of it and all tasks on that
# worker share its connection pool and token. Then one task per search:

# %%
began = time.perf_counter()
shared = dask_client.scatter(catalog, broadcast=True)
futures = [dask_client.submit(search_rows, shared, c, m) for c, m in searches]
df = pd.DataFrame([row for rows in dask_client.gather(futures) for row in rows])
dask_seconds = time.perf_counter() - began
print(f"{len(futures)} searches on {df['worker pid'].nunique()} worker processes: {len(df)} items")
faster = "dask" if dask_seconds < serial_seconds else "the serial loop"
ratio = max(serial_seconds, dask_seconds) / min(serial_seconds, dask_seconds)
print(
    f"serial {serial_seconds:.1f} s, dask {dask_seconds:.1f} s: {faster} was {ratio:.1f}x as fast"
)
df.head()

# %% [markdown]
# Which one wins, and by how much, depends on where the time goes; the line above says how
# it went on this run. A search spends most of its time waiting for the API, and four worker
# threads wait for four searches at once. Against it stand dask's own costs: shipping the
# catalog, sending each task to a worker and its result back, and each worker's first token.
# Against the offline sandbox on one machine the wait is short and those costs weigh as
# much as the searches, so the gain is small or even a loss on a busy machine. Against EDS
# each page is a round trip over the internet: the more searches and the farther the API,
# the larger dask's lead. Both ways find the same items.

# %% [markdown]
# ## One table, one picture
#
# The results are now one pandas table, ready to group. Scenes per month and collection show
# how often each sensor saw the area:

# %%
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

# %% [markdown]
# ## What it cost in tokens
#
# A *token request* is one call to the token URL: the OAuth2 exchange of your secret for an
# access token that lives about an hour. EDS may rate-limit these calls, and each one adds a
# round trip to the search that makes it, so fewer is better. What matters is that the count
# does not grow with the number of searches.
#
# Every process has its own `TokenCache.default()`, and `dask_client.run` asks each worker
# for its count. This kernel made one request when it opened the catalog, and used that token
# for the 72 serial searches too. A worker process needs a token the first time one of its
# tasks searches, and its threads share it for all their searches after that. With the disk
# token cache on (the default), the worker finds the token this kernel saved there and makes
# no request: one token request in all. With `EDS_TOKEN_CACHE=off`, each worker requests its
# own: three in all. Either way the count does not grow with the 144 searches.

# %%
on_workers = dask_client.run(lambda: TokenCache.default().token_requests)
here = TokenCache.default().token_requests
disk = TokenCache.default().store
print(f"{len(searches)} serial searches and {len(futures)} on dask")
print("disk token cache:", "off" if disk is None else "on")
print(f"token requests in this kernel: {here}")
for worker, count in on_workers.items():
    print(f"token requests on worker {worker}: {count}")
print(f"in all: {here + sum(on_workers.values())}")

# %% [markdown]
# ## Pixels on the workers
#
# Item assets from `pystac_eds.open()` are presigned URLs, readable as they are, so the same
# workers can load the pixels with [odc-stac](https://odc-stac.readthedocs.io) (or
# [stackstac](https://stackstac.readthedocs.io)) and no extra authentication. With
# `chunks={}` the load is lazy: a dask graph, which `.compute()` runs on the cluster. Here:
# the mean NDVI of each June scene over a small area around Kisumu (it needs the `[pixels]`
# extra; [05. From search results to pixels](05-pixels.ipynb) goes further).

# %%
import odc.stac

KISUMU = (34.70, -0.15, 34.85, -0.05)  # west, south, east, north
june = catalog.search(
    collections=["sentinel-2-l2a"], bbox=KISUMU, datetime="2024-06"
).item_collection()
data = odc.stac.load(june, bands=["red", "nir"], bbox=KISUMU, chunks={}).astype("float32")
ndvi = ((data.nir - data.red) / (data.nir + data.red)).mean(dim=["x", "y"])
print(f"mean NDVI of {len(june)} June scene(s), computed on the workers:")
print(ndvi.compute().to_series().round(2).to_string())

# %%
dask_client.close()
cluster.close()
