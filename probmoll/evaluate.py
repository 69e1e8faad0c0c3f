"""Evaluate a classifier on clean and corrupted images: metrics.json, tables, plots.

This is the measurement behind Tables 1-2 and Figs. 5, 9 and 10 of the paper:
error, NLL and ECE (Sec. 4, "Metrics") on the clean test split and on every
(corruption, severity) cell of a corruption benchmark (CIFAR-10-C or a set
generated locally), summarised per corruption, category and severity, with the
mean over the 15 benchmark corruptions and 5 severities as the "corr" column.

The model is evaluated as a plain classifier: in eval mode (BatchNorm uses its
running statistics, so results do not depend on the batch size), without
gradients, on images standardised with the training mean/std, and against the
*hard* labels. Mollification and label smoothing belong to training only.

Command line::

    probmoll evaluate --checkpoint runs/cifar10-moll --corruptions cifar10-c \\
        --corruptions-root ~/data/CIFAR-10-C
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from probmoll.metrics import (
    DEFAULT_N_BINS,
    DEFAULT_SEVERITIES,
    ClassificationMetrics,
    aggregate_corruptions,
    mce,
    relative_mce,
)
from probmoll.utils.io import atomic_write_json, atomic_write_text

__all__ = [
    "METRICS_FILE",
    "REPORT_FILE",
    "add_arguments",
    "check_split_matches_model",
    "compare_runs",
    "corruption_table",
    "evaluate_model",
    "heldout_table",
    "load_clean_data",
    "load_metrics",
    "load_reference_errors",
    "markdown_report",
    "reference_summary",
    "run",
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


# --------------------------------------------------------------------------- evaluation
def _model_device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for parameter in model.parameters():
        dtype = parameter.dtype if parameter.is_floating_point() else torch.float32
        return parameter.device, dtype
    return torch.device("cpu"), torch.float32


def _check_images(
    images: Any,
    labels: Any,
    channels: int,
    where: str,
    image_size: tuple[int, int] | None = None,
) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        found = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
        raise TypeError(f"{where}: images must be a uint8 numpy array (N, H, W, C), got {found}")
    if images.ndim != 4 or images.shape[-1] != channels:
        raise ValueError(
            f"{where}: images must have shape (N, H, W, C) with C = {channels} channels "
            f"(one per mean/std entry), got {images.shape}"
        )
    if image_size is not None and tuple(images.shape[1:3]) != tuple(image_size):
        raise ValueError(
            f"{where}: images are {images.shape[1]}x{images.shape[2]} but the clean images "
            f"are {image_size[0]}x{image_size[1]}"
        )
    labels = np.asarray(labels)
    if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{where}: labels must be integers of shape ({images.shape[0]},), "
            f"got dtype {labels.dtype} and shape {labels.shape}"
        )


@torch.no_grad()
def _evaluate_arrays(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    mean: torch.Tensor,
    std: torch.Tensor,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
    autocast_dtype: torch.dtype | None,
    n_bins: int,
) -> ClassificationMetrics:
    metrics = ClassificationMetrics(n_bins=n_bins)
    for start in range(0, images.shape[0], batch_size):
        # np.array copies: memory-mapped caches are read-only, torch wants writable memory.
        batch = torch.from_numpy(np.array(images[start : start + batch_size]))
        batch_labels = torch.from_numpy(np.array(labels[start : start + batch_size], np.int64))
        batch = batch.to(device, non_blocking=True).permute(0, 3, 1, 2)
        # contiguous: the NHWC -> NCHW permute leaves strides some models cannot .view().
        inputs = ((batch.to(torch.float32) / 255.0 - mean) / std).to(dtype).contiguous()
        if autocast_dtype is None:
            logits = model(inputs)
        else:
            with torch.autocast(device.type, dtype=autocast_dtype):
                logits = model(inputs)
        metrics.update(logits, batch_labels.to(device, non_blocking=True))
    return metrics


def _diagram_json(metrics: ClassificationMetrics) -> dict[str, list]:
    diagram = metrics.reliability_diagram()

    def listed(values: torch.Tensor) -> list:
        return [None if math.isnan(v) else v for v in values.tolist()]

    return {
        "bin_edges": diagram.bin_edges.tolist(),
        "count": [int(c) for c in diagram.count.tolist()],
        "mean_confidence": listed(diagram.mean_confidence),
        "accuracy": listed(diagram.accuracy),
    }


def evaluate_model(
    model: nn.Module,
    clean: Any | None,
    corrupted: Any | None,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 512,
    device: torch.device | str | None = None,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    include_heldout: bool = False,
    max_examples: int | None = None,
    n_bins: int = DEFAULT_N_BINS,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Error, NLL, ECE and Brier score on a clean split and a corruption benchmark.

    The model runs in eval mode under :func:`torch.no_grad`; the train/eval mode
    of every submodule is restored afterwards. Nothing is written to disk (see
    :func:`write_report`).

    Parameters
    ----------
    model : nn.Module
        Maps standardised float images ``(B, C, H, W)`` to logits ``(B, K)``.
    clean : DatasetSplit, optional
        The clean test split (``.images`` uint8 ``(N, H, W, C)``, ``.labels``).
    corrupted : CorruptedDataset, optional
        A corruption benchmark: ``.corruptions`` (names) and
        ``.load(corruption, severity) -> (images, labels)``.
    mean, std : sequence of float
        Per-channel standardisation on the [0, 1] scale (the training statistics,
        stored in the checkpoint).
    batch_size : int
        Images per forward pass; the results do not depend on it.
    device : torch.device or str, optional
        Where to run; default: where the model's parameters are. The model is
        moved there.
    corruptions : sequence of str, optional
        Which corruptions to evaluate; default: every benchmark corruption that
        ``corrupted`` provides (in ``BENCHMARK_CORRUPTIONS`` order), plus the held-out ones when
        ``include_heldout``.
    severities : sequence of int, optional
        Severity levels to evaluate; default: every severity the corrupted set holds
        (1-5 for the published sets).
    include_heldout : bool
        With ``corruptions=None``, also evaluate the held-out corruptions
        (reported apart, never in the mean).
    max_examples : int, optional
        Evaluate only the first ``max_examples`` images of the clean split and of
        each corruption cell (a quick look; the -C sets keep the test order).
    n_bins : int
        Confidence bins of the ECE (default 15).
    autocast_dtype : torch.dtype, optional
        Run the forward pass under :func:`torch.autocast` with this dtype
        (e.g. ``torch.bfloat16``); metrics are still computed in float64.
    progress : bool
        Show a progress bar over the corruption cells.

    Returns
    -------
    dict
        ``clean``: metrics of the clean split (``None`` without one);
        ``corrupted``: the summaries of
        :func:`probmoll.metrics.aggregate_corruptions` plus ``pooled`` (the
        metrics of all benchmark images taken together) (``None`` without a
        benchmark); ``reliability``: reliability-diagram data for ``clean`` and
        the pooled ``corrupted`` images; ``settings``: how it was evaluated.
    """
    if clean is None and corrupted is None:
        raise ValueError("nothing to evaluate: pass a clean split, a corrupted set or both")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1
    ):
        raise ValueError(f"max_examples must be a positive integer or None, got {max_examples!r}")
    mean_values = [float(v) for v in mean]
    std_values = [float(v) for v in std]
    if len(mean_values) != len(std_values) or not mean_values:
        raise ValueError(f"mean and std need one entry per channel, got {mean} and {std}")
    if any(not s > 0 for s in std_values):
        raise ValueError(f"std must be positive, got {std}")
    channels = len(mean_values)

    model_device, dtype = _model_device_and_dtype(model)
    device = model_device if device is None else torch.device(device)
    model.to(device)
    mean_tensor = torch.tensor(mean_values, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std_tensor = torch.tensor(std_values, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    options = dict(
        mean=mean_tensor,
        std=std_tensor,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        autocast_dtype=autocast_dtype,
        n_bins=n_bins,
    )
    limit = slice(None, max_examples)
    if severities is None:
        severities = tuple(getattr(corrupted, "severities", DEFAULT_SEVERITIES))
    cells = _corruption_cells(corrupted, corruptions, severities, include_heldout)

    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        results: dict[str, Any] = {"clean": None, "corrupted": None, "reliability": {}}
        if clean is not None:
            _check_images(clean.images, clean.labels, channels, "clean split")
            clean_metrics = _evaluate_arrays(
                model, clean.images[limit], clean.labels[limit], **options
            )
            results["clean"] = clean_metrics.compute()
            results["reliability"]["clean"] = _diagram_json(clean_metrics)
        if corrupted is not None:
            image_size = None if clean is None else tuple(clean.images.shape[1:3])
            results["corrupted"], results["reliability"]["corrupted"] = _evaluate_corruptions(
                model, corrupted, cells, limit, channels, image_size, options, progress
            )
    finally:
        for module, training in modes.items():
            module.training = training

    results["settings"] = {
        "batch_size": batch_size,
        "n_bins": n_bins,
        "max_examples": max_examples,
        "device": str(device),
        "autocast_dtype": None if autocast_dtype is None else str(autocast_dtype),
        "mean": mean_values,
        "std": std_values,
    }
    return results


def _corruption_cells(
    corrupted: Any | None,
    corruptions: Sequence[str] | None,
    severities: Sequence[int],
    include_heldout: bool,
) -> list[tuple[str, int]]:
    if corrupted is None:
        return []
    from probmoll.data.corruptions import BENCHMARK_CORRUPTIONS, HELDOUT_CORRUPTIONS

    available = list(corrupted.corruptions)
    if corruptions is None:
        wanted = list(BENCHMARK_CORRUPTIONS) + (
            list(HELDOUT_CORRUPTIONS) if include_heldout else []
        )
        names = [name for name in wanted if name in available]
        if not names:
            raise ValueError(
                f"the corrupted set provides none of the benchmark corruptions "
                f"{list(BENCHMARK_CORRUPTIONS)}; it has {available}"
            )
    else:
        if isinstance(corruptions, str):
            raise TypeError(
                f"corruptions must be a sequence of names, got the string {corruptions!r}"
            )
        names = list(dict.fromkeys(corruptions))
        unknown = [name for name in names if name not in available]
        if unknown:
            raise ValueError(f"corruptions {unknown} are not in the set; it has {available}")
        if not any(name in BENCHMARK_CORRUPTIONS for name in names):
            raise ValueError(
                f"corruptions {names} include no benchmark corruption, so there is no "
                f"benchmark mean to report; benchmark corruptions: {list(BENCHMARK_CORRUPTIONS)}"
            )
    levels = []
    for severity in severities:
        if (
            isinstance(severity, bool)
            or not isinstance(severity, (int, np.integer))
            or severity < 1
        ):
            raise ValueError(f"severities must be positive integers, got {list(severities)}")
        levels.append(int(severity))
    if not levels or len(set(levels)) != len(levels):
        raise ValueError(
            f"severities must be a non-empty list without repeats, got {list(severities)}"
        )
    return [(name, level) for name in names for level in levels]


def _evaluate_corruptions(
    model: nn.Module,
    corrupted: Any,
    cells: list[tuple[str, int]],
    limit: slice,
    channels: int,
    image_size: tuple[int, int] | None,
    options: dict[str, Any],
    progress: bool,
) -> tuple[dict[str, Any], dict[str, list]]:
    from tqdm import tqdm

    from probmoll.data.corruptions import BENCHMARK_CORRUPTIONS, CORRUPTION_CATEGORIES

    per_cell: dict[str, dict[int, dict[str, Any]]] = {}
    pooled = ClassificationMetrics(n_bins=options["n_bins"])
    bar = tqdm(cells, desc="corruptions", unit="set", disable=not progress, dynamic_ncols=True)
    for corruption, severity in bar:
        bar.set_postfix_str(f"{corruption} s{severity}")
        images, labels = corrupted.load(corruption, severity)
        where = f"{corruption} at severity {severity}"
        _check_images(images, labels, channels, where, image_size)
        metrics = _evaluate_arrays(model, images[limit], labels[limit], **options)
        per_cell.setdefault(corruption, {})[severity] = metrics.compute()
        if corruption in BENCHMARK_CORRUPTIONS:
            pooled.merge(metrics)
    bar.close()

    summary = aggregate_corruptions(
        per_cell,
        benchmark=list(BENCHMARK_CORRUPTIONS),
        categories={name: list(members) for name, members in CORRUPTION_CATEGORIES.items()},
    )
    summary["pooled"] = pooled.compute()
    return summary, _diagram_json(pooled)


# --------------------------------------------------------------------- reference errors
def _error_fraction(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: expected an error (a number in [0, 1]), got {value!r}")
    if not 0 <= value <= 1:
        hint = " (errors are fractions, not percentages)" if 1 < value <= 100 else ""
        raise ValueError(f"{where}: error {value!r} is outside [0, 1]{hint}")
    return float(value)


def load_reference_errors(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a JSON file of a reference model's errors, for mCE.

    The file maps each corruption to its errors, either per severity
    (``{"1": 0.58, ..., "5": 0.92}`` or a list for severities 1, 2, ...) or as one number,
    the mean over severities 1-5 (how AlexNet's errors are usually published). An optional
    ``"clean"`` entry, the reference's clean error, adds the relative mCE. Errors are
    fractions in [0, 1]. Example: ``{"clean": 0.23, "gaussian_noise": 0.89, "fog":
    {"1": 0.4, "2": 0.5, "3": 0.6, "4": 0.7, "5": 0.8}}``.

    Returns
    -------
    dict
        ``{corruption: float or {severity: float}}``, plus ``"clean"`` when given.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not JSON, not an object, an unknown corruption name, a bad severity or a value
        that is not an error in [0, 1]; the message names the file and the entry.
    """
    from probmoll.data.corruptions import check_corruption

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference errors file {str(path)!r} does not exist")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(
            f"reference errors file {str(path)!r} is not valid JSON: {error}"
        ) from None
    if not isinstance(content, dict) or not content:
        raise ValueError(
            f"reference errors file {str(path)!r} must hold a non-empty JSON object "
            "{corruption: error or {severity: error}}, got " + type(content).__name__
        )
    reference: dict[str, Any] = {}
    for name, values in content.items():
        where = f"{str(path)!r}, entry {name!r}"
        if name == "clean":
            reference["clean"] = _error_fraction(values, where)
            continue
        try:
            check_corruption(name)
        except ValueError as error:
            raise ValueError(f"reference errors file {str(path)!r}: {error}") from None
        if isinstance(values, list):
            values = {str(level): value for level, value in enumerate(values, start=1)}
        if isinstance(values, dict):
            if not values:
                raise ValueError(f"{where}: no severity given")
            by_level = {}
            for level, value in values.items():
                if not (isinstance(level, str) and level.isdigit() and 1 <= int(level) <= 5):
                    raise ValueError(f"{where}: severity {level!r} is not one of 1..5")
                by_level[int(level)] = _error_fraction(value, f"{where}, severity {level}")
            reference[name] = dict(sorted(by_level.items()))
        else:
            reference[name] = _error_fraction(values, where)
    if set(reference) <= {"clean"}:
        raise ValueError(f"reference errors file {str(path)!r} names no corruption")
    return reference


def _check_reference(
    reference: Mapping[str, Any], levels: Mapping[str, Sequence[int]], source: str
) -> None:
    """Raise the ValueError :func:`reference_summary` would, naming ``source``, before the
    evaluation rather than after it: missing corruptions or severities, errors of 0, a
    clean error not below the corruption errors."""
    selected = _reference_for(reference, levels, source)
    if not selected:
        return
    try:
        mce(selected, selected)
        if "clean" in reference:
            relative_mce(selected, 0.0, selected, reference["clean"])
    except ValueError as error:
        raise ValueError(f"reference errors file {source!r}: {error}") from None


def _reference_for(
    reference: Mapping[str, Any], levels: Mapping[str, Sequence[int]], source: str
) -> dict[str, Any]:
    """The reference errors of the (corruption, severities) in ``levels``; a ValueError
    naming ``source`` unless it covers them all."""
    missing = sorted(name for name in levels if name not in reference)
    if missing:
        raise ValueError(
            f"{source} has no reference errors for the evaluated corruptions {missing}"
        )
    selected: dict[str, Any] = {}
    for name, wanted in levels.items():
        values = reference[name]
        wanted = sorted(int(level) for level in wanted)
        if isinstance(values, dict):
            absent = [level for level in wanted if level not in values]
            if absent:
                raise ValueError(
                    f"{source} has no reference errors for {name!r} at severities {absent}"
                )
            selected[name] = {level: values[level] for level in wanted}
        elif wanted != list(DEFAULT_SEVERITIES):
            raise ValueError(
                f"{source} gives {name!r} one error (a mean over severities 1-5) but severities "
                f"{wanted} were evaluated: evaluate all five or give per-severity errors"
            )
        else:
            selected[name] = values
    return selected


def reference_summary(
    results: Mapping[str, Any], reference: Mapping[str, Any], source: str = "reference errors"
) -> dict[str, Any]:
    """mCE (and relative mCE) of evaluated ``results`` against ``reference`` errors.

    Only the benchmark corruptions enter (as for the "corr" mean). The relative mCE needs
    the reference's ``"clean"`` error and a clean evaluation.

    Returns
    -------
    dict
        ``mce``; ``relative_mce`` (when possible); ``reference``: ``{"source",
        "ce_by_corruption", "relative_ce_by_corruption"}``. Ratios: 1.0 is the reference.
    """
    by_corruption = _get(results, "corrupted", "by_corruption")
    if not by_corruption:
        raise ValueError(f"{source}: mCE needs corrupted results (pass --corruptions)")
    errors = {
        name: {int(level): cell["error"] for level, cell in cells.items() if level != "mean"}
        for name, cells in by_corruption.items()
    }
    selected = _reference_for(reference, errors, source)
    normalised = mce(errors, selected)
    summary: dict[str, Any] = {
        "mce": normalised["mce"],
        "reference": {"source": source, "ce_by_corruption": normalised["by_corruption"]},
    }
    clean_error = _get(results, "clean", "error")
    if "clean" in reference and clean_error is not None:
        relative = relative_mce(errors, clean_error, selected, reference["clean"])
        summary["relative_mce"] = relative["relative_mce"]
        summary["reference"]["relative_ce_by_corruption"] = relative["by_corruption"]
    return summary


# ------------------------------------------------------------------------------ reports
def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _decimal(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _get(results: Mapping[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(results, Mapping) or key not in results:
            return None
        results = results[key]
    return results


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table in the layout of Table 1: error/NLL/ECE, clean and corrupted, per run.

    "corr" is the mean over the benchmark corruptions and severities.
    """
    header = ["run", "error clean", "error corr", "NLL clean", "NLL corr", "ECE clean", "ECE corr"]
    rows = []
    for name, results in runs.items():
        row = [name]
        for metric, fmt in (("error", _percent), ("nll", _decimal), ("ece", _decimal)):
            row += [
                fmt(_get(results, "clean", metric)),
                fmt(_get(results, "corrupted", "mean", metric)),
            ]
        rows.append(row)
    return _table(header, rows)


def _table2_column(name: str) -> int:
    """Column of ``name`` in the paper's Table 2; names it lacks sort last, in their order."""
    from probmoll.data.corruptions import TABLE2_ORDER

    return TABLE2_ORDER.index(name) if name in TABLE2_ORDER else len(TABLE2_ORDER)


def _grouped_corruptions(runs: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """Benchmark corruptions of all runs grouped by category, in the column order of the
    paper's Table 2 (``TABLE2_ORDER``; names it does not know keep their order, last)."""
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
    ``BENCHMARK_CORRUPTIONS``), clean first and the benchmark mean last."""
    fmt = _percent if metric == "error" else _decimal
    groups = _grouped_corruptions(runs)
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
    return _table(categories_row, rows)


def severity_table(results: Mapping[str, Any]) -> str:
    """Markdown table of error/NLL/ECE against severity, 0 being the clean split (Figs. 9-10)."""
    by_severity = _get(results, "corrupted", "by_severity") or {}
    levels = sorted(by_severity, key=int)
    rows = []
    for metric, label, fmt in (
        ("error", "error (%)", _percent),
        ("nll", "NLL", _decimal),
        ("ece", "ECE", _decimal),
    ):
        rows.append(
            [label, fmt(_get(results, "clean", metric))]
            + [fmt(_get(by_severity, level, metric)) for level in levels]
        )
    return _table(["metric", "0 (clean)", *levels], rows)


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
    return text + "\n\n" + _table(["corruption", "CE (%)", "relative CE (%)"], rows)


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
            _decimal(_get(cells, "mean", "ece")),
        ]
        for name, cells in by_corruption.items()
    ]
    mean = heldout.get("mean", {})
    rows.append(
        ["mean", _percent(mean.get("error")), _decimal(mean.get("nll")), _decimal(mean.get("ece"))]
    )
    return _table(["held-out corruption", "error (%)", "NLL", "ECE"], rows)


def markdown_report(results: Mapping[str, Any], title: str = "Evaluation") -> str:
    """The Markdown report of one evaluation (written as ``report.md`` by :func:`write_report`)."""
    sections = [
        f"# {title}",
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
        for metric, label in (("error", "Error (%)"), ("nll", "NLL"), ("ece", "ECE")):
            sections += [
                "",
                f"## {label} per corruption (Table 2 layout)",
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
                f"ECE {_decimal(pooled['ece'])} (n = {pooled['count']}).",
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

    ``metrics.json`` holds ``results`` as returned by :func:`evaluate_model`::

        {"clean": {"error", "nll", "ece", ...},
         "corrupted": {"mean": {...}, "by_corruption": {NAME: {"1": ..., "mean": ...}},
                       "by_category": {...}, "by_severity": {"1": ...}, "heldout": {...},
                       "pooled": {...}, ...},
         "reliability": {...}, "settings": {...}}

    Every file is written atomically. Returns ``{kind: path}`` of the files written.
    """
    from probmoll.plots import plot_reliability_diagrams, plot_severity_curves

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
    """Read a ``metrics.json`` (or the one in a run/output folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no {METRICS_FILE} at {str(path)!r}: run `probmoll evaluate` first"
        )
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


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
                f"## {metric} per corruption (Table 2 layout)",
                "",
                corruption_table(loaded, metric),
            ]
    return "\n".join(sections) + "\n"


# ---------------------------------------------------------------------- command line
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``probmoll evaluate``."""
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="a checkpoint file or a run folder holding checkpoint.pt",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="clean images: a dataset name (its test split) or npz:PATH of a .npz with "
        "'images' (N, H, W, C) uint8 and 'labels' (N,); default: the checkpoint's dataset",
    )
    parser.add_argument("--data-root", default=None, help="where the raw dataset files are")
    parser.add_argument("--cache-dir", default=None, help="cache of decoded/generated arrays")
    parser.add_argument(
        "--corruptions",
        default="none",
        metavar="SET",
        help="corruption benchmark: cifar10-c (also cifar100-c, tinyimagenet-c: the "
        "published files, see --corruptions-root), generated (made locally from the clean "
        "images with imagecorruptions on first use, then cached), the path of a set's "
        "folder, or none (default)",
    )
    parser.add_argument(
        "--corruptions-root",
        default=None,
        help="published sets: their folder (or its parent); generated sets: where to write "
        "them (default: in the cache)",
    )
    parser.add_argument(
        "--severities",
        type=int,
        nargs="+",
        default=None,
        choices=DEFAULT_SEVERITIES,
        metavar="S",
        help="severity levels to evaluate (default: all that the corrupted set holds)",
    )
    parser.add_argument(
        "--include-heldout",
        action="store_true",
        help="also evaluate the 4 held-out corruptions (reported apart, never in the mean)",
    )
    parser.add_argument(
        "--subset",
        type=_positive_int,
        default=None,
        metavar="N",
        help="evaluate only the first N images of the clean split and of each corruption cell",
    )
    parser.add_argument(
        "--reference-errors",
        default=None,
        metavar="JSON",
        help="a JSON file of a reference model's errors (e.g. AlexNet's) per corruption: "
        '{"gaussian_noise": {"1": 0.5, ..., "5": 0.9}, ...} or {"gaussian_noise": 0.7, ...} '
        '(mean over severities 1-5), optionally with "clean"; adds mCE (and relative mCE) '
        "to metrics.json and report.md",
    )
    parser.add_argument("--batch-size", type=_positive_int, default=512)
    parser.add_argument(
        "--device", default=None, help="e.g. cuda, cuda:1, cpu (default: cuda if available)"
    )
    parser.add_argument(
        "--out", default=None, help="output folder (default: the run folder of the checkpoint)"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_split_matches_model(split: Any, info: Mapping[str, Any], source: str) -> None:
    """Raise a ``ValueError`` unless ``split``'s images and labels fit the model of ``info``.

    ``info`` is the checkpoint's data entry (``in_channels``, ``image_size``, ``num_classes``).
    """
    images, labels = split.images, np.asarray(split.labels)
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        found = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
        raise TypeError(f"{source}: images must be uint8 (values 0..255), got {found}")
    if images.ndim != 4:
        raise ValueError(f"{source}: images must have shape (N, H, W, C), got {images.shape}")
    channels = int(info["in_channels"])
    if images.shape[-1] != channels:
        raise ValueError(
            f"{source}: images have {images.shape[-1]} channels (shape {images.shape}), "
            f"the model expects {channels}"
        )
    size = info["image_size"]
    expected_size = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    if tuple(images.shape[1:3]) != expected_size:
        raise ValueError(
            f"{source}: images are {images.shape[1]}x{images.shape[2]} (shape {images.shape}), "
            f"the model expects {expected_size[0]}x{expected_size[1]}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (images.shape[0],):
        raise ValueError(
            f"{source}: labels must be integers of shape ({images.shape[0]},), got dtype "
            f"{labels.dtype} and shape {labels.shape}"
        )
    num_classes = int(info["num_classes"])
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels.min()) if labels.min() < 0 else int(labels.max())
        raise ValueError(
            f"{source}: label {bad} is outside [0, {num_classes - 1}] of the model's "
            f"{num_classes} classes"
        )


def load_clean_data(
    spec: str | None,
    info: Mapping[str, Any],
    *,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Any:
    """The clean split named by ``--data``, checked against the model of ``info``.

    ``None`` is the test split of the checkpoint's dataset, loaded with the dataset
    options recorded at training (``info["options"]``); ``"npz:PATH"`` a user ``.npz``
    file; any other string a registered dataset's test split. Images are always
    standardised with the checkpoint's ``mean``/``std``, not the file's.
    """
    from probmoll.data import load_dataset, load_npz

    if spec is not None and spec.startswith("npz:"):
        path = spec[len("npz:") :]
        if not path:
            raise ValueError("--data npz:PATH needs a path after 'npz:'")
        split = load_npz(path)
        source = f"npz file {path!r}"
    else:
        name = spec or info.get("name")
        if not name:
            raise ValueError("the checkpoint names no dataset: pass --data NAME or npz:PATH")
        # The dataset options of training (e.g. image size, class count) rebuild the
        # same test split; they do not apply to another dataset.
        options = dict(info.get("options") or {}) if name == info.get("name") else {}
        split = load_dataset(name, "test", root=root, cache_dir=cache_dir, **options)
        source = f"dataset {name!r} (test split)"
    check_split_matches_model(split, info, source)
    return split


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def run(args: argparse.Namespace) -> int:
    """Entry point of ``probmoll evaluate``; returns 0, or 2 after a one-line error."""
    try:
        return _run(args)
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        # OSError: missing or unreadable files, a full disk; RuntimeError: torch (an
        # unknown device, out of memory). Bugs of other kinds keep their traceback.
        print(f"probmoll evaluate: error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from probmoll.models import load_checkpoint, model_from_checkpoint, resolve_checkpoint_path

    device = torch.device(args.device or _default_device())
    reference = None
    if args.reference_errors is not None:
        if args.corruptions.lower() == "none":
            raise ValueError("--reference-errors needs a corruption benchmark: pass --corruptions")
        reference = load_reference_errors(args.reference_errors)
    checkpoint_path = resolve_checkpoint_path(args.checkpoint)
    checkpoint = load_checkpoint(checkpoint_path, map_location="cpu")
    model, info = model_from_checkpoint(checkpoint, map_location=device)
    clean = load_clean_data(args.data, info, root=args.data_root, cache_dir=args.cache_dir)
    corrupted = None
    if args.corruptions.lower() != "none":
        from probmoll.data.corruptions import BENCHMARK_CORRUPTIONS, open_corruptions

        # A generated set always gets all five severities, so that one cached set serves
        # every later --severities choice.
        corrupted = open_corruptions(
            args.corruptions,
            root=args.corruptions_root,
            dataset=clean,
            cache_dir=args.cache_dir,
            subset=args.subset,
            include_heldout=args.include_heldout,
            progress=not args.no_progress,
        )
        # Not a repeat of open_corruptions' check: that one bounds the labels by the clean
        # split's class list (an npz file's "classes" may be longer than the model's), this
        # one by the model's classes, which open_corruptions does not know.
        corrupted.check_labels(
            clean.labels,
            int(info["num_classes"]),
            what=f"the clean images ({args.data or info.get('name')})",
        )
        if reference is not None:  # refuse an incomplete file before the long evaluation
            levels = args.severities or corrupted.severities
            planned = [c for c in corrupted.corruptions if c in BENCHMARK_CORRUPTIONS]
            _check_reference(reference, {c: levels for c in planned}, str(args.reference_errors))
    results = evaluate_model(
        model,
        clean,
        corrupted,
        mean=info["mean"],
        std=info["std"],
        batch_size=args.batch_size,
        device=device,
        severities=args.severities,
        include_heldout=args.include_heldout,
        max_examples=args.subset,
        progress=not args.no_progress,
    )
    if reference is not None:
        results["corrupted"].update(
            reference_summary(results, reference, source=str(args.reference_errors))
        )
    results["checkpoint"] = str(checkpoint_path)
    results["model"] = info.get("model_name")
    results["data"] = {
        "spec": args.data or info.get("name"),
        "name": getattr(clean, "name", None),
        "corruptions": args.corruptions,
        "corruptions_root": args.corruptions_root,
        "reference_errors": args.reference_errors,
    }
    out_dir = Path(args.out) if args.out else checkpoint_path.parent
    title = checkpoint_path.parent.name or "Evaluation"
    written = write_report(results, out_dir, title=title, plots=not args.no_plots)
    print(summary_table({title: results}))
    print(f"wrote {', '.join(str(path) for path in written.values())}")
    return 0
