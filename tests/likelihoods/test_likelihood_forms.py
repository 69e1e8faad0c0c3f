"""Likelihood forms on logits: references from torch, scipy and numerical integration."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, optimize, stats

from probmoll.likelihoods import (
    dirichlet_log_likelihood,
    dirichlet_mode,
    log_expm1_ratio,
    log_partition,
    normalized_log_likelihood,
    soft_label_log_likelihood,
    tempered_log_likelihood,
)


def smoothed_targets(labels, gamma, num_classes):
    """Eq. 8, written out here so these tests do not depend on probmoll.mollify."""
    one_hot = F.one_hot(labels, num_classes).double()
    gamma = torch.as_tensor(gamma, dtype=torch.float64).reshape(-1, 1)
    return (1 - gamma) * one_hot + gamma / num_classes


def partition_by_quadrature(probs):
    """Appendix C's Z straight from its definition: sum_j int_0^1 prod_i f_i^{y(a, e_j)_i} da."""
    num_classes = len(probs)
    log_probs = np.log(probs)
    total = 0.0
    for j in range(num_classes):

        def integrand(a, j=j):
            label = np.full(num_classes, a / num_classes)
            label[j] += 1 - a
            return math.exp(label @ log_probs)

        total += integrate.quad(integrand, 0, 1, epsabs=0, epsrel=1e-12)[0]
    return total


# ---------------------------------------------------------------- soft-label cross-entropy


@pytest.mark.parametrize("num_classes", [2, 10, 100])
def test_soft_label_matches_torch_cross_entropy(num_classes, generator):
    logits = torch.randn(16, num_classes, generator=generator, dtype=torch.float64) * 3
    soft = torch.softmax(torch.randn(16, num_classes, generator=generator, dtype=torch.float64), -1)
    hard = torch.randint(num_classes, (16,), generator=generator)
    assert torch.allclose(
        -soft_label_log_likelihood(logits, soft).mean(), F.cross_entropy(logits, soft)
    )
    assert torch.allclose(
        -soft_label_log_likelihood(logits, hard).mean(), F.cross_entropy(logits, hard)
    )
    one_hot = F.one_hot(hard, num_classes).double()
    assert torch.allclose(
        soft_label_log_likelihood(logits, one_hot), soft_label_log_likelihood(logits, hard)
    )


def test_forms_broadcast_leading_dimensions(generator):
    logits = torch.randn(4, 5, generator=generator)
    soft = torch.softmax(torch.randn(3, 4, 5, generator=generator), -1)
    hard = torch.randint(5, (3, 4), generator=generator)
    assert soft_label_log_likelihood(logits, soft).shape == (3, 4)
    assert soft_label_log_likelihood(logits, hard).shape == (3, 4)
    assert normalized_log_likelihood(logits, soft).shape == (3, 4)
    assert dirichlet_log_likelihood(logits, hard).shape == (3, 4)
    assert log_partition(torch.randn(2, 3, 7, generator=generator)).shape == (2, 3)


def test_tempered_is_soft_label_on_tempered_targets(generator):
    """Eq. 7 and Eq. 9: soft CE on (1 - gamma) e_y equals (1 - gamma) log f_y."""
    logits = torch.randn(32, 6, generator=generator, dtype=torch.float64)
    labels = torch.randint(6, (32,), generator=generator)
    gamma = torch.rand(32, generator=generator, dtype=torch.float64)
    tempered_targets = (1 - gamma)[:, None] * F.one_hot(labels, 6).double()
    expected = soft_label_log_likelihood(logits, tempered_targets)
    assert torch.allclose(tempered_log_likelihood(logits, labels, 1 - gamma), expected)
    log_f_y = torch.log_softmax(logits, -1).gather(-1, labels[:, None]).squeeze(-1)
    assert torch.allclose(tempered_log_likelihood(logits, labels, 0.3), 0.3 * log_f_y)


# ---------------------------------------------------------------- log_partition


@pytest.mark.parametrize("num_classes", [2, 3, 10, 100])
@pytest.mark.parametrize("logit_scale", [0.1, 1.0, 4.0])
def test_log_partition_matches_quadrature(num_classes, logit_scale, generator):
    logits = torch.randn(3, num_classes, generator=generator, dtype=torch.float64) * logit_scale
    expected = [math.log(partition_by_quadrature(row)) for row in torch.softmax(logits, -1).numpy()]
    assert np.allclose(log_partition(logits).numpy(), expected, rtol=1e-9, atol=1e-12)


def test_log_partition_matches_printed_closed_form_where_defined(generator):
    logits = torch.randn(64, 7, generator=generator, dtype=torch.float64) * 2
    probs = torch.softmax(logits, -1)
    geometric_mean = probs.log().mean(-1, keepdim=True).exp()
    printed = ((geometric_mean - probs) / (geometric_mean.log() - probs.log())).sum(-1)
    assert torch.allclose(log_partition(logits), printed.log(), rtol=1e-12)


def test_log_partition_appendix_c_uses_a_equal_gamma(generator):
    """Erratum: a = gamma_t (not gamma_t - 1). Integrating over a = gamma - 1 in [-1, 0] gives
    labels with negative entries and a different constant; the closed form is the a in [0, 1] one.
    """
    probs = torch.softmax(torch.randn(4, generator=generator, dtype=torch.float64), -1).numpy()
    log_probs = np.log(probs)

    def label(a, j):
        vector = np.full(4, a / 4)
        vector[j] += 1 - a
        return vector

    gamma = 0.3
    assert np.allclose(label(gamma, 0), smoothed_targets(torch.tensor([0]), gamma, 4)[0].numpy())
    assert label(gamma - 1, 0).min() < 0
    shifted = sum(
        integrate.quad(lambda a, j=j: math.exp(label(a, j) @ log_probs), -1, 0)[0] for j in range(4)
    )
    closed = log_partition(torch.from_numpy(log_probs)).exp().item()
    assert closed == pytest.approx(partition_by_quadrature(probs), rel=1e-10)
    assert abs(shifted - closed) > 0.1


def test_log_partition_uniform_is_zero_and_never_positive(generator):
    assert torch.equal(log_partition(torch.zeros(2, 5)), torch.zeros(2))
    logits = torch.randn(256, 8, generator=generator, dtype=torch.float64) * 5
    assert (log_partition(logits) < 0).all()
    assert torch.allclose(log_partition(logits + 123.0), log_partition(logits))


EXTREME_LOGITS = {
    "uniform": [0.0, 0.0, 0.0, 0.0],
    "uniform_large_offset": [50.0, 50.0, 50.0],
    "differ_by_1e-6": [0.0, 1e-6, 2e-6, -1e-6],
    "magnitude_1e4": [1e4, -1e4, 0.0, 5e3],
    "all_1e4": [1e4, 1e4, -1e4],
    "one_class_1-1e-12": [0.0, -math.log(2e12), -math.log(2e12)],
    "one_class_saturated": [80.0, 0.0, 0.0, 0.0],
    "two_classes": [3.0, -3.0],
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", list(EXTREME_LOGITS))
def test_log_partition_finite_values_and_gradients(name, dtype):
    logits = torch.tensor([EXTREME_LOGITS[name]], dtype=torch.float64)
    if dtype == torch.float16 and logits.abs().max() > 6e4:
        pytest.skip("not representable in float16")
    logits = logits.to(dtype).requires_grad_()
    value = log_partition(logits)
    normalized = normalized_log_likelihood(logits, torch.tensor([0]))
    (value.sum() + normalized.sum()).backward()
    assert value.dtype == torch.promote_types(dtype, torch.float32)
    assert torch.isfinite(value).all() and torch.isfinite(normalized).all()
    assert torch.isfinite(logits.grad).all()
    assert (value <= 1e-6).all()


def test_log_partition_gradient_at_uniform_logits_is_zero():
    """Z is maximal (= 1) at uniform f, so the gradient vanishes there."""
    logits = torch.full((1, 6), 0.7, dtype=torch.float64, requires_grad=True)
    log_partition(logits).sum().backward()
    assert torch.allclose(logits.grad, torch.zeros_like(logits.grad), atol=1e-12)


def test_log_partition_continuous_across_the_series_threshold():
    """Logits whose u_j straddle the series/closed-form switch give a smooth log Z."""
    offsets = torch.linspace(0.05, 0.3, 501, dtype=torch.float64)
    logits = torch.stack([torch.zeros_like(offsets), offsets, -offsets], -1)
    values = log_partition(logits)
    # A jump of size delta shows up as ~delta in the third difference; smooth curvature as ~h^3.
    third_difference = values[3:] - 3 * values[2:-1] + 3 * values[1:-2] - values[:-3]
    assert third_difference.abs().max() < 1e-9


@pytest.mark.parametrize(
    "u", [0.0, 1e-9, -1e-9, 1e-3, 0.0999, 0.1, 0.1001, -0.1, 0.5, -2.0, 30.0, -700.0, 1e4]
)
def test_log_expm1_ratio_against_high_precision_reference(u):
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        expected = float(mpmath.log(mpmath.expm1(u) / u)) if u else 0.0
    value = log_expm1_ratio(torch.tensor(u, dtype=torch.float64)).item()
    assert value == pytest.approx(expected, rel=1e-13, abs=1e-16)


def test_gradcheck_log_partition_and_normalized(generator):
    for logits in [
        torch.randn(3, 5, generator=generator, dtype=torch.float64),
        torch.zeros(2, 4, dtype=torch.float64),
        torch.tensor([[0.0, 1e-3, -2e-3, 0.05]], dtype=torch.float64),
        torch.tensor([[12.0, -3.0, 0.0]], dtype=torch.float64),
    ]:
        logits.requires_grad_()
        targets = smoothed_targets(
            torch.zeros(logits.shape[0], dtype=torch.long), 0.2, logits.shape[1]
        )
        assert torch.autograd.gradcheck(log_partition, (logits,))
        assert torch.autograd.gradcheck(
            lambda x, y=targets: normalized_log_likelihood(x, y), (logits,)
        )
    u = torch.tensor(
        [0.0, 1e-4, -0.05, 0.0999, 0.1001, 2.0, -40.0], dtype=torch.float64, requires_grad=True
    )
    assert torch.autograd.gradcheck(log_expm1_ratio, (u,))


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 3), st.integers(2, 12)),
        elements=st.floats(-(2.0**100), 2.0**100, width=32, allow_subnormal=False),
    )
)
def test_log_partition_finite_for_arbitrary_logits(values):
    logits = torch.from_numpy(values).requires_grad_()
    value = log_partition(logits)
    value.sum().backward()
    assert torch.isfinite(value).all() and (value <= 1e-5).all()
    assert torch.isfinite(logits.grad).all()


def test_normalized_is_soft_label_minus_log_partition(generator):
    logits = torch.randn(8, 5, generator=generator, dtype=torch.float64)
    targets = smoothed_targets(
        torch.randint(5, (8,), generator=generator), torch.rand(8, generator=generator), 5
    )
    expected = soft_label_log_likelihood(logits, targets) - log_partition(logits)
    assert torch.allclose(normalized_log_likelihood(logits, targets), expected)
    assert (
        normalized_log_likelihood(logits, targets) >= soft_label_log_likelihood(logits, targets)
    ).all()


# ---------------------------------------------------------------- Dirichlet view


def test_dirichlet_matches_scipy_and_torch(generator):
    logits = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    targets = smoothed_targets(torch.randint(3, (6,), generator=generator), 0.4, 3)
    probs = torch.softmax(logits, -1)
    ours = dirichlet_log_likelihood(logits, targets)
    reference = torch.distributions.Dirichlet(1 + targets).log_prob(probs)
    scipy_reference = [
        stats.dirichlet.logpdf(p, 1 + y)
        for p, y in zip(probs.numpy(), targets.numpy(), strict=True)
    ]
    assert torch.allclose(ours, reference)
    assert np.allclose(ours.numpy(), scipy_reference)


@pytest.mark.parametrize(
    "label_kind, gamma",
    [("onehot", 0.0), ("temper", 0.3), ("temper", 0.9), ("smooth", 0.3), ("smooth", 0.9)],
)
def test_dirichlet_mode_closed_form_matches_numerical_maximum(label_kind, gamma):
    labels = torch.tensor([0])
    if label_kind == "smooth":
        targets = smoothed_targets(labels, gamma, 3)[0]
    else:
        targets = (1 - gamma) * F.one_hot(labels, 3).double()[0]
    alpha = (1 + targets).numpy()
    result = optimize.minimize(
        lambda f: -stats.dirichlet.logpdf(f / f.sum(), alpha) if f.min() > 0 else np.inf,
        x0=np.full(3, 1 / 3),
        method="SLSQP",
        bounds=[(1e-10, 1)] * 3,
        constraints=[{"type": "eq", "fun": lambda f: f.sum() - 1}],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    mode = dirichlet_mode(targets).numpy()
    assert np.allclose(result.x, mode, atol=1e-4)
    expected = (
        F.one_hot(labels, 3).double()[0].numpy() if label_kind != "smooth" else targets.numpy()
    )
    assert np.allclose(mode, expected)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: soft_label_log_likelihood(
                torch.zeros(3, 4, dtype=torch.long), torch.zeros(3, dtype=torch.long)
            ),
            TypeError,
            "floating",
        ),
        (
            lambda: soft_label_log_likelihood(torch.zeros(3, 1), torch.zeros(3, dtype=torch.long)),
            ValueError,
            "C >= 2",
        ),
        (
            lambda: soft_label_log_likelihood(torch.zeros(3, 4), torch.zeros(3, 5)),
            ValueError,
            r"C = 4",
        ),
        (
            lambda: soft_label_log_likelihood(torch.zeros(3, 4), torch.zeros(2, 4)),
            ValueError,
            r"\(2,\)",
        ),
        (
            lambda: soft_label_log_likelihood(torch.zeros(3, 4), torch.zeros(5, dtype=torch.long)),
            ValueError,
            r"\(5,\)",
        ),
        (lambda: soft_label_log_likelihood(torch.zeros(3, 4), [0, 1, 2]), TypeError, "list"),
        (
            lambda: normalized_log_likelihood(torch.zeros(3, 4), torch.zeros(3, dtype=torch.bool)),
            TypeError,
            "bool",
        ),
        (
            lambda: tempered_log_likelihood(torch.zeros(3, 4), torch.zeros(3, 4), 0.5),
            TypeError,
            "soft_label_log_likelihood",
        ),
        (lambda: log_partition(torch.zeros(0)), ValueError, r"\(0,\)"),
        (lambda: dirichlet_mode(torch.tensor([1, 0])), TypeError, "float"),
        (
            lambda: soft_label_log_likelihood(torch.zeros(2, 3), torch.tensor([0, 3])),
            RuntimeError,
            "out of bounds",
        ),
        (
            lambda: normalized_log_likelihood(torch.zeros(2, 3), torch.tensor([-1, 0])),
            RuntimeError,
            "out of bounds",
        ),
    ],
)
def test_bad_input_raises_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- masked classes (logit -inf)

MINUS_INF = float("-inf")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize(
    "row, masked",
    [
        ([0.0, 1.0, MINUS_INF, 0.5], [2]),
        ([MINUS_INF, 0.0, 0.0, MINUS_INF], [0, 3]),
        ([3.0, MINUS_INF, -2.0], [1]),
        ([MINUS_INF, 2.0, MINUS_INF], [0, 2]),  # one class left: the only label is e_1, Z = 1
    ],
)
def test_log_partition_drops_masked_classes(row, masked, dtype):
    logits = torch.tensor([row], dtype=dtype, requires_grad=True)
    kept = [c for c in range(len(row)) if c not in masked]
    value = log_partition(logits)
    expected = (
        log_partition(logits.detach()[:, kept]) if len(kept) > 1 else torch.zeros(1, dtype=dtype)
    )
    assert torch.isfinite(value).all()
    assert torch.allclose(value.double(), expected.double(), atol=1e-6)
    value.sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[0, masked] == 0).all()


def test_log_partition_with_masked_class_matches_quadrature_over_unmasked_family():
    logits = torch.tensor([0.3, MINUS_INF, -1.2, 0.8], dtype=torch.float64)
    probs = torch.softmax(logits[[0, 2, 3]], -1).numpy()
    assert log_partition(logits).item() == pytest.approx(
        math.log(partition_by_quadrature(probs)), rel=1e-10
    )


def test_masked_class_with_zero_target_contributes_zero_not_nan():
    logits = torch.tensor([[0.0, 1.0, MINUS_INF]], dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[0.6, 0.4, 0.0]], dtype=torch.float64)
    finite = logits.detach()[:, :2]
    for form in (soft_label_log_likelihood, normalized_log_likelihood, dirichlet_log_likelihood):
        value = form(logits, targets)
        expected = form(finite, targets[:, :2])
        if form is dirichlet_log_likelihood:  # the Beta function counts the third class
            expected = expected - torch.lgamma(torch.tensor(3.0)) + torch.lgamma(torch.tensor(4.0))
        assert torch.allclose(value, expected), form.__name__
        (grad,) = torch.autograd.grad(value.sum(), logits)
        assert torch.isfinite(grad).all() and grad[0, 2] == 0, form.__name__
    # Weight on the masked class: the label is impossible.
    impossible = torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64)
    assert soft_label_log_likelihood(logits, impossible).item() == MINUS_INF
    assert normalized_log_likelihood(logits, impossible).item() == MINUS_INF


# ---------------------------------------------------------------- gradcheck of every form


def test_gradcheck_soft_label_tempered_and_dirichlet(generator):
    logits = torch.randn(4, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(5, (4,), generator=generator)
    soft = torch.softmax(torch.randn(4, 5, generator=generator, dtype=torch.float64), -1)
    soft.requires_grad_()
    power = torch.rand(4, generator=generator, dtype=torch.float64).requires_grad_()
    checks = {
        "soft_label, soft targets": (soft_label_log_likelihood, (logits, soft)),
        "soft_label, class indices": (lambda x: soft_label_log_likelihood(x, labels), (logits,)),
        "tempered, logits and power": (
            lambda x, rho: tempered_log_likelihood(x, labels, rho),
            (logits, power),
        ),
        "tempered, float power": (lambda x: tempered_log_likelihood(x, labels, 0.7), (logits,)),
        "dirichlet, soft targets": (dirichlet_log_likelihood, (logits, soft)),
        "dirichlet, class indices": (lambda x: dirichlet_log_likelihood(x, labels), (logits,)),
    }
    for name, (function, inputs) in checks.items():
        assert torch.autograd.gradcheck(function, inputs), name
