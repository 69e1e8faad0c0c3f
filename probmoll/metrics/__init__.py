"""Metrics of Sec. 4: error, NLL, ECE and Brier score against hard labels.

- :mod:`probmoll.metrics.functional` -- pure functions of logits ``(B, C)`` and labels ``(B,)``
- :mod:`probmoll.metrics.accumulator` -- :class:`ClassificationMetrics`, exact sums over a
  split, mergeable and all-reducible across processes
- :mod:`probmoll.metrics.aggregate` -- summaries over a corruption benchmark, mCE and relative mCE
- :mod:`probmoll.metrics.schema` -- the dotted names of the numbers a ``metrics.json`` holds
"""

from probmoll.metrics.accumulator import ClassificationMetrics
from probmoll.metrics.aggregate import (
    DEFAULT_SEVERITIES,
    SUMMARY_METRICS,
    aggregate_corruptions,
    mce,
    mean_metrics,
    relative_mce,
)
from probmoll.metrics.functional import (
    DEFAULT_N_BINS,
    ReliabilityDiagram,
    bin_edges,
    brier,
    calibration_bins,
    confidence,
    ece,
    error,
    nll,
    reliability_diagram,
)
from probmoll.metrics.schema import (
    CELL_METRICS,
    METRIC_PATTERNS,
    SUMMARY_FIELDS,
    MetricNames,
    numeric_keys,
)

__all__ = [
    "CELL_METRICS",
    "DEFAULT_N_BINS",
    "DEFAULT_SEVERITIES",
    "METRIC_PATTERNS",
    "SUMMARY_FIELDS",
    "SUMMARY_METRICS",
    "ClassificationMetrics",
    "MetricNames",
    "ReliabilityDiagram",
    "aggregate_corruptions",
    "bin_edges",
    "brier",
    "calibration_bins",
    "confidence",
    "ece",
    "error",
    "mce",
    "mean_metrics",
    "nll",
    "numeric_keys",
    "relative_mce",
    "reliability_diagram",
]
