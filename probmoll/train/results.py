"""Numbers out of finished runs: metric names, ``metrics.json`` look-ups, mean (std) over seeds.

Shared by the sweep collector (:mod:`probmoll.train.sweep`) and the experiment reports
(``experiments/report.py``), so that both read a metric and summarise seeds the same way.
The metric names a ``metrics.json`` holds are those of
:data:`probmoll.metrics.schema.METRIC_PATTERNS`; :func:`metric_names` fills in the
corruption names and :func:`check_metric_names` refuses others before anything runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probmoll.metrics.schema import MetricNames
from probmoll.utils.config import ConfigError
from probmoll.utils.io import read_json

__all__ = ["check_metric_names", "lookup", "mean_std", "metric_names", "read_metrics"]


def metric_names() -> MetricNames:
    """The metric names of a ``metrics.json`` for probmoll's corruptions and severities."""
    from probmoll.data.corruptions.names import (
        BENCHMARK_CORRUPTIONS,
        CORRUPTION_CATEGORIES,
        HELDOUT_CORRUPTIONS,
        SEVERITIES,
    )

    return MetricNames(
        corruptions=BENCHMARK_CORRUPTIONS,
        heldout=HELDOUT_CORRUPTIONS,
        categories=tuple(CORRUPTION_CATEGORIES),
        severities=SEVERITIES,
    )


def check_metric_names(metrics: Any, *, key: str = "collect.metrics") -> list[str]:
    """``metrics`` as a list of metric names, each one a number a ``metrics.json`` holds.

    Raises
    ------
    ConfigError
        On one line, naming ``key``: for something other than a list of strings, a name
        given twice, or names outside the schema (with close matches and the valid
        patterns).
    """
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise ConfigError(f"{key} must be a list of metric names, got {metrics!r}")
    names = list(metrics)
    bad = [name for name in names if not isinstance(name, str)]
    if bad:
        raise ConfigError(f"{key} must be a list of metric names, got {bad[0]!r} in it")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"{key} lists {', '.join(map(repr, repeated))} twice")
    schema = metric_names()
    unknown = [name for name in names if schema.match(name) is None]
    if unknown:
        guesses = []
        for name in unknown:
            close = schema.suggest(name)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            guesses.append(f"{name!r}{hint}")
        raise ConfigError(
            f"{key}: {', '.join(guesses)} {'is' if len(unknown) == 1 else 'are'} not "
            f"in metrics.json; valid names: {schema.describe()}"
        )
    return names


def read_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """The results in the ``metrics.json`` file ``path``.

    Raises
    ------
    ValueError
        When the file is missing, cannot be read, is not valid JSON or holds something
        other than a mapping; the message starts with the path and says what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: missing")
    results = read_json(path)  # a ValueError naming the file when it is not JSON
    if not isinstance(results, Mapping):
        raise ValueError(f"{path}: holds {type(results).__name__}, not a mapping of metrics")
    return dict(results)


def lookup(results: Mapping[str, Any], dotted: str) -> float | None:
    """The number at ``dotted`` (e.g. ``"corrupted.mean.error"``) in a nested mapping;
    None when a key is missing or the value is not a number.

    >>> lookup({"clean": {"error": 0.1}}, "clean.error")
    0.1
    >>> lookup({"clean": {"error": None}}, "clean.error") is None
    True
    """
    node: Any = results
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``ddof = 1``) of ``values``; the standard
    deviation is None for a single value. An empty sequence raises ValueError.

    >>> mean_std([1.0, 3.0])
    (2.0, 1.4142135623730951)
    >>> mean_std([2.0])
    (2.0, None)
    """
    values = list(values)
    if not values:
        raise ValueError("mean_std needs at least one value")
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance)
