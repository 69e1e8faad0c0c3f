"""Summaries of metrics over a corruption benchmark (CIFAR-10-C and kin).

A corruption benchmark evaluates a model on every (corruption, severity) cell.
:func:`aggregate_corruptions` turns the per-cell metrics into the summaries the
paper reports:

- per corruption: the mean over its severities (Table 2's columns);
- per category (noise, blur, weather, digital; Sec. 4.4, Fig. 6);
- per severity: the mean over corruptions (Figs. 9 and 10);
- overall: the mean over the benchmark corruptions and severities, the "corr"
  column of Tables 1, 3 and 5 ("averaged across all 15 corruption types and 5
  intensity levels", App. A.1).

Corruptions outside the benchmark list (the four held-out ones of Hendrycks and
Dietterich (2019), meant for validation and tuning) are summarised separately
and never enter the overall mean. Metrics are plain means of the per-cell
values (the cells hold equally many images), and ``count`` is summed.

:func:`mce` is the corruption error normalised by a reference model
(Hendrycks and Dietterich, 2019), a different number from the plain mean;
:func:`relative_mce` normalises the error added by corruption instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "DEFAULT_SEVERITIES",
    "SUMMARY_METRICS",
    "aggregate_corruptions",
    "mce",
    "mean_metrics",
    "relative_mce",
]

DEFAULT_SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
"""The five severity levels of the -C benchmarks."""

SUMMARY_METRICS: tuple[str, ...] = ("error", "nll", "ece", "brier")
"""Metrics averaged by the summaries (others in a cell are not carried over)."""

CellMetrics = Mapping[str, float]
CorruptionResults = Mapping[str, Mapping[int, CellMetrics]]


def mean_metrics(
    cells: Iterable[CellMetrics], metrics: Sequence[str] = SUMMARY_METRICS
) -> dict[str, float]:
    """Plain mean of each metric in ``metrics`` over ``cells``; ``count`` (if present) is summed.

    A metric missing from any cell is left out of the result, so that a mean is
    never taken over a subset of cells.
    """
    cells = list(cells)
    if not cells:
        raise ValueError("cannot average metrics over zero cells")
    summary: dict[str, float] = {}
    for name in metrics:
        if all(name in cell for cell in cells):
            summary[name] = math.fsum(float(cell[name]) for cell in cells) / len(cells)
    if all("count" in cell for cell in cells):
        summary["count"] = int(sum(int(cell["count"]) for cell in cells))
    summary["cells"] = len(cells)
    return summary


def _normalise_results(results: CorruptionResults) -> dict[str, dict[int, CellMetrics]]:
    """Severity keys as ints (JSON gives strings); reject empty corruptions and bad severities."""
    normalised: dict[str, dict[int, CellMetrics]] = {}
    for corruption, by_severity in results.items():
        if not isinstance(by_severity, Mapping) or not by_severity:
            raise ValueError(
                f"corruption {corruption!r} has no per-severity results: {by_severity!r}"
            )
        cells: dict[int, CellMetrics] = {}
        for severity, cell in by_severity.items():
            try:
                level = int(severity)
            except (TypeError, ValueError):
                raise ValueError(
                    f"severity {severity!r} of corruption {corruption!r} is not an integer level"
                ) from None
            if level < 1:
                raise ValueError(f"severity {severity!r} of corruption {corruption!r} must be >= 1")
            cells[level] = cell
        normalised[corruption] = dict(sorted(cells.items()))
    return normalised


def _summarise_group(
    results: Mapping[str, Mapping[int, CellMetrics]],
    corruptions: Sequence[str],
    metrics: Sequence[str],
) -> dict[str, object]:
    by_corruption = {
        name: {
            **{str(level): dict(cell) for level, cell in results[name].items()},
            "mean": mean_metrics(results[name].values(), metrics),
        }
        for name in corruptions
    }
    cells = [cell for name in corruptions for cell in results[name].values()]
    levels = sorted({level for name in corruptions for level in results[name]})
    by_severity = {
        str(level): mean_metrics(
            (results[name][level] for name in corruptions if level in results[name]), metrics
        )
        for level in levels
    }
    return {
        "mean": mean_metrics(cells, metrics),
        "by_corruption": by_corruption,
        "by_severity": by_severity,
        "corruptions": list(corruptions),
        "severities": levels,
    }


def aggregate_corruptions(
    results: CorruptionResults,
    *,
    benchmark: Sequence[str],
    categories: Mapping[str, Sequence[str]] | None = None,
    severities: Sequence[int] = DEFAULT_SEVERITIES,
    metrics: Sequence[str] = SUMMARY_METRICS,
) -> dict[str, object]:
    """Summarise per-(corruption, severity) metrics as in Tables 1-2 and Figs. 9-10.

    Parameters
    ----------
    results : mapping
        ``{corruption: {severity: {"error": ..., "nll": ..., "ece": ..., ...}}}``;
        severities may be ints or their strings (as read back from JSON).
    benchmark : sequence of str
        The benchmark corruptions, in report order (the 15 of Table 2). Only
        these enter ``mean``, ``by_category`` and ``by_severity``.
    categories : mapping, optional
        ``{category: [corruption, ...]}``, e.g. noise/blur/weather/digital.
    severities : sequence of int
        The severity levels a complete benchmark has (default 1-5); used only to
        flag whether the summary covers the full benchmark.
    metrics : sequence of str
        Which metrics to average (default error, NLL, ECE, Brier).

    Returns
    -------
    dict
        ``mean``: mean over all benchmark cells present (the paper's "corr");
        ``by_corruption``: ``{name: {"1": cell, ..., "mean": ...}}`` for benchmark
        corruptions, in ``benchmark`` order; ``by_category``: ``{category: mean}``
        over the benchmark cells of each category (categories with no results are
        left out); ``by_severity``: ``{"1": mean over corruptions, ...}``;
        ``heldout``: the same summaries for every corruption outside ``benchmark``
        (empty if none); ``complete``: whether every benchmark corruption has every
        severity in ``severities``, i.e. whether ``mean`` is the paper's number;
        ``categories``: the members of each category in ``by_category``, in
        ``benchmark`` order; ``corruptions``, ``severities``: what was averaged.
    """
    normalised = _normalise_results(results)
    benchmark = list(benchmark)
    if len(set(benchmark)) != len(benchmark):
        raise ValueError(f"benchmark lists a corruption twice: {benchmark}")
    present = [name for name in benchmark if name in normalised]
    if not present:
        raise ValueError(
            f"none of the results {sorted(normalised)} is a benchmark corruption; "
            f"benchmark corruptions are {benchmark}"
        )
    extra = [name for name in normalised if name not in benchmark]
    summary = _summarise_group(normalised, present, metrics)

    by_category: dict[str, dict[str, float]] = {}
    category_members: dict[str, list[str]] = {}
    for category, members in (categories or {}).items():
        unknown = [name for name in members if name not in benchmark]
        if unknown:
            raise ValueError(
                f"category {category!r} lists {unknown}, which are not benchmark corruptions "
                f"{benchmark}"
            )
        cells = [
            cell for name in members if name in normalised for cell in normalised[name].values()
        ]
        if cells:
            by_category[category] = mean_metrics(cells, metrics)
            category_members[category] = [
                name for name in benchmark if name in members and name in normalised
            ]

    wanted_levels = {int(level) for level in severities}
    complete = len(present) == len(benchmark) and all(
        wanted_levels <= set(normalised[name]) for name in present
    )
    return {
        "mean": summary["mean"],
        "by_corruption": summary["by_corruption"],
        "by_category": by_category,
        "by_severity": summary["by_severity"],
        "heldout": _summarise_group(normalised, extra, metrics) if extra else {},
        "complete": complete,
        "categories": category_members,
        "corruptions": summary["corruptions"],
        "severities": summary["severities"],
    }


ErrorsBySeverity = Mapping[int, float] | Sequence[float] | float


def _per_severity(values: ErrorsBySeverity, corruption: str, what: str) -> dict[int, float] | float:
    """``{severity: error}``, or a float: one error standing for the mean over severities."""
    if isinstance(values, bool):
        raise TypeError(f"{what}[{corruption!r}] must be an error or map severity -> error")
    if isinstance(values, (int, float)):
        return float(values)
    if isinstance(values, Mapping):
        by_level = {int(level): float(value) for level, value in values.items()}
    elif isinstance(values, Sequence) and not isinstance(values, str):
        by_level = {level: float(value) for level, value in enumerate(values, start=1)}
    else:
        raise TypeError(
            f"{what}[{corruption!r}] must be an error or map severity -> error, got {values!r}"
        )
    if not by_level:
        raise ValueError(f"{what}[{corruption!r}] holds no severity")
    return by_level


def _mean_errors(
    errors: Mapping[str, ErrorsBySeverity], reference_errors: Mapping[str, ErrorsBySeverity]
) -> dict[str, tuple[float, float]]:
    """``{corruption: (mean error, mean reference error)}`` over the same severities."""
    if not errors:
        raise ValueError("errors is empty: need at least one corruption")
    missing = sorted(set(errors) - set(reference_errors))
    if missing:
        raise ValueError(
            f"no reference errors for {missing}; reference errors cover {sorted(reference_errors)}"
        )
    means = {}
    for corruption in errors:
        own = _per_severity(errors[corruption], corruption, "errors")
        reference = _per_severity(reference_errors[corruption], corruption, "reference_errors")
        if isinstance(own, dict) and isinstance(reference, dict) and set(own) != set(reference):
            raise ValueError(
                f"corruption {corruption!r}: severities {sorted(own)} differ from the reference "
                f"severities {sorted(reference)}"
            )
        if isinstance(own, dict) != isinstance(reference, dict):
            # One number is a mean over severities 1-5: the other side must cover them all.
            by_level = own if isinstance(own, dict) else reference
            side, single = (
                ("errors", "reference_errors")
                if by_level is own
                else ("reference_errors", "errors")
            )
            if set(by_level) != set(DEFAULT_SEVERITIES):
                raise ValueError(
                    f"corruption {corruption!r}: {single} gives one number, the mean over "
                    f"severities 1-5, but {side} cover severities {sorted(by_level)}: pass "
                    f"{side} for all of severities 1-5, or per-severity {single} for "
                    f"severities {sorted(by_level)}"
                )
        own_mean, reference_mean = (
            math.fsum(v.values()) / len(v) if isinstance(v, dict) else v for v in (own, reference)
        )
        if reference_mean <= 0:
            total = math.fsum(reference.values()) if isinstance(reference, dict) else reference
            raise ValueError(f"reference errors of {corruption!r} sum to {total}; need > 0")
        means[corruption] = (own_mean, reference_mean)
    return means


def mce(
    errors: Mapping[str, ErrorsBySeverity],
    reference_errors: Mapping[str, ErrorsBySeverity],
) -> dict[str, object]:
    """Mean corruption error normalised by a reference model (Hendrycks and Dietterich, 2019).

    For each corruption ``c``, ``CE_c = sum_s E_{s,c} / sum_s E^ref_{s,c}`` over the
    severities ``s``; ``mCE`` is the mean of ``CE_c`` over corruptions. The
    benchmark's reference model is AlexNet. probmoll ships no reference errors:
    pass those of the model you normalise by, for the same corruptions and
    severities as ``errors``.

    Parameters
    ----------
    errors, reference_errors : mapping
        ``{corruption: {severity: error}}`` or ``{corruption: [error at severity 1, ...]}``.
        A single number per corruption stands for the mean error over the severities
        (as published reference errors often are): ``CE_c`` is then the ratio of means,
        which equals the ratio of sums over the same severities. The other side must
        then cover severities 1-5 (a ValueError otherwise).

    Returns
    -------
    dict
        ``mce`` (the mean) and ``by_corruption`` (each ``CE_c``).
    """
    by_corruption = {
        corruption: own / reference
        for corruption, (own, reference) in _mean_errors(errors, reference_errors).items()
    }
    return {
        "mce": math.fsum(by_corruption.values()) / len(by_corruption),
        "by_corruption": by_corruption,
    }


def relative_mce(
    errors: Mapping[str, ErrorsBySeverity],
    clean_error: float,
    reference_errors: Mapping[str, ErrorsBySeverity],
    reference_clean_error: float,
) -> dict[str, object]:
    """Relative mCE (Hendrycks and Dietterich, 2019): the error *added* by corruption,
    normalised by the reference model's.

    ``relCE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^ref_{s,c} - E^ref_clean)`` and the
    relative mCE is its mean over corruptions. A model can have a low mCE and a high
    relative mCE when its clean error is low but corruption costs it a lot.

    Parameters
    ----------
    errors, reference_errors : mapping
        As for :func:`mce`.
    clean_error, reference_clean_error : float
        Errors on the clean images of the model and of the reference.

    Returns
    -------
    dict
        ``relative_mce`` (the mean) and ``by_corruption`` (each ``relCE_c``).
    """
    by_corruption = {}
    for corruption, (own, reference) in _mean_errors(errors, reference_errors).items():
        gap = reference - float(reference_clean_error)
        if gap <= 0:
            raise ValueError(
                f"the reference's errors on {corruption!r} ({reference:g} on average) do not "
                f"exceed its clean error {reference_clean_error:g}: the relative corruption "
                "error is undefined"
            )
        by_corruption[corruption] = (own - float(clean_error)) / gap
    return {
        "relative_mce": math.fsum(by_corruption.values()) / len(by_corruption),
        "by_corruption": by_corruption,
    }
