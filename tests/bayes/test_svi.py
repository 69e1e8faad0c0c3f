"""Minibatch SVI on the Bayesian last layer (probmoll.bayes.svi)."""

import pyro
import pytest
import torch
from pyro import poutine

from probmoll.bayes import GUIDES, fit_svi, posterior_predictive, softmax_regression_model
from tests.bayes.conftest import TOY_OPTIONS, TOY_ROWS
from tests.bayes.test_bayes import COPIES, NUM_CLASSES, copies_data, hand_log_joint


def conditioned_trace(features, targets, weight, bias, **kwargs):
    conditioned = poutine.condition(softmax_regression_model, data={"weight": weight, "bias": bias})
    return poutine.trace(conditioned).get_trace(features, targets, **kwargs)


@pytest.mark.parametrize("form", ["smooth", "temper"])
def test_full_subsample_log_joint_equals_full_data(generator, form):
    features, targets, _ = copies_data(6, generator, form=form)
    weight = torch.randn(2, NUM_CLASSES, generator=generator, dtype=torch.float64)
    bias = torch.randn(NUM_CLASSES, generator=generator, dtype=torch.float64)
    kwargs = {"num_classes": NUM_CLASSES, "likelihood": form, "copies": COPIES}
    full = conditioned_trace(features, targets, weight, bias, **kwargs)
    batched = conditioned_trace(
        features, targets, weight, bias, subsample_size=len(features), **kwargs
    )
    # The same rows in the same order: the sums agree to the last bit.
    assert batched.log_prob_sum().item() == full.log_prob_sum().item()
    assert batched.nodes["y"]["scale"] == full.nodes["y"]["scale"] == 1 / COPIES


@pytest.mark.parametrize(("per_copy", "temperature"), [(False, 1.0), (True, 0.5), (False, 3.0)])
def test_subsample_scales_log_likelihood_by_rows_over_batch(generator, per_copy, temperature):
    features, targets, _ = copies_data(6, generator)  # 12 rows
    weight = torch.randn(2, NUM_CLASSES, generator=generator, dtype=torch.float64)
    bias = torch.randn(NUM_CLASSES, generator=generator, dtype=torch.float64)
    kwargs = {
        "num_classes": NUM_CLASSES,
        "copies": COPIES,
        "per_copy": per_copy,
        "temperature": temperature,
        "prior_scale": 0.7,
    }
    pyro.set_rng_seed(3)
    trace = conditioned_trace(features, targets, weight, bias, subsample_size=4, **kwargs)
    index = trace.nodes["rows"]["value"]
    assert len(set(index.tolist())) == 4
    base = 1 / temperature if per_copy else 1 / (COPIES * temperature)
    assert trace.nodes["y"]["scale"] == pytest.approx(base * 12 / 4, rel=1e-12)
    expected = hand_log_joint(
        features[index],
        targets[index],
        weight,
        bias,
        form="smooth",
        scale=base * 3,
        prior_scale=0.7,
    )
    assert trace.log_prob_sum().item() == pytest.approx(expected, rel=1e-12)


def standardized_gap(posterior, reference):
    """Largest |mean difference| over parameters, in units of the reference's posterior sd."""

    def flat(draws):
        return torch.cat([draws["weight"].flatten(0, 1).flatten(1), draws["bias"].flatten(0, 1)], 1)

    ours, theirs = flat(posterior.draws), flat(reference.draws)
    return ((ours.mean(0) - theirs.mean(0)) / theirs.std(0)).abs().max().item()


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_minibatch_svi_mean_approaches_nuts(toy_nuts, guide):
    features, labels, nuts = toy_nuts
    svi = fit_svi(
        features,
        labels,
        guide=guide,
        batch_size=50,
        num_steps=600,
        learning_rate=0.05,
        num_samples=400,
        seed=1,
        **TOY_OPTIONS,
    )
    assert svi.draws["weight"].shape == (1, 400, 2, 2)
    gap = standardized_gap(svi, nuts)
    assert gap < 0.6, gap
    # Same structure as NUTS's draws: the predictive takes both.
    probs = posterior_predictive(svi.draws, features, reference_class=0)
    reference = posterior_predictive(nuts.draws, features, reference_class=0)
    assert (probs - reference).abs().max().item() < 0.1


def test_minibatch_svi_without_rows_over_batch_factor_is_off(toy_nuts):
    # T = N / B cancels the plate's N / B: the minibatch counted as if it were the data set.
    features, labels, nuts = toy_nuts
    svi = fit_svi(
        features,
        labels,
        batch_size=50,
        num_steps=600,
        learning_rate=0.05,
        num_samples=400,
        seed=1,
        temperature=TOY_ROWS / 50,
        **TOY_OPTIONS,
    )
    gap = standardized_gap(svi, nuts)
    assert gap > 1.0, gap


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"guide": "flow"}, ValueError, "unknown guide"),
        ({"batch_size": 0}, ValueError, "subsample_size"),
        ({"batch_size": 201}, ValueError, "subsample_size"),
        ({"num_steps": 0}, ValueError, "num_steps"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"rank": 0}, ValueError, "rank"),
        ({"subsample_size": 5}, TypeError, "batch_size"),
    ],
)
def test_fit_svi_rejects_bad_arguments(change, error, match):
    features = torch.zeros(TOY_ROWS, 2, dtype=torch.float64)
    labels = torch.zeros(TOY_ROWS, dtype=torch.long)
    kwargs = {"num_steps": 1, **TOY_OPTIONS, **change}
    with pytest.raises(error, match=match):
        fit_svi(features, labels, **kwargs)
