"""Every Python example in docs/assets.md runs against the sandbox."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pystac_eds import header_file

PAGE = Path(__file__).resolve().parents[1] / "docs" / "assets.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)

pytestmark = pytest.mark.sandbox


def test_the_page_has_its_examples() -> None:
    assert len(BLOCKS) == 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(
    index: int,
    eds_sandbox_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    pytest.importorskip("odc.stac")
    if "distributed" in BLOCKS[index]:
        pytest.importorskip("distributed")
    monkeypatch.chdir(tmp_path)  # examples may write files
    source = BLOCKS[index]
    if "LocalCluster(" in source:  # tests bind loopback only, and no dashboard on :8787
        cluster = "LocalCluster(n_workers=2, processes=True)"
        assert cluster in source
        source = source.replace(
            cluster,
            "LocalCluster(n_workers=2, processes=True, host='127.0.0.1', dashboard_address=None,"
            " scheduler_kwargs={'dashboard_address': '127.0.0.1:0'})",
        )
    try:
        code = compile(source, f"{PAGE}:block{index}", "exec")
        exec(code, {"__name__": "__main__"})  # noqa: S102 - our own docs
    finally:
        header_file.stop_all()
    out = capsys.readouterr().out
    assert out.strip()
    assert "Bearer" not in out
