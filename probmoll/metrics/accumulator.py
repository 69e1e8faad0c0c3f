"""Exact metric accumulation over a whole split, across batches and processes.

:class:`ClassificationMetrics` keeps *sums* (number of examples, errors, NLL,
Brier, and the per-bin sums of the ECE), never per-batch averages. The result
of :meth:`ClassificationMetrics.compute` is therefore the metric of the whole
split, identical for any batch size and any split of the data over processes.
(Averaging per-batch ECE values, as is sometimes done, gives a number that
depends on the batch size and is not the ECE of the split.)
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from probmoll.metrics.functional import (
    DEFAULT_N_BINS,
    ReliabilityDiagram,
    binned_sums,
    check_logits_and_labels,
    ece_from_bins,
    max_calibration_error_from_bins,
    reliability_from_bins,
)

__all__ = ["ClassificationMetrics"]

# Layout of the flat float64 state vector: scalars first, then three blocks of n_bins.
_SCALARS = ("count", "errors", "nll_sum", "brier_sum")


class ClassificationMetrics:
    """Accumulate error, NLL, ECE and Brier score exactly over a split.

    The state is one flat ``float64`` tensor (on the device of the first batch)::

        [count, errors, nll_sum, brier_sum,
         bin_count[0:n_bins], bin_confidence_sum[0:n_bins], bin_correct[0:n_bins]]

    so that :meth:`update` never leaves the device except for input checks,
    :meth:`merge` is a sum, and :meth:`all_reduce` is a single collective.
    ``float64`` keeps counts exact up to ``2**53`` examples.

    Parameters
    ----------
    num_classes : int, optional
        Number of classes ``C``. If omitted, taken from the first batch; every
        later batch must have the same ``C``.
    n_bins : int
        Number of equal-width confidence bins for ECE (default 15); see
        :mod:`probmoll.metrics.functional` for the bin-edge rule.

    Examples
    --------
    >>> metrics = ClassificationMetrics(num_classes=10)
    >>> for logits, labels in batches:  # doctest: +SKIP
    ...     metrics.update(logits, labels)
    >>> metrics.compute()["ece"]  # doctest: +SKIP
    """

    def __init__(self, num_classes: int | None = None, n_bins: int = DEFAULT_N_BINS) -> None:
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
        ):
            raise ValueError(f"num_classes must be an integer >= 2 or None, got {num_classes!r}")
        if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
            raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
        self.num_classes = num_classes
        self.n_bins = n_bins
        self._state = torch.zeros(len(_SCALARS) + 3 * n_bins, dtype=torch.float64)

    # ----------------------------------------------------------------- state views
    def _bins(self, block: int) -> Tensor:
        start = len(_SCALARS) + block * self.n_bins
        return self._state[start : start + self.n_bins]

    @property
    def count(self) -> int:
        """Number of examples seen so far."""
        return int(self._state[0].item())

    @property
    def device(self) -> torch.device:
        return self._state.device

    # --------------------------------------------------------------------- updates
    def reset(self) -> ClassificationMetrics:
        """Forget every example seen; keeps ``num_classes``, ``n_bins`` and the device."""
        self._state.zero_()
        return self

    def to(self, device: torch.device | str) -> ClassificationMetrics:
        """Move the state to ``device`` (in place); returns ``self``."""
        self._state = self._state.to(device)
        return self

    @torch.no_grad()
    def update(self, logits: Tensor, labels: Tensor) -> ClassificationMetrics:
        """Add a batch: ``logits`` ``(B, C)`` floating, ``labels`` ``(B,)`` integer class indices.

        An empty batch is allowed and changes nothing. Returns ``self``.
        """
        check_logits_and_labels(logits, labels, allow_empty=True)
        if self.num_classes is None:
            self.num_classes = logits.shape[1]
        elif logits.shape[1] != self.num_classes:
            raise ValueError(
                f"logits have C = {logits.shape[1]} classes but these metrics were set up "
                f"for num_classes = {self.num_classes}"
            )
        if logits.shape[0] == 0:
            return self
        if self._state.device != logits.device:
            self._state = self._state.to(logits.device)

        logits = logits.to(torch.float64)
        log_probabilities = torch.log_softmax(logits, dim=-1)
        probabilities = torch.softmax(logits, dim=-1)
        labels = labels.long()
        top_probability, prediction = probabilities.max(dim=-1)
        correct = prediction == labels
        one_hot = torch.nn.functional.one_hot(labels, self.num_classes).to(torch.float64)
        scalars = torch.stack(
            [
                torch.tensor(float(labels.numel()), dtype=torch.float64, device=logits.device),
                (~correct).to(torch.float64).sum(),
                -log_probabilities.gather(1, labels.unsqueeze(1)).sum(),
                (probabilities - one_hot).square().sum(),
            ]
        )
        bins = binned_sums(top_probability, correct, self.n_bins)
        self._state += torch.cat([scalars, *bins])
        return self

    def merge(self, other: ClassificationMetrics) -> ClassificationMetrics:
        """Add the examples accumulated by ``other`` (same ``n_bins``); returns ``self``."""
        if not isinstance(other, ClassificationMetrics):
            raise TypeError(f"can only merge ClassificationMetrics, got {type(other).__name__}")
        if other.n_bins != self.n_bins:
            raise ValueError(
                f"cannot merge metrics with n_bins {other.n_bins} into n_bins {self.n_bins}"
            )
        if (
            None not in (self.num_classes, other.num_classes)
            and self.num_classes != other.num_classes
        ):
            raise ValueError(
                f"cannot merge metrics over {other.num_classes} classes into metrics over "
                f"{self.num_classes} classes"
            )
        if self.num_classes is None:
            self.num_classes = other.num_classes
        self._state += other._state.to(self._state.device)
        return self

    def all_reduce(self, group=None) -> ClassificationMetrics:
        """Sum the state over all processes of ``group`` (in place); returns ``self``.

        A no-op when :mod:`torch.distributed` is unavailable or not initialised,
        so the same evaluation code runs with and without DDP. Every rank must
        call it (it is a collective). With NCCL the state is moved to the rank's
        current GPU first if it is still on the CPU.
        """
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            if dist.get_backend(group) == "nccl" and self._state.device.type != "cuda":
                # A rank that saw no batch still holds its (zero) state on the CPU.
                self._state = self._state.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(self._state, op=dist.ReduceOp.SUM, group=group)
        return self

    # ------------------------------------------------------------------- results
    def compute(self) -> dict[str, float | int]:
        """Metrics of everything accumulated so far.

        Returns
        -------
        dict
            ``error``, ``nll``, ``ece``, ``brier`` (see :mod:`probmoll.metrics.functional`),
            ``accuracy`` (``1 - error``), ``mean_confidence``,
            ``max_calibration_error`` (largest per-bin gap) and ``count``.
        """
        state = self._state.detach().cpu()
        count, errors, nll_sum, brier_sum = state[: len(_SCALARS)].tolist()
        if count <= 0:
            raise ValueError(
                "no examples accumulated: call update() with at least one example first"
            )
        bins = tuple(self._bins(block).detach().cpu() for block in range(3))
        return {
            "error": errors / count,
            "nll": nll_sum / count,
            "ece": float(ece_from_bins(*bins)),
            "brier": brier_sum / count,
            "accuracy": 1.0 - errors / count,
            "mean_confidence": float(bins[1].sum()) / count,
            "max_calibration_error": float(max_calibration_error_from_bins(*bins)),
            "count": int(count),
        }

    def reliability_diagram(self) -> ReliabilityDiagram:
        """Per-bin count, mean confidence and accuracy of everything accumulated (on CPU)."""
        return reliability_from_bins(*(self._bins(block).detach().cpu() for block in range(3)))

    # --------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, object]:
        """Plain-data state (CPU tensor + settings), for checkpoints or ``torch.save``."""
        return {
            "num_classes": self.num_classes,
            "n_bins": self.n_bins,
            "state": self._state.detach().cpu().clone(),
        }

    def load_state_dict(self, state_dict: Mapping[str, object]) -> ClassificationMetrics:
        """Restore a :meth:`state_dict` (kept on the current device); returns ``self``."""
        missing = {"num_classes", "n_bins", "state"} - set(state_dict)
        if missing:
            raise KeyError(f"state_dict lacks {sorted(missing)}")
        n_bins = state_dict["n_bins"]
        state = torch.as_tensor(state_dict["state"], dtype=torch.float64)
        if n_bins != self.n_bins:
            raise ValueError(
                f"state_dict has n_bins {n_bins}, these metrics have n_bins {self.n_bins}"
            )
        if state.shape != self._state.shape:
            raise ValueError(
                f"state_dict state has shape {tuple(state.shape)}, "
                f"expected {tuple(self._state.shape)}"
            )
        self.num_classes = state_dict["num_classes"]
        self._state = state.to(self._state.device).clone()
        return self

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, n_bins={self.n_bins}, "
            f"count={self.count})"
        )
