"""Classification metrics as pure functions of logits and hard labels.

The metrics take ``logits`` of shape ``(B, C)`` (any floating dtype) and
integer class indices ``labels`` of shape ``(B,)`` and return a 0-dim
``float64`` tensor on the device of ``logits``. These are the metrics of the
paper's Sec. 4 ("Metrics"): error, negative log-likelihood
``-log p(y | f(x))`` and expected calibration error (Guo et al., 2017), plus
the Brier score. They are always computed against the *hard* labels: the
smoothed targets of label mollification (Eqs. 7-8, 12-13) are for training only.

All computation is done in ``float64`` (softmax included), so the results do
not depend on whether a model ran in ``float32`` or ``bfloat16`` beyond the
logits themselves, and sums over a split (see
:class:`probmoll.metrics.ClassificationMetrics`) stay exact.

Confidence bins
---------------
ECE and reliability diagrams sort examples into ``n_bins`` equal-width bins of
the confidence ``max_c p_c`` on ``[0, 1]`` with edges ``e_m = m / n_bins``.
Bins are closed on the right, as the intervals ``I_m = (e_{m-1}, e_m]`` of
Guo et al. (2017), and the first bin also holds 0, i.e. it is ``[0, e_1]``:

- confidence exactly ``1.0`` lands in the last bin;
- confidence exactly ``0.0`` lands in the first bin;
- a confidence exactly on an interior edge ``e_m`` lands in bin ``m - 1``
  (the lower one), with edges compared in ``float64``.

(``torchmetrics`` closes its bins on the left and keeps an extra bin for
confidence ``1.0``; the two agree whenever no confidence sits exactly on an
edge.)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "DEFAULT_N_BINS",
    "ReliabilityDiagram",
    "bin_edges",
    "binned_sums",
    "brier",
    "calibration_bins",
    "check_logits_and_labels",
    "confidence",
    "ece",
    "ece_from_bins",
    "error",
    "max_calibration_error_from_bins",
    "nll",
    "reliability_diagram",
    "reliability_from_bins",
    "top_prediction",
]

DEFAULT_N_BINS = 15
"""Number of confidence bins for ECE, the usual choice since Guo et al. (2017)."""


class ReliabilityDiagram(NamedTuple):
    """Per-bin calibration data (the bars of a reliability diagram).

    Attributes
    ----------
    bin_edges : Tensor
        ``(n_bins + 1,)`` edges ``0, 1/n_bins, ..., 1``.
    count : Tensor
        ``(n_bins,)`` number of examples whose confidence falls in each bin.
    mean_confidence : Tensor
        ``(n_bins,)`` mean confidence in each bin; NaN for empty bins.
    accuracy : Tensor
        ``(n_bins,)`` fraction of correct predictions in each bin; NaN for empty bins.
    """

    bin_edges: Tensor
    count: Tensor
    mean_confidence: Tensor
    accuracy: Tensor


def check_logits_and_labels(logits: Tensor, labels: Tensor, *, allow_empty: bool = False) -> None:
    """Raise a clear error unless ``logits`` is ``(B, C)`` floating and finite and
    ``labels`` is ``(B,)`` integer with values in ``[0, C)``.

    Checking values (finite logits, label range) synchronises with the device once.
    """
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (B, C), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating tensor, got dtype {logits.dtype}")
    if logits.shape[1] < 2:
        raise ValueError(f"logits need at least 2 classes, got shape {tuple(logits.shape)}")
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise TypeError(
            f"labels must be integer class indices (hard labels), got dtype {labels.dtype}; "
            "metrics are computed against hard labels, never soft targets"
        )
    if labels.device != logits.device:
        raise ValueError(f"labels are on {labels.device} but logits on {logits.device}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels must have shape (B,) = {tuple(logits.shape[:1])} to match logits of "
            f"shape {tuple(logits.shape)}, got shape {tuple(labels.shape)}"
        )
    if logits.shape[0] == 0:
        if allow_empty:
            return
        raise ValueError("metrics of an empty batch are undefined (got B = 0 examples)")
    num_classes = logits.shape[1]
    # One host synchronisation for all value checks.
    finite, label_min, label_max = torch.stack(
        [
            torch.isfinite(logits).all().to(torch.int64),
            labels.min().to(torch.int64),
            labels.max().to(torch.int64),
        ]
    ).tolist()
    if not finite:
        bad_rows = (~torch.isfinite(logits)).any(dim=1).nonzero().flatten()[:5].tolist()
        raise ValueError(f"logits contain NaN or infinite values (rows {bad_rows}, first 5 shown)")
    if label_min < 0 or label_max >= num_classes:
        bad = label_min if label_min < 0 else label_max
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}] for C = {num_classes}, got {bad}"
        )


def _probabilities(logits: Tensor) -> Tensor:
    return torch.softmax(logits.to(torch.float64), dim=-1)


def confidence(logits: Tensor) -> Tensor:
    """Confidence of the top prediction, ``max_c softmax(logits)_c``, shape ``(B,)``, float64."""
    return top_prediction(logits)[0]


def bin_edges(n_bins: int = DEFAULT_N_BINS, *, device: torch.device | str | None = None) -> Tensor:
    """Equal-width bin edges ``0, 1/n_bins, ..., 1`` in float64, shape ``(n_bins + 1,)``."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64, device=device)


def calibration_bins(
    confidences: Tensor, correct: Tensor, n_bins: int = DEFAULT_N_BINS
) -> tuple[Tensor, Tensor, Tensor]:
    """Sufficient statistics of calibration: per-bin sums.

    Parameters
    ----------
    confidences : Tensor
        ``(B,)`` confidences in ``[0, 1]``.
    correct : Tensor
        ``(B,)`` booleans (or 0/1): whether the top prediction was right.
    n_bins : int
        Number of equal-width bins (see the module docstring for the edge rule).

    Returns
    -------
    count, confidence_sum, correct_sum : Tensor
        ``(n_bins,)`` float64 per-bin number of examples, sum of confidences and
        number of correct predictions. Summing these over batches (or ranks)
        gives exactly the statistics of the whole split.
    """
    if confidences.ndim != 1 or correct.shape != confidences.shape:
        raise ValueError(
            "confidences and correct must both have shape (B,), got "
            f"{tuple(confidences.shape)} and {tuple(correct.shape)}"
        )
    confidences = confidences.to(torch.float64)
    if confidences.numel() and not bool(((confidences >= 0) & (confidences <= 1)).all()):
        raise ValueError(
            "confidences must lie in [0, 1], got range "
            f"[{confidences.min().item()}, {confidences.max().item()}]"
        )
    return binned_sums(confidences, correct, n_bins)


def binned_sums(confidences: Tensor, correct: Tensor, n_bins: int) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`calibration_bins` without input checks, hence without host synchronisation."""
    confidences = confidences.to(torch.float64)
    edges = bin_edges(n_bins, device=confidences.device)
    # bucketize(right=False) returns m with edges[m-1] < c <= edges[m] over the
    # interior edges: right-closed bins, 0 in the first bin, 1 in the last.
    index = torch.bucketize(confidences, edges[1:-1], right=False)
    count = torch.zeros(n_bins, dtype=torch.float64, device=confidences.device)
    confidence_sum = torch.zeros_like(count)
    correct_sum = torch.zeros_like(count)
    count.index_add_(0, index, torch.ones_like(confidences))
    confidence_sum.index_add_(0, index, confidences)
    correct_sum.index_add_(0, index, correct.to(torch.float64))
    return count, confidence_sum, correct_sum


def ece_from_bins(count: Tensor, confidence_sum: Tensor, correct_sum: Tensor) -> Tensor:
    """Expected calibration error from per-bin sums (Guo et al., 2017):

    ``ECE = sum_m |correct_sum_m - confidence_sum_m| / N``,

    which equals ``sum_m (n_m / N) |acc(B_m) - conf(B_m)|``; empty bins add nothing.
    """
    total = count.sum()
    if float(total) <= 0:
        raise ValueError("ECE of an empty set is undefined (all bins are empty)")
    return (correct_sum - confidence_sum).abs().sum() / total


def max_calibration_error_from_bins(
    count: Tensor, confidence_sum: Tensor, correct_sum: Tensor
) -> Tensor:
    """Maximum calibration error ``max_m |acc(B_m) - conf(B_m)|`` over non-empty bins."""
    occupied = count > 0
    if not bool(occupied.any()):
        raise ValueError("calibration error of an empty set is undefined (all bins are empty)")
    gaps = (correct_sum[occupied] - confidence_sum[occupied]).abs() / count[occupied]
    return gaps.max()


def reliability_from_bins(
    count: Tensor, confidence_sum: Tensor, correct_sum: Tensor
) -> ReliabilityDiagram:
    """Turn per-bin sums into a :class:`ReliabilityDiagram` (NaN where a bin is empty)."""
    nan = torch.full_like(count, float("nan"))
    occupied = count > 0
    safe_count = torch.where(occupied, count, torch.ones_like(count))
    return ReliabilityDiagram(
        bin_edges=bin_edges(count.numel(), device=count.device),
        count=count,
        mean_confidence=torch.where(occupied, confidence_sum / safe_count, nan),
        accuracy=torch.where(occupied, correct_sum / safe_count, nan),
    )


def top_prediction(logits: Tensor) -> tuple[Tensor, Tensor]:
    """Confidence ``max_c p_c`` (float64) and predicted class, each ``(B,)``.

    Ties resolve to the first maximal class. Error and ECE both use this, so an
    example counted as wrong is also wrong in its calibration bin.
    """
    return _probabilities(logits).max(dim=-1)


def _bins_of(logits: Tensor, labels: Tensor, n_bins: int) -> tuple[Tensor, Tensor, Tensor]:
    check_logits_and_labels(logits, labels)
    top_probability, prediction = top_prediction(logits)
    return binned_sums(top_probability, prediction == labels, n_bins)


def error(logits: Tensor, labels: Tensor) -> Tensor:
    """Classification error: fraction of examples whose arg-max class is not the label.

    Ties resolve to the first maximal class.
    """
    check_logits_and_labels(logits, labels)
    return (top_prediction(logits)[1] != labels).to(torch.float64).mean()


def nll(logits: Tensor, labels: Tensor) -> Tensor:
    """Negative log-likelihood of the hard labels, ``mean_n -log softmax(f(x_n))_{y_n}``.

    This is the NLL column of Tables 1, 3 and 5, in nats: minus the cross-entropy
    likelihood of Eq. 15 with one-hot labels (no smoothing, ``gamma_t = 0``).
    """
    check_logits_and_labels(logits, labels)
    log_probabilities = torch.log_softmax(logits.to(torch.float64), dim=-1)
    return -log_probabilities.gather(1, labels.long().unsqueeze(1)).mean()


def brier(logits: Tensor, labels: Tensor) -> Tensor:
    """Multi-class Brier score, ``mean_n sum_c (p_nc - 1[c = y_n])^2``.

    This is Brier's (1950) original definition, summed over classes (range
    ``[0, 2]``), not divided by the number of classes as some libraries do.
    """
    check_logits_and_labels(logits, labels)
    probabilities = _probabilities(logits)
    one_hot = torch.nn.functional.one_hot(labels.long(), logits.shape[1]).to(torch.float64)
    return (probabilities - one_hot).square().sum(dim=-1).mean()


def ece(logits: Tensor, labels: Tensor, n_bins: int = DEFAULT_N_BINS) -> Tensor:
    """Expected calibration error (Guo et al., 2017), the ECE column of Tables 1, 3 and 5.

    ``ECE = sum_m (|B_m| / N) |acc(B_m) - conf(B_m)|`` over ``n_bins`` equal-width
    confidence bins on ``[0, 1]``; see the module docstring for the edge rule.
    """
    return ece_from_bins(*_bins_of(logits, labels, n_bins))


def reliability_diagram(
    logits: Tensor, labels: Tensor, n_bins: int = DEFAULT_N_BINS
) -> ReliabilityDiagram:
    """Per-bin count, mean confidence and accuracy (the data of a reliability diagram)."""
    return reliability_from_bins(*_bins_of(logits, labels, n_bins))
