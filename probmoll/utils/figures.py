"""Writing matplotlib figures: PNG files written atomically, headless, no pyplot state."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from probmoll.utils.io import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["new_figure", "save_figure"]


def new_figure(**kwargs) -> Figure:
    """A matplotlib :class:`~matplotlib.figure.Figure` on an Agg canvas.

    No pyplot state is involved, so it works headless, in threads, and needs no closing.
    ``kwargs`` go to ``Figure`` (e.g. ``figsize``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Write ``figure`` as a PNG to ``path`` atomically (creating the folder); returns the
    path. A figure made with pyplot is closed afterwards, so scripts do not leak figures."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    if figure.canvas is None or not hasattr(figure.canvas, "print_png"):
        FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    written = atomic_write_bytes(path, buffer.getvalue())
    if getattr(figure, "number", None) is not None:  # made by pyplot, which keeps it alive
        import matplotlib.pyplot as plt

        plt.close(figure)
    return written
