"""Pyro distributions over labels: shapes, normalization by quadrature, sampling goodness of fit."""

import math

import numpy as np
import pyro
import pyro.poutine as poutine
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, stats

from probmoll.likelihoods import (
    NormalizedSoftLabel,
    SoftLabelCategorical,
    TemperedCategorical,
    normalized_log_likelihood,
    soft_label_log_likelihood,
)

CLASSES = [SoftLabelCategorical, TemperedCategorical, NormalizedSoftLabel]


def make(cls, logits, power=0.6, **kwargs):
    if cls is TemperedCategorical:
        return cls(logits, power, **kwargs)
    return cls(logits, **kwargs)


def smoothed(index, amount, num_classes):
    one_hot = F.one_hot(torch.as_tensor(index), num_classes).double()
    amount = torch.as_tensor(amount, dtype=torch.float64).unsqueeze(-1)
    return (1 - amount) * one_hot + amount / num_classes


@pytest.mark.parametrize("cls", CLASSES)
def test_shapes_expand_and_sample(cls, generator):
    logits = torch.randn(4, 3, 5, generator=generator, dtype=torch.float64)
    dist = make(cls, logits)
    assert dist.batch_shape == (4, 3) and dist.event_shape == (5,)
    sample = dist.sample((7,))
    assert sample.shape == (7, 4, 3, 5) and sample.dtype == logits.dtype
    assert torch.allclose(sample.sum(-1), torch.ones(7, 4, 3, dtype=torch.float64))
    assert dist.support.check(sample).all()
    assert dist.log_prob(sample).shape == (7, 4, 3)
    expanded = make(cls, logits[0]).expand((2, 3))
    assert expanded.batch_shape == (2, 3) and type(expanded) is cls
    assert torch.allclose(
        expanded.log_prob(sample[:, :2]),
        make(cls, logits[0].expand(2, 3, 5)).log_prob(sample[:, :2]),
    )
    assert torch.allclose(dist.probs.sum(-1), torch.ones(4, 3, dtype=torch.float64))


def test_log_prob_formulas(generator):
    logits = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    value = smoothed(
        torch.randint(4, (6,), generator=generator), torch.rand(6, generator=generator), 4
    )
    assert torch.allclose(
        SoftLabelCategorical(logits).log_prob(value), soft_label_log_likelihood(logits, value)
    )
    assert torch.allclose(
        NormalizedSoftLabel(logits).log_prob(value), normalized_log_likelihood(logits, value)
    )
    power = torch.rand(6, generator=generator, dtype=torch.float64)
    one_hot = F.one_hot(torch.randint(4, (6,), generator=generator), 4).double()
    tempered = TemperedCategorical(logits, power)
    assert torch.allclose(
        tempered.log_prob(one_hot), power * (one_hot * logits.log_softmax(-1)).sum(-1)
    )
    assert torch.allclose(
        tempered.log_normalizer, torch.logsumexp(power[:, None] * logits.log_softmax(-1), -1)
    )


def test_one_hot_log_prob_is_categorical(generator):
    """Over one-hot values SoftLabelCategorical is normalized (counting measure on vertices)."""
    logits = torch.randn(3, 5, generator=generator, dtype=torch.float64)
    vertices = torch.eye(5, dtype=torch.float64).unsqueeze(1)
    total = SoftLabelCategorical(logits).log_prob(vertices).exp().sum(0)
    assert torch.allclose(total, torch.ones(3, dtype=torch.float64))
    tempered = TemperedCategorical(logits, 0.4)
    normalized = (tempered.log_prob(vertices) - tempered.log_normalizer).exp().sum(0)
    assert torch.allclose(normalized, torch.ones(3, dtype=torch.float64))
    assert not torch.allclose(
        tempered.log_prob(vertices).exp().sum(0), torch.ones(3, dtype=torch.float64)
    )


@pytest.mark.parametrize("num_classes", [2, 3, 10])
@pytest.mark.parametrize("logit_scale", [0.0, 1.0, 6.0])
def test_normalized_soft_label_integrates_to_one(num_classes, logit_scale, generator):
    logits = torch.randn(num_classes, generator=generator, dtype=torch.float64) * logit_scale
    dist = NormalizedSoftLabel(logits)

    def density(amount, index):
        return dist.log_prob(smoothed(index, amount, num_classes)).exp().item()

    total = sum(
        integrate.quad(density, 0, 1, args=(j,), epsrel=1e-11)[0] for j in range(num_classes)
    )
    assert total == pytest.approx(1.0, rel=1e-9)


def test_normalized_soft_label_sampling_goodness_of_fit():
    torch.manual_seed(1234)
    logits = torch.tensor([2.0, 0.5, 0.0, -1.0, -3.0], dtype=torch.float64)
    dist = NormalizedSoftLabel(logits)
    n = 20000
    index, amount = dist.sample_index_and_amount((n,))
    # Class index: chi-square against p(j) = f_j int_0^1 (K/f_j)^a da / Z.
    log_probs = logits.log_softmax(-1)
    rate = log_probs.mean() - log_probs
    mass = torch.stack([log_probs[j].exp() * torch.expm1(rate[j]) / rate[j] for j in range(5)])
    expected = (mass / mass.sum()).numpy() * n
    observed = np.bincount(index.numpy(), minlength=5)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # Smoothing amount given j: KS against the truncated-exponential CDF expm1(u a)/expm1(u).
    for j in range(5):
        u = rate[j].item()
        sample = amount[index == j].numpy()
        assert stats.kstest(sample, lambda a, u=u: np.expm1(u * a) / np.expm1(u)).pvalue > 1e-3
    # sample() returns the label vectors (1 - a) e_j + a / C of the same draws.
    torch.manual_seed(99)
    index, amount = dist.sample_index_and_amount((50,))
    torch.manual_seed(99)
    labels = dist.sample((50,))
    assert dist.support.check(labels).all()
    assert torch.allclose(labels, smoothed(index, amount, 5))


def test_normalized_soft_label_sampling_extreme_logits():
    torch.manual_seed(0)
    for logits in [
        torch.zeros(4),
        torch.tensor([1e4, -1e4, 0.0]),
        torch.tensor([0.0, 1e-7, -1e-7]),
    ]:
        index, amount = NormalizedSoftLabel(logits).sample_index_and_amount((500,))
        assert torch.isfinite(amount).all() and ((amount >= 0) & (amount <= 1)).all()
    # Uniform logits: every j equally likely and a ~ U(0, 1).
    index, amount = NormalizedSoftLabel(
        torch.zeros(4, dtype=torch.float64)
    ).sample_index_and_amount((4000,))
    assert stats.kstest(amount.numpy(), "uniform").pvalue > 1e-3


def test_tempered_sampling_frequencies():
    torch.manual_seed(7)
    logits = torch.tensor([1.5, 0.0, -1.0])
    power = 0.5
    sample = TemperedCategorical(logits, power).sample((20000,))
    observed = sample.sum(0).numpy()
    expected = torch.softmax(power * logits.log_softmax(-1), -1).numpy() * 20000
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_validate_args_checks_parameters_and_values():
    with pytest.raises(ValueError, match="power"):
        TemperedCategorical(torch.zeros(3), -0.5, validate_args=True)
    with pytest.raises(ValueError, match="logits"):
        SoftLabelCategorical(torch.tensor([0.0, float("nan")]), validate_args=True)
    with pytest.raises(ValueError, match="support"):
        SoftLabelCategorical(torch.zeros(3), validate_args=True).log_prob(
            torch.tensor([0.5, 0.6, 0.0])
        )
    not_smoothed = torch.tensor([0.5, 0.3, 0.2])
    SoftLabelCategorical(torch.zeros(3), validate_args=True).log_prob(not_smoothed)
    with pytest.raises(ValueError, match="support"):
        NormalizedSoftLabel(torch.zeros(3), validate_args=True).log_prob(not_smoothed)
    NormalizedSoftLabel(torch.zeros(3), validate_args=True).log_prob(torch.tensor([0.6, 0.2, 0.2]))


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: SoftLabelCategorical(torch.zeros(4, 1)), ValueError, r"C >= 2.*\(4, 1\)"),
        (lambda: SoftLabelCategorical(torch.zeros(3, dtype=torch.long)), TypeError, "floating"),
        (
            lambda: TemperedCategorical(torch.zeros(4, 3), torch.ones(5)),
            ValueError,
            r"\(5,\).*\(4,\)",
        ),
        (
            lambda: NormalizedSoftLabel(torch.zeros(4, 3), validate_args=False, extra=1),
            TypeError,
            "extra",
        ),
        (lambda: NormalizedSoftLabel(torch.zeros(4, 3), False), TypeError, "positional"),
    ],
)
def test_bad_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize("cls", CLASSES)
def test_usable_in_a_pyro_model_and_scaled_by_poutine_scale(cls, generator):
    logits = torch.randn(8, 3, generator=generator, dtype=torch.float64)
    observed = smoothed(torch.randint(3, (8,), generator=generator), 0.2, 3)

    def model(scale):
        with pyro.plate("data", 8), poutine.scale(scale=scale):
            pyro.sample("y", make(cls, logits), obs=observed)

    unscaled = poutine.trace(model).get_trace(1.0)
    scaled = poutine.trace(model).get_trace(0.25)
    expected = make(cls, logits).log_prob(observed).sum()
    assert torch.allclose(unscaled.log_prob_sum(), expected)
    assert torch.allclose(scaled.log_prob_sum(), 0.25 * expected)
    assert math.isfinite(scaled.log_prob_sum().item())


# ---------------------------------------------------------------- low precision and masked classes


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("num_classes", [3, 10, 100])
def test_low_precision_samples_and_smoothed_targets_are_in_the_support(dtype, num_classes):
    torch.manual_seed(3)
    logits = (torch.randn(2000, num_classes) * 2).to(dtype)
    dist = NormalizedSoftLabel(logits, validate_args=True)
    sample = dist.sample()
    assert sample.dtype == dtype
    # torch's fixed 1e-6 simplex tolerance rejects a few percent of these by rounding alone.
    if num_classes == 10:
        assert not torch.distributions.constraints.simplex.check(sample).all()
    assert dist.support.check(sample).all()
    assert torch.isfinite(dist.log_prob(sample)).all()
    # Smoothed targets made in low precision, as a bf16 training step would, as observations.
    labels = torch.randint(num_classes, (2000,))
    gamma = torch.rand(2000, 1).to(dtype)
    one_hot = F.one_hot(labels, num_classes).to(dtype)
    for targets in (
        torch.lerp(one_hot, torch.full_like(one_hot, 1 / num_classes), gamma),
        (1 - gamma) * one_hot + gamma / num_classes,
    ):
        SoftLabelCategorical(logits, validate_args=True).log_prob(targets)
        NormalizedSoftLabel(logits, validate_args=True).log_prob(targets)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_scaled_tolerance_still_rejects_labels_off_the_simplex(dtype):
    for cls in CLASSES:
        with pytest.raises(ValueError, match="support"):
            make(cls, torch.zeros(3, dtype=dtype), validate_args=True).log_prob(
                torch.tensor([0.5, 0.55, 0.0], dtype=dtype)
            )
    with pytest.raises(ValueError, match="support"):
        NormalizedSoftLabel(torch.zeros(3, dtype=dtype), validate_args=True).log_prob(
            torch.tensor([0.5, 0.3, 0.2], dtype=dtype)
        )
    # On the simplex, but not smoothed one-hot: the non-max entries 0.015 and 0 differ by
    # less than the absolute sum tolerance in bfloat16 (0.031), not by a few ulps.
    not_smoothed = torch.tensor([0.985, 0.015] + [0.0] * 8, dtype=dtype)
    assert not NormalizedSoftLabel(torch.zeros(10, dtype=dtype)).support.check(not_smoothed)
    with pytest.raises(ValueError, match="support"):
        NormalizedSoftLabel(torch.zeros(10, dtype=dtype), validate_args=True).log_prob(not_smoothed)


def test_masked_class_is_left_out_of_the_normalized_family():
    torch.manual_seed(5)
    logits = torch.tensor([0.4, float("-inf"), -0.7, 1.1], dtype=torch.float64)
    dist = NormalizedSoftLabel(logits, validate_args=True)
    sample = dist.sample((200,))
    assert (sample[:, 1] == 0).all() and dist.support.check(sample).all()
    assert torch.isfinite(dist.log_prob(sample)).all()
    unmasked = [0, 2, 3]

    def density(amount, index):
        value = torch.zeros(4, dtype=torch.float64)
        value[unmasked] = smoothed(unmasked.index(index), amount, 3)
        return dist.log_prob(value).exp().item()

    total = sum(integrate.quad(density, 0, 1, args=(j,), epsrel=1e-11)[0] for j in unmasked)
    assert total == pytest.approx(1.0, rel=1e-9)
    with pytest.raises(ValueError, match="support"):  # mass on the masked class
        dist.log_prob(smoothed(0, 0.3, 4))


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("cls", CLASSES)
def test_gradcheck_log_prob(cls, generator):
    logits = torch.randn(3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    value = smoothed(
        torch.randint(4, (3,), generator=generator), torch.rand(3, generator=generator), 4
    )
    assert torch.autograd.gradcheck(lambda x: make(cls, x).log_prob(value), (logits,))
    if cls is TemperedCategorical:
        power = torch.rand(3, generator=generator, dtype=torch.float64, requires_grad=True)
        one_hot = F.one_hot(torch.randint(4, (3,), generator=generator), 4).double()
        assert torch.autograd.gradcheck(
            lambda x, rho: TemperedCategorical(x, rho).log_prob(one_hot), (logits, power)
        )
        assert torch.autograd.gradcheck(
            lambda x, rho: TemperedCategorical(x, rho).log_normalizer, (logits, power)
        )
