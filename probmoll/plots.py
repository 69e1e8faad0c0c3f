"""Figures of an evaluation; they live in :mod:`probmoll.evaluate.plots` now."""

from probmoll.evaluate.plots import (
    SEVERITY_PANELS,
    plot_reliability_diagrams,
    plot_severity_curves,
    severity_curve,
)
from probmoll.utils.figures import save_figure

__all__ = [
    "SEVERITY_PANELS",
    "plot_reliability_diagrams",
    "plot_severity_curves",
    "save_figure",
    "severity_curve",
]
