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

- :mod:`probmoll.evaluate.core` -- the one evaluation loop (:func:`evaluate_images`,
  also used by training) and :func:`standardize`
- :mod:`probmoll.evaluate.model` -- :func:`evaluate_model`: a clean split and a
  corruption benchmark, summarised
- :mod:`probmoll.evaluate.reference` -- reference errors and the mCE
- :mod:`probmoll.evaluate.report` -- ``metrics.json``, ``report.md``, the tables
- :mod:`probmoll.evaluate.plots` -- severity curves and reliability diagrams (imported
  on use: it needs matplotlib)
- :mod:`probmoll.evaluate.output` -- where ``probmoll evaluate`` writes
  (``RUN/evaluations/<name>/``, never the run's own files) and the record of what it
  evaluated
- :mod:`probmoll.evaluate.cli` -- ``probmoll evaluate``

Command line::

    probmoll evaluate --checkpoint runs/cifar10-moll --corruptions cifar10-c \\
        --corruptions-root ~/data/CIFAR-10-C
"""

from probmoll.evaluate.cli import (
    add_arguments,
    check_split_matches_model,
    inference_settings,
    load_clean_data,
    run,
)
from probmoll.evaluate.core import (
    ImageLayout,
    check_images,
    evaluate_images,
    model_device_and_dtype,
    standardize,
)
from probmoll.evaluate.model import evaluate_model
from probmoll.evaluate.reference import check_reference, load_reference_errors, reference_summary
from probmoll.evaluate.report import (
    METRICS_FILE,
    RELIABILITY_PLOT_FILE,
    REPORT_FILE,
    SEVERITY_PLOT_FILE,
    SHORT_NAMES,
    compare_runs,
    corruption_table,
    grouped_corruptions,
    heldout_table,
    load_metrics,
    markdown_report,
    metric_label,
    severity_table,
    summary_table,
    write_report,
)

__all__ = [
    "METRICS_FILE",
    "RELIABILITY_PLOT_FILE",
    "REPORT_FILE",
    "SEVERITY_PLOT_FILE",
    "SHORT_NAMES",
    "ImageLayout",
    "add_arguments",
    "inference_settings",
    "check_images",
    "check_reference",
    "check_split_matches_model",
    "compare_runs",
    "corruption_table",
    "evaluate_images",
    "evaluate_model",
    "grouped_corruptions",
    "heldout_table",
    "load_clean_data",
    "load_metrics",
    "load_reference_errors",
    "markdown_report",
    "metric_label",
    "model_device_and_dtype",
    "reference_summary",
    "run",
    "severity_table",
    "standardize",
    "summary_table",
    "write_report",
]
