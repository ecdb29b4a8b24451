# %% [markdown]
# # Quickstart: search the Earth Data Store from Python
#
# The EarthDaily Earth Data Store (EDS) is a STAC API, so
# [pystac-client](https://pystac-client.readthedocs.io) can search it. What EDS adds is
# authentication: every request needs a bearer token from an OAuth2 token endpoint, and each
# token expires after about an hour. `pystac-eds` takes care of that, so you write the same
# code you would write for any STAC API.
#
# In this notebook you will:
#
# 1. see where your settings come from,
# 2. open the catalog and browse its collections,
# 3. search for Sentinel-2 scenes over farmland in western Kenya,
# 4. look at the results as a table, then as a plot and a map,
# 5. load the pixels of the clearest scene.

# %% [markdown]
# ## 1. Settings: environment variables or an `EDS.env` file
#
# Four settings describe an EDS account: `EDS_SECRET`, `EDS_CLIENT_ID`, `EDS_AUTH_URL` and
# `EDS_API_URL`. Only the secret is required; the defaults fit the new EDS login flow. They
# come from, first match wins: arguments you pass in code, environment variables, an env
# file (the `EDS.env` you download from the EDS console, next to your notebook), defaults.
# For the new login flow that file needs one line, `EDS_SECRET=<your API token>`.
#
# > **No EDS account, or offline?** In a terminal, in this folder:
# > `pip install 'pystac-eds[sandbox,notebooks,pixels]'` (the sandbox, and what this notebook
# > plots and reads pixels with), then `pystac-eds sandbox --env-file EDS.env` and leave it
# > running. It starts a local EDS look-alike and writes its settings to `EDS.env`, which
# > this notebook then picks up.
#
# Keeping the secret out of your cells means it never ends up in a saved notebook, a
# screenshot or a git commit. `Credentials.resolve()` gathers the settings the way
# `pystac_eds.open()` will, and `.sources` says where each one came from: when a search
# returns the wrong data or a `401`, look here first (an old `EDS_SECRET` exported in your
# shell wins over a fresh `EDS.env`).

# %%
import pystac_eds

creds = pystac_eds.Credentials.resolve()
print(creds)  # the secret is masked: only its last 4 characters are shown
for name, source in creds.sources.items():
    print(f"{name:>14} from {source}")

# %% [markdown]
# ## 2. Open the catalog
#
# `pystac_eds.open()` returns a plain `pystac_client.Client`. Everything you know from
# pystac-client still works. The difference is that its HTTP session carries an `EDSAuth`,
# which fetches a token when one is first needed, shares it with every other client in the
# process, and replaces it before it expires.
#
# Opening the catalog reads its landing page, and that first request fetches the first token.

# %%
catalog = pystac_eds.open()
print(catalog.title or catalog.id)

# %% [markdown]
# ## 3. Browse the collections
#
# A collection groups items from one source. Its extent tells you where and when it has data.
# Checking that before you search saves you from searches that come back empty.

# %%
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

# %% [markdown]
# ## 4. Search
#
# A search names collections, an area (`bbox`: west, south, east, north in degrees) and a time
# range. `max_items` caps how many items come back. Results arrive in pages, one request per
# page, and every request carries a valid token. On a long search pystac-eds replaces that
# token before it expires (see [02. Searches that outlive their token](02-long-running.ipynb)).

# %%
BBOX = [34.0, -1.0, 36.0, 1.0]  # farmland around Kisumu and Lake Victoria, western Kenya

search = catalog.search(
    collections=["sentinel-2-l2a"],
    bbox=BBOX,
    datetime="2023-01-01/2024-12-31",
    max_items=200,
)
items = search.item_collection()
print(f"{len(items)} items")

# %% [markdown]
# ## 5. The items as a table
#
# Each item is a GeoJSON feature with a `properties` dictionary. A pandas table of the
# properties you care about is the quickest way to get an overview, and to filter, sort and
# group without asking the API again.

# %%
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

# %%
clear = df[df["eo:cloud_cover"] < 20]
print(f"{len(clear)} of {len(df)} scenes are less than 20% cloudy")
df.groupby("platform")["eo:cloud_cover"].describe().round(1)

# %% [markdown]
# ## 6. Cloud cover over time
#
# A table of dates is hard to read. A scatter plot shows straight away when the clear
# scenes are, and whether both satellites cover the area.

# %%
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

# %% [markdown]
# ## 7. Tiles on a map
#
# Each item's `geometry` is its footprint in longitude/latitude. Sentinel-2 revisits the same
# tiles of a fixed grid, so most items share their footprint with many others: drawing every
# item would stack one outline on top of another. We group the items by tile instead (the
# `grid:code` property, or the footprint itself when an item has none) and draw each tile
# once, with how many scenes it has and how many are clear. The dashed box is the search
# area: footprints only need to touch it, so a tile may reach outside it. For context,
# [basemap](https://matplotlib.org/basemap/) draws coastlines, lake shores and country
# borders from data installed with it, so the map needs no download and no web tiles.

# %%
import json
from typing import Any

import numpy as np
from matplotlib.patches import Polygon, Rectangle
from mpl_toolkits.basemap import Basemap


def outer_rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    """The outer ring of each polygon of a GeoJSON Polygon or MultiPolygon."""
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"][0]]
    if geometry["type"] == "MultiPolygon":
        return [polygon[0] for polygon in geometry["coordinates"]]
    return []


tiles: dict[str, list[Any]] = {}  # tile -> its items
for item in items:
    tile = item.properties.get("grid:code") or json.dumps(item.geometry, sort_keys=True)
    tiles.setdefault(tile, []).append(item)
print(f"{len(items)} items on {len(tiles)} tile(s)")

fig, ax = plt.subplots(figsize=(7, 6))
for scenes in tiles.values():
    rings = outer_rings(scenes[0].geometry or {"type": None})
    for ring in rings:
        ax.add_patch(Polygon(ring, facecolor="#1f77b426", edgecolor="tab:blue", linewidth=1.5))
    if rings:  # a label in the middle of the tile
        name = scenes[0].properties.get("grid:code", "")
        clear_scenes = sum(s.properties.get("eo:cloud_cover", 100) < 20 for s in scenes)
        label = f"{name}\n{len(scenes)} scenes\n{clear_scenes} under 20% cloud".strip()
        lon, lat = np.mean(rings[0], axis=0)
        ax.text(lon, lat, label, ha="center", va="center", fontsize=9)
west, south, east, north = BBOX
ax.add_patch(Rectangle((west, south), east - west, north - south, fill=False, linestyle="--"))
ax.autoscale_view()
(lon_min, lon_max), (lat_min, lat_max) = ax.get_xlim(), ax.get_ylim()
# "cyl": plain longitude/latitude axes, so the footprints above need no projection.
corners = dict(llcrnrlon=lon_min, llcrnrlat=lat_min, urcrnrlon=lon_max, urcrnrlat=lat_max)
land = Basemap(projection="cyl", resolution="i", ax=ax, **corners)
land.fillcontinents(color="#f3f1ea", lake_color="#cfe2f3", zorder=0)
land.drawmapboundary(fill_color="#cfe2f3", zorder=-1)
land.drawcoastlines(linewidth=0.6)  # with the shores of large lakes such as Lake Victoria
land.drawcountries(linewidth=0.8, linestyle=":")
grid = dict(linewidth=0.3, color="0.6", dashes=[1, 2])  # a 1-degree grid, labelled
land.drawparallels(range(-5, 6), labels=[True, False, False, False], **grid)
land.drawmeridians(range(30, 41), labels=[False, False, False, True], **grid)
ax.set_title(f"{len(items)} scenes on {len(tiles)} tile(s) around Lake Victoria")
plt.show()

# %% [markdown]
# ## Now load pixels
#
# The items are ready to read: `pystac_eds.open()` asked EDS for signed asset URLs and put
# them in each asset's `href`, so odc-stac (or stackstac, or rasterio) reads the pixels with
# no credentials and no GDAL set-up. Here: the clearest scene of the search, in true colour.
# (Against the sandbox the pixels are synthetic: blocky fields, a drawn river, a round town.)

# %%
import odc.stac

clearest = min(items, key=lambda item: item.properties.get("eo:cloud_cover", 100))
print(clearest.id, "- signed URL valid until", clearest.assets["red"].extra_fields["expires"])
scene = odc.stac.load([clearest], bands=["red", "green", "blue"]).isel(time=0)
rgb = np.stack([scene.red, scene.green, scene.blue], axis=-1).astype("float32")

fig, ax = plt.subplots(figsize=(6, 6))
ax.imshow(np.clip(rgb / np.nanpercentile(rgb, 98), 0, 1))  # a simple contrast stretch
ax.set_title(f"{clearest.id}, true colour")
ax.set_axis_off()
plt.show()

# %% [markdown]
# ## Next
#
# - [02. Searches that outlive their token](02-long-running.ipynb): searches that run longer
#   than a token lives.
# - [03. Bring pystac-eds to code you already have](03-existing-code.ipynb): pystac-client
#   code you already have, any `requests` session, and the `pystac-eds` command line.
# - [04. Scale out](04-scale-out.ipynb): parallel searches on dask workers.
# - [05. From search results to pixels](05-pixels.ipynb): NDVI, a year of it, fresh URLs
#   with `resign`, and EDS's proxy URLs.
#
# Asset links: by default (`asset_access="presigned"`) the hrefs are signed URLs that EDS keeps
# valid for 12 hours; `pystac_eds.resign(items)` renews them. Use
# `pystac_eds.open(asset_access="proxy")` for EDS proxy URLs (read them with
# `pystac_eds.gdal_env()`), or `"raw"` for the stored hrefs. The
# [Assets and pixels](../docs/assets.md) page explains all three.
