"""Bayesian inference with probmoll's augmented likelihoods (Sec. 3.1, Appendix D, Eq. 28).

- :mod:`~probmoll.bayes.last_layer` -- a Bayesian softmax regression over fixed features
  (e.g. ``model.forward_features(x)`` of K mollified copies of each image), its Pyro model,
  NUTS sampling with ArviZ diagnostics, posterior predictive and a MAP fit.
- :mod:`~probmoll.bayes.svi` -- minibatch SVI with ``AutoNormal`` / low-rank Gaussian guides.
- :mod:`~probmoll.bayes.inference_data` -- ArviZ ``InferenceData`` with the pointwise
  log-likelihood of held-out sets (for ``arviz.loo``).
- :mod:`~probmoll.bayes.features` -- penultimate features of a trained network, of clean
  images or of mollified copies with their soft targets.

Example
-------
>>> posterior = sample_posterior(features, soft_targets, num_samples=200, warmup=200,
...                              num_chains=2, num_classes=10, copies=4, temperature=1.0)
>>> probs = posterior_predictive(posterior.draws, test_features)        # (N, C)
>>> arviz.summary(posterior.inference_data, kind="diagnostics")
"""

from probmoll.bayes.features import extract_features, mollified_features
from probmoll.bayes.inference_data import pointwise_log_likelihood, to_inference_data
from probmoll.bayes.last_layer import (
    LIKELIHOODS,
    Posterior,
    fit_map,
    last_layer_logits,
    posterior_predictive,
    sample_posterior,
    softmax_regression_model,
)
from probmoll.bayes.svi import GUIDES, fit_svi

__all__ = [
    "GUIDES",
    "LIKELIHOODS",
    "Posterior",
    "extract_features",
    "fit_map",
    "fit_svi",
    "last_layer_logits",
    "mollified_features",
    "pointwise_log_likelihood",
    "posterior_predictive",
    "sample_posterior",
    "softmax_regression_model",
    "to_inference_data",
]
