"""Bayesian softmax regression over fixed features (probmoll.bayes, Eq. 28)."""

import math

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from scipy import integrate, optimize, special, stats

from probmoll.bayes import (
    LIKELIHOODS,
    fit_map,
    last_layer_logits,
    posterior_predictive,
    sample_posterior,
    softmax_regression_model,
)
from probmoll.mollify import label_smooth, label_temper

NUM_CLASSES = 3
COPIES = 2


def copies_data(num_images, generator, *, form="smooth", separation=0.0, num_features=2):
    """Features and targets of K = COPIES noisy copies per image, k-major, float64."""
    labels = torch.arange(num_images) % NUM_CLASSES
    centres = separation * torch.eye(NUM_CLASSES, num_features, dtype=torch.float64)
    features = torch.cat(
        [
            centres[labels]
            + torch.randn(num_images, num_features, generator=generator, dtype=torch.float64)
            for _ in range(COPIES)
        ]
    )
    gamma = torch.rand(COPIES * num_images, generator=generator, dtype=torch.float64)
    repeated = labels.repeat(COPIES)
    if form == "ce":
        targets = label_smooth(repeated, 0.0, NUM_CLASSES).double()
    elif form == "temper":
        targets = label_temper(repeated, gamma, NUM_CLASSES)
    else:
        targets = label_smooth(repeated, gamma, NUM_CLASSES)
    return features, targets, labels


def scipy_log_partition(logits):
    """log Z of Appendix C by quadrature: sum_j int_0^1 exp(sum_c y_c(a, j) log f_c) da."""
    log_f = special.log_softmax(logits)
    total = 0.0
    for j in range(len(log_f)):

        def density(a, j=j):
            y = np.full(len(log_f), a / len(log_f))
            y[j] += 1 - a
            return math.exp(y @ log_f)

        total += integrate.quad(density, 0.0, 1.0, epsabs=0, epsrel=1e-12)[0]
    return math.log(total)


def hand_log_joint(features, targets, weight, bias, *, form, scale, prior_scale):
    """Prior log-density plus scale times the sum of per-row log-likelihoods, in numpy."""
    features, targets = features.numpy(), targets.numpy()
    weight, bias = weight.numpy(), bias.numpy()
    log_prior = stats.norm(0, prior_scale).logpdf(weight).sum()
    log_prior += stats.norm(0, prior_scale).logpdf(bias).sum()
    logits = features @ weight + bias
    log_likelihood = (targets * special.log_softmax(logits, axis=-1)).sum()
    if form == "normalized":
        log_likelihood -= sum(scipy_log_partition(row) for row in logits)
    return log_prior + scale * log_likelihood


@pytest.mark.parametrize("form", sorted(LIKELIHOODS))
@pytest.mark.parametrize(
    ("per_copy", "temperature", "expected_scale"),
    [(False, 1.0, 1 / COPIES), (False, 3.0, 1 / (3 * COPIES)), (True, 1.0, 1.0), (True, 0.5, 2.0)],
)
def test_log_joint_matches_hand_computed(generator, form, per_copy, temperature, expected_scale):
    features, targets, _ = copies_data(4, generator, form=form)
    weight = torch.randn(2, NUM_CLASSES, generator=generator, dtype=torch.float64)
    bias = torch.randn(NUM_CLASSES, generator=generator, dtype=torch.float64)
    conditioned = poutine.condition(softmax_regression_model, data={"weight": weight, "bias": bias})
    trace = poutine.trace(conditioned).get_trace(
        features,
        targets,
        num_classes=NUM_CLASSES,
        likelihood=form,
        copies=COPIES,
        temperature=temperature,
        per_copy=per_copy,
        prior_scale=0.7,
    )
    expected = hand_log_joint(
        features, targets, weight, bias, form=form, scale=expected_scale, prior_scale=0.7
    )
    assert trace.log_prob_sum().item() == pytest.approx(expected, rel=1e-9)
    assert trace.nodes["y"]["scale"] == pytest.approx(expected_scale)


def test_ce_accepts_class_indices(generator):
    features, targets, labels = copies_data(4, generator, form="ce")
    log_joints = []
    for observed in (targets, labels.repeat(COPIES)):
        conditioned = poutine.condition(
            softmax_regression_model,
            data={"weight": torch.ones(2, 3, dtype=torch.float64), "bias": torch.zeros(3).double()},
        )
        trace = poutine.trace(conditioned).get_trace(
            features, observed, num_classes=NUM_CLASSES, likelihood="ce", copies=COPIES
        )
        log_joints.append(trace.log_prob_sum().item())
    assert log_joints[0] == pytest.approx(log_joints[1], rel=1e-12)


def test_reference_class_pins_a_logit(generator):
    features = torch.randn(5, 4, generator=generator)
    weight = torch.randn(7, 4, 2, generator=generator)
    bias = torch.randn(7, 2, generator=generator)
    logits = last_layer_logits(features, weight, bias, reference_class=1)
    assert logits.shape == (7, 5, 3)
    assert torch.equal(logits[..., 1], torch.zeros(7, 5))
    free = features @ weight + bias[:, None]
    assert torch.allclose(logits[..., [0, 2]], free)


def test_prior_predictive_samples_one_hot_labels(generator):
    features, _, _ = copies_data(3, generator)
    pyro.set_rng_seed(0)
    trace = poutine.trace(softmax_regression_model).get_trace(
        features, num_classes=NUM_CLASSES, copies=COPIES, reference_class=0
    )
    labels = trace.nodes["y"]["value"]
    assert trace.nodes["weight"]["value"].shape == (2, NUM_CLASSES - 1)
    assert labels.shape == (COPIES * 3, NUM_CLASSES)
    assert torch.equal(labels.sum(-1), torch.ones(COPIES * 3, dtype=labels.dtype))


def test_posterior_predictive_is_mean_softmax(generator):
    features = torch.randn(6, 2, generator=generator, dtype=torch.float64)
    draws = {
        "weight": torch.randn(2, 5, 2, 3, generator=generator, dtype=torch.float64),
        "bias": torch.randn(2, 5, 3, generator=generator, dtype=torch.float64),
    }
    logits = np.einsum("nf,sfc->snc", features.numpy(), draws["weight"].reshape(10, 2, 3).numpy())
    expected = special.softmax(logits + draws["bias"].reshape(10, 1, 3).numpy(), -1).mean(0)
    for chunk_size in (1, 3, 256):
        probs = posterior_predictive(draws, features, chunk_size=chunk_size)
        np.testing.assert_allclose(probs.numpy(), expected, rtol=1e-12)
    point = {"weight": draws["weight"][0, 0], "bias": draws["bias"][0, 0]}
    np.testing.assert_allclose(
        posterior_predictive(point, features).numpy(),
        special.softmax(logits[0] + draws["bias"][0, 0].numpy(), -1),
        rtol=1e-12,
    )


def test_nuts_on_separated_toy_is_accurate_and_mixes(generator):
    torch.manual_seed(0)
    features, targets, labels = copies_data(15, generator, separation=4.0)
    test_features, _, test_labels = copies_data(30, generator, separation=4.0)
    posterior = sample_posterior(
        features,
        targets,
        num_samples=60,
        warmup=100,
        num_chains=2,
        seed=0,
        num_classes=NUM_CLASSES,
        copies=COPIES,
        reference_class=0,
    )
    assert posterior.draws["weight"].shape == (2, 60, 2, NUM_CLASSES - 1)
    assert posterior.draws["bias"].shape == (2, 60, NUM_CLASSES - 1)
    probs = posterior_predictive(posterior.draws, test_features[:30], reference_class=0)
    accuracy = (probs.argmax(-1) == test_labels).double().mean().item()
    assert accuracy > 0.9

    import arviz

    r_hat = arviz.rhat(posterior.inference_data)
    assert float(r_hat.to_array().max()) < 1.2
    assert dict(posterior.inference_data.posterior.sizes) == {
        "chain": 2,
        "draw": 60,
        "weight_dim_0": 2,
        "weight_dim_1": 2,
        "bias_dim_0": 2,
    }
    assert "diverging" in posterior.inference_data.sample_stats


def test_map_matches_scipy_optimum(generator):
    """The MAP of fit_map is the maximiser of the hand-written log joint (a concave problem)."""
    features, targets, _ = copies_data(10, generator, separation=1.5)
    kwargs = {"num_classes": NUM_CLASSES, "copies": COPIES, "temperature": 2.0, "prior_scale": 0.8}
    estimate = fit_map(features, targets, num_steps=800, learning_rate=0.1, **kwargs)

    def negative_log_joint(flat):
        weight, bias = flat[:6].reshape(2, 3), flat[6:]
        return -hand_log_joint(
            features,
            targets,
            torch.from_numpy(weight),
            torch.from_numpy(bias),
            form="smooth",
            scale=1 / (COPIES * 2.0),
            prior_scale=0.8,
        )

    reference = optimize.minimize(negative_log_joint, np.zeros(9), method="BFGS", tol=1e-12).x
    np.testing.assert_allclose(estimate["weight"].numpy(), reference[:6].reshape(2, 3), atol=2e-3)
    np.testing.assert_allclose(estimate["bias"].numpy(), reference[6:], atol=2e-3)


def test_map_confidence_falls_with_temperature_and_per_copy_is_cold(generator):
    features, targets, _ = copies_data(10, generator, separation=3.0)
    kwargs = {"num_classes": NUM_CLASSES, "copies": COPIES, "num_steps": 400, "learning_rate": 0.1}
    confidences = []
    # A hotter likelihood (larger T) weighs less against the prior: smaller weights.
    for temperature in (0.25, 1.0, 4.0):
        estimate = fit_map(features, targets, temperature=temperature, **kwargs)
        probs = posterior_predictive(estimate, features)
        confidences.append(probs.max(-1).values.mean().item())
    assert confidences[0] - 0.03 > confidences[1] > confidences[2] + 0.03

    # Each copy a datum at T = 1 is the geometric likelihood at T = 1/K: the same posterior.
    per_copy = fit_map(features, targets, per_copy=True, **kwargs)
    cold = fit_map(features, targets, temperature=1 / COPIES, **kwargs)
    for name in per_copy:
        torch.testing.assert_close(per_copy[name], cold[name])
    # fit_map leaves the global parameter store alone.
    assert len(pyro.get_param_store()) == 0


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"likelihood": "dirichlet"}, ValueError, "unknown likelihood 'dirichlet'; valid: smooth"),
        ({"copies": 4}, ValueError, "not a multiple of copies=4"),
        ({"copies": 0}, ValueError, "copies must be an int >= 1, got 0"),
        ({"temperature": 0.0}, ValueError, "temperature must be finite and > 0, got 0.0"),
        ({"prior_scale": "1"}, TypeError, "prior_scale must be a float"),
        ({"num_classes": 1}, ValueError, "num_classes must be an int >= 2, got 1"),
        ({"per_copy": 1}, TypeError, "per_copy must be a bool"),
        ({"reference_class": 3}, ValueError, r"reference_class must be None or an int in \[0, 3\)"),
        ({"features": torch.zeros(6, 2, dtype=torch.long)}, TypeError, "floating-point"),
        ({"features": torch.zeros(6)}, ValueError, r"shape \(K \* B, F\)"),
        ({"targets": torch.full((6, 4), 0.25)}, ValueError, r"shape \(6, 3\)"),
        ({"targets": torch.full((5, 3), 1 / 3)}, ValueError, r"shape \(6, 3\)"),
        ({"targets": torch.full((6, 3), 1 / 3), "likelihood": "temper"}, ValueError, "Eq. 7"),
        ({"targets": torch.full((6, 3), 1 / 3), "likelihood": "ce"}, ValueError, "one-hot"),
        (
            {"targets": torch.tensor([0, 1, 2, 0, 1, 3]), "likelihood": "ce"},
            ValueError,
            r"\[0, 3\)",
        ),
    ],
)
def test_bad_inputs_raise(change, error, match):
    arguments = {
        "features": torch.zeros(6, 2),
        "targets": label_smooth(torch.arange(6) % 3, 0.1, 3),
        "num_classes": 3,
        "copies": 2,
    }
    arguments.update(change)
    features, targets = arguments.pop("features"), arguments.pop("targets")
    with pytest.raises(error, match=match):
        softmax_regression_model(features, targets, **arguments)


def test_helpers_reject_bad_arguments():
    features, targets = torch.zeros(6, 2), label_smooth(torch.arange(6) % 3, 0.1, 3)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1, got 0"):
        sample_posterior(features, targets, num_samples=0, warmup=1, num_classes=3)
    with pytest.raises(ValueError, match="unknown likelihood 'x'"):
        sample_posterior(features, targets, num_samples=1, warmup=1, num_classes=3, likelihood="x")
    with pytest.raises(ValueError, match="num_steps must be an int >= 1"):
        fit_map(features, targets, num_steps=0, num_classes=3)
    with pytest.raises(ValueError, match="draws must map 'weight' and 'bias'"):
        posterior_predictive({"weight": torch.zeros(2, 3)}, features)
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 2, C'\)"):
        posterior_predictive({"weight": torch.zeros(4, 3), "bias": torch.zeros(3)}, features)
