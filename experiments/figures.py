"""The figures of the experiment report: clean against corrupted metrics, and severity curves.

Drawn on :func:`probmoll.utils.figures.new_figure` (no pyplot state) and written with
:func:`probmoll.utils.figures.save_figure`. Imported by ``experiments/report.py`` as
``experiments.figures``, with the repository on ``sys.path``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from experiments.runs import Run
from probmoll.utils.figures import new_figure, save_figure

__all__ = ["scatter_figure", "severity_figure"]

# (metric, axis title, scale): error in percent, as in the paper.
SCATTER_PANELS = (("error", "error (%)", 100.0), ("nll", "NLL", 1.0), ("ece", "ECE (%)", 100.0))


def scatter_figure(
    groups: Mapping[tuple[str, ...], list[Run]], axes: Sequence[str], path: Path
) -> Path:
    """Clean against corrupted error, NLL and ECE, one marker per setting (Fig. 5).

    Parameters
    ----------
    groups : mapping of label tuple to list of Run
        The runs of each setting (see ``experiments.runs.group_runs``); a marker is the
        mean over the setting's seeds.
    axes : sequence of str
        The grid axes the labels of ``groups`` stand for, named in the title.
    path : Path
        The PNG file written.

    Returns
    -------
    Path
        ``path``.
    """
    figure = new_figure(figsize=(11, 3.4))
    for index, (metric, title, scale) in enumerate(SCATTER_PANELS):
        axis = figure.add_subplot(1, 3, index + 1)
        for key, members in groups.items():
            clean = [r.value(f"clean.{metric}") for r in members]
            corrupted = [r.value(f"corrupted.mean.{metric}") for r in members]
            if None in clean or None in corrupted:
                continue
            x, y = scale * statistics.fmean(clean), scale * statistics.fmean(corrupted)
            axis.scatter([x], [y], s=28)
            axis.annotate(
                "/".join(key), (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points"
            )
        low, high = axis.get_xlim()
        axis.plot([low, high], [low, high], color="grey", linewidth=0.6, linestyle=":")
        axis.set_xlabel(f"clean {title}")
        axis.set_ylabel(f"corrupted {title}")
    figure.subplots_adjust(wspace=0.35)
    figure.suptitle("clean vs corrupted (dotted: equal); label = " + " / ".join(axes), fontsize=9)
    save_figure(figure, path, dpi=100)
    return path


def severity_figure(groups: Mapping[tuple[str, ...], list[Run]], path: Path) -> Path:
    """Error, NLL and ECE against severity, a line per setting: the mean over its seeds,
    shaded ± the sample standard deviation (Figs. 9-10).

    Parameters
    ----------
    groups : mapping of label tuple to list of Run
        The runs of each setting.
    path : Path
        The PNG file written.

    Returns
    -------
    Path
        ``path``.
    """
    from probmoll.train.collect import plot_severity_spread

    runs = {"/".join(key): [run.metrics for run in members] for key, members in groups.items()}
    return plot_severity_spread(runs, path, title="mean over seeds (shaded: ± sample std)")
