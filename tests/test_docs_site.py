"""The documentation site's own tooling: the link check of the built site
(scripts/check_site_links.py, run by scripts/test after the build) and the mkdocs hooks
(scripts/docs_hooks.py) that point the tutorials' links at the site's pages and refuse to
publish tutorials without outputs in CI."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and functools.cache look the module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def links() -> ModuleType:
    return _script("check_site_links")


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    pytest.importorskip("mkdocs", reason="the hooks need the [docs] extra")
    return _script("docs_hooks")


# ---------------------------------------------------------------------------------------
# The link check of the built site
# ---------------------------------------------------------------------------------------


def _page(site: Path, relative: str, body: str) -> None:
    path = site / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><html><body>{body}</body></html>", encoding="utf-8")


def test_the_link_check_finds_missing_pages_files_and_anchors(
    links: ModuleType, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _page(site, "index.html", '<h2 id="top">Top</h2><a name="old-anchor"></a>')
    _page(site, "assets/index.html", '<h2 id="on-dask">On dask</h2>')
    (site / "style.css").write_text("", encoding="utf-8")
    _page(
        site,
        "tutorials/05-pixels/index.html",
        # Fine: a folder's index.html, an anchor there, a file, this page's own anchor,
        # an <a name> anchor, an encoded anchor, another host, a data URI.
        '<a href="../../assets/">a</a> <a href="../../assets/#on-dask">b</a>'
        '<link href="../../style.css"> <a href="#here">c</a><h3 id="here">h</h3>'
        '<a href="../../#old-anchor">d</a> <a href="../../index.html#%74op">e</a>'
        '<a href="https://example.com/x.md">f</a> <img src="data:image/png;base64,AAAA">'
        # Broken: a source link, a missing anchor, a missing file, outside the site, and
        # an absolute path.
        '<a href="../docs/assets.md">g</a> <a href="../../assets/#limits">h</a>'
        '<img src="plot.png"> <a href="../../../secret.txt">i</a> <a href="/assets/">j</a>',
    )
    _page(site, "404.html", '<a href="/assets/">shown at any depth: root paths</a>')

    problems = list(links.broken_links(site))

    page = "tutorials/05-pixels/index.html"
    assert problems == [
        f"{page}: ../docs/assets.md (no such file: tutorials/docs/assets.md)",
        f"{page}: ../../assets/#limits (no #limits on that page)",
        f"{page}: plot.png (no such file: tutorials/05-pixels/plot.png)",
        f"{page}: ../../../secret.txt (leads outside the site)",
        f"{page}: /assets/ (an absolute path: breaks when the site is not at the root of its host)",
    ]


def test_the_link_check_exits_1_on_a_broken_link_and_0_on_none(
    links: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    _page(site, "index.html", '<a href="#nowhere">x</a>')
    assert links.main([str(site)]) == 1
    assert "index.html: #nowhere (no #nowhere on that page)" in capsys.readouterr().err
    _page(site, "index.html", '<a href="#here" id="here">x</a>')
    links._parsed.cache_clear()
    assert links.main([str(site)]) == 0
    assert links.main([str(tmp_path / "not-built")]) == 2  # no site: not a silent pass


# ---------------------------------------------------------------------------------------
# The tutorials' links, written for GitHub and Jupyter, on the site
# ---------------------------------------------------------------------------------------

SITE_URLS = {
    "assets.md": "assets/",
    "how-to/scale-out.md": "how-to/scale-out/",
    "tutorials/02-long-running.ipynb": "tutorials/02-long-running/",
}


def test_tutorial_links_become_links_to_the_sites_pages(
    hooks: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    html = (
        '<a href="../docs/assets.md#on-dask">a</a> <a href="../docs/how-to/scale-out.md">b</a>'
        " <a href='02-long-running.ipynb'>c</a> <a href=\"#limits\">d</a>"
        ' <a href="https://example.com/docs/assets.md">e</a> <img src="data:image/png;x">'
    )
    with caplog.at_level(logging.WARNING):
        out = hooks.site_links(html, "tutorials/05-pixels/", SITE_URLS.get)
    assert out == (
        '<a href="../../assets/#on-dask">a</a> <a href="../../how-to/scale-out/">b</a>'
        " <a href='../02-long-running/'>c</a> <a href=\"#limits\">d</a>"
        ' <a href="https://example.com/docs/assets.md">e</a> <img src="data:image/png;x">'
    )
    assert not caplog.records


def test_a_tutorial_link_to_no_page_of_the_site_is_a_warning(
    hooks: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    html = '<a href="../README.md">readme</a> <a href="../docs/gone.md">gone</a>'
    with caplog.at_level(logging.WARNING, logger="mkdocs.hooks.pystac_eds"):
        out = hooks.site_links(html, "tutorials/01-quickstart/", SITE_URLS.get)
    assert out == html  # left as it is; mkdocs --strict fails on the warning
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "tutorials/01-quickstart/: the link ../README.md leads to no page of the site",
        "tutorials/01-quickstart/: the link ../docs/gone.md leads to no page of the site",
    ]
    assert all(r.name.startswith("mkdocs.") for r in caplog.records)  # counted by --strict


def test_the_table_of_contents_points_at_the_headings(hooks: ModuleType) -> None:
    from mkdocs.structure.toc import AnchorLink

    # What mkdocs-jupyter makes of "# Title" and "## 1. The `EDS.env` file": code dropped.
    child = AnchorLink("1. The  file", "1-the-file", 2)
    title = AnchorLink("Title", "title", 1)
    title.children = [child]
    page: Any = SimpleNamespace(toc=SimpleNamespace(items=[title]), url="tutorials/x/")
    html = (
        '<h1 id="title">Title<a class="anchor-link" href="#title">¶</a></h1><p>..</p>'
        '<h2 id="1-the-edsenv-file">1. The <code>EDS.env</code> file'
        '<a class="anchor-link" href="#1-the-edsenv-file">¶</a></h2>'
    )
    hooks._align_toc(page, html)
    assert (title.id, child.id) == ("title", "1-the-edsenv-file")
    assert child.url == "#1-the-edsenv-file"
    assert (title.title, child.title) == ("Title", "1. The EDS.env file")


def test_a_table_of_contents_that_does_not_match_the_headings_is_a_warning(
    hooks: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    from mkdocs.structure.toc import AnchorLink

    entry = AnchorLink("Title", "title", 1)
    page: Any = SimpleNamespace(toc=SimpleNamespace(items=[entry]), url="tutorials/x/")
    with caplog.at_level(logging.WARNING, logger="mkdocs.hooks.pystac_eds"):
        hooks._align_toc(page, '<h1 id="a">A</h1><h2 id="b">B</h2>')
    assert entry.id == "title"  # not guessed
    assert [r.getMessage() for r in caplog.records] == [
        "tutorials/x/: 1 TOC entries for 2 headings"
    ]


def test_the_api_reference_shows_no_sphinx_or_rest_marks(hooks: ModuleType) -> None:
    page: Any = SimpleNamespace(file=SimpleNamespace(src_uri="reference/api.md"), url="api/")
    html = (
        "<p>Raises :exc:<code>~pystac_eds.CredentialsError</code>, see :class:<code>Token"
        "</code>. Use it::</p><pre><code>a::b</code></pre>"
    )
    assert hooks.on_page_content(html, page=page, files=None) == (
        "<p>Raises <code>pystac_eds.CredentialsError</code>, see <code>Token"
        "</code>. Use it:</p><pre><code>a::b</code></pre>"
    )


# ---------------------------------------------------------------------------------------
# Tutorials without outputs: fine for a writer, not for the published site
# ---------------------------------------------------------------------------------------


def _notebook(path: Path, sources: list[str]) -> Path:
    cells = [{"cell_type": "code", "source": s, "metadata": {}, "outputs": []} for s in sources]
    path.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    return path


@pytest.fixture
def tutorial(tmp_path: Path, hooks: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed tutorial (source and notebook) and an empty folder of executed ones."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "09-demo.py").write_text("# %%\nprint(1)\n", encoding="utf-8")
    _notebook(tmp_path / "notebooks" / "09-demo.ipynb", ["print(1)"])
    (tmp_path / "executed").mkdir()
    monkeypatch.setattr(hooks, "EXECUTED", tmp_path / "executed")
    for name in ("CI", "PYSTAC_EDS_REQUIRE_OUTPUTS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "notebooks" / "09-demo.py"


def _levels(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [r.levelno for r in caplog.records if r.name == "mkdocs.hooks.pystac_eds"]


def test_the_executed_notebook_is_shown_when_it_ran_the_committed_cells(
    hooks: ModuleType, tutorial: Path, caplog: pytest.LogCaptureFixture
) -> None:
    executed = _notebook(hooks.EXECUTED / "09-demo.ipynb", ["print(1)"])
    with caplog.at_level(logging.INFO):
        assert hooks.chosen_notebook(tutorial) == executed
    assert _levels(caplog) == []


@pytest.mark.parametrize("stale", [False, True], ids=["missing", "stale"])
@pytest.mark.parametrize(
    ("env", "level"),
    [
        ({}, logging.INFO),  # `bash scripts/docs` for a writer: builds, says so
        ({"CI": "false"}, logging.INFO),
        ({"CI": "true"}, logging.WARNING),  # mkdocs --strict fails on it
        ({"PYSTAC_EDS_REQUIRE_OUTPUTS": "1"}, logging.WARNING),  # scripts/test
    ],
)
def test_a_tutorial_without_outputs_fails_the_build_only_where_outputs_are_required(
    hooks: ModuleType,
    tutorial: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    stale: bool,
    env: dict[str, str],
    level: int,
) -> None:
    if stale:  # executed, but before its cells changed
        _notebook(hooks.EXECUTED / "09-demo.ipynb", ["print(0)"])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.INFO):
        assert hooks.chosen_notebook(tutorial) == tutorial.with_suffix(".ipynb")
    assert _levels(caplog) == [level]
    message = caplog.records[-1].getMessage()
    assert "09-demo shown without outputs" in message
    assert ("is stale" if stale else "does not exist") in message
    assert "pytest -m notebooks" in message  # what to run
