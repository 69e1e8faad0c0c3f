r"""Per-example likelihood forms on logits (Sec. 3.3-3.4 and Appendix C of the paper).

Every function here is a pure kernel: it takes ``logits`` of shape ``(..., C)`` and
targets, and returns one log-likelihood per example, of shape ``(...)``. Leading
dimensions of ``logits`` and of the targets broadcast against each other.

Targets are either integer class indices of shape ``(...)`` or soft targets of shape
``(..., C)`` (smoothed, tempered or mixed labels). Soft targets are not checked to lie
on the simplex: that check would synchronise with the device on every step.

Precision: the maths runs in at least ``float32`` (``bfloat16``/``float16`` logits are
upcast, as autocast does for losses); ``float64`` stays ``float64``. Results come back
in that compute dtype.

Forms
-----
:func:`soft_label_log_likelihood`
    :math:`\sum_c y_c \log f_c` (Eq. 14-15), the default; not normalized over soft labels.
:func:`tempered_log_likelihood`
    :math:`\rho \log f_y` (Eq. 9), the tempered categorical.
:func:`log_partition`, :func:`normalized_log_likelihood`
    Appendix C: the soft-label log-likelihood minus :math:`\log Z(f)`, which normalizes it
    over the set of smoothed labels.
:func:`dirichlet_log_likelihood`, :func:`dirichlet_mode`
    The Dirichlet view :math:`\log \mathrm{Dir}(f \mid 1 + y)` of Eq. 10-11 and its mode.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "dirichlet_log_likelihood",
    "dirichlet_mode",
    "log_expm1_ratio",
    "log_partition",
    "normalized_log_likelihood",
    "soft_label_log_likelihood",
    "tempered_log_likelihood",
]

# Below this |u| the series of log(expm1(u)/u) is used. Its first dropped term is
# u^8/9676800 (< 1.1e-15 at |u| = 0.1), while the closed form's gradient, a difference of
# two terms of size ~1/|u|, loses only ~10 ulps at |u| = 0.1 but all its digits as u -> 0.
_SERIES_THRESHOLD = 0.1


def _compute_dtype(logits: Tensor) -> torch.dtype:
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got dtype {logits.dtype}")
    if logits.dim() < 1 or logits.shape[-1] < 2:
        raise ValueError(
            f"logits must have shape (..., C) with C >= 2 classes, got shape {tuple(logits.shape)}"
        )
    return torch.promote_types(logits.dtype, torch.float32)


def _log_probs(logits: Tensor) -> Tensor:
    """``log softmax(logits)`` in the compute dtype (at least float32)."""
    return torch.log_softmax(logits.to(_compute_dtype(logits)), dim=-1)


def _broadcast_batch_shape(logits: Tensor, targets_batch_shape: torch.Size, what: str):
    try:
        return torch.broadcast_shapes(logits.shape[:-1], targets_batch_shape)
    except RuntimeError:
        raise ValueError(
            f"{what} of shape {tuple(targets_batch_shape)} does not broadcast against the "
            f"batch shape {tuple(logits.shape[:-1])} of logits {tuple(logits.shape)}"
        ) from None


def _soft_targets(logits: Tensor, targets: Tensor, dtype: torch.dtype) -> Tensor:
    """Targets as ``(..., C)`` vectors: class indices become one-hot, soft targets pass."""
    if not isinstance(targets, Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    num_classes = logits.shape[-1]
    if targets.is_floating_point():
        if targets.dim() < 1 or targets.shape[-1] != num_classes:
            raise ValueError(
                f"soft targets must have shape (..., C) with C = {num_classes} (from logits "
                f"{tuple(logits.shape)}), got shape {tuple(targets.shape)}"
            )
        _broadcast_batch_shape(logits, targets.shape[:-1], "soft targets")
        return targets.to(dtype)
    if targets.dtype == torch.bool or targets.is_complex():
        raise TypeError(
            f"targets must be integer class indices or float soft targets, got {targets.dtype}"
        )
    _broadcast_batch_shape(logits, targets.shape, "integer targets")
    # scatter rather than F.one_hot: an index out of range still fails (an error on the CPU,
    # a device-side assert on an accelerator), but a valid batch never waits for the host.
    index = targets.long().unsqueeze(-1)
    return torch.zeros(*targets.shape, num_classes, dtype=dtype, device=targets.device).scatter_(
        -1, index, 1.0
    )


def _weighted_log_probs(labels: Tensor, log_probs: Tensor) -> Tensor:
    r""":math:`\sum_c y_c \log f_c` with :math:`0 \log 0 = 0`.

    A masked class (logit :math:`-\infty`, :math:`\log f_c = -\infty`) that the label gives
    no weight contributes 0 rather than NaN; one it gives weight makes the result
    :math:`-\infty` (the label is impossible). The ``where`` sits inside the product, so
    neither the value nor the gradient (w.r.t. logits or labels) sees ``0 * inf``.
    """
    return (labels * torch.where(labels == 0, 0.0, log_probs)).sum(-1)


def soft_label_log_likelihood(logits: Tensor, targets: Tensor) -> Tensor:
    r"""Soft-label cross-entropy log-likelihood (Eq. 14-15).

    .. math::

        \log p(y \mid x) = \sum_{c=1}^C y_c \log f_c, \qquad f = \mathrm{softmax}(\text{logits}).

    For one-hot targets this is the categorical log-probability :math:`\log f_y`; for soft
    targets it is the (unnormalized over soft labels, Sec. 3.4) cross-entropy likelihood
    that label smoothing trains with. ``-soft_label_log_likelihood(...).mean()`` equals
    ``torch.nn.functional.cross_entropy(logits, targets)``, except for masked classes
    (logit :math:`-\infty`): here a zero target there contributes :math:`0 \log 0 = 0`
    (``cross_entropy`` returns NaN), a positive one gives :math:`-\infty`.

    Parameters
    ----------
    logits : Tensor
        Shape ``(..., C)``.
    targets : Tensor
        Integer class indices ``(...)`` or soft targets ``(..., C)``; broadcast against the
        leading dimensions of ``logits``.

    Returns
    -------
    Tensor
        Log-likelihood per example, shape ``(...)`` (broadcast).
    """
    log_probs = _log_probs(logits)
    if (
        isinstance(targets, Tensor)
        and not targets.is_floating_point()
        and targets.dtype != torch.bool
    ):
        # Hard labels: gather log f_y instead of multiplying by a one-hot matrix.
        batch_shape = _broadcast_batch_shape(logits, targets.shape, "integer targets")
        index = targets.long().expand(batch_shape).unsqueeze(-1)
        return log_probs.expand(*batch_shape, log_probs.shape[-1]).gather(-1, index).squeeze(-1)
    return _weighted_log_probs(_soft_targets(logits, targets, log_probs.dtype), log_probs)


def tempered_log_likelihood(logits: Tensor, labels: Tensor, power: float | Tensor) -> Tensor:
    r"""Tempered categorical log-likelihood (Eq. 9): :math:`\rho \log f_y`.

    .. math:: \log p_{\mathrm{temp}}(y \mid f) = \log \mathrm{Cat}(y \mid f)^{\rho} = \rho \log f_y.

    With the tempered labels of Eq. 7, :math:`y^{\mathrm{temp}}_t = (1 - \gamma_t) e_y`, the
    soft-label cross-entropy :math:`\sum_c y_c \log f_c = (1 - \gamma_t) \log f_y`, so the
    exponent is :math:`\rho = 1 - \gamma_t`. Eq. 9 as printed writes :math:`\gamma_t` for
    this exponent, i.e. for the weight left on the label, not for the decay of Eq. 7.
    :math:`\rho < 1` is 'hot' tempering (a flatter likelihood surface), :math:`\rho = 1`
    the plain categorical, :math:`\rho = 0` no information.

    Not normalized over labels for :math:`\rho \neq 1`: :math:`\sum_j f_j^\rho \ne 1`.

    Parameters
    ----------
    logits : Tensor
        Shape ``(..., C)``.
    labels : Tensor
        Integer class indices ``(...)``.
    power : float or Tensor
        The exponent :math:`\rho \ge 0` (``1 - gamma_t`` for Eq. 7's labels); a tensor
        broadcasts against the batch shape.

    Returns
    -------
    Tensor
        Shape ``(...)`` (broadcast).
    """
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(
            "tempered_log_likelihood takes integer class indices; for soft tempered targets "
            f"(1 - gamma) * one_hot use soft_label_log_likelihood. Got {labels!r:.80}"
        )
    return power * soft_label_log_likelihood(logits, labels)


def log_expm1_ratio(u: Tensor) -> Tensor:
    r"""Stable :math:`\log\big((e^u - 1)/u\big) = \log \int_0^1 e^{u a}\, da`, equal to 0 at u = 0.

    Near zero the Taylor series
    :math:`u/2 + u^2/24 - u^4/2880 + u^6/181440` is used; elsewhere the log-space form
    :math:`\max(u, 0) + \log(1 - e^{-|u|}) - \log|u|`, i.e. :math:`u + \log(1 - e^{-u}) - \log u`
    for :math:`u > 0` and :math:`\log(-\mathrm{expm1}(u)) - \log(-u)` for :math:`u < 0`,
    which never overflows. Each branch sees only inputs that are safe for it (the
    "double where"), so no NaN/inf reaches the gradient from the branch not taken.
    """
    near_zero = u.abs() < _SERIES_THRESHOLD
    u_small = torch.where(near_zero, u, torch.zeros_like(u))
    u_large = torch.where(near_zero, torch.ones_like(u), u)
    u2 = u_small * u_small
    series = u_small / 2 + u2 * (1 / 24 + u2 * (-1 / 2880 + u2 / 181440))
    magnitude = u_large.abs()
    closed = u_large.clamp(min=0) + torch.log(-torch.expm1(-magnitude)) - torch.log(magnitude)
    return torch.where(near_zero, series, closed)


def log_partition(logits: Tensor) -> Tensor:
    r"""Log normalizer :math:`\log Z(f)` of the cross-entropy likelihood (Appendix C).

    With smoothed labels :math:`y(a, e_j) = (1 - a) e_j + a \mathbf{1}/C`, :math:`a \in [0, 1]`,
    :math:`j \in \{1..C\}` (Appendix C's :math:`a` is the smoothing amount :math:`\gamma_t`
    itself; the text's ":math:`a = \gamma_t - 1`" is an erratum, docs/paper-readings.md,
    reading 2),

    .. math::

        Z(f) = \sum_{j=1}^C \int_0^1 \prod_i f_i^{y(a, e_j)_i}\, da
             = \sum_{j=1}^C f_j \int_0^1 \Big(\frac{K}{f_j}\Big)^a da
             = \sum_{j=1}^C \frac{K - f_j}{\log K - \log f_j},
        \qquad K = \Big(\prod_i f_i\Big)^{1/C}.

    The printed closed form is 0/0 whenever :math:`f_j = K` (e.g. uniform predictions, the
    state at initialisation); the limit of that term is :math:`f_j`. Here every term is
    computed in log space: with :math:`u_j = \log K - \log f_j = \overline{\log f} - \log f_j`,

    .. math:: \log Z = \operatorname{logsumexp}_j\big(\log f_j + \log\tfrac{e^{u_j} - 1}{u_j}\big),

    using :func:`log_expm1_ratio`. Finite with finite gradients wherever ``log_softmax(logits)``
    is finite (logit differences below the dtype's largest value).
    :math:`Z \le 1` (so :math:`\log Z \le 0`), with equality exactly for uniform :math:`f`.

    Masked classes. A logit of :math:`-\infty` (:math:`f_m = 0`) removes class m from the
    label family: the smoothed labels become :math:`(1 - a) e_j + a \mathbf{1}_U / C'` over the
    :math:`C'` unmasked classes U, K is the geometric mean over U, and the result equals
    ``log_partition`` of the logits with the masked classes dropped (0 if only one class is
    left); the gradient w.r.t. a masked logit is 0. Taken literally over all C classes the
    formula has no useful limit: :math:`K = 0`, every label with :math:`a > 0` has likelihood
    0 and :math:`Z = 0`. At least one logit must be finite (a fully masked row gives NaN,
    as ``log_softmax`` does).

    Parameters
    ----------
    logits : Tensor
        Shape ``(..., C)``.

    Returns
    -------
    Tensor
        :math:`\log Z` per row, shape ``(...)``.
    """
    log_masses, _ = _smoothed_label_log_masses(_log_probs(logits))
    return torch.logsumexp(log_masses, dim=-1)


def _smoothed_label_log_masses(log_probs: Tensor) -> tuple[Tensor, Tensor]:
    r"""Per class j, :math:`\log \int_0^1 f_j (K/f_j)^a da` and the rate :math:`u_j`.

    :math:`u_j = \log K - \log f_j`, with K the geometric mean over the unmasked classes
    (finite :math:`\log f_j`). For a masked class the mass is :math:`-\infty` and the rate 0.
    Shared by :func:`log_partition` and the exact sampler of ``NormalizedSoftLabel``.

    Returns
    -------
    tuple of Tensor
        ``log_masses`` and ``rates``, both shaped like ``log_probs``.
    """
    unmasked = log_probs > -torch.inf
    # Double where: masked entries enter the mean and the ratio as 0, so neither their
    # value nor a 0 * inf in the backward pass can produce NaN.
    safe_log_probs = torch.where(unmasked, log_probs, 0.0)
    num_unmasked = unmasked.sum(-1, keepdim=True)
    log_geometric_mean = safe_log_probs.sum(-1, keepdim=True) / num_unmasked
    rates = torch.where(unmasked, log_geometric_mean - safe_log_probs, 0.0)
    log_masses = torch.where(unmasked, safe_log_probs + log_expm1_ratio(rates), -torch.inf)
    return log_masses, rates


def normalized_log_likelihood(logits: Tensor, targets: Tensor) -> Tensor:
    r"""Normalized cross-entropy log-likelihood (Appendix C).

    .. math:: \log p(y^{\mathrm{LS}} \mid x) = \sum_c y^{\mathrm{LS}}_c \log f_c - \log Z(f),

    a proper density over smoothed labels :math:`y(a, e_j)` with respect to counting measure
    on :math:`j` times Lebesgue measure on :math:`a \in [0, 1]` (see :func:`log_partition`).
    Since :math:`\log Z \le 0`, it is never below the soft-label log-likelihood.

    Parameters
    ----------
    logits : Tensor
        Shape ``(..., C)``.
    targets : Tensor
        Smoothed soft targets ``(..., C)`` (Eq. 8) or class indices ``(...)`` (a = 0).

    Returns
    -------
    Tensor
        Shape ``(...)`` (broadcast).
    """
    return soft_label_log_likelihood(logits, targets) - log_partition(logits)


def dirichlet_log_likelihood(logits: Tensor, targets: Tensor) -> Tensor:
    r"""Dirichlet view of the cross-entropy (Eq. 10-11): :math:`\log \mathrm{Dir}(f \mid 1 + y)`.

    .. math::

        \log \mathrm{Dir}(f \mid \mathbf{1} + y) = \sum_c y_c \log f_c - \log B(\mathbf{1} + y),
        \qquad \log B(\alpha) = \sum_c \log\Gamma(\alpha_c) - \log\Gamma\big(\sum_c \alpha_c\big).

    Eq. 11's :math:`B(y)` is the multivariate Beta function of the concentration
    :math:`\mathbf{1} + y`. This is a density over predictions :math:`f` on the simplex
    (Lebesgue measure on the first :math:`C - 1` coordinates), normalized in :math:`f`, not
    in the label :math:`y` (Sec. 3.4).

    Parameters
    ----------
    logits : Tensor
        Shape ``(..., C)``; :math:`f = \mathrm{softmax}(\text{logits})`.
    targets : Tensor
        Soft targets ``(..., C)`` with entries :math:`\ge 0`, or class indices ``(...)``.

    Returns
    -------
    Tensor
        Shape ``(...)`` (broadcast).
    """
    log_probs = _log_probs(logits)
    labels = _soft_targets(logits, targets, log_probs.dtype)
    concentration = 1 + labels
    log_beta = torch.lgamma(concentration).sum(-1) - torch.lgamma(concentration.sum(-1))
    return _weighted_log_probs(labels, log_probs) - log_beta


def dirichlet_mode(targets: Tensor) -> Tensor:
    r"""Mode of :math:`\mathrm{Dir}(f \mid \mathbf{1} + y)` (Fig. 4): :math:`f^* = y / \sum_c y_c`.

    For a concentration :math:`\alpha` with all :math:`\alpha_c \ge 1` the mode is
    :math:`(\alpha_c - 1)/(\sum_c \alpha_c - C)`; with :math:`\alpha = 1 + y` that is
    :math:`y / \sum_c y_c`. Hence one-hot and tempered labels (Eq. 7) share the vertex
    :math:`e_y` as mode, while smoothed labels (Eq. 8) move it to :math:`y^{\mathrm{LS}}`.

    Parameters
    ----------
    targets : Tensor
        Soft targets ``(..., C)``, entries :math:`\ge 0` with a positive sum (for
        :math:`y = 0`, e.g. fully tempered labels, the density is flat and has no unique mode).

    Returns
    -------
    Tensor
        Shape ``(..., C)``.
    """
    if not isinstance(targets, Tensor) or not targets.is_floating_point() or targets.dim() < 1:
        raise TypeError(f"targets must be a float tensor of shape (..., C), got {targets!r:.80}")
    return targets / targets.sum(-1, keepdim=True)
