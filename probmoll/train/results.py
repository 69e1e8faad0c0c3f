"""Numbers out of finished runs: look-ups in ``metrics.json`` and mean (std) over seeds.

Shared by the sweep collector (:mod:`probmoll.train.sweep`) and the experiment reports
(``experiments/report.py``), so that both read a metric and summarise seeds the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["lookup", "mean_std"]


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
