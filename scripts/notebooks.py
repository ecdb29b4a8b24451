"""Write the tutorial notebooks (``notebooks/NN-name.ipynb``) from their sources.

    python scripts/notebooks.py           # regenerate every .ipynb from its .py
    python scripts/notebooks.py --check   # exit 1 if a committed .ipynb differs (CI)

The source of truth is ``notebooks/NN-name.py``, a jupytext "percent" script that ruff
and mypy check like the rest of the code. The ``.ipynb`` next to it is generated, without
outputs, for people who open the tutorials in Jupyter or on a code host: never edit it by
hand. (With jupytext installed, Jupyter also opens the ``.py`` as a notebook.)
Needs the ``[notebooks]`` extra (jupytext, nbformat).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def render(source: Path) -> str:
    """The .ipynb text for one jupytext source: no outputs, stable cell ids."""
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:02d}"  # stable, so regenerating changes nothing
        cell.metadata = {}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.validate(nb)
    return str(nbformat.writes(nb)) + "\n"


def sources() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9]*.py"))


def drift() -> list[str]:
    """What differs between the sources and the committed notebooks, one line each."""
    problems = []
    for source in sources():
        target = source.with_suffix(".ipynb")
        if not target.exists():
            problems.append(f"{target.name} is missing")
        elif target.read_text(encoding="utf-8") != render(source):
            problems.append(f"{target.name} differs from {source.name}")
    for target in sorted(NOTEBOOKS.glob("*.ipynb")):
        if not target.with_suffix(".py").exists():
            problems.append(f"{target.name} has no source {target.with_suffix('.py').name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for problem in problems:
            print(f"notebooks: {problem}", file=sys.stderr)
        if problems:
            print("notebooks: run `python scripts/notebooks.py` and commit", file=sys.stderr)
        return 1 if problems else 0
    for source in sources():
        target = source.with_suffix(".ipynb")
        target.write_text(render(source), encoding="utf-8")
        print(f"wrote {target.relative_to(NOTEBOOKS.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
