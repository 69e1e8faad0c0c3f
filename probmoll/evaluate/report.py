"""Reports of an evaluation: ``metrics.json``, ``report.md`` in the layouts of the paper's
tables, and comparisons of several runs.

Table 1 layout: error/NLL/ECE, clean and corrupted ("corr", the mean over the benchmark
corruptions and severities), one row per run (:func:`summary_table`). Table 2 layout:
one metric per corruption, grouped by category, in the paper's column order
(:func:`corruption_table`).

Units: ``metrics.json`` holds error, ECE (and every other rate) as fractions in [0, 1],
for programs. Every table here, for people, shows error and ECE in percent with "(%)"
in its header or title; NLL (nats) and the Brier score have no unit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probmoll.utils.io import atomic_write_json, atomic_write_text, read_json
from probmoll.utils.tables import markdown_table

__all__ = [
    "METRICS_FILE",
    "RELIABILITY_PLOT_FILE",
    "REPORT_FILE",
    "SEVERITY_PLOT_FILE",
    "SHORT_NAMES",
    "compare_runs",
    "corruption_table",
    "grouped_corruptions",
    "heldout_table",
    "load_metrics",
    "markdown_report",
    "metric_label",
    "severity_table",
    "summary_table",
    "write_report",
]

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
SEVERITY_PLOT_FILE = "severity.png"
RELIABILITY_PLOT_FILE = "reliability.png"

# Column labels of Table 2 for the standard corruption names.
SHORT_NAMES = {
    "gaussian_noise": "gauss",
    "shot_noise": "shot",
    "impulse_noise": "impulse",
    "speckle_noise": "speckle",
    "defocus_blur": "defocus",
    "glass_blur": "glass",
    "motion_blur": "motion",
    "zoom_blur": "zoom",
    "gaussian_blur": "gblur",
    "snow": "snow",
    "frost": "frost",
    "fog": "fog",
    "spatter": "spatter",
    "brightness": "bright",
    "contrast": "contrast",
    "elastic_transform": "elastic",
    "pixelate": "pixel",
    "jpeg_compression": "jpg",
    "saturate": "saturate",
}


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _decimal(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


# Metrics shown in percent in every table (stored as fractions in metrics.json).
PERCENT_METRICS = frozenset({"error", "ece", "accuracy", "max_calibration_error"})


def _format(metric: str):
    return _percent if metric in PERCENT_METRICS else _decimal


def metric_label(metric: str) -> str:
    """The label of ``metric`` in tables and figures, with its unit: ``"ECE (%)"``,
    ``"NLL"``."""
    label = {"error": "Error", "ece": "ECE", "nll": "NLL", "brier": "Brier"}.get(metric, metric)
    return f"{label} (%)" if metric in PERCENT_METRICS else label


def _get(results: Mapping[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(results, Mapping) or key not in results:
            return None
        results = results[key]
    return results


def summary_table(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table in the layout of Table 1: error/NLL/ECE, clean and corrupted, per run.

    "corr" is the mean over the benchmark corruptions and severities. Error and ECE are
    in percent, NLL in nats.
    """
    header = [
        "run",
        "error clean (%)",
        "error corr (%)",
        "NLL clean",
        "NLL corr",
        "ECE clean (%)",
        "ECE corr (%)",
    ]
    rows = []
    for name, results in runs.items():
        row = [name]
        for metric in ("error", "nll", "ece"):
            fmt = _format(metric)
            row += [
                fmt(_get(results, "clean", metric)),
                fmt(_get(results, "corrupted", "mean", metric)),
            ]
        rows.append(row)
    return markdown_table(header, rows)


def _table2_column(name: str) -> int:
    """Column of ``name`` in the paper's Table 2; names it lacks sort last, in their order."""
    from probmoll.data.corruptions import TABLE2_ORDER

    return TABLE2_ORDER.index(name) if name in TABLE2_ORDER else len(TABLE2_ORDER)


def grouped_corruptions(runs: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """Benchmark corruptions of all runs grouped by category, in the column order of the
    paper's Table 2.

    Parameters
    ----------
    runs : mapping
        ``{label: results}``, each as returned by :func:`probmoll.evaluate.evaluate_model`
        or read from ``metrics.json``; runs without corrupted results add nothing.

    Returns
    -------
    list of (str, list of str)
        ``(category, corruptions)`` with the categories in the order of their first
        column (noise, blur, weather, digital) and each category's corruptions in the
        order of ``TABLE2_ORDER``; corruptions of no category come last, as ``"other"``,
        in the order the runs list them.
    """
    groups: dict[str, list[str]] = {}
    seen: list[str] = []
    for results in runs.values():
        corrupted = _get(results, "corrupted") or {}
        for category, members in (corrupted.get("categories") or {}).items():
            group = groups.setdefault(category, [])
            group += [name for name in members if name not in group]
        seen += [name for name in corrupted.get("corruptions", []) if name not in seen]
    grouped = [name for members in groups.values() for name in members]
    ungrouped = [name for name in seen if name not in grouped]
    ordered = [
        (category, sorted(members, key=_table2_column)) for category, members in groups.items()
    ]
    # Categories in the order of their first column (noise, blur, weather, digital).
    ordered.sort(key=lambda group: min(map(_table2_column, group[1]), default=_table2_column("")))
    return ordered + ([("other", ungrouped)] if ungrouped else [])


def corruption_table(runs: Mapping[str, Mapping[str, Any]], metric: str = "error") -> str:
    """Markdown table in the layout of Table 2: one metric per corruption (mean over
    severities), grouped by category, in Table 2's column order (``TABLE2_ORDER``, not
    ``BENCHMARK_CORRUPTIONS``), clean first and the benchmark mean last. Error and ECE
    are in percent (:func:`metric_label` gives the title with the unit)."""
    fmt = _format(metric)
    groups = grouped_corruptions(runs)
    categories_row = ["", ""]
    names_row = ["run", "clean"]
    for category, members in groups:
        categories_row += [category] + [""] * (len(members) - 1)
        names_row += [SHORT_NAMES.get(name, name) for name in members]
    categories_row.append("")
    names_row.append("mean")
    rows = [names_row]
    for run_name, results in runs.items():
        row = [run_name, fmt(_get(results, "clean", metric))]
        for _, members in groups:
            row += [
                fmt(_get(results, "corrupted", "by_corruption", name, "mean", metric))
                for name in members
            ]
        row.append(fmt(_get(results, "corrupted", "mean", metric)))
        rows.append(row)
    return markdown_table(categories_row, rows)


def severity_table(results: Mapping[str, Any]) -> str:
    """Markdown table of error/NLL/ECE against severity, 0 being the clean split (Figs. 9-10);
    error and ECE in percent."""
    by_severity = _get(results, "corrupted", "by_severity") or {}
    levels = sorted(by_severity, key=int)
    rows = []
    for metric in ("error", "nll", "ece"):
        fmt = _format(metric)
        rows.append(
            [metric_label(metric), fmt(_get(results, "clean", metric))]
            + [fmt(_get(by_severity, level, metric)) for level in levels]
        )
    return markdown_table(["metric", "0 (clean)", *levels], rows)


def _mce_text(corrupted: Mapping[str, Any]) -> str:
    """mCE line and per-corruption CE table of the report (percentages: 100 = reference)."""
    reference = corrupted.get("reference") or {}
    relative = corrupted.get("relative_mce")
    text = (
        f"mCE {_percent(corrupted['mce'])}%"
        + ("" if relative is None else f", relative mCE {_percent(relative)}%")
        + f" against the reference errors of {reference.get('source', '?')} (Hendrycks and "
        "Dietterich, 2019: errors summed over severities and divided by the reference's; "
        "not the plain mean 'corr')."
    )
    ce = reference.get("ce_by_corruption") or {}
    relative_ce = reference.get("relative_ce_by_corruption") or {}
    rows = [
        [SHORT_NAMES.get(name, name), _percent(ce[name]), _percent(relative_ce.get(name))]
        for name in sorted(ce, key=_table2_column)
    ]
    return text + "\n\n" + markdown_table(["corruption", "CE (%)", "relative CE (%)"], rows)


def heldout_table(results: Mapping[str, Any]) -> str | None:
    """Markdown table of the held-out corruptions (mean over severities), or ``None``."""
    heldout = _get(results, "corrupted", "heldout") or {}
    by_corruption = heldout.get("by_corruption") or {}
    if not by_corruption:
        return None
    rows = [
        [
            name,
            _percent(_get(cells, "mean", "error")),
            _decimal(_get(cells, "mean", "nll")),
            _percent(_get(cells, "mean", "ece")),
        ]
        for name, cells in by_corruption.items()
    ]
    mean = heldout.get("mean", {})
    rows.append(
        ["mean", _percent(mean.get("error")), _decimal(mean.get("nll")), _percent(mean.get("ece"))]
    )
    return markdown_table(["held-out corruption", "error (%)", "NLL", "ECE (%)"], rows)


def markdown_report(results: Mapping[str, Any], title: str = "Evaluation") -> str:
    """The Markdown report of one evaluation (written as ``report.md`` by :func:`write_report`)."""
    sections = [f"# {title}", ""]
    record = results.get("evaluation")
    if isinstance(record, Mapping) and record.get("command"):
        sections += [
            f"Evaluated with `{record['command']}` (probmoll {record.get('probmoll', '?')}, "
            f"{record.get('time', 'time unknown')}).",
            "",
        ]
    sections += [
        "Error and ECE in percent, NLL in nats (metrics.json holds fractions).",
        "",
        "## Summary (Table 1 layout)",
        "",
        summary_table({title: results}),
    ]
    corrupted = _get(results, "corrupted")
    if corrupted:
        if not corrupted.get("complete", False):
            sections += [
                "",
                f"Note: partial benchmark ({len(corrupted.get('corruptions', []))} corruptions, "
                f"severities {corrupted.get('severities')}); 'corr' averages what was evaluated.",
            ]
        for metric in ("error", "nll", "ece"):
            sections += [
                "",
                f"## {metric_label(metric)} per corruption (Table 2 layout)",
                "",
                corruption_table({title: results}, metric),
            ]
        sections += ["", "## Metrics against severity", "", severity_table(results)]
        pooled = corrupted.get("pooled")
        if pooled:
            sections += [
                "",
                "Pooled over all benchmark images: "
                f"error {_percent(pooled['error'])}%, NLL {_decimal(pooled['nll'])}, "
                f"ECE {_percent(pooled['ece'])}% (n = {pooled['count']}).",
            ]
        if corrupted.get("mce") is not None:
            sections += ["", "## Normalised by a reference model (mCE)", "", _mce_text(corrupted)]
        heldout = heldout_table(results)
        if heldout:
            sections += ["", "## Held-out corruptions (not in the mean)", "", heldout]
    return "\n".join(sections) + "\n"


def write_report(
    results: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    title: str = "Evaluation",
    plots: bool = True,
) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.md`` and (with ``plots``) the figures to ``out_dir``.

    ``metrics.json`` holds ``results`` as returned by :func:`probmoll.evaluate.evaluate_model`,
    with error, ECE and the other rates as fractions in [0, 1] (the report shows them in
    percent)::

        {"clean": {"error", "nll", "ece", ...},
         "corrupted": {"mean": {...}, "by_corruption": {NAME: {"1": ..., "mean": ...}},
                       "by_category": {...}, "by_severity": {"1": ...}, "heldout": {...},
                       "pooled": {...}, ...},
         "reliability": {...}, "settings": {...}}

    Every file is written atomically. Returns ``{kind: path}`` of the files written.
    """
    from probmoll.evaluate.plots import plot_reliability_diagrams, plot_severity_curves

    out_dir = Path(out_dir)
    written = {
        "metrics": atomic_write_json(out_dir / METRICS_FILE, results),
        "report": atomic_write_text(out_dir / REPORT_FILE, markdown_report(results, title)),
    }
    if plots:
        if _get(results, "corrupted", "by_severity"):
            plot_severity_curves({title: results}, out_dir / SEVERITY_PLOT_FILE)
            written["severity_plot"] = out_dir / SEVERITY_PLOT_FILE
        diagrams = {
            name: diagram for name, diagram in (results.get("reliability") or {}).items() if diagram
        }
        if diagrams:
            plot_reliability_diagrams(diagrams, out_dir / RELIABILITY_PLOT_FILE)
            written["reliability_plot"] = out_dir / RELIABILITY_PLOT_FILE
    return written


def load_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``metrics.json`` (or the one in a run/output folder).

    Parameters
    ----------
    path : str or os.PathLike
        The file, or a folder holding it.

    Returns
    -------
    dict
        The results, as written by :func:`write_report`.

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        When it is not valid JSON.
    """
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no {METRICS_FILE} at {str(path)!r}: run `probmoll evaluate` first"
        )
    return read_json(path)


def compare_runs(
    runs: Mapping[str, str | os.PathLike | Mapping[str, Any]] | Sequence[str | os.PathLike],
    *,
    metrics: Sequence[str] = ("error",),
) -> str:
    """One Markdown document comparing several evaluations.

    Parameters
    ----------
    runs : mapping or sequence
        ``{label: results or metrics.json path or folder}``, or a sequence of paths
        (labelled by their folder names).
    metrics : sequence of str
        Metrics to break down per corruption (Table 2 layout); default error only.

    Returns
    -------
    str
        The Table-1-style summary, then one Table-2-style breakdown per metric
        (when any run has corrupted results).
    """
    if not isinstance(runs, Mapping):
        labelled = {}
        for path in runs:
            path = Path(path)
            label = (path.parent if path.is_file() else path).name
            labelled[label if label not in labelled else str(path)] = path
        runs = labelled
    if not runs:
        raise ValueError("compare_runs needs at least one run")
    loaded = {
        label: dict(value) if isinstance(value, Mapping) else load_metrics(value)
        for label, value in runs.items()
    }
    sections = ["## Summary (Table 1 layout)", "", summary_table(loaded)]
    if any(_get(results, "corrupted") for results in loaded.values()):
        for metric in metrics:
            sections += [
                "",
                f"## {metric_label(metric)} per corruption (Table 2 layout)",
                "",
                corruption_table(loaded, metric),
            ]
    return "\n".join(sections) + "\n"
