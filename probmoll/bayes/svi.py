r"""Minibatch stochastic variational inference for the Bayesian last layer.

:func:`fit_svi` fits a Gaussian approximation :math:`q(W, b)` to the posterior of
:func:`~probmoll.bayes.softmax_regression_model` -- the same model NUTS samples -- by
maximising the ELBO with Adam. Each step scores a random minibatch of ``batch_size`` of the
``K * B`` rows, through the model's ``pyro.plate("rows", K * B, subsample_size=...)``,
which scales the minibatch log-likelihood by ``K * B / batch_size`` so that the ELBO
estimate is unbiased. That factor multiplies the model's own scale ``1 / (\kappa T)``
(:math:`\kappa = K`, or 1 with ``per_copy``); T < 1 is a cold posterior.

The guides are Pyro's ``AutoNormal`` (independent Gaussians, one per weight) and
``AutoLowRankMultivariateNormal`` (a Gaussian with a low-rank plus diagonal covariance,
which captures the correlation between the weights of a class and its bias). Draws of
the fitted guide come back as a :class:`~probmoll.bayes.Posterior`, like NUTS's, so that
:func:`~probmoll.bayes.posterior_predictive` and
:func:`~probmoll.bayes.to_inference_data` take either.
"""

from __future__ import annotations

import math
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoNormal
from pyro.infer.autoguide.initialization import init_to_median
from torch import Tensor

from probmoll.bayes.last_layer import Posterior, _import_arviz, softmax_regression_model

__all__ = ["GUIDES", "fit_svi"]

GUIDES = {
    "normal": "AutoNormal: independent Gaussians (mean-field)",
    "lowrank": "AutoLowRankMultivariateNormal: Gaussian with low-rank plus diagonal covariance",
}


def fit_svi(
    features: Tensor,
    targets: Tensor,
    *,
    guide: str = "normal",
    batch_size: int | None = None,
    num_steps: int = 2000,
    learning_rate: float = 0.02,
    num_samples: int = 1000,
    num_particles: int = 1,
    rank: int | None = None,
    seed: int = 0,
    **model_kwargs: Any,
) -> Posterior:
    r"""Minibatch SVI on :func:`~probmoll.bayes.softmax_regression_model`.

    Runs ``num_steps`` of Adam on the negative ELBO (``Trace_ELBO``), with the learning
    rate decaying tenfold over the run so that the noisy minibatch gradients settle, then
    draws ``num_samples`` parameter sets from the guide. Seeded with
    ``pyro.set_rng_seed(seed)`` (torch's, numpy's and Python's global generators); the
    global parameter store is left untouched.

    Parameters
    ----------
    features, targets : Tensor
        As in :func:`~probmoll.bayes.softmax_regression_model`: ``(K * B, F)`` and the
        targets of the same rows, k-major.
    guide : {"normal", "lowrank"}
        ``AutoNormal`` or ``AutoLowRankMultivariateNormal``.
    batch_size : int, optional
        Rows per step; ``None`` uses all ``K * B`` rows (full-batch SVI). The minibatch
        log-likelihood is scaled by ``K * B / batch_size``.
    num_steps : int
        Optimisation steps.
    learning_rate : float
        Initial Adam learning rate.
    num_samples : int
        Draws of the fitted guide returned.
    num_particles : int
        Monte Carlo samples of the ELBO per step.
    rank : int, optional
        Rank of the ``"lowrank"`` covariance; Pyro's default (about the square root of the
        number of parameters) if ``None``.
    seed : int
        Seed of the run.
    **model_kwargs
        Keyword arguments of :func:`~probmoll.bayes.softmax_regression_model`
        (``num_classes`` is required; ``likelihood``, ``copies``, ``temperature``,
        ``per_copy``, ``prior_scale``, ``reference_class``). ``temperature`` T scales the
        log-likelihood by ``1 / T``: T < 1 is a cold posterior, T > 1 a warm one.

    Returns
    -------
    Posterior
        ``draws`` ``{"weight": (1, S, F, C'), "bias": (1, S, C')}`` (one "chain" of
        ``S = num_samples`` independent draws) and ``inference_data``, an
        ``arviz.InferenceData`` with the posterior group only.
    """
    if guide not in GUIDES:
        raise ValueError(f"unknown guide {guide!r}; valid: {', '.join(GUIDES)}")
    for name, value in (
        ("num_steps", num_steps),
        ("num_samples", num_samples),
        ("num_particles", num_particles),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise ValueError(f"rank must be None or an int >= 1, got {rank!r}")
    if not (isinstance(learning_rate, (int, float)) and 0 < learning_rate < math.inf):
        raise ValueError(f"learning_rate must be a finite float > 0, got {learning_rate!r}")
    if "subsample_size" in model_kwargs:
        raise TypeError("pass batch_size, not subsample_size, to fit_svi")
    # Validates features, targets, options and batch_size against the number of rows.
    with poutine.block(), poutine.trace():
        softmax_regression_model(features, targets, subsample_size=batch_size, **model_kwargs)

    kwargs = dict(model_kwargs, subsample_size=batch_size)
    pyro.set_rng_seed(seed)
    with pyro.get_param_store().scope():
        if guide == "normal":
            approximation = AutoNormal(softmax_regression_model, init_loc_fn=init_to_median)
        else:
            approximation = AutoLowRankMultivariateNormal(
                softmax_regression_model, init_loc_fn=init_to_median, rank=rank
            )
        optimizer = pyro.optim.ClippedAdam(
            {"lr": learning_rate, "lrd": 0.1 ** (1 / num_steps), "clip_norm": 100.0}
        )
        svi = SVI(
            softmax_regression_model,
            approximation,
            optimizer,
            Trace_ELBO(num_particles=num_particles),
        )
        for _ in range(num_steps):
            svi.step(features, targets, **kwargs)
        with torch.no_grad(), poutine.block():
            samples = [approximation(features, targets, **kwargs) for _ in range(num_samples)]
    draws = {
        name: torch.stack([sample[name] for sample in samples]).detach().unsqueeze(0)
        for name in ("weight", "bias")
    }
    return Posterior(draws, _posterior_group(draws))


def _posterior_group(draws: dict[str, Tensor]):
    arviz = _import_arviz()
    return arviz.from_dict(posterior={name: value.cpu().numpy() for name, value in draws.items()})
