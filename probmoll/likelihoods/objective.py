r"""Selecting the training objective: a likelihood form and an estimator over K copies.

A :class:`LikelihoodConfig` (defined, without torch, in :mod:`probmoll.likelihoods.config`)
names a likelihood form (how one mollified copy's target is scored, Sec. 3.3-3.4,
Appendix C; the registry is :mod:`probmoll.likelihoods.form_registry`) and an estimator
(how the K copies of an image are combined, Sec. 3.1, Appendix D). :class:`Objective` turns
it into a loss.

Batch layout with K copies
--------------------------
:meth:`Objective.expand` repeats a batch of B images K times, **k-major**: row
``k * B + b`` of the expanded batch is copy ``k`` of example ``b`` (``torch.cat([x] * K)``).
The mollifier then gives each row its own role and temperature. Logits of the K*B rows
reshape to ``(K, B)`` log-likelihoods with ``.view(K, B)``, and the estimator reduces
dimension 0. A step of batch size N therefore sees N / K distinct images
(:meth:`Objective.distinct_images`).

The objective cannot see images, only targets, so it checks what they reveal: the K copies
of every example must share their class (a batch of K * B distinct images that was never
expanded fails, unless the rows it pairs up happen to share a class), and the tempered form
needs tempered targets. On the CPU a violation raises ``ValueError``; on accelerators the
check is a device-side assertion, with no host synchronisation (``validate``).

Example
-------
>>> objective = Objective(LikelihoodConfig(form="smooth", estimator="log_mean_exp", k=4))
>>> x_rep, y_rep = objective.expand(images, labels)          # (4B, ...), (4B,)
>>> x_moll, y_soft = mollifier(x_rep, y_rep)                 # label_form=objective.label_form
>>> loss = objective(model(x_moll), y_soft)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor, nn

from probmoll.likelihoods._targets import check_copies, check_tempered, validation_level
from probmoll.likelihoods.config import LikelihoodConfig
from probmoll.likelihoods.form_registry import (
    LABEL_FORMS,
    LIKELIHOOD_FORMS,
    LikelihoodFormSpec,
    get_likelihood_form,
    list_likelihood_forms,
    register_likelihood_form,
)
from probmoll.mollify.labels import LabelForm

__all__ = [
    "LABEL_FORMS",
    "LIKELIHOOD_FORMS",
    "LikelihoodConfig",
    "LikelihoodFormSpec",
    "Objective",
    "get_likelihood_form",
    "list_likelihood_forms",
    "register_likelihood_form",
]


class Objective(nn.Module):
    r"""Negative augmented log-likelihood loss with a chosen form and estimator.

    ``objective(logits, targets)`` is :math:`-\frac1B \sum_b \widehat{\mathcal L}_b`, where
    :math:`\widehat{\mathcal L}_b` is the estimator applied to the K copies of example b.
    For K = 1 and form ``"smooth"`` (or ``"ce"``) this is exactly
    ``torch.nn.functional.cross_entropy(logits, targets)`` with probability (or index) targets.

    Parameters
    ----------
    config : LikelihoodConfig, optional
        Defaults to ``LikelihoodConfig()``.
    **fields
        Overrides of config fields, e.g. ``Objective(form="normalized", k=2)``.
    """

    def __init__(self, config: LikelihoodConfig | None = None, /, **fields: Any):
        super().__init__()
        if config is None:
            config = LikelihoodConfig(**fields)
        elif not isinstance(config, LikelihoodConfig):
            raise TypeError(f"config must be a LikelihoodConfig, got {type(config).__name__}")
        elif fields:
            config = dataclasses.replace(config, **fields)
        self.config = config
        self._form = config.form_spec
        self._estimator = config.estimator_spec

    @property
    def k(self) -> int:
        """Copies per image, K."""
        return self.config.k

    @property
    def label_form(self) -> str:
        """The :class:`~probmoll.mollify.Mollifier` ``label_form`` this likelihood expects."""
        return self._form.label_form

    def distinct_images(self, batch_size: int) -> int:
        """Distinct images in a batch of ``batch_size`` rows: ``batch_size / K``."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if batch_size % self.k:
            raise ValueError(f"batch_size={batch_size} is not a multiple of k={self.k}")
        return batch_size // self.k

    def expand(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """Repeat a batch K times, k-major: row ``k * B + b`` is copy k of example b.

        Parameters
        ----------
        inputs : Tensor
            Shape ``(B, ...)``, e.g. images ``(B, C, H, W)``.
        targets : Tensor
            Shape ``(B,)`` or ``(B, num_classes)``.

        Returns
        -------
        tuple of Tensor
            ``(K * B, ...)`` each; the inputs themselves when K = 1.
        """
        if inputs.dim() < 1 or targets.dim() < 1 or inputs.shape[0] != targets.shape[0]:
            raise ValueError(
                f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)} must share "
                "their first (batch) dimension"
            )
        if self.k == 1:
            return inputs, targets
        return torch.cat([inputs] * self.k), torch.cat([targets] * self.k)

    def log_likelihood(
        self, logits: Tensor, targets: Tensor, *, validate: bool | str | None = None
    ) -> Tensor:
        """Per-copy log-likelihoods, shape ``(K, B)``, from the K*B rows in k-major order.

        Parameters
        ----------
        logits : Tensor
            Shape ``(K * B, C)``.
        targets : Tensor
            Shape ``(K * B,)`` (class indices) or ``(K * B, C)`` (soft targets), as produced
            by :meth:`expand` and the mollifier.
        validate : bool or "async", optional
            Check the target values: for K > 1 that the K copies of every example share
            their class (equal indices; for soft targets the class of most mass is the
            largest in every copy, ties allowed), and for a form of label form ``"temper"``
            that soft targets are tempered, mass on one class only. ``True`` reads them on
            the host and raises ``ValueError``; ``"async"`` asserts on the device
            (``torch._assert_async``: no host synchronisation, a ``RuntimeError`` at once on
            the CPU); ``False`` skips the checks. ``None`` (default): ``True`` on the CPU,
            ``"async"`` elsewhere.
        """
        if not isinstance(logits, Tensor) or logits.dim() != 2:
            raise ValueError(f"logits must have shape (K * B, C), got {_shape(logits)}")
        rows, num_classes = logits.shape
        if rows == 0 or rows % self.k:
            raise ValueError(
                f"logits have {rows} rows, not a positive multiple of k={self.k} "
                "(expected K * B rows, k-major)"
            )
        valid_target_shapes = ((rows,), (rows, num_classes))
        if not isinstance(targets, Tensor) or tuple(targets.shape) not in valid_target_shapes:
            raise ValueError(
                f"targets must have shape {valid_target_shapes[0]} or {valid_target_shapes[1]} "
                f"to match logits {tuple(logits.shape)}, got {_shape(targets)}"
            )
        validate = validation_level(validate, targets.device)
        if self.label_form == LabelForm.TEMPER.value:
            check_tempered(targets, self.config.form, self.label_form, validate)
        check_copies(targets, self.k, validate)
        return self._form.log_likelihood(logits, targets).view(self.k, rows // self.k)

    def estimate(
        self, logits: Tensor, targets: Tensor, *, validate: bool | str | None = None
    ) -> Tensor:
        """The estimator applied to :meth:`log_likelihood`: one value per example, ``(B,)``."""
        log_likelihood = self.log_likelihood(logits, targets, validate=validate)
        if self._estimator.accepts_temperature:
            return self._estimator.fn(log_likelihood, dim=0, temperature=self.config.temperature)
        return self._estimator.fn(log_likelihood, dim=0)

    def forward(
        self, logits: Tensor, targets: Tensor, *, validate: bool | str | None = None
    ) -> Tensor:
        """Scalar loss: minus the mean over examples of :meth:`estimate` (``validate``: the
        target checks of :meth:`log_likelihood`)."""
        return -self.estimate(logits, targets, validate=validate).mean()

    def extra_repr(self) -> str:
        config = self.config
        return (
            f"form={config.form!r}, estimator={config.estimator!r}, k={config.k}, "
            f"temperature={config.temperature}, label_form={self.label_form!r}"
        )


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else type(value).__name__
