"""What the example scripts of docs/examples/ share: command line, outputs, the simplex.

Every example runs as ``python docs/examples/<name>.py [--fast] [--out DIR] [--seed N]``
and writes its figures (``<figure>.png``) and numbers (``<name>.json``) to ``--out``.
``--fast`` is what the test suite and the documentation build run (seconds).
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from probmoll.utils.figures import save_figure
from probmoll.utils.io import atomic_write_json
from probmoll.utils.tables import markdown_table

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "runs" / "examples"
# Corners of the 2-simplex drawn as an equilateral triangle: class 1 bottom left.
CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])


def parse_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    """``--fast``, ``--out`` and ``--seed``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--fast", action="store_true", help="fewer draws, coarser grids: a few seconds"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"folder of the figures and numbers (default {DEFAULT_OUTPUT})",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser.parse_args(argv)


def print_table(header: list[str], rows: list[list]) -> None:
    """Print a Markdown table; floats with 4 significant digits."""

    def cell(value) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    print(markdown_table(header, [[cell(value) for value in row] for row in rows]))


def write_outputs(out: Path, name: str, results: dict, figures: dict[str, Figure]) -> None:
    """``<out>/<figure>.png`` for each figure and ``<out>/<name>.json`` (the numbers)."""
    for figure_name, figure in figures.items():
        print(save_figure(figure, out / f"{figure_name}.png", dpi=110))
    print(atomic_write_json(out / f"{name}.json", results))


def paper_appendix(name: str) -> ModuleType:
    """The script ``paper_appendix/<name>.py`` as a module, to reuse its functions.

    paper_appendix/ is a folder of scripts, not a package: its scripts import their
    shared ``_common`` module from beside them, so the folder is on ``sys.path`` while
    the script is imported (and only then: it holds a ``conftest.py`` too).
    """
    folder = str(ROOT / "paper_appendix")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)


def simplex_grid(resolution: int, *, boundary: bool) -> np.ndarray:
    """Barycentric points ``(i, j, k) / resolution`` with ``i + j + k = resolution``.

    With ``boundary=False`` only the interior points (every coordinate > 0).
    """
    low = 0 if boundary else 1
    return (
        np.array(
            [
                (i, j, resolution - i - j)
                for i in range(low, resolution + 1)
                for j in range(low, resolution + 1 - i)
                if resolution - i - j >= low
            ],
            dtype=np.float64,
        )
        / resolution
    )


def draw_simplex(
    axis: Axes, points: np.ndarray, values: np.ndarray, title: str, **contour
) -> object:
    """Filled contours of ``values`` at barycentric ``points`` on the triangle.

    Returns the contour set (for a colour bar).
    """
    import matplotlib.tri as mtri

    xy = points @ CORNERS
    filled = axis.tricontourf(mtri.Triangulation(xy[:, 0], xy[:, 1]), values, **contour)
    axis.plot(*np.vstack([CORNERS, CORNERS[:1]]).T, "k-", lw=0.8)
    for corner, label in zip(CORNERS, ("f1 (true)", "f2", "f3"), strict=True):
        offset = (0, -11) if corner[1] == 0 else (0, 4)
        axis.annotate(
            label, corner, textcoords="offset points", xytext=offset, ha="center", fontsize=7
        )
    axis.set_title(title, fontsize=9, pad=14)
    axis.set_aspect("equal")
    axis.axis("off")
    return filled


def mark(axis: Axes, point: np.ndarray, style: str, **kwargs) -> None:
    """Mark the barycentric ``point`` on a :func:`draw_simplex` panel."""
    axis.plot(*(np.asarray(point) @ CORNERS), style, clip_on=False, **kwargs)
