"""Nothing of the asset side logs, raises or reprs the secret or a whole token (canary
secret, DEBUG level): presigned hrefs, resign and its errors, gdal_env and its header file."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from datetime import timedelta

import pytest

import pystac_eds
from pystac_eds import MissingItemsError, header_file
from pystac_eds.cache import TokenCache
from pystac_eds.gdal import _WorkerSetup
from pystac_eds.testing import AssetServer, StacServer, TokenServer

from .conftest import CANARY_SECRET

S2 = "sentinel-2-l2a"


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    with TokenServer(client_secret=CANARY_SECRET) as server:
        yield server


def test_no_secret_or_token_in_logs_errors_or_reprs(
    tokens: TokenServer, eds_asset_server: AssetServer, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("rasterio")
    with StacServer(tokens, assets=eds_asset_server) as stac, caplog.at_level(logging.DEBUG):
        credentials = tokens.credentials(stac.url)
        catalog = pystac_eds.open(credentials=credentials, cache=TokenCache(store=None))
        items = catalog.search(collections=[S2], max_items=5).item_collection()
        stac.collections[S2].pop(1)
        with pytest.raises(MissingItemsError) as caught:
            pystac_eds.resign(items, margin=timedelta(days=1), catalog=catalog)
        options = pystac_eds.gdal_env(credentials, cache=TokenCache(store=None))
        header = header_file.ensure_fresh(credentials)
        shown = "\n".join(
            [
                caplog.text,
                str(caught.value),
                repr(caught.value),
                repr(options),
                repr(header.__dict__),
                repr(_WorkerSetup(credentials, ("/vsicurl/x/",))),
                repr(items[0].assets["visual"].extra_fields),
            ]
        )
        header_file.stop_all()
    assert tokens.issued_tokens
    for secret in (CANARY_SECRET, *tokens.issued_tokens):
        assert secret not in shown
    # the worker set-up carries the secret (as a pickled client does), never a token
    blob = pickle.dumps(_WorkerSetup(credentials, ("/vsicurl/x/",)))
    assert not [t for t in tokens.issued_tokens if t.encode() in blob]
