# %% [markdown]
# # From search results to pixels
#
# You search the Earth Data Store to look at the Earth. In this notebook you go from a
# search to pictures:
#
# 1. search a small area over Boulder, Colorado,
# 2. load a true-colour composite and an NDVI map with
#    [odc-stac](https://odc-stac.readthedocs.io), and plot them,
# 3. follow NDVI through a year as a small time series,
# 4. see when the asset URLs run out, and get fresh ones with `resign`,
# 5. load the same pixels through EDS's proxy URLs with `gdal_env`.
#
# It needs the `[pixels]` extra (`pip install 'pystac-eds[pixels]'`: rasterio, odc-stac,
# numpy) and matplotlib. Settings come from the environment or an `EDS.env` file, as in
# the quickstart; offline, `pystac-eds sandbox --env-file EDS.env` gives you a local look-alike of
# EDS with real (synthetic) pixels.

# %%
import matplotlib.pyplot as plt
import numpy as np
import odc.stac

import pystac_eds

BBOX = (-105.3, 39.9, -105.1, 40.1)  # Boulder, Colorado
AREA = (-105.8, 39.6, -104.8, 40.4)  # the country around it, for the pictures

catalog = pystac_eds.open()
summer = catalog.search(
    collections=["sentinel-2-l2a"], bbox=BBOX, datetime="2024-06-01/2024-08-31"
).item_collection()
for item in summer:
    when, cloud = item.properties["datetime"][:10], item.properties["eo:cloud_cover"]
    print(item.id, when, f"cloud cover {cloud}%")

# %% [markdown]
# ## Hrefs that read as they are
#
# EDS can sign asset URLs, but it leaves each asset's `href` as stored (`s3://…`) and puts
# the signed HTTPS URL aside, at `alternate.download.href`, where odc-stac and rasterio do
# not look. `pystac_eds.open()` asks for signed URLs and moves them into `href`, keeps the
# stored one as `alternate["s3"]`, and records in `expires` when the URL stops working.
# Nothing else to set up: no AWS credentials, no GDAL options.

# %%
red = summer[0].assets["red"]
print("href     ", red.href.split("?")[0], "?… (signed)")
print("stored as", red.extra_fields["alternate"]["s3"]["href"])
print("expires  ", red.extra_fields["expires"])

# %% [markdown]
# ## True colour and NDVI
#
# `odc.stac.load` reads the bands of every item onto one pixel grid, clipped to a box: here
# the country around Boulder. We keep the clearest scene of the summer.

# %%
clearest = min(summer, key=lambda item: item.properties["eo:cloud_cover"])
data = odc.stac.load([clearest], bands=["red", "green", "blue", "nir"], bbox=AREA)
scene = data.isel(time=0).astype("float32") / 10_000  # reflectance

rgb = np.stack([scene.red, scene.green, scene.blue], axis=-1)
ndvi = (scene.nir - scene.red) / (scene.nir + scene.red)

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
left.imshow(np.clip(rgb / np.nanpercentile(rgb, 98), 0, 1))  # a simple contrast stretch
left.set_title(f"True colour, {clearest.properties['datetime'][:10]}")
shown = right.imshow(ndvi, cmap="RdYlGn", vmin=-0.2, vmax=0.9)
right.set_title("NDVI")
fig.colorbar(shown, ax=right, shrink=0.8)
for axis in (left, right):
    axis.set_axis_off()
plt.show()

# %% [markdown]
# Water is negative, the town (the round patch) is low, and the fields are green.
#
# ## A year of NDVI
#
# The same area through 2024. Cloudy passes would drag the mean down, so we keep passes
# under 30 % cloud. One `odc.stac.load` call reads them all; each time step is one scene.

# %%
year = catalog.search(
    collections=["sentinel-2-l2a"], bbox=BBOX, datetime="2024-01-01/2024-12-31"
).item_collection()
clear = [item for item in year if item.properties["eo:cloud_cover"] < 30]
series = odc.stac.load(clear, bands=["red", "nir"], bbox=BBOX, groupby="solar_day")
red_, nir_ = series.red.astype("float32"), series.nir.astype("float32")
mean_ndvi = ((nir_ - red_) / (nir_ + red_)).mean(dim=["x", "y"])

fig, axis = plt.subplots(figsize=(9, 3.5))
axis.plot(mean_ndvi.time, mean_ndvi, marker="o")
axis.set_ylabel("mean NDVI")
axis.set_title(f"Boulder, 2024: {len(clear)} clear passes of {len(year)}")
fig.autofmt_xdate()  # slanted dates, so they do not run together
plt.show()

# %% [markdown]
# ## When the URLs run out: `resign`
#
# Signed URLs live 12 hours on EDS. Items you keep longer — saved to a file, or used by a
# job that runs overnight — need fresh ones. `pystac_eds.resign` looks at `expires` and
# asks the API again only for the items that run out within `margin`, all of them in one
# search by id (a page holds up to the API's limit), never one request per item. Here a
# margin of a day makes every item of the year count as expiring, and we count the
# requests it makes. (The old URLs were signed moments ago, so both run out at about the
# same time; for items saved yesterday the new ones would last 12 hours longer.)

# %%
from datetime import timedelta

sent: list[str] = []
counting = pystac_eds.open(request_modifier=lambda request: sent.append(request.url))
sent.clear()  # forget the landing page
fresh = pystac_eds.resign(year, margin=timedelta(days=1), catalog=counting)
print(f"{len(fresh)} items re-signed with {len(sent)} request(s)")
print("old URL valid until:", year[0].assets["red"].extra_fields["expires"])
print("new URL valid until:", fresh[0].assets["red"].extra_fields["expires"])
print("same items, same order:", [i.id for i in fresh] == [i.id for i in year])

# %% [markdown]
# ## The same pixels through proxy URLs
#
# EDS can also hand out *proxy* URLs (`asset_access="proxy"`). They never expire, but each
# read needs a current bearer token, and GDAL does not know about tokens.
# `pystac_eds.gdal_env()` sets that up and returns GDAL options that hold no token: the
# token sits in a private file that pystac-eds rewrites before it expires, and GDAL attaches
# it only to EDS's own URLs, never to the storage the proxy redirects to. For that last
# promise it also tells GDAL, for the whole process, to follow each redirect afresh instead
# of remembering the storage URL (where it would send the token too).
# `odc.stac.configure_rio` makes odc-stac use the options.

# %%
from rasterio.env import get_gdal_config

proxied = pystac_eds.open(asset_access="proxy")
clearest_proxied = next(iter(proxied.search(ids=[clearest.id]).items()))
print("proxy href:", clearest_proxied.assets["red"].href)

options = pystac_eds.gdal_env()
print("GDAL options:", options)
print("redirects followed afresh:", get_gdal_config("CPL_VSIL_CURL_USE_S3_REDIRECT") == "NO")
odc.stac.configure_rio(cloud_defaults=False, verbose=False, aws=None, **options)
again = odc.stac.load([clearest_proxied], bands=["red", "nir"], bbox=AREA).isel(time=0)
same = np.array_equal(again.red, data.red.isel(time=0), equal_nan=True)
print("same pixels as the presigned load:", same)

# %% [markdown]
# ## What next
#
# - On a dask cluster, create the `distributed.Client` first: `gdal_env()` then sets up
#   every worker too (see [Assets: on dask](../docs/assets.md#on-dask)).
# - The Assets page has the table of
#   [what is sent to which host](../docs/assets.md#what-is-sent-to-which-host), and the
#   [limits](../docs/assets.md#limits).
