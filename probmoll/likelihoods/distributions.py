r"""Pyro distributions over label vectors, parameterised by classifier logits.

Each class has ``batch_shape = logits.shape[:-1]`` and ``event_shape = (C,)``: a value is a
label vector (one-hot, smoothed or soft). They plug into Pyro models as likelihoods::

    with pyro.plate("data", n), poutine.scale(scale=1 / (k * temperature)):
        pyro.sample("y", SoftLabelCategorical(logits), obs=soft_targets)

Which ``log_prob`` is normalized, and with respect to what:

=======================  =====================================================================
class                    ``log_prob``
=======================  =====================================================================
SoftLabelCategorical     :math:`\sum_c y_c \log f_c`; normalized over one-hot vectors only
                         (counting measure), **not** over soft labels (Sec. 3.4)
TemperedCategorical      :math:`\rho \sum_c y_c \log f_c`; unnormalized for
                         :math:`\rho \ne 1` (over one-hot vectors the normalizer is
                         :math:`\sum_j f_j^\rho`, see ``log_normalizer``)
NormalizedSoftLabel      :math:`\sum_c y_c \log f_c - \log Z(f)`; normalized over smoothed
                         labels :math:`(1-a)e_j + a/C`: counting measure on j times Lebesgue
                         measure on :math:`a \in [0, 1]` (Appendix C)
=======================  =====================================================================

Sampling follows Pyro: ``sample`` draws from torch's global generator.
"""

from __future__ import annotations

import torch
from pyro.distributions import TorchDistribution
from torch import Tensor
from torch.distributions import Categorical, constraints
from torch.distributions.utils import lazy_property

from probmoll.likelihoods.forms import (
    _smoothed_label_log_masses,
    log_partition,
    normalized_log_likelihood,
    soft_label_log_likelihood,
)
from probmoll.mollify.labels import simplex_tolerance

__all__ = ["NormalizedSoftLabel", "SoftLabelCategorical", "TemperedCategorical", "smoothed_one_hot"]


class _Simplex(type(constraints.simplex)):
    """``constraints.simplex`` with a tolerance that scales with the dtype of the value.

    torch's check uses a fixed ``1e-6``, which about 3% of bfloat16 or float16 label vectors
    (including :meth:`NormalizedSoftLabel.sample`'s own draws) miss by rounding alone. The
    tolerance is :func:`probmoll.mollify.simplex_tolerance`, the one soft targets are checked
    against; as there, the sum is taken in float64 (float32 on MPS, which has no float64) so
    that only the labels' own rounding counts, whatever the number of classes.
    """

    def check(self, value: Tensor) -> Tensor:
        tolerance = simplex_tolerance(value.dtype)
        total = value.to(torch.float32 if value.device.type == "mps" else torch.float64).sum(-1)
        return (value >= 0).all(-1) & ((total - 1).abs() <= tolerance)


class _SmoothedOneHot(_Simplex):
    """Smoothed one-hot vectors :math:`(1 - a) e_j + a \\mathbf 1_U / |U|`, :math:`a \\in [0, 1]`.

    U is the set of unmasked classes (all of them unless ``unmasked`` says otherwise). On
    the simplex and zero off U, within the dtype-scaled tolerance of the simplex check, and
    every entry on U but the largest equal to the smallest within a few ulps of their size
    (a relative limit: the absolute simplex tolerance, 0.031 in bfloat16, would let through
    labels such as ``[0.985, 0.015, 0, ...]``). Smoothed labels and
    :meth:`NormalizedSoftLabel.sample`'s draws compute those entries identically: spread 0.
    """

    def __init__(self, unmasked: Tensor | None = None):
        self.unmasked = unmasked
        super().__init__()

    def check(self, value: Tensor) -> Tensor:
        tolerance = simplex_tolerance(value.dtype)
        unmasked = torch.ones_like(value, dtype=torch.bool)
        if self.unmasked is not None:
            unmasked = unmasked & self.unmasked
        smallest = value.masked_fill(~unmasked, torch.inf).amin(-1)
        second_largest = value.masked_fill(~unmasked, -torch.inf).topk(2, dim=-1).values[..., 1]
        # With one class left the only label is its one-hot vector: no spread to check.
        spread = torch.where(unmasked.sum(-1) > 1, second_largest - smallest, 0.0)
        spread_limit = torch.clamp(4 * torch.finfo(value.dtype).eps * second_largest, min=1e-6)
        zero_off_support = ((value.abs() <= tolerance) | unmasked).all(-1)
        return super().check(value) & (spread.abs() <= spread_limit) & zero_off_support


smoothed_one_hot = _SmoothedOneHot()
label_simplex = _Simplex()


class _LogitsLabelDistribution(TorchDistribution):
    """Shared parts: a ``logits`` parameter of shape ``batch_shape + (C,)``."""

    arg_constraints = {"logits": constraints.real_vector}
    support = label_simplex
    has_rsample = False

    def __init__(self, logits: Tensor, *, validate_args: bool | None = None):
        if not isinstance(logits, Tensor) or not logits.is_floating_point():
            raise TypeError(f"logits must be a floating-point tensor, got {logits!r:.80}")
        if logits.dim() < 1 or logits.shape[-1] < 2:
            raise ValueError(
                f"logits must have shape (..., C) with C >= 2, got {tuple(logits.shape)}"
            )
        self.logits = logits
        super().__init__(logits.shape[:-1], logits.shape[-1:], validate_args=validate_args)

    @lazy_property
    def probs(self) -> Tensor:
        """Class probabilities :math:`f = \\mathrm{softmax}(\\text{logits})`."""
        return torch.softmax(self.logits, dim=-1)

    def _expand_parameters(self, new, batch_shape: torch.Size) -> None:
        new.logits = self.logits.expand(batch_shape + self.event_shape)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        self._expand_parameters(new, batch_shape)
        super(_LogitsLabelDistribution, new).__init__(
            batch_shape, self.event_shape, validate_args=False
        )
        new._validate_args = self._validate_args
        return new

    def _sample_one_hot(self, class_logits: Tensor, sample_shape) -> Tensor:
        index = Categorical(logits=class_logits).sample(torch.Size(sample_shape))
        one_hot = torch.nn.functional.one_hot(index, self.event_shape[0])
        return one_hot.to(self.logits.dtype)


class SoftLabelCategorical(_LogitsLabelDistribution):
    r"""Soft-label cross-entropy likelihood (Eq. 14-15), an **unnormalized** density.

    .. math:: \log p(y \mid f) = \sum_c y_c \log f_c, \qquad f = \mathrm{softmax}(\text{logits}).

    On one-hot values this is :math:`\mathrm{Cat}(j \mid f)`, normalized w.r.t. counting
    measure on the C vertices. For soft labels it is the label-smoothing loss, which is not
    normalized over the simplex (Sec. 3.4; :class:`NormalizedSoftLabel` is). ``sample()``
    draws one-hot vectors from :math:`\mathrm{Cat}(f)`.

    Parameters
    ----------
    logits : Tensor
        Shape ``batch_shape + (C,)``.
    validate_args : bool, optional
        Check parameters and values against their constraints.
    """

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return soft_label_log_likelihood(self.logits, value)

    def sample(self, sample_shape=()) -> Tensor:
        with torch.no_grad():
            return self._sample_one_hot(self.logits, sample_shape)


class TemperedCategorical(_LogitsLabelDistribution):
    r"""Tempered categorical (Eq. 9), an **unnormalized** density for :math:`\rho \ne 1`.

    .. math:: \log p(y \mid f) = \rho \sum_c y_c \log f_c \;(= \rho \log f_j \text{ for } y = e_j).

    With Eq. 7's tempered labels :math:`(1 - \gamma_t) e_j` the exponent is
    :math:`\rho = 1 - \gamma_t` (Eq. 9 writes it as :math:`\gamma_t`): pass the one-hot
    label as the value and :math:`1 - \gamma_t` as ``power``. Over one-hot values the
    normalizer is :math:`\sum_j f_j^\rho` (:attr:`log_normalizer`), and ``sample()`` draws
    one-hot vectors from the normalized :math:`\mathrm{Cat}(f^\rho / \sum_j f_j^\rho)`.

    Parameters
    ----------
    logits : Tensor
        Shape ``batch_shape + (C,)``.
    power : float or Tensor
        :math:`\rho \ge 0`, broadcast against ``logits.shape[:-1]``.
    validate_args : bool, optional
        Check parameters and values against their constraints.
    """

    arg_constraints = {"logits": constraints.real_vector, "power": constraints.nonnegative}

    def __init__(self, logits: Tensor, power: float | Tensor, *, validate_args: bool | None = None):
        if not isinstance(logits, Tensor):
            raise TypeError(f"logits must be a floating-point tensor, got {logits!r:.80}")
        power = torch.as_tensor(power, dtype=logits.dtype, device=logits.device)
        try:
            batch_shape = torch.broadcast_shapes(logits.shape[:-1], power.shape)
        except RuntimeError:
            raise ValueError(
                f"power of shape {tuple(power.shape)} does not broadcast against the batch "
                f"shape {tuple(logits.shape[:-1])} of logits"
            ) from None
        self.power = power.expand(batch_shape)
        super().__init__(
            logits.expand(batch_shape + logits.shape[-1:]), validate_args=validate_args
        )

    def _expand_parameters(self, new, batch_shape: torch.Size) -> None:
        super()._expand_parameters(new, batch_shape)
        new.power = self.power.expand(batch_shape)

    @property
    def log_normalizer(self) -> Tensor:
        r""":math:`\log \sum_j f_j^\rho`, the log normalizer over one-hot values."""
        return torch.logsumexp(self.power.unsqueeze(-1) * torch.log_softmax(self.logits, -1), -1)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self.power * soft_label_log_likelihood(self.logits, value)

    def sample(self, sample_shape=()) -> Tensor:
        with torch.no_grad():
            class_logits = self.power.unsqueeze(-1) * torch.log_softmax(self.logits, -1)
            return self._sample_one_hot(class_logits, sample_shape)


class NormalizedSoftLabel(_LogitsLabelDistribution):
    r"""Normalized cross-entropy likelihood over smoothed labels (Appendix C).

    A proper distribution over :math:`y = (1 - a) e_j + a \mathbf{1}/C`,
    :math:`j \in \{1..C\}`, :math:`a \in [0, 1]`:

    .. math:: \log p(y \mid f) = \sum_c y_c \log f_c - \log Z(f),

    normalized w.r.t. counting measure on :math:`j` times Lebesgue measure on :math:`a`
    (:func:`~probmoll.likelihoods.log_partition`). Equivalently
    :math:`p(j) = f_j \int_0^1 (K/f_j)^a da / Z` with :math:`K` the geometric mean of
    :math:`f`, and given j the smoothing amount has density
    :math:`p(a \mid j) \propto e^{u_j a}` on :math:`[0, 1]`, :math:`u_j = \log K - \log f_j`,
    a truncated exponential. ``sample()`` draws exactly in that order, a by inverse CDF.

    Masked classes (logit :math:`-\infty`) are left out of the label family, as in
    :func:`~probmoll.likelihoods.log_partition`: samples smooth over the unmasked classes
    only and put 0 on masked ones, and :attr:`support` is that smaller family.

    Parameters
    ----------
    logits : Tensor
        Shape ``batch_shape + (C,)``.
    validate_args : bool, optional
        Check parameters and values (smoothed one-hot vectors) against their constraints.
    """

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self) -> constraints.Constraint:
        """Smoothed one-hot vectors over the unmasked classes (all C for finite logits)."""
        return _SmoothedOneHot(self.logits > -torch.inf)

    @lazy_property
    def log_partition(self) -> Tensor:
        """:math:`\\log Z(f)`, shape ``batch_shape``."""
        return log_partition(self.logits)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return normalized_log_likelihood(self.logits, value)

    def sample_index_and_amount(self, sample_shape=()) -> tuple[Tensor, Tensor]:
        """Draw the class index j and smoothing amount a of ``sample()``'s labels.

        Returns
        -------
        tuple of Tensor
            ``index`` (int64) and ``amount`` (float), each of shape
            ``sample_shape + batch_shape``.
        """
        sample_shape = torch.Size(sample_shape)
        with torch.no_grad():
            log_probs = torch.log_softmax(
                self.logits.to(torch.promote_types(self.logits.dtype, torch.float32)), -1
            )
            log_masses, rate = _smoothed_label_log_masses(log_probs)  # u_j = log K - log f_j
            index = Categorical(logits=log_masses).sample(sample_shape)
            rate = (
                rate.expand(sample_shape + rate.shape).gather(-1, index.unsqueeze(-1)).squeeze(-1)
            )
            uniform = torch.rand(rate.shape, dtype=rate.dtype, device=rate.device)
            return index, _truncated_exponential_icdf(uniform, rate)

    def sample(self, sample_shape=()) -> Tensor:
        index, amount = self.sample_index_and_amount(sample_shape)
        one_hot = torch.nn.functional.one_hot(index, self.event_shape[0]).to(amount.dtype)
        # Smoothing spreads a over the unmasked classes only (all C unless a logit is -inf).
        unmasked = (self.logits > -torch.inf).to(amount.dtype)
        uniform = unmasked / unmasked.sum(-1, keepdim=True)
        amount = amount.unsqueeze(-1)
        return ((1 - amount) * one_hot + amount * uniform).to(self.logits.dtype)


def _truncated_exponential_icdf(uniform: Tensor, rate: Tensor) -> Tensor:
    r"""Inverse CDF of :math:`p(a) \propto e^{u a}` on :math:`[0, 1]`.

    :math:`F(a) = \mathrm{expm1}(u a)/\mathrm{expm1}(u)`, so
    :math:`a = \log(1 + U\,\mathrm{expm1}(u))/u`. For :math:`u > 0` that is rewritten as
    :math:`1 + \log(1 + (1 - U)\,\mathrm{expm1}(-u))/u`, which cannot overflow and keeps
    its digits for small u; at :math:`u = 0`, :math:`a = U`.
    """
    is_zero = rate == 0
    safe_rate = torch.where(is_zero, torch.ones_like(rate), rate)
    positive = 1 + torch.log1p((1 - uniform) * torch.expm1(-safe_rate.clamp(min=0))) / safe_rate
    negative = torch.log1p(uniform * torch.expm1(safe_rate.clamp(max=0))) / safe_rate
    amount = torch.where(safe_rate > 0, positive, negative)
    return torch.where(is_zero, uniform, amount).clamp(0, 1)
