"""Every Python example in docs/sandbox.md and in the ``Sandbox`` docstring runs: against
the sandbox, or (the test-kit example) with the test kit's fixtures."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pystac_eds.sandbox import Sandbox
from pystac_eds.testing import AssetServer, StacServer, TokenServer

from .helpers import need_extra

PAGE = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_the_page_has_its_examples() -> None:
    assert len(BLOCKS) == 3


def test_starting_a_sandbox_from_python(capsys: pytest.CaptureFixture[str]) -> None:
    need_extra()
    exec(compile(BLOCKS[0], f"{PAGE}:block0", "exec"), {})  # noqa: S102 - our own docs
    assert capsys.readouterr().out.strip().endswith("/platform/v1/stac")


def test_reading_pixels_through_a_presigned_url(
    eds_sandbox_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("rasterio")
    exec(compile(BLOCKS[1], f"{PAGE}:block1", "exec"), {})  # noqa: S102 - our own docs
    item_id, shape = capsys.readouterr().out.split(" ", 1)
    assert item_id.startswith("S2") and "_13TDE_2024" in item_id
    assert shape.strip() == "(3, 122, 122)"


def test_the_test_kit_example(
    eds_token_server: TokenServer, eds_stac_server: StacServer, eds_asset_server: AssetServer
) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(BLOCKS[2], f"{PAGE}:block2", "exec"), namespace)  # noqa: S102 - our own docs
    namespace["test_my_reader_gets_bytes"](eds_token_server, eds_stac_server, eds_asset_server)


def literal_block(docstring: str) -> str:
    """The indented block after a docstring's first ``::`` line, dedented."""
    lines = textwrap.dedent("\n".join(docstring.splitlines()[1:])).splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith("::")) + 1
    block: list[str] = []
    for line in lines[start:]:
        if line.strip() and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


def test_the_sandbox_docstring_example(capsys: pytest.CaptureFixture[str]) -> None:
    need_extra()
    assert Sandbox.__doc__ is not None
    example = literal_block(Sandbox.__doc__)
    exec(compile(example, "Sandbox.__doc__", "exec"), {})  # noqa: S102 - our own docs
    printed = capsys.readouterr().out.strip()
    # The output the example states, in its last line's comment.
    assert printed == example.strip().splitlines()[-1].strip().removeprefix("# ")
