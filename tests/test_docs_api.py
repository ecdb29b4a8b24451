"""The API reference (docs/reference/api.md) documents every public name: it says that
everything importable from ``pystac_eds`` is on the page, so a name added to the package
must be added there too."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pystac_eds

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "api.md"


def _documented() -> list[str]:
    """The names of the page's ``::: pystac_eds.NAME`` entries (mkdocstrings)."""
    return re.findall(r"^::: pystac_eds\.(\w+)\s*$", PAGE.read_text(encoding="utf-8"), re.M)


def test_every_public_name_has_an_entry_in_the_api_reference() -> None:
    public = {name for name in pystac_eds.__all__ if not name.startswith("_")} | {"open"}
    missing = sorted(public - set(_documented()))
    assert not missing, f"add `::: pystac_eds.NAME` to {PAGE.name} for: {missing}"


def test_every_entry_names_something_importable_once() -> None:
    documented = _documented()
    assert len(documented) == len(set(documented)), "an entry is repeated"
    for name in documented:
        if name == "testing":  # a module of its own, not a name of the package
            importlib.import_module("pystac_eds.testing")
        else:
            assert getattr(pystac_eds, name, None) is not None, f"pystac_eds.{name} is missing"
