"""The tables of a sweep: ``runs.csv``, ``results.csv`` and ``results.md`` in its folder.

A run is *counted* -- it enters ``n``, the means and the standard deviations -- when its
``run.json`` says ``finished`` and its ``metrics.json`` reads as a mapping of results.
A finished run whose ``metrics.json`` is missing or broken (truncated, not JSON, not a
mapping) is shown as ``failed`` and named in :attr:`Collection.problems`, one line per
run: the path and what is wrong. The other runs are shown with their status (``not
started``, ``running``, ``interrupted``, ``failed``) and not counted either.
``probmoll sweep`` prints the problems on stderr and still writes the tables for the
runs it counts.

When the counted runs were evaluated under corruptions, ``severity.png`` beside
``results.md`` draws error, NLL and ECE against severity (0 = clean), one line per
setting (every axis but ``collect.over``): the mean over its counted runs, shaded ± their
sample standard deviation (:func:`plot_severity_spread`) -- e.g. mollification off
against on, the comparison of the paper's Fig. 9.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from probmoll.evaluate import METRICS_FILE
from probmoll.train.results import lookup, mean_std, read_metrics
from probmoll.train.state import RUN_INFO_NAME, read_run_status
from probmoll.utils.io import atomic_write_text
from probmoll.utils.tables import markdown_table

__all__ = [
    "SEVERITY_FIGURE",
    "Collection",
    "collect_results",
    "plot_severity_spread",
    "severity_spread",
    "status_summary",
]

SEVERITY_FIGURE = "severity.png"


class _Point(Protocol):
    name: str
    labels: dict[str, str]
    config: Any  # a TrainConfig: its ``out`` is the run folder


class _Sweep(Protocol):
    path: Path
    out: Path
    points: list[Any]  # GridPoint: name, labels, config
    axes: list[str]
    over: str | None
    metrics: list[str]


@dataclasses.dataclass(frozen=True)
class Collection:
    """What :func:`collect_results` wrote and found.

    Attributes
    ----------
    written : dict of str to Path
        ``runs``, ``results`` and ``markdown``: the files written; ``figure`` too
        (``severity.png``) when counted runs have corrupted results.
    statuses : dict of str to str
        Run name -> the status shown in ``runs.csv`` (``failed`` for a finished run
        whose ``metrics.json`` is missing or broken).
    counted : list of str
        The runs in ``n`` and the means, in grid order.
    problems : list of str
        One line per run whose files are missing or broken: ``PATH: what is wrong``.
    empty_metrics : list of str
        Metrics that no counted run holds (their columns are empty), e.g.
        ``corrupted.mean.error`` of runs evaluated without corruptions.
    """

    written: dict[str, Path]
    statuses: dict[str, str]
    counted: list[str]
    problems: list[str]
    empty_metrics: list[str]

    @property
    def not_counted(self) -> list[str]:
        """The runs left out of the tables' numbers, in grid order."""
        return [name for name in self.statuses if name not in self.counted]


def _read_point(point: _Point) -> tuple[str, dict | None, str | None]:
    """``(status shown, metrics.json content or None when not counted, problem or None)``."""
    run_dir = Path(point.config.out)
    status = read_run_status(run_dir)
    if status is None:
        return "not started", None, None
    if status == "unknown":  # read_run_status's word for a run.json it cannot read
        return status, None, f"{run_dir / RUN_INFO_NAME}: cannot be read as JSON"
    if status != "finished":
        return status, None, None
    try:
        results = read_metrics(run_dir / METRICS_FILE)
    except ValueError as error:  # the message starts with the path
        return "failed", None, f"{error} (the run is shown as failed and not counted)"
    return status, results, None


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.6g}"


def _percent(metric: str) -> bool:
    """Whether the Markdown table shows ``metric`` in percent (errors and ECE)."""
    return metric.endswith(("error", "ece"))


def collect_results(spec: _Sweep) -> Collection:
    """Write ``runs.csv``, ``results.csv``, ``results.md`` and (with corrupted results)
    ``severity.png`` into the sweep folder.

    ``results.*`` group the runs by every axis but ``collect.over`` and report, per
    metric, the mean and sample standard deviation (``ddof = 1``; empty for a single
    run) over the counted runs of the group (see the module's docstring), with ``n``
    the number of those runs. Error and ECE appear in percent in the Markdown table,
    as in the paper's tables. Nothing is printed: the caller reports
    :attr:`Collection.problems`.
    """
    metrics = list(spec.metrics)
    per_run = []
    statuses, counted, problems = {}, [], []
    figure_groups: dict[str, list[Mapping[str, Any]]] = {}
    group_axes = [axis for axis in spec.axes if axis != spec.over]
    for point in spec.points:
        status, results, problem = _read_point(point)
        statuses[point.name] = status
        values = None
        if results is not None:
            counted.append(point.name)
            values = {metric: lookup(results, metric) for metric in metrics}
            label = ", ".join(f"{a}={point.labels[a]}" for a in group_axes) or spec.path.stem
            figure_groups.setdefault(label, []).append(results)
        if problem is not None:
            problems.append(problem)
        per_run.append((point, status, values))

    run_header = ["run", *spec.axes, "status", *metrics]
    run_rows = [
        [point.name, *(point.labels[a] for a in spec.axes), status]
        + [_number(None if values is None else values[m]) for m in metrics]
        for point, status, values in per_run
    ]
    groups: dict[tuple[str, ...], list[dict]] = {}
    for point, _, values in per_run:
        group = groups.setdefault(tuple(point.labels[a] for a in group_axes), [])
        if values is not None:
            group.append(values)

    header = [*group_axes, "n"]
    for metric in metrics:
        header += [f"{metric}.mean", f"{metric}.std"]
    rows, markdown_rows = [], []
    for key, members in groups.items():
        row: list[Any] = [*key, len(members)]
        cells = [*key, str(len(members))]
        for metric in metrics:
            values = [v[metric] for v in members if v[metric] is not None]
            if values:
                mean, std = mean_std(values)
                row += [_number(mean), _number(std)]
                scale, digits = (100.0, 1) if _percent(metric) else (1.0, 3)
                cell = f"{scale * mean:.{digits}f}"
                if std is not None:
                    cell += f" ({scale * std:.{digits}f})"
                cells.append(cell)
            else:
                row += ["", ""]
                cells.append("")
        rows.append(row)
        markdown_rows.append(cells)

    written = {
        "runs": atomic_write_text(spec.out / "runs.csv", _csv_text(run_header, run_rows)),
        "results": atomic_write_text(spec.out / "results.csv", _csv_text(header, rows)),
    }
    over = f" over {spec.over}" if spec.over else ""
    md_header = [*group_axes, "n"] + [f"{m} (%)" if _percent(m) else m for m in metrics]
    lines = [
        f"# {spec.path.stem}",
        "",
        f"Mean (sample standard deviation){over}; n = runs counted (finished, with a "
        "readable metrics.json). Errors and ECE in percent.",
        "",
        markdown_table(md_header, markdown_rows),
    ]
    written["markdown"] = atomic_write_text(spec.out / "results.md", "\n".join(lines) + "\n")
    if any(severity_spread(members, "error")[0][1:] for members in figure_groups.values()):
        title = f"{spec.path.stem}: mean{over} (shaded: ± sample standard deviation)"
        written["figure"] = plot_severity_spread(
            figure_groups, spec.out / SEVERITY_FIGURE, title=title
        )
    empty = [
        metric
        for metric in metrics
        if counted and all(values is None or values[metric] is None for _, _, values in per_run)
    ]
    return Collection(written, statuses, counted, problems, empty)


def status_summary(statuses: Mapping[str, str]) -> str:
    """``"2 failed, 1 not started"``: how many runs have each status."""
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{count} {status}" for status, count in counts.items())


def severity_spread(
    runs: Sequence[Mapping[str, Any]], metric: str
) -> tuple[list[int], list[float], list[float | None]]:
    """``(severities, means, standard deviations)`` of one metric over runs.

    Severity 0 is the clean split, then each severity's mean over the benchmark
    corruptions (:func:`probmoll.evaluate.plots.severity_curve`), for the severities every
    run has. The standard deviation is the sample one (``ddof = 1``), ``None`` for a
    single run.
    """
    from probmoll.evaluate.plots import severity_curve

    curves = [dict(zip(*severity_curve(results, metric), strict=True)) for results in runs]
    if not curves:
        return [], [], []
    levels = sorted(set.intersection(*(set(curve) for curve in curves)))
    means, stds = [], []
    for level in levels:
        mean, std = mean_std([curve[level] for curve in curves])
        means.append(mean)
        stds.append(std)
    return levels, means, stds


def plot_severity_spread(
    groups: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | os.PathLike,
    *,
    title: str | None = None,
) -> Path:
    """Error, NLL and ECE against severity, one line per group of runs; writes a PNG.

    Parameters
    ----------
    groups : mapping of str to sequence of mapping
        ``{label: [metrics.json content, ...]}``: the runs of each setting (e.g. the seeds
        of mollification off, and of on).
    path : path-like
        The PNG file written.
    title : str, optional
        The figure's title.

    Returns
    -------
    Path
        ``path``. Each line is the mean over the group's runs (:func:`severity_spread`),
        shaded ± the sample standard deviation where the group has more than one run;
        error and ECE in percent.
    """
    from probmoll.evaluate.plots import SEVERITY_PANELS
    from probmoll.utils.figures import new_figure, save_figure

    figure = new_figure(figsize=(4.0 * len(SEVERITY_PANELS), 3.4), layout="constrained")
    axes = figure.subplots(1, len(SEVERITY_PANELS))
    for axis, (metric, label, scale) in zip(axes, SEVERITY_PANELS, strict=True):
        for name, runs in groups.items():
            levels, means, stds = severity_spread(runs, metric)
            if not levels:
                continue
            mean = [scale * m for m in means]
            (line,) = axis.plot(levels, mean, marker="o", label=f"{name} (n = {len(runs)})")
            if all(s is not None for s in stds):
                low = [m - scale * s for m, s in zip(mean, stds, strict=True)]
                high = [m + scale * s for m, s in zip(mean, stds, strict=True)]
                axis.fill_between(levels, low, high, color=line.get_color(), alpha=0.2)
        axis.set_xlabel("corruption severity (0 = clean)")
        axis.set_ylabel(label)
        axis.set_xticks(range(6))
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path, dpi=100)
