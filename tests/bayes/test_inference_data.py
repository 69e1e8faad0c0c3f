"""ArviZ InferenceData with held-out pointwise log-likelihoods (probmoll.bayes.inference_data)."""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import special

from probmoll.bayes import (
    Posterior,
    pointwise_log_likelihood,
    posterior_predictive,
    to_inference_data,
)
from probmoll.bayes.last_layer import _import_arviz
from tests.bayes.conftest import toy_data

arviz = _import_arviz()


def test_arviz_version_is_the_one_the_api_was_written_for():
    # to_inference_data uses arviz.InferenceData(**groups), arviz.from_dict and
    # InferenceData.groups() as in ArviZ 0.2x; ArviZ 1.0 reorganises them.
    major, minor = (int(part) for part in arviz.__version__.split(".")[:2])
    assert (major, minor) >= (0, 20) and major == 0


def test_inference_data_of_nuts_has_diagnostics_and_loo(toy_nuts):
    features, labels, posterior = toy_nuts
    clean, clean_labels = toy_data(60, seed=1)
    corrupted = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    data = to_inference_data(
        posterior,
        {"clean": (clean, clean_labels), "corrupted": (corrupted.double(), clean_labels)},
        reference_class=0,
        chunk_size=7,
    )
    assert {"posterior", "sample_stats", "log_likelihood"} <= set(data.groups())
    assert "diverging" in data.sample_stats
    assert data.log_likelihood["clean"].dims == ("chain", "draw", "obs_clean")
    assert data.log_likelihood["corrupted"].shape == (2, 60, 60)

    summary = arviz.summary(data, kind="diagnostics")
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(summary.columns)
    assert np.isfinite(summary["r_hat"]).all()

    # With 120 draws ArviZ asks for Pareto k < 1 - 1 / log10(120) = 0.52 and warns above it;
    # a diagnostic of so short a run, not an error of the data.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Estimated shape parameter of Pareto", UserWarning)
        loo = arviz.loo(data, var_name="clean", pointwise=True)
    assert loo.pareto_k.shape == (60,)
    assert math.isfinite(loo.elpd_loo)
    # The held-out set's lppd bounds nothing, but it is a finite negative number near
    # -60 * (log-loss of a decent classifier), not -60 * log(3) or worse.
    assert -60 * math.log(3) < loo.elpd_loo < 0


def test_pointwise_log_likelihood_log_mean_exp_is_log_predictive(toy_nuts):
    _, _, posterior = toy_nuts
    features, labels = toy_data(40, seed=3)
    values = pointwise_log_likelihood(
        posterior.draws, features, labels, reference_class=0, chunk_size=9
    ).numpy()
    assert values.shape == (2, 60, 40)
    # Independent per-draw computation with scipy.
    weight = posterior.draws["weight"].numpy().reshape(-1, 2, 2)
    bias = posterior.draws["bias"].numpy().reshape(-1, 2)
    free = features.numpy() @ weight + bias[:, None, :]
    logits = np.concatenate([np.zeros_like(free[..., :1]), free], -1)
    direct = special.log_softmax(logits, -1)[:, np.arange(40), labels.numpy()]
    np.testing.assert_allclose(values.reshape(-1, 40), direct, rtol=1e-12)
    # log-mean-exp over draws = log of the posterior predictive probability of the label.
    log_mean = special.logsumexp(values.reshape(-1, 40), axis=0) - math.log(120)
    probs = posterior_predictive(posterior.draws, features, reference_class=0)
    np.testing.assert_allclose(
        log_mean, np.log(probs[torch.arange(40), labels].numpy()), rtol=1e-10
    )


def test_inference_data_of_svi_like_draws_replaces_log_likelihood():
    generator = torch.Generator().manual_seed(0)
    draws = {"weight": torch.randn(2, 5, 3, 4, generator=generator), "bias": torch.zeros(2, 5, 4)}
    features = torch.randn(6, 3, generator=generator)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    data = to_inference_data(Posterior(draws, None), {"test": (features, labels)})
    assert set(data.groups()) == {"posterior", "log_likelihood"}
    expected = torch.log_softmax(features @ draws["weight"], -1)[..., torch.arange(6), labels]
    np.testing.assert_allclose(data.log_likelihood["test"].values, expected.numpy(), rtol=1e-6)
    again = to_inference_data(Posterior(draws, data), {"other": (features, labels)})
    assert list(again.log_likelihood.data_vars) == ["other"]


@pytest.mark.parametrize(
    ("sets", "match"),
    [
        ({"bad name": (torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))}, "identifiers"),
        ({"x": torch.zeros(2, 3)}, "pair"),
        ({"x": (torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))}, "features"),
        ({"x": (torch.zeros(2, 3), torch.zeros(2))}, "labels"),
        ({"x": (torch.zeros(2, 3), torch.tensor([0, 4]))}, "labels"),
    ],
)
def test_to_inference_data_rejects_bad_sets(sets, match):
    draws = {"weight": torch.zeros(1, 2, 3, 4), "bias": torch.zeros(1, 2, 4)}
    with pytest.raises(ValueError, match=match):
        to_inference_data(Posterior(draws, None), sets)
