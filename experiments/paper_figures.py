"""The paper's figures (5-10), drawn from run files only.

Every number drawn is read from the runs' ``metrics.json`` (:class:`experiments.runs.Run`),
or for Fig. 7 computed from the runs' configured Beta parameters with ``scipy.stats.beta``;
nothing is typed in. Settings with several seeds are drawn as the mean with the sample
standard deviation (error bars or shading). Figures are drawn on
:func:`probmoll.utils.figures.new_figure` and written with
:func:`probmoll.utils.figures.save_figure`. Imported by ``experiments/targets.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from experiments.runs import Run
from probmoll.data.corruptions import TABLE2_ORDER, category_of
from probmoll.train.collect import plot_severity_spread
from probmoll.train.results import mean_std
from probmoll.utils.figures import new_figure, save_figure

__all__ = [
    "PANELS",
    "ablation_figure",
    "beta_density_figure",
    "category_figure",
    "clean_corrupted_figure",
    "corruption_severity_figure",
    "metric_stat",
    "severity_figure",
]

# (metric, axis title, scale): error and ECE in percent, as in every table of probmoll.
PANELS = (("error", "error (%)", 100.0), ("nll", "NLL", 1.0), ("ece", "ECE (%)", 100.0))
CATEGORIES = ("noise", "blur", "weather", "digital")


def metric_stat(runs: Sequence[Run], key: str, scale: float = 1.0) -> tuple[float, float] | None:
    """``(mean, sample std)`` of ``key`` times ``scale`` over ``runs`` (std 0 for one run);
    ``None`` when no run has the key."""
    values = [v for v in (run.value(key) for run in runs) if v is not None]
    if not values:
        return None
    mean, std = mean_std([scale * v for v in values])
    return mean, std or 0.0


def clean_corrupted_figure(
    pairs: Mapping[str, tuple[Sequence[Run], Sequence[Run]]], path: Path, title: str
) -> Path:
    """Fig. 5: clean against corrupted error, NLL and ECE; an arrow from each
    augmentation's run without mollification (open marker) to its run with it (filled).

    Parameters
    ----------
    pairs : mapping of str to (runs off, runs on)
        Per augmentation, its seeds without and with mollification.
    path : Path
        The PNG written.
    title : str
        The figure's title (dataset, grid, corruption set).
    """
    figure = new_figure(figsize=(12, 3.8), layout="constrained")
    axes = figure.subplots(1, len(PANELS))
    colours = [f"C{i}" for i in range(10)]
    for axis, (metric, label, scale) in zip(axes, PANELS, strict=True):
        for index, (augment, (off, on)) in enumerate(pairs.items()):
            colour = colours[index % len(colours)]
            points = []
            for runs, filled in ((off, False), (on, True)):
                x = metric_stat(runs, f"clean.{metric}", scale)
                y = metric_stat(runs, f"corrupted.mean.{metric}", scale)
                if x is None or y is None:
                    points.append(None)
                    continue
                axis.errorbar(
                    x[0],
                    y[0],
                    xerr=x[1],
                    yerr=y[1],
                    fmt="o",
                    color=colour,
                    markerfacecolor=colour if filled else "white",
                    label=f"{augment}, moll. {'on' if filled else 'off'} (n = {len(runs)})",
                )
                points.append((x[0], y[0]))
            if points[0] is not None and points[1] is not None:
                axis.annotate(
                    "",
                    xy=points[1],
                    xytext=points[0],
                    arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.2},
                )
        low, high = axis.get_xlim()
        axis.plot([low, high], [low, high], color="grey", linewidth=0.6, linestyle=":")
        axis.set_xlabel(f"clean {label}")
        axis.set_ylabel(f"corrupted {label}")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small")
    figure.suptitle(f"{title}; arrow: mollification off -> on; dotted: equal", fontsize=9)
    return save_figure(figure, path, dpi=100)


def category_figure(rows: Mapping[str, Sequence[Run]], path: Path, title: str) -> Path:
    """Fig. 6(a): error (%) on clean images and per corruption category, a bar per setting
    (mean over seeds, error bar ± sample standard deviation)."""
    keys = [("clean", "clean.error")]
    keys += [(c, f"corrupted.by_category.{c}.error") for c in CATEGORIES]
    keys.append(("all corruptions", "corrupted.mean.error"))
    figure = new_figure(figsize=(8, 3.6), layout="constrained")
    axis = figure.add_subplot(1, 1, 1)
    width = 0.8 / max(len(rows), 1)
    positions = np.arange(len(keys))
    for index, (label, runs) in enumerate(rows.items()):
        stats = [metric_stat(runs, key, 100.0) for _, key in keys]
        means = [s[0] if s else np.nan for s in stats]
        errors = [s[1] if s else 0.0 for s in stats]
        axis.bar(
            positions + (index - (len(rows) - 1) / 2) * width,
            means,
            width,
            yerr=errors,
            capsize=2,
            label=f"{label} (n = {len(runs)})",
        )
    axis.set_xticks(positions, [name for name, _ in keys])
    axis.set_ylabel("error (%)")
    axis.grid(alpha=0.3, axis="y")
    axis.legend(fontsize="small")
    axis.set_title(title, fontsize=9)
    return save_figure(figure, path, dpi=100)


def ablation_figure(
    points: Sequence[tuple[float, Sequence[Run]]], xlabel: str, path: Path, title: str
) -> Path:
    """Figs. 6(b, c): clean and corrupted error (%) against one mollification setting
    (the Beta parameter beta, or the label-decay power k), mean ± sample std over seeds."""
    points = sorted(points, key=lambda point: point[0])
    figure = new_figure(figsize=(4.6, 3.4), layout="constrained")
    axis = figure.add_subplot(1, 1, 1)
    for key, label in (("corrupted.mean.error", "corrupted"), ("clean.error", "clean")):
        xs, means, errors = [], [], []
        for x, runs in points:
            stat = metric_stat(runs, key, 100.0)
            if stat is not None:
                xs.append(x)
                means.append(stat[0])
                errors.append(stat[1])
        axis.errorbar(xs, means, yerr=errors, marker="o", capsize=2, label=label)
    axis.set_xscale("log", base=2)
    axis.set_xticks([x for x, _ in points], [f"{x:g}" for x, _ in points])
    axis.set_xlabel(xlabel)
    axis.set_ylabel("error (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    seeds = sorted({len(runs) for _, runs in points})
    axis.set_title(f"{title} (seeds per point: {', '.join(map(str, seeds))})", fontsize=8)
    return save_figure(figure, path, dpi=100)


def beta_density_figure(parameters: Sequence[tuple[float, float]], path: Path, title: str) -> Path:
    """Fig. 7: the density of the mollification temperature ``t ~ Beta(alpha, beta)`` for
    each ``(alpha, beta)`` (``scipy.stats.beta``), with its mean ``alpha / (alpha + beta)``."""
    from scipy import stats

    t = np.linspace(0.0, 1.0, 401)
    figure = new_figure(figsize=(4.6, 3.4), layout="constrained")
    axis = figure.add_subplot(1, 1, 1)
    for alpha, beta in sorted(set(parameters), key=lambda p: (p[1], p[0])):
        distribution = stats.beta(alpha, beta)
        (line,) = axis.plot(
            t,
            distribution.pdf(t),
            label=f"Beta({alpha:g}, {beta:g}), E[t] = {distribution.mean():.2f}",
        )
        axis.axvline(distribution.mean(), color=line.get_color(), linestyle=":", linewidth=0.8)
    axis.set_xlabel("mollification temperature t")
    axis.set_ylabel("density")
    axis.set_xlim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    axis.set_title(title, fontsize=8)
    return save_figure(figure, path, dpi=100)


def corruption_severity_figure(rows: Mapping[str, Sequence[Run]], path: Path, title: str) -> Path:
    """Fig. 8: error (%) per corruption type and severity, a line per setting (mean over
    seeds; error bars ± sample std), one panel per corruption in Table 2's order."""
    names = [
        name
        for name in TABLE2_ORDER
        if any(run.value(f"corrupted.by_corruption.{name}.mean.error") is not None
               for runs in rows.values() for run in runs)
    ]  # fmt: skip
    columns = 5
    lines = max(1, -(-len(names) // columns))
    figure = new_figure(figsize=(3.0 * columns, 2.4 * lines), layout="constrained")
    axes = np.atleast_1d(figure.subplots(lines, columns, squeeze=False)).ravel()
    for axis, name in zip(axes, names, strict=False):
        for label, runs in rows.items():
            severities = sorted({int(s) for run in runs for s in _cells(run, name) if s.isdigit()})
            stats = [
                metric_stat(runs, f"corrupted.by_corruption.{name}.{s}.error", 100.0)
                for s in severities
            ]
            xs = [s for s, stat in zip(severities, stats, strict=True) if stat]
            axis.errorbar(
                xs,
                [stat[0] for stat in stats if stat],
                yerr=[stat[1] for stat in stats if stat],
                marker="o",
                markersize=3,
                capsize=1.5,
                label=label,
            )
        axis.set_title(f"{name} ({category_of(name)})", fontsize=8)
        axis.set_xticks(range(1, 6))
        axis.grid(alpha=0.3)
    for axis in axes[len(names) :]:
        axis.set_visible(False)
    if names:
        axes[0].set_ylabel("error (%)")
        axes[0].legend(fontsize="x-small")
    figure.suptitle(f"{title}; x: severity", fontsize=9)
    return save_figure(figure, path, dpi=100)


def _cells(run: Run, name: str) -> list[str]:
    """The keys of ``corrupted.by_corruption.<name>`` in a run's metrics (severities, mean)."""
    by_corruption = (run.metrics.get("corrupted") or {}).get("by_corruption") or {}
    return list(by_corruption.get(name) or {})


def severity_figure(rows: Mapping[str, Sequence[Run]], path: Path, title: str) -> Path:
    """Figs. 9-10: error, NLL and ECE against severity (0 = clean), a line per setting:
    the mean over seeds, shaded ± the sample standard deviation
    (:func:`probmoll.train.collect.plot_severity_spread`)."""
    groups = {label: [run.metrics for run in runs] for label, runs in rows.items() if runs}
    return plot_severity_spread(groups, path, title=title)
