r"""Selecting the training objective: a likelihood form and an estimator over K copies.

A :class:`LikelihoodConfig` names a likelihood form (how one mollified copy's target is
scored, Sec. 3.3-3.4, Appendix C) and an estimator (how the K copies of an image are
combined, Sec. 3.1, Appendix D). :class:`Objective` turns it into a loss.

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
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from probmoll.likelihoods._targets import check_copies, check_tempered, validation_level
from probmoll.likelihoods.estimators import EstimatorSpec, get_estimator_spec, list_estimators
from probmoll.likelihoods.forms import normalized_log_likelihood, soft_label_log_likelihood
from probmoll.mollify.labels import LabelForm
from probmoll.utils.registry import Registry

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

#: The label forms of :class:`probmoll.mollify.Mollifier` (the values of
#: :class:`~probmoll.mollify.LabelForm`): which soft target a mollified image gets.
LABEL_FORMS: tuple[str, ...] = tuple(form.value for form in LabelForm)


@dataclass(frozen=True)
class LikelihoodFormSpec:
    """A registered likelihood form."""

    name: str
    # (logits (..., C), targets) -> log-likelihood (...)
    log_likelihood: Callable[[Tensor, Tensor], Tensor]
    # Label form the mollifier must produce for this likelihood: one of LABEL_FORMS.
    label_form: str
    # One line for listings and logs.
    description: str = ""


#: The registered likelihood forms, by name (:func:`register_likelihood_form`).
LIKELIHOOD_FORMS: Registry[LikelihoodFormSpec] = Registry("likelihood form")


def register_likelihood_form(
    name: str,
    log_likelihood: Callable[[Tensor, Tensor], Tensor],
    *,
    label_form: str,
    description: str = "",
) -> LikelihoodFormSpec:
    """Register a likelihood form under ``name``.

    Parameters
    ----------
    name : str
        Name in :data:`LIKELIHOOD_FORMS` (must be new: a taken name raises ValueError).
    log_likelihood : callable
        ``(logits (..., C), targets) -> (...)`` per-example log-likelihood.
    label_form : str or LabelForm
        The mollifier label form the targets must come from: one of :data:`LABEL_FORMS`
        (stored as the plain string).
    description : str
        One line shown by listings.
    """
    add = LIKELIHOOD_FORMS.register(name)  # a name that is not a non-empty str: TypeError
    try:
        label_form = LabelForm(label_form).value
    except ValueError:
        raise ValueError(
            f"unknown label_form {label_form!r}; valid: {', '.join(LABEL_FORMS)}"
        ) from None
    return add(LikelihoodFormSpec(name, log_likelihood, label_form, description))


def get_likelihood_form(name: str) -> LikelihoodFormSpec:
    """The :class:`LikelihoodFormSpec` registered under ``name``; an unknown name raises a
    ValueError listing the registered ones."""
    return LIKELIHOOD_FORMS.get(name)


def list_likelihood_forms() -> list[str]:
    """Names of the registered likelihood forms, sorted."""
    return LIKELIHOOD_FORMS.names()


register_likelihood_form(
    "smooth",
    soft_label_log_likelihood,
    label_form="smooth",
    description="soft-label cross-entropy on smoothed targets (Eq. 8, 14-15); the default",
)
register_likelihood_form(
    "temper",
    soft_label_log_likelihood,
    label_form="temper",
    description="soft-label cross-entropy on tempered targets (Eq. 7), the tempered Eq. 9",
)
register_likelihood_form(
    "normalized",
    normalized_log_likelihood,
    label_form="smooth",
    description="soft-label cross-entropy on smoothed targets minus log Z (Appendix C)",
)
register_likelihood_form(
    "ce",
    soft_label_log_likelihood,
    label_form="none",
    description="plain cross-entropy; targets are not mollified",
)


@dataclass(frozen=True)
class LikelihoodConfig:
    """Which augmented-likelihood objective to train with.

    Plain strings select the form and the estimator; see :func:`list_likelihood_forms`
    and :func:`~probmoll.likelihoods.list_estimators`.
    """

    # Likelihood of one mollified copy: "smooth", "temper", "normalized" or "ce".
    form: str = "smooth"
    # How the K copies of an image combine: "jensen", "log_mean_exp", "durbin_koopman",
    # "geometric" or "geometric_per_copy".
    estimator: str = "jensen"
    # K, copies of each image per batch (each mollified independently); integer >= 1.
    k: int = 1
    # T of the geometric estimators (log-likelihood scaled by 1/T); must stay 1 otherwise.
    temperature: float = 1.0

    def __post_init__(self):
        form = get_likelihood_form(self.form)  # raises with the valid names
        estimator = get_estimator_spec(self.estimator)
        if isinstance(self.k, bool) or not isinstance(self.k, int):
            raise TypeError(f"k must be an int >= 1, got {self.k!r}")
        if self.k < estimator.min_copies:
            raise ValueError(
                f"estimator {estimator.name!r} needs k >= {estimator.min_copies} copies per "
                f"image, got k={self.k}"
            )
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)):
            raise TypeError(f"temperature must be a float > 0, got {self.temperature!r}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be finite and > 0, got {self.temperature!r}")
        if self.temperature != 1 and not estimator.accepts_temperature:
            tempered = [
                name for name in list_estimators() if get_estimator_spec(name).accepts_temperature
            ]
            raise ValueError(
                f"temperature={self.temperature!r} has no effect with estimator "
                f"{estimator.name!r}; it applies to: {', '.join(tempered)}"
            )
        # Store the registry's plain strings (a str Enum member would also have matched).
        object.__setattr__(self, "form", form.name)
        object.__setattr__(self, "estimator", estimator.name)
        object.__setattr__(self, "temperature", float(self.temperature))
        # The registry entries, resolved once here (not dataclass fields: they take no part
        # in equality, repr or the YAML form of the config).
        object.__setattr__(self, "_form_spec", form)
        object.__setattr__(self, "_estimator_spec", estimator)

    @property
    def form_spec(self) -> LikelihoodFormSpec:
        """The registered :class:`LikelihoodFormSpec` of :attr:`form`."""
        return self._form_spec

    @property
    def estimator_spec(self) -> EstimatorSpec:
        """The registered :class:`~probmoll.likelihoods.estimators.EstimatorSpec` of
        :attr:`estimator`."""
        return self._estimator_spec

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LikelihoodConfig:
        """Build from a mapping (e.g. a YAML section); unknown keys are an error."""
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown likelihood config keys {unknown}; valid: {sorted(fields)}")
        return cls(**values)


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
