r"""Bayesian softmax regression over fixed features, with probmoll's augmented likelihoods.

The model is a Bayesian last layer: the features :math:`h` of a trained network
(``model.forward_features(x)`` on a preact-ResNet) are fixed, and only the softmax layer

.. math::

    W \sim \mathcal N(0, s^2 I_{F \times C}), \quad b \sim \mathcal N(0, s^2 I_C), \quad
    f = \mathrm{softmax}(h W + b)

gets a posterior. The data are the K mollified copies of each of B images (features and
soft targets of ``K * B`` rows, **k-major**: row ``k * B + b`` is copy k of image b, the
layout of :meth:`probmoll.likelihoods.Objective.expand`). Each row is scored by the Pyro
distribution of the chosen likelihood form, and the data term is the geometric likelihood
of Eq. 28:

.. math::

    \log p(W, b, Y) = \log p(W) + \log p(b)
        + \frac{1}{\kappa T} \sum_{n=1}^{B} \sum_{k=1}^{K} \log p(y_{nk} \mid h_{nk}, W, b),
    \qquad \kappa = K \text{ (each image one datum) or } 1 \text{ (each copy a datum)}.

Why the scale is what matters: with :math:`\kappa = 1` the data term is the K-fold sum,
so the K copies (nearly repeats of the same image) are counted as K independent
observations and the posterior contracts as if the data set were K times larger: the
cold posterior of temperature :math:`1/K`. :math:`\kappa = K` is the Monte Carlo form of
the Jensen bound (Eq. 21-22, :func:`~probmoll.likelihoods.jensen`): every image weighs
one datum against the prior however many copies it has, so only T moves the
likelihood-to-prior balance. The *maximum-likelihood* solution does not depend on the
scale at all; the posterior (and the MAP under a prior) does, and only through the ratio
of scale to prior precision. The scale is applied with ``poutine.scale``, so NUTS,
``Trace_ELBO`` and ``poutine.trace(...).log_prob_sum()`` all see the scaled density.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import MCMC, NUTS, SVI, Trace_ELBO
from pyro.infer.autoguide import AutoDelta
from pyro.infer.autoguide.initialization import init_to_feasible
from torch import Tensor

from probmoll.likelihoods import NormalizedSoftLabel, SoftLabelCategorical, TemperedCategorical

__all__ = [
    "LIKELIHOODS",
    "Posterior",
    "fit_map",
    "last_layer_logits",
    "posterior_predictive",
    "sample_posterior",
    "softmax_regression_model",
]

# Likelihood forms of probmoll.likelihoods.Objective, and the Pyro distribution each
# observes its (K * B, C) targets with.
LIKELIHOODS = {
    "smooth": "SoftLabelCategorical on smoothed targets (Eq. 8, 14-15)",
    "temper": "TemperedCategorical, power = target mass (Eq. 7, 9)",
    "normalized": "NormalizedSoftLabel on smoothed targets (Appendix C)",
    "ce": "SoftLabelCategorical on one-hot targets (plain categorical)",
}

# Tolerance on one-hot / tempered target checks; targets come from float arithmetic.
_TARGET_ATOL = 1e-6


def last_layer_logits(
    features: Tensor, weight: Tensor, bias: Tensor, *, reference_class: int | None = None
) -> Tensor:
    r"""Logits :math:`h W + b` of the last layer, for any leading draw dimensions.

    Parameters
    ----------
    features : Tensor
        Shape ``(N, F)``.
    weight : Tensor
        Shape ``(..., F, C)``, or ``(..., F, C - 1)`` with ``reference_class``.
    bias : Tensor
        Shape ``(..., C)``, or ``(..., C - 1)`` with ``reference_class``.
    reference_class : int, optional
        Class whose logit is pinned to 0; the free columns fill the other classes in order.

    Returns
    -------
    Tensor
        Shape ``(..., N, C)``.
    """
    free = features @ weight + bias.unsqueeze(-2)
    if reference_class is None:
        return free
    pinned = torch.zeros_like(free[..., :1])
    return torch.cat([free[..., :reference_class], pinned, free[..., reference_class:]], -1)


def softmax_regression_model(
    features: Tensor,
    targets: Tensor | None = None,
    *,
    num_classes: int,
    likelihood: str = "smooth",
    copies: int = 1,
    temperature: float = 1.0,
    per_copy: bool = False,
    prior_scale: float = 1.0,
    reference_class: int | None = None,
    subsample_size: int | None = None,
) -> Tensor:
    r"""Pyro model of a Bayesian softmax layer over fixed features (Eq. 28 scaling).

    Sample sites: ``"weight"`` ``(F, C)`` and ``"bias"`` ``(C,)`` with i.i.d.
    :math:`\mathcal N(0, \text{prior\_scale}^2)` priors, and the observed ``"y"`` of shape
    ``(K * B, C)`` inside the plate ``"rows"``, its log-density scaled by
    ``1 / (copies * temperature)`` (geometric, each image one datum) or ``1 / temperature``
    (``per_copy``, each copy a datum); see the module docstring for why.

    Likelihood of one row, by ``likelihood``:

    - ``"smooth"``: :class:`~probmoll.likelihoods.SoftLabelCategorical`,
      :math:`\sum_c y_c \log f_c` on smoothed targets.
    - ``"temper"``: tempered targets :math:`(1 - \gamma) e_j` (Eq. 7) are split into the
      one-hot :math:`e_j` and the power :math:`\rho = \sum_c y_c = 1 - \gamma`, observed with
      :class:`~probmoll.likelihoods.TemperedCategorical` (Eq. 9). Its ``log_prob`` equals the
      soft-label cross-entropy on the tempered targets, but its support holds the one-hot
      value, whereas the tempered target itself is off the simplex and would fail Pyro's
      validation of ``SoftLabelCategorical``. A row with :math:`\gamma = 1` carries no
      information (:math:`\rho = 0`).
    - ``"normalized"``: :class:`~probmoll.likelihoods.NormalizedSoftLabel` (Appendix C).
    - ``"ce"``: :class:`~probmoll.likelihoods.SoftLabelCategorical` on one-hot targets.

    Parameters
    ----------
    features : Tensor
        Fixed features of the K copies, shape ``(K * B, F)``, k-major.
    targets : Tensor, optional
        Soft targets ``(K * B, C)`` of the same rows (integer class indices ``(K * B,)`` are
        accepted for ``"ce"``). ``None`` samples labels instead (for prediction): one-hot
        labels from :math:`\mathrm{Cat}(f)`, or smoothed labels for ``"normalized"``.
    num_classes : int
        C >= 2.
    likelihood : {"smooth", "temper", "normalized", "ce"}
        Likelihood form, as in :class:`~probmoll.likelihoods.LikelihoodConfig`.
    copies : int
        K, copies of each image; must divide the number of rows.
    temperature : float
        T > 0 of Eq. 28: the log-likelihood is scaled by ``1 / T``; T > 1 weakens the
        likelihood against the prior, T < 1 is a cold posterior.
    per_copy : bool
        Count each copy as a datum (scale ``1 / T``) instead of each image (``1 / (K T)``).
    prior_scale : float
        Standard deviation of the Gaussian prior on weights and biases.
    reference_class : int, optional
        Pin this class's logit to 0, leaving ``(F, C - 1)`` weights and ``C - 1`` biases.
        Softmax is invariant to a shift shared by all classes; under a weak prior that
        leaves a long ridge in the posterior which NUTS explores slowly. Pinning removes
        it (a different prior: the pinned class has no parameters).
    subsample_size : int, optional
        Score a random subsample of this many rows (``pyro.plate("rows", K * B,
        subsample_size=...)``), whose log-likelihood Pyro scales by ``K * B / subsample_size``
        on top of the scale above: an unbiased estimate of the full data term, for
        minibatch SVI. ``None`` scores every row.

    Returns
    -------
    Tensor
        The logits of the scored rows, ``(K * B, C)`` or ``(subsample_size, C)``.
    """
    _check_options(num_classes, likelihood, copies, temperature, per_copy, prior_scale)
    rows, num_features = _check_features(features)
    _check_reference_class(reference_class, num_classes)
    if subsample_size is not None and (
        isinstance(subsample_size, bool)
        or not isinstance(subsample_size, int)
        or not 1 <= subsample_size <= rows
    ):
        raise ValueError(
            f"subsample_size must be None or an int in [1, {rows}], got {subsample_size!r}"
        )
    if rows % copies:
        raise ValueError(
            f"features have {rows} rows, not a multiple of copies={copies} "
            "(expected K * B rows, k-major)"
        )
    if targets is not None:
        targets = _check_targets(targets, rows, num_classes, likelihood, features.dtype)

    free_classes = num_classes - (reference_class is not None)
    prior = dist.Normal(features.new_zeros(()), features.new_tensor(float(prior_scale)))
    weight = pyro.sample("weight", prior.expand([num_features, free_classes]).to_event(2))
    bias = pyro.sample("bias", prior.expand([free_classes]).to_event(1))
    scale = 1.0 / (temperature if per_copy else copies * temperature)
    with pyro.plate("rows", rows, subsample_size=subsample_size, device=features.device) as index:
        if subsample_size is not None:
            features = features[index]
            targets = None if targets is None else targets[index]
        logits = last_layer_logits(features, weight, bias, reference_class=reference_class)
        with poutine.scale(scale=scale):
            pyro.sample(
                "y", _likelihood(likelihood, logits, targets), obs=_observed(likelihood, targets)
            )
    return logits


def _likelihood(likelihood: str, logits: Tensor, targets: Tensor | None):
    if likelihood == "normalized":
        return NormalizedSoftLabel(logits)
    if likelihood == "temper" and targets is not None:
        return TemperedCategorical(logits, targets.sum(-1))
    return SoftLabelCategorical(logits)


def _observed(likelihood: str, targets: Tensor | None) -> Tensor | None:
    if likelihood != "temper" or targets is None:
        return targets
    # (1 - gamma) e_j -> e_j; a row of zeros (gamma = 1) has power 0, any vertex will do.
    num_classes = targets.shape[-1]
    vertex = torch.nn.functional.one_hot(targets.argmax(-1), num_classes)
    return vertex.to(targets.dtype)


class Posterior(NamedTuple):
    """Posterior draws of NUTS (:func:`sample_posterior`) or of a variational guide
    (:func:`~probmoll.bayes.fit_svi`)."""

    # {"weight": (chains, samples, F, C'), "bias": (chains, samples, C')}, C' = C or C - 1.
    draws: dict[str, Tensor]
    # arviz.InferenceData with posterior and (NUTS) sample_stats (divergences) groups.
    inference_data: Any


def sample_posterior(
    features: Tensor,
    targets: Tensor,
    *,
    num_samples: int,
    warmup: int,
    num_chains: int = 1,
    seed: int = 0,
    log_likelihood: bool = False,
    **model_kwargs: Any,
) -> Posterior:
    r"""NUTS on :func:`softmax_regression_model`, with an ArviZ ``InferenceData``.

    Chains run one after the other, chain ``i`` seeded with ``pyro.set_rng_seed(seed + i)``
    (which seeds torch's, numpy's and Python's global generators): Pyro runs parallel
    chains in worker processes, which costs more than it saves for a last layer.

    Parameters
    ----------
    features, targets : Tensor
        As in :func:`softmax_regression_model`.
    num_samples, warmup : int
        Kept draws and warm-up (adaptation) steps per chain.
    num_chains : int
        Chains; >= 2 gives ArviZ a meaningful R-hat.
    seed : int
        Seed of the first chain.
    log_likelihood : bool
        Also store the per-row log-likelihoods (unscaled, ``(chains, samples, K * B)``) in
        the ``InferenceData``; off by default, as that group grows with the data.
    **model_kwargs
        Keyword arguments of :func:`softmax_regression_model` (``num_classes`` is required).

    Returns
    -------
    Posterior
        ``(draws, inference_data)``; draws grouped by chain.
    """
    for name, value, least in (
        ("num_samples", num_samples, 1),
        ("warmup", warmup, 0),
        ("num_chains", num_chains, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    # Validate once, before any chain starts.
    with poutine.block(), poutine.trace():
        softmax_regression_model(features, targets, **model_kwargs)
    arviz = _import_arviz()

    runs = []
    for chain in range(num_chains):
        pyro.set_rng_seed(seed + chain)
        mcmc = MCMC(
            NUTS(softmax_regression_model),
            num_samples=num_samples,
            warmup_steps=warmup,
            disable_progbar=True,
        )
        mcmc.run(features, targets, **model_kwargs)
        runs.append(mcmc)
    samples = [run.get_samples() for run in runs]
    draws = {name: torch.stack([chain[name] for chain in samples]) for name in samples[0]}
    inference_data = arviz.concat(
        *(arviz.from_pyro(run, log_likelihood=log_likelihood) for run in runs), dim="chain"
    )
    return Posterior(draws, inference_data)


def posterior_predictive(
    draws: Mapping[str, Tensor],
    features: Tensor,
    *,
    reference_class: int | None = None,
    chunk_size: int = 256,
) -> Tensor:
    r"""Posterior predictive probabilities :math:`\frac1S \sum_s \mathrm{softmax}(h W_s + b_s)`.

    Parameters
    ----------
    draws : mapping
        ``"weight"`` ``(..., F, C')`` and ``"bias"`` ``(..., C')`` with the same leading
        draw dimensions (chains, samples), e.g. :attr:`Posterior.draws`, or none at all
        (a point estimate such as :func:`fit_map`'s).
    features : Tensor
        Shape ``(N, F)``.
    reference_class : int, optional
        As given to the model.
    chunk_size : int
        Draws per batched matrix product; bounds memory at ``chunk_size * N * C``.

    Returns
    -------
    Tensor
        Shape ``(N, C)``, rows on the simplex.
    """
    if not isinstance(draws, Mapping) or not {"weight", "bias"} <= set(draws):
        raise ValueError(f"draws must map 'weight' and 'bias' to tensors, got {_describe(draws)}")
    weight, bias = draws["weight"], draws["bias"]
    _, num_features = _check_features(features)
    if (
        weight.dim() < 2
        or weight.shape[-2] != num_features
        or weight.shape[:-2] + weight.shape[-1:] != bias.shape
    ):
        raise ValueError(
            f"draws have weight {tuple(weight.shape)} and bias {tuple(bias.shape)}; expected "
            f"(..., {num_features}, C') and (..., C') for features {tuple(features.shape)}"
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    num_classes = weight.shape[-1] + (reference_class is not None)
    _check_reference_class(reference_class, num_classes)
    weight = weight.reshape(-1, *weight.shape[-2:])
    bias = bias.reshape(-1, bias.shape[-1])
    total = features.new_zeros(features.shape[0], num_classes)
    with torch.no_grad():
        for start in range(0, weight.shape[0], chunk_size):
            stop = start + chunk_size
            logits = last_layer_logits(
                features, weight[start:stop], bias[start:stop], reference_class=reference_class
            )
            total += torch.softmax(logits, -1).sum(0)
    return total / weight.shape[0]


def fit_map(
    features: Tensor,
    targets: Tensor,
    *,
    num_steps: int = 1000,
    learning_rate: float = 0.05,
    **model_kwargs: Any,
) -> dict[str, Tensor]:
    r"""MAP estimate of :func:`softmax_regression_model` by SVI with an ``AutoDelta`` guide.

    With a point-mass guide the ELBO is the (scaled) log joint, so SVI maximises
    :math:`\log p(W) + \log p(b) + \text{scale} \sum \log p(y \mid h, W, b)`, a concave
    function for the ``"smooth"``, ``"temper"`` and ``"ce"`` forms: the optimum is unique.
    Starts from zero weights and runs Adam with a learning rate decaying tenfold over the
    run, so the result is deterministic and settles on the optimum. Cheap for feature sets
    too large for NUTS. The global parameter store is left untouched.

    Parameters
    ----------
    features, targets : Tensor
        As in :func:`softmax_regression_model`.
    num_steps : int
        Optimisation steps (full batch).
    learning_rate : float
        Initial Adam learning rate.
    **model_kwargs
        Keyword arguments of :func:`softmax_regression_model` (``num_classes`` is required).

    Returns
    -------
    dict of Tensor
        ``{"weight": (F, C'), "bias": (C',)}``, detached; usable as draws in
        :func:`posterior_predictive`.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
    if not (isinstance(learning_rate, (int, float)) and 0 < learning_rate < math.inf):
        raise ValueError(f"learning_rate must be a finite float > 0, got {learning_rate!r}")
    with pyro.get_param_store().scope():
        guide = AutoDelta(softmax_regression_model, init_loc_fn=init_to_feasible)
        optimizer = pyro.optim.ClippedAdam(
            {"lr": learning_rate, "lrd": 0.1 ** (1 / num_steps), "clip_norm": 100.0}
        )
        svi = SVI(softmax_regression_model, guide, optimizer, Trace_ELBO())
        for _ in range(num_steps):
            svi.step(features, targets, **model_kwargs)
        estimate = guide.median(features, targets, **model_kwargs)
    return {name: estimate[name].detach() for name in ("weight", "bias")}


# ----------------------------------------------------------------------------- checks


def _check_options(num_classes, likelihood, copies, temperature, per_copy, prior_scale) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {likelihood!r}; valid: {', '.join(LIKELIHOODS)}")
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be an int >= 1, got {copies!r}")
    for name, value in (("temperature", temperature), ("prior_scale", prior_scale)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a float > 0, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    if not isinstance(per_copy, bool):
        raise TypeError(f"per_copy must be a bool, got {per_copy!r}")


def _check_features(features) -> tuple[int, int]:
    if not isinstance(features, Tensor) or not features.is_floating_point():
        raise TypeError(f"features must be a floating-point tensor, got {_describe(features)}")
    if features.dim() != 2 or features.shape[0] == 0:
        raise ValueError(
            f"features must have shape (K * B, F) with at least one row, got "
            f"{tuple(features.shape)}"
        )
    return features.shape[0], features.shape[1]


def _check_reference_class(reference_class, num_classes: int) -> None:
    if reference_class is None:
        return
    if (
        isinstance(reference_class, bool)
        or not isinstance(reference_class, int)
        or not 0 <= reference_class < num_classes
    ):
        raise ValueError(
            f"reference_class must be None or an int in [0, {num_classes}), got {reference_class!r}"
        )


def _check_targets(targets, rows: int, num_classes: int, likelihood: str, dtype) -> Tensor:
    if not isinstance(targets, Tensor):
        raise TypeError(f"targets must be a tensor, got {_describe(targets)}")
    if likelihood == "ce" and not targets.is_floating_point() and targets.shape == (rows,):
        if bool(((targets < 0) | (targets >= num_classes)).any()):
            raise ValueError(f"class indices must lie in [0, {num_classes}), got {targets}")
        return torch.nn.functional.one_hot(targets, num_classes).to(dtype)
    if not targets.is_floating_point() or tuple(targets.shape) != (rows, num_classes):
        raise ValueError(
            f"targets must be soft targets of shape ({rows}, {num_classes}) matching features "
            f"with {rows} rows, got {_describe(targets)}"
        )
    if bool((targets < -_TARGET_ATOL).any()):
        raise ValueError(f"targets must be non-negative, smallest entry {targets.min().item()}")
    if likelihood == "temper":
        # Eq. 7: (1 - gamma) e_j, one non-zero entry and mass in [0, 1].
        if bool(((targets > _TARGET_ATOL).sum(-1) > 1).any()) or bool(
            (targets.sum(-1) > 1 + _TARGET_ATOL).any()
        ):
            raise ValueError(
                "likelihood='temper' needs tempered targets (1 - gamma) e_j (Eq. 7): one "
                "non-zero entry per row and mass <= 1; use 'smooth' for smoothed targets"
            )
    elif likelihood == "ce":
        if bool(((targets - targets.round()).abs() > _TARGET_ATOL).any()):
            raise ValueError(
                "likelihood='ce' needs one-hot targets (or class indices); use 'smooth' or "
                "'normalized' for soft targets"
            )
    return targets.to(dtype)


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r:.80}"


def _import_arviz():
    """Import arviz lazily (it is slow to import and only needed for diagnostics).

    arviz 0.2x announces its coming 1.0 refactor with a ``FutureWarning`` once per day at
    import time; it concerns arviz's own API, not anything probmoll calls, so it is
    silenced here rather than shown to every user of :func:`sample_posterior`.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning
        )
        import arviz
    return arviz
