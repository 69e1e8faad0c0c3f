r"""ArviZ ``InferenceData`` of a last-layer posterior, with held-out pointwise log-likelihoods.

:func:`to_inference_data` takes the draws of :func:`~probmoll.bayes.sample_posterior` (NUTS)
or :func:`~probmoll.bayes.fit_svi` and adds, for each labelled test set, the pointwise
log-likelihood :math:`\log p(y_n \mid h_n, W_s, b_s) = \log \mathrm{softmax}(h_n W_s + b_s)_{y_n}`
of every draw s, as the ``log_likelihood`` variable named after the set, with dims
``(chain, draw, obs_<set>)``. ``arviz.loo(data, var_name="clean")`` then estimates the
expected log predictive density of that set, and
:math:`\log \frac1S \sum_s p(y_n \mid h_n, W_s, b_s)` (a log-mean-exp over draws) is the log
of :func:`~probmoll.bayes.posterior_predictive`'s probability of the label.

Written against ArviZ 0.23 (``arviz.InferenceData(**groups)``, ``arviz.from_dict``,
``InferenceData.groups()``); ArviZ 1.0 reorganises these, and
``tests/bayes/test_inference_data.py`` pins the version range.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from probmoll.bayes.last_layer import Posterior, _import_arviz, last_layer_logits

__all__ = ["pointwise_log_likelihood", "to_inference_data"]


def pointwise_log_likelihood(
    draws: Mapping[str, Tensor],
    features: Tensor,
    labels: Tensor,
    *,
    reference_class: int | None = None,
    chunk_size: int = 1024,
) -> Tensor:
    r"""Categorical log-likelihood :math:`\log \mathrm{softmax}(h_n W_s + b_s)_{y_n}` of every
    draw and observation, in chunks of observations.

    Parameters
    ----------
    draws : mapping
        ``"weight"`` ``(chains, samples, F, C')`` and ``"bias"`` ``(chains, samples, C')``,
        as in :attr:`~probmoll.bayes.Posterior.draws`.
    features : Tensor
        Shape ``(N, F)``.
    labels : Tensor
        Integer class indices ``(N,)``.
    reference_class : int, optional
        As given to the model.
    chunk_size : int
        Observations per batched product; memory peaks at ``S * chunk_size * C`` floats
        besides the ``(chains, samples, N)`` result.

    Returns
    -------
    Tensor
        Shape ``(chains, samples, N)``.
    """
    weight, bias = draws["weight"], draws["bias"]
    if weight.dim() != 4 or bias.dim() != 3 or weight.shape[:2] != bias.shape[:2]:
        raise ValueError(
            f"draws must have weight (chains, samples, F, C') and bias (chains, samples, C'), "
            f"got {tuple(weight.shape)} and {tuple(bias.shape)}"
        )
    if (
        not isinstance(features, Tensor)
        or features.dim() != 2
        or features.shape[1] != weight.shape[2]
    ):
        raise ValueError(
            f"features must have shape (N, {weight.shape[2]}), got "
            f"{tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__}"
        )
    if (
        not isinstance(labels, Tensor)
        or labels.is_floating_point()
        or labels.shape != features.shape[:1]
    ):
        raise ValueError(f"labels must be integer class indices of shape ({features.shape[0]},)")
    num_classes = weight.shape[-1] + (reference_class is not None)
    if bool(((labels < 0) | (labels >= num_classes)).any()):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    features = features.to(weight.dtype)
    labels = labels.to(weight.device)
    out = weight.new_empty(*weight.shape[:2], features.shape[0])
    with torch.no_grad():
        for start in range(0, features.shape[0], chunk_size):
            stop = start + chunk_size
            logits = last_layer_logits(
                features[start:stop], weight, bias, reference_class=reference_class
            )
            log_probs = torch.log_softmax(logits, -1)  # (chains, samples, n, C)
            index = labels[start:stop].expand(*log_probs.shape[:-1]).unsqueeze(-1)
            out[..., start:stop] = log_probs.gather(-1, index).squeeze(-1)
    return out


def to_inference_data(
    posterior: Posterior,
    features_by_set: Mapping[str, tuple[Tensor, Tensor]] | None = None,
    *,
    reference_class: int | None = None,
    chunk_size: int = 1024,
):
    """An ``arviz.InferenceData`` with the posterior, its sample statistics and the pointwise
    log-likelihood of each test set.

    Parameters
    ----------
    posterior : Posterior
        Of :func:`~probmoll.bayes.sample_posterior` (whose ``posterior`` and
        ``sample_stats`` groups -- ``diverging``, ... -- are kept) or
        :func:`~probmoll.bayes.fit_svi` (posterior only).
    features_by_set : mapping, optional
        ``{name: (features (N, F), labels (N,))}``, e.g. ``{"clean": ..., "corrupted": ...}``;
        each becomes a ``log_likelihood`` variable ``name`` with dims
        ``(chain, draw, obs_<name>)``. A ``log_likelihood`` group already in ``posterior``
        (the training rows) is replaced.
    reference_class : int, optional
        As given to the model.
    chunk_size : int
        Observations per chunk, see :func:`pointwise_log_likelihood`.

    Returns
    -------
    arviz.InferenceData
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(f"posterior must be a Posterior, got {type(posterior).__name__}")
    arviz = _import_arviz()
    source = posterior.inference_data
    if source is None:
        source = arviz.from_dict(
            posterior={name: value.cpu().numpy() for name, value in posterior.draws.items()}
        )
    groups = {name: source[name] for name in source.groups() if name != "log_likelihood"}
    sets = dict(features_by_set or {})
    if sets:
        variables = {}
        for name, pair in sets.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"test set names must be identifiers, got {name!r}")
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ValueError(f"features_by_set[{name!r}] must be a (features, labels) pair")
            values = pointwise_log_likelihood(
                posterior.draws, *pair, reference_class=reference_class, chunk_size=chunk_size
            )
            variables[name] = (("chain", "draw", f"obs_{name}"), values.cpu().numpy())
        chains, draws = posterior.draws["weight"].shape[:2]
        coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
        groups["log_likelihood"] = _dataset(variables, coords)
    return arviz.InferenceData(**groups)


def _dataset(variables, coords):
    import xarray

    return xarray.Dataset(variables, coords=coords)
