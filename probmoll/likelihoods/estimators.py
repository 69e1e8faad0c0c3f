r"""Estimators of the augmented log-likelihood from K augmented copies (Eq. 2-3, Appendix D).

Each example :math:`n` is seen under K sampled transformations :math:`\phi_k \sim p(\phi)`,
giving ``logp[k, n]`` :math:`= \log p(y_n \mid x_n, \phi_k, \theta)`. An estimator reduces
the copies (dimension ``dim``, 0 by default) to one value per example; the target is the
per-example augmented log-likelihood

.. math::

    \mathcal{L}_n = \log \int p(y_n \mid x_n, \phi, \theta)\, p(\phi)\, d\phi = \log I
    \quad \text{(Eq. 2, 17)}.

=====================  =====================================================  ======================
name                   per-example value                                      expectation vs
                                                                              :math:`\log I`
=====================  =====================================================  ======================
``jensen``             :math:`\frac1K \sum_k \log p_k` (Eq. 3, 21-22)         lower bound, any K
``log_mean_exp``       :math:`\log \frac1K \sum_k p_k` (Eq. 19)               below, bias O(1/K)
``durbin_koopman``     Eq. 19 + :math:`\frac{\mathrm{var}[I_K]}{2 I_K^2}`     bias O(1/K^2), K >= 2
                       (Eq. 25-26)
``geometric``          :math:`\frac{1}{K T} \sum_k \log p_k` (Eq. 28)         = jensen / T
``geometric_per_copy`` :math:`\frac{1}{T} \sum_k \log p_k`                    = K jensen / T
=====================  =====================================================  ======================

Pointwise, ``jensen <= log_mean_exp`` (AM-GM); in expectation
``jensen <= log_mean_exp <= log I``. New estimators join the registry with
:func:`register_estimator`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from probmoll.likelihoods.catalog import BUILTIN_ESTIMATORS, ESTIMATOR_KIND
from probmoll.utils.registry import Registry

__all__ = [
    "ESTIMATORS",
    "EstimatorSpec",
    "durbin_koopman",
    "geometric",
    "geometric_per_copy",
    "get_estimator",
    "get_estimator_spec",
    "jensen",
    "list_estimators",
    "log_mean_exp",
    "register_estimator",
]


def _num_copies(logp: Tensor, dim: int) -> int:
    if not isinstance(logp, Tensor):
        raise TypeError(f"logp must be a torch.Tensor, got {type(logp).__name__}")
    if not logp.is_floating_point():
        raise TypeError(f"logp must be a floating-point tensor, got dtype {logp.dtype}")
    if logp.dim() == 0:
        raise ValueError("logp must have a copies dimension, e.g. shape (K, B); got a scalar")
    if not -logp.dim() <= dim < logp.dim():
        raise ValueError(f"dim={dim} is out of range for logp of shape {tuple(logp.shape)}")
    num_copies = logp.shape[dim]
    if num_copies == 0:
        raise ValueError(f"logp has no copies along dim={dim}: shape {tuple(logp.shape)}")
    return num_copies


def _log_mean_exp(logp: Tensor, dim: int, num_copies: int) -> tuple[Tensor, Tensor]:
    """``log I_K`` (keepdim) and where it is -inf because every copy is -inf.

    There torch's ``logsumexp`` returns -inf but its backward computes exp(-inf - -inf) =
    NaN; the copies are replaced by 0 before the reduction (double where), so the value is
    -inf and the gradient 0.
    """
    impossible = (logp == -torch.inf).all(dim, keepdim=True)
    safe_logp = torch.where(impossible, 0.0, logp)
    log_mean = torch.logsumexp(safe_logp, dim, keepdim=True) - math.log(num_copies)
    return torch.where(impossible, -torch.inf, log_mean), impossible


def jensen(logp: Tensor, *, dim: int = 0) -> Tensor:
    r"""Jensen lower bound (Eq. 3, Monte Carlo form Eq. 21-22): :math:`\frac1K \sum_k \log p_k`.

    An unbiased estimate of :math:`\int \log p(y \mid x, \phi)\, p(\phi)\, d\phi \le \log I`,
    for every K. For K = 1 it is the log-likelihood of the single copy.

    Parameters
    ----------
    logp : Tensor
        Log-likelihoods, copies along ``dim``, e.g. shape ``(K, B)``.
    dim : int
        The copies dimension (default 0).

    Returns
    -------
    Tensor
        ``logp`` reduced over ``dim``, e.g. shape ``(B,)``.
    """
    _num_copies(logp, dim)
    return logp.mean(dim)


def log_mean_exp(logp: Tensor, *, dim: int = 0) -> Tensor:
    r"""Multi-sample estimate (Eq. 19): :math:`\log I_K = \log \frac1K \sum_k p_k`.

    Computed as ``logsumexp(logp) - log K``; -inf (with zero gradient) where every copy is
    -inf. :math:`I_K` is unbiased for :math:`I`, so by
    Jensen :math:`\mathbb{E} \log I_K \le \log I`, with bias
    :math:`\approx -\mathrm{Var}[p]/(2 K I^2)`. It is never below :func:`jensen` (AM-GM) and
    equals it for K = 1.

    Parameters
    ----------
    logp : Tensor
        Log-likelihoods, copies along ``dim``, e.g. shape ``(K, B)``.
    dim : int
        The copies dimension (default 0).

    Returns
    -------
    Tensor
        ``logp`` reduced over ``dim``.
    """
    num_copies = _num_copies(logp, dim)
    return _log_mean_exp(logp, dim, num_copies)[0].squeeze(dim)


def durbin_koopman(logp: Tensor, *, dim: int = 0) -> Tensor:
    r"""Bias-corrected log-mean-exp (Durbin and Koopman, 1997; Eq. 25-27).

    .. math::

        \log I \approx \log I_K + \frac{\mathrm{var}[I_K]}{2 I_K^2}, \qquad
        \mathrm{var}[I_K] = \frac{1}{K(K-1)} \sum_k (p_k - I_K)^2.

    A second-order expansion of :math:`\log I_K` around :math:`I` gives
    :math:`\mathbb{E}\log I_K = \log I - \mathrm{Var}[I_K]/(2I^2) + O(K^{-2})`; adding the
    estimated term removes the O(1/K) bias (Eq. 27 states the leading-order cancellation).
    Computed in log space with ratios :math:`r_k = p_k / I_K = \exp(\log p_k - \log I_K)`:
    the correction is :math:`\sum_k (r_k - 1)^2 / (2K(K-1))`, which lies in
    :math:`[0, 1/2]` because :math:`\sum_k r_k = K`. If every copy has
    :math:`\log p_k = -\infty` the result is :math:`-\infty`, as for :func:`log_mean_exp`.

    Parameters
    ----------
    logp : Tensor
        Log-likelihoods, copies along ``dim``, e.g. shape ``(K, B)``.
    dim : int
        The copies dimension (default 0).

    Returns
    -------
    Tensor
        ``logp`` reduced over ``dim``.

    Raises
    ------
    ValueError
        For K = 1: the sample variance needs at least two copies. (Falling back to
        :func:`log_mean_exp` would silently change the estimator; K = 1 is unbiased for
        :math:`I` but not for :math:`\log I`, so there is nothing to correct with.)
    """
    num_copies = _num_copies(logp, dim)
    if num_copies < 2:
        raise ValueError(
            "durbin_koopman needs K >= 2 copies per example to estimate var[I_K] (Eq. 26); "
            f"got K={num_copies} along dim={dim} of logp with shape {tuple(logp.shape)}"
        )
    log_mean, impossible = _log_mean_exp(logp, dim, num_copies)
    # If every copy is -inf, log I_K = -inf and the ratios would be exp(-inf - -inf) = NaN:
    # return -inf, like log_mean_exp, with a zero gradient. The ratios use a finite
    # stand-in there so that no NaN reaches the backward pass of the branch not taken.
    ratios = torch.exp(logp - torch.where(impossible, 0.0, log_mean))
    correction = (ratios - 1).square().sum(dim, keepdim=True)
    correction = torch.where(impossible, 0.0, correction / (2 * num_copies * (num_copies - 1)))
    return (log_mean + correction).squeeze(dim)


def geometric(
    logp: Tensor, temperature: float = 1.0, *, per_copy: bool = False, dim: int = 0
) -> Tensor:
    r"""Geometric (tempered) likelihood of Kapoor et al. (Eq. 28).

    .. math::

        \log p_{\mathrm{geom}}(y_n \mid x_n) = \frac{1}{K T} \sum_{k=1}^K \log p_k
        \quad\text{or, with ``per_copy``,}\quad \frac{1}{T} \sum_{k=1}^K \log p_k .

    With :math:`T = 1` the first equals :func:`jensen`: the geometric mean of Eq. 28 is the
    Monte Carlo form of the lower bound Eq. 21. The two differ in how much the data weigh
    against a prior in :math:`\log p(\theta) + \sum_n \log p(y_n \mid x_n)`: averaging
    (``per_copy=False``) keeps each image worth one datum, however many copies it has;
    counting each copy as a datum (``per_copy=True``) multiplies the data term by K, which
    sharpens the posterior as if the likelihood were cooled to temperature :math:`1/K`
    (the cold-posterior reading of augmentation). :math:`T` tempers either form:
    :math:`T < 1` cold, :math:`T > 1` hot. For maximum-likelihood training without a prior
    these choices only rescale the loss (and so the effective learning rate).

    Parameters
    ----------
    logp : Tensor
        Log-likelihoods, copies along ``dim``, e.g. shape ``(K, B)``.
    temperature : float
        :math:`T > 0` (default 1).
    per_copy : bool
        Count each copy as a datum (no :math:`1/K`).
    dim : int
        The copies dimension (default 0).

    Returns
    -------
    Tensor
        ``logp`` reduced over ``dim``.
    """
    num_copies = _num_copies(logp, dim)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a float, got {temperature!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
    scale = temperature if per_copy else num_copies * temperature
    return logp.sum(dim) / scale


def geometric_per_copy(logp: Tensor, temperature: float = 1.0, *, dim: int = 0) -> Tensor:
    r""":func:`geometric` with each copy counted as a datum: :math:`\frac1T \sum_k \log p_k`."""
    return geometric(logp, temperature, per_copy=True, dim=dim)


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator and what it requires."""

    name: str
    # Callable (logp, *, dim) -> Tensor, plus a `temperature` argument when tempered.
    fn: Callable[..., Tensor]
    # Fewest copies per example the estimator is defined for.
    min_copies: int = 1
    # Whether fn takes a `temperature` (read from its signature).
    accepts_temperature: bool = False


#: The registered estimators, by name (:func:`register_estimator`, :func:`get_estimator_spec`).
ESTIMATORS: Registry[EstimatorSpec] = Registry(ESTIMATOR_KIND)


def register_estimator(name: str, fn: Callable[..., Tensor] | None = None, *, min_copies: int = 1):
    """Register an estimator under ``name``; usable as a decorator.

    Parameters
    ----------
    name : str
        Name in :data:`ESTIMATORS` (must be new: a taken name raises ValueError).
    fn : callable, optional
        ``fn(logp, *, dim=0) -> Tensor`` reducing the copies dimension; it may take a
        ``temperature`` argument, which :class:`~probmoll.likelihoods.Objective` then passes.
    min_copies : int
        Fewest copies per example ``fn`` accepts (checked by ``LikelihoodConfig``).
    """
    add = ESTIMATORS.register(name)  # a name that is not a non-empty str: TypeError
    if isinstance(min_copies, bool) or not isinstance(min_copies, int) or min_copies < 1:
        raise ValueError(f"min_copies must be an int >= 1, got {min_copies!r}")

    def decorate(estimator: Callable[..., Tensor]) -> Callable[..., Tensor]:
        accepts_temperature = "temperature" in inspect.signature(estimator).parameters
        add(EstimatorSpec(name, estimator, min_copies, accepts_temperature))
        return estimator

    return decorate if fn is None else decorate(fn)


def get_estimator_spec(name: str) -> EstimatorSpec:
    """The :class:`EstimatorSpec` registered under ``name``; an unknown name raises a
    ValueError listing the registered ones."""
    return ESTIMATORS.get(name)


def get_estimator(name: str) -> Callable[..., Tensor]:
    """The estimator function registered under ``name``."""
    return get_estimator_spec(name).fn


def list_estimators() -> list[str]:
    """Names of the registered estimators, sorted."""
    return ESTIMATORS.names()


# The function of each built-in estimator of the catalog (probmoll.likelihoods.catalog),
# which declares its name, min_copies and accepts_temperature.
_FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "jensen": jensen,
    "log_mean_exp": log_mean_exp,
    "durbin_koopman": durbin_koopman,
    "geometric": geometric,
    "geometric_per_copy": geometric_per_copy,
}
if set(_FUNCTIONS) != {info.name for info in BUILTIN_ESTIMATORS}:
    raise RuntimeError("the built-in estimators of catalog.py and their functions differ")
for _info in BUILTIN_ESTIMATORS:
    register_estimator(_info.name, _FUNCTIONS[_info.name], min_copies=_info.min_copies)
    if get_estimator_spec(_info.name).accepts_temperature != _info.accepts_temperature:
        raise RuntimeError(f"catalog.py misstates whether {_info.name!r} takes a temperature")
del _info
