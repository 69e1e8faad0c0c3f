"""Figures of an evaluation: metrics over corruption severity and reliability diagrams.

Every function reads the results of :func:`probmoll.evaluate.evaluate_model`
(the content of a ``metrics.json``), draws on a fresh matplotlib
:class:`~matplotlib.figure.Figure` (:func:`probmoll.utils.figures.new_figure`: Agg
canvas, no pyplot state, so it works headless and in threads) and optionally writes a
PNG atomically (:func:`probmoll.utils.figures.save_figure`). matplotlib is imported
when a figure is drawn, not with this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from probmoll.utils.figures import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "RELIABILITY_LABELS",
    "SEVERITY_PANELS",
    "plot_reliability_diagrams",
    "plot_severity_curves",
    "severity_curve",
]

# (key in the results, axis label, scale): error and ECE in percent, as in every table of
# probmoll's reports (metrics.json holds fractions).
SEVERITY_PANELS = (("error", "Error (%)", 100.0), ("nll", "NLL", 1.0), ("ece", "ECE (%)", 100.0))
# Legend labels of a reliability diagram's four artists, in the legend's order.
RELIABILITY_LABELS = {
    "accuracy": "accuracy",
    "over": "gap (over-confident)",
    "under": "gap (under-confident)",
    "diagonal": "perfect calibration",
}


def severity_curve(results: Mapping[str, Any], metric: str) -> tuple[list[int], list[float]]:
    """``(severities, values)`` of one metric: 0 is the clean split, then each severity's
    mean over the benchmark corruptions (the curves of Figs. 9 and 10)."""
    levels: list[int] = []
    values: list[float] = []
    clean = results.get("clean")
    if clean is not None and metric in clean:
        levels.append(0)
        values.append(float(clean[metric]))
    corrupted = results.get("corrupted") or {}
    for level, summary in sorted(
        corrupted.get("by_severity", {}).items(), key=lambda item: int(item[0])
    ):
        if metric in summary:
            levels.append(int(level))
            values.append(float(summary[metric]))
    return levels, values


def plot_severity_curves(
    runs: Mapping[str, Mapping[str, Any]], path: str | os.PathLike | None = None
) -> Figure:
    """Error, NLL and ECE against corruption severity (0 = clean), one line per run.

    Parameters
    ----------
    runs : mapping
        ``{label: results}``; ``results`` as returned by ``evaluate_model`` or read
        from ``metrics.json``.
    path : path-like, optional
        Where to write the PNG.
    """
    if not runs:
        raise ValueError("plot_severity_curves needs at least one run")
    figure = new_figure(figsize=(4.0 * len(SEVERITY_PANELS), 3.4), layout="constrained")
    axes = figure.subplots(1, len(SEVERITY_PANELS))
    for axis, (metric, label, scale) in zip(axes, SEVERITY_PANELS, strict=True):
        for name, results in runs.items():
            levels, values = severity_curve(results, metric)
            if levels:
                axis.plot(levels, [scale * v for v in values], marker="o", label=name)
        axis.set_xlabel("corruption severity (0 = clean)")
        axis.set_ylabel(label)
        axis.set_xticks(range(6))
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    if path is not None:
        save_figure(figure, path)
    return figure


def plot_reliability_diagrams(
    diagrams: Mapping[str, Mapping[str, Any]], path: str | os.PathLike | None = None
) -> Figure:
    """Reliability diagrams: accuracy per confidence bin against the diagonal.

    Each bin's bar is its accuracy; the gap to its mean confidence is drawn on top of it
    in one colour where the model is over-confident (confidence above accuracy: the gap
    stacked above the bar) and in another where it is under-confident (accuracy above
    confidence: the top of the bar, down to the confidence, hatched). The legend of the
    first panel names the four artists (``RELIABILITY_LABELS``).

    Parameters
    ----------
    diagrams : mapping
        ``{title: diagram}`` with ``bin_edges``, ``count``, ``mean_confidence`` and
        ``accuracy`` lists (``results["reliability"]`` of an evaluation); empty bins
        hold ``None``.
    path : path-like, optional
        Where to write the PNG.
    """
    diagrams = {title: diagram for title, diagram in diagrams.items() if diagram}
    if not diagrams:
        raise ValueError("plot_reliability_diagrams needs at least one diagram")
    figure = new_figure(figsize=(3.6 * len(diagrams), 3.6), layout="constrained")
    axes = figure.subplots(1, len(diagrams), squeeze=False)[0]
    for axis, (title, diagram) in zip(axes, diagrams.items(), strict=True):
        edges = diagram["bin_edges"]
        lefts = edges[:-1]
        widths = [right - left for left, right in zip(edges[:-1], edges[1:], strict=True)]
        # Empty bins (None) draw no bar and no gap.
        accuracy = [0.0 if a is None else a for a in diagram["accuracy"]]
        confidence = [
            accuracy[index] if c is None else c
            for index, c in enumerate(diagram["mean_confidence"])
        ]
        axis.bar(
            lefts,
            accuracy,
            width=widths,
            align="edge",
            color="tab:blue",
            edgecolor="black",
            label=RELIABILITY_LABELS["accuracy"],
        )
        # Both gap artists are drawn for every bin (height 0 where the gap is the other
        # way), so that the legend names them even when one kind does not occur.
        over = [max(c - a, 0.0) for a, c in zip(accuracy, confidence, strict=True)]
        under = [max(a - c, 0.0) for a, c in zip(accuracy, confidence, strict=True)]
        axis.bar(
            lefts,
            over,
            bottom=accuracy,
            width=widths,
            align="edge",
            color="tab:red",
            alpha=0.45,
            linewidth=0,
            label=RELIABILITY_LABELS["over"],
        )
        axis.bar(
            lefts,
            under,
            bottom=[min(a, c) for a, c in zip(accuracy, confidence, strict=True)],
            width=widths,
            align="edge",
            # Opaque: drawn over the accuracy bar, its colour must match the legend's.
            color="tab:orange",
            hatch="//",
            linewidth=0,
            label=RELIABILITY_LABELS["under"],
        )
        axis.plot(
            [0, 1], [0, 1], linestyle="--", color="gray", label=RELIABILITY_LABELS["diagonal"]
        )
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("confidence")
        axis.set_ylabel("accuracy")
        axis.set_title(f"{title} (n = {sum(diagram['count'])})")
    handles = dict(zip(*reversed(axes[0].get_legend_handles_labels()), strict=True))
    order = list(RELIABILITY_LABELS.values())  # bars first, then the diagonal
    axes[0].legend([handles[label] for label in order], order, loc="upper left", fontsize="small")
    if path is not None:
        save_figure(figure, path)
    return figure
