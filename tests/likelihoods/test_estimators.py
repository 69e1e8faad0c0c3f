"""Estimators over (K, B) log-likelihoods: references in numpy/scipy, identities, properties."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import special

from probmoll.likelihoods import (
    durbin_koopman,
    geometric,
    geometric_per_copy,
    get_estimator,
    get_estimator_spec,
    jensen,
    list_estimators,
    log_mean_exp,
    register_estimator,
)


def durbin_koopman_reference(logp):
    """Eq. 25-26 evaluated directly on p = exp(logp), along axis 0 (fine for moderate logp)."""
    p = np.exp(logp)
    k = p.shape[0]
    mean = p.mean(0)
    variance_of_mean = ((p - mean) ** 2).sum(0) / (k * (k - 1))
    return np.log(mean) + variance_of_mean / (2 * mean**2)


def numpy_reference(name, logp, temperature=1.0):
    k = logp.shape[0]
    return {
        "jensen": lambda: logp.mean(0),
        "log_mean_exp": lambda: special.logsumexp(logp, axis=0) - math.log(k),
        "durbin_koopman": lambda: durbin_koopman_reference(logp),
        "geometric": lambda: logp.sum(0) / (k * temperature),
        "geometric_per_copy": lambda: logp.sum(0) / temperature,
    }[name]()


def call(name, logp, temperature=1.0, dim=0):
    spec = get_estimator_spec(name)
    if spec.accepts_temperature:
        return spec.fn(logp, dim=dim, temperature=temperature)
    return spec.fn(logp, dim=dim)


def test_registry_lists_the_paper_estimators():
    assert set(list_estimators()) >= {
        "jensen",
        "log_mean_exp",
        "durbin_koopman",
        "geometric",
        "geometric_per_copy",
    }
    assert get_estimator("jensen") is jensen
    assert get_estimator_spec("durbin_koopman").min_copies == 2
    assert get_estimator_spec("geometric").accepts_temperature
    assert not get_estimator_spec("log_mean_exp").accepts_temperature


@pytest.mark.parametrize("name", list_estimators())
@pytest.mark.parametrize("k", [2, 3, 8])
def test_estimators_match_numpy_references(name, k, generator):
    logp = torch.randn(k, 11, generator=generator, dtype=torch.float64) - 2.0
    for temperature in [1.0, 0.5] if get_estimator_spec(name).accepts_temperature else [1.0]:
        ours = call(name, logp, temperature)
        assert ours.shape == (11,)
        assert np.allclose(
            ours.numpy(), numpy_reference(name, logp.numpy(), temperature), rtol=1e-12
        )


@pytest.mark.parametrize("name", list_estimators())
def test_dim_argument_matches_transposed_input(name, generator):
    logp = torch.randn(4, 3, 5, generator=generator, dtype=torch.float64)
    moved = logp.movedim(0, 1)
    assert torch.allclose(call(name, moved, dim=1), call(name, logp, dim=0))
    assert torch.allclose(call(name, logp.movedim(0, -1), dim=-1), call(name, logp, dim=0))


@pytest.mark.parametrize("name", list_estimators())
def test_gradcheck_every_estimator(name, generator):
    logp = (torch.randn(4, 3, generator=generator, dtype=torch.float64) - 1).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: call(
            name, x, temperature=0.7 if get_estimator_spec(name).accepts_temperature else 1.0
        ),
        (logp,),
    )


def test_single_copy_special_cases(generator):
    logp = torch.randn(1, 7, generator=generator, dtype=torch.float64)
    for estimator in (jensen, log_mean_exp, geometric, geometric_per_copy):
        assert torch.allclose(estimator(logp), logp[0])
    with pytest.raises(ValueError, match=r"K >= 2.*got K=1"):
        durbin_koopman(logp)


def test_geometric_at_unit_temperature_is_jensen_per_example(generator):
    """Eq. 28 vs Eq. 22: the geometric mean of the copies is the Jensen bound."""
    logp = torch.randn(5, 9, generator=generator, dtype=torch.float64) - 3
    assert torch.allclose(geometric(logp), jensen(logp), rtol=0, atol=1e-14)
    assert torch.allclose(geometric(logp, 2.0), jensen(logp) / 2)
    assert torch.allclose(geometric(logp, per_copy=True), 5 * jensen(logp))
    assert torch.allclose(geometric_per_copy(logp, 0.5), geometric(logp, 0.5, per_copy=True))


def test_durbin_koopman_correction_bounds(generator):
    """The correction sum_k (r_k - 1)^2 / (2K(K-1)) is 0 for equal copies and <= 1/2."""
    equal = torch.full((4, 3), -2.0, dtype=torch.float64)
    assert torch.allclose(durbin_koopman(equal), log_mean_exp(equal))
    extreme = torch.tensor([[0.0], [-1e4], [-1e4]], dtype=torch.float64)
    assert durbin_koopman(extreme).item() == pytest.approx(
        log_mean_exp(extreme).item() + 0.5, abs=1e-12
    )
    logp = torch.randn(6, 50, generator=generator, dtype=torch.float64) * 4
    correction = durbin_koopman(logp) - log_mean_exp(logp)
    assert ((correction >= 0) & (correction <= 0.5)).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_estimators_stable_for_very_negative_logp(dtype):
    logp = torch.tensor([[-1e4, -3e4], [-1e4 - 1, -3e4 + 2]], dtype=dtype, requires_grad=True)
    for name in list_estimators():
        value = call(name, logp)
        grad = torch.autograd.grad(value.sum(), logp)[0]
        assert torch.isfinite(value).all() and torch.isfinite(grad).all(), name


logp_arrays = arrays(
    np.float64,
    st.tuples(st.integers(2, 6), st.integers(1, 4)),
    elements=st.floats(-50, 5, allow_nan=False),
)


@settings(max_examples=80, deadline=None)
@given(logp_arrays)
def test_jensen_never_above_log_mean_exp(values):
    """AM-GM: the mean of logs is at most the log of the mean, for every sample."""
    logp = torch.from_numpy(values)
    assert (jensen(logp) <= log_mean_exp(logp) + 1e-12).all()
    assert (log_mean_exp(logp) <= durbin_koopman(logp) + 1e-12).all()


@settings(max_examples=80, deadline=None)
@given(logp_arrays, st.floats(-100, 100), st.floats(0.1, 10))
def test_shift_equivariance(values, shift, temperature):
    """Adding c to every log p_k adds c to the estimate (c/T for geometric, K c/T per copy)."""
    logp = torch.from_numpy(values)
    k = logp.shape[0]
    expected_shift = {
        "geometric": shift / temperature,
        "geometric_per_copy": k * shift / temperature,
    }
    for name in list_estimators():
        shifted = call(name, logp + shift, temperature)
        assert torch.allclose(
            shifted, call(name, logp, temperature) + expected_shift.get(name, shift), atol=1e-9
        ), name


def test_register_estimator_validates_and_rejects_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register_estimator("jensen", jensen)
    with pytest.raises(ValueError, match="min_copies"):
        register_estimator("too_few", jensen, min_copies=0)
    with pytest.raises(ValueError, match=r"unknown estimator 'iwae'.*durbin_koopman, geometric"):
        get_estimator("iwae")


@pytest.mark.parametrize(
    "call_bad, error, match",
    [
        (lambda: jensen(torch.tensor(1.0)), ValueError, "scalar"),
        (lambda: jensen(torch.zeros(3, 2, dtype=torch.long)), TypeError, "floating"),
        (lambda: log_mean_exp(torch.zeros(0, 2)), ValueError, r"no copies.*\(0, 2\)"),
        (lambda: jensen(torch.zeros(3, 2), dim=2), ValueError, r"dim=2.*\(3, 2\)"),
        (lambda: geometric(torch.zeros(3, 2), 0.0), ValueError, "temperature"),
        (lambda: geometric(torch.zeros(3, 2), float("nan")), ValueError, "temperature"),
        (lambda: geometric(torch.zeros(3, 2), "1"), TypeError, "temperature"),
        (lambda: jensen([1.0, 2.0]), TypeError, "list"),
    ],
)
def test_bad_input_raises_clear_errors(call_bad, error, match):
    with pytest.raises(error, match=match):
        call_bad()


@pytest.mark.parametrize("name", list_estimators())
def test_every_copy_minus_inf_gives_minus_inf_without_nan(name):
    """An example impossible under every copy: log I_K = -inf, no NaN in value or gradient."""
    minus_inf = float("-inf")
    logp = torch.tensor(
        [[minus_inf, -1.0, minus_inf], [minus_inf, -2.0, -3.0], [minus_inf, -0.5, minus_inf]],
        dtype=torch.float64,
        requires_grad=True,
    )
    value = call(name, logp)
    assert value[0].item() == minus_inf
    finite_columns = logp.detach()[:, 1:]
    assert torch.allclose(value[1:], call(name, finite_columns))
    value.sum().backward()
    assert torch.isfinite(logp.grad).all()
    if name in ("log_mean_exp", "durbin_koopman"):
        assert torch.equal(logp.grad[:, 0], torch.zeros(3, dtype=torch.float64))


def test_durbin_koopman_with_some_copies_minus_inf_is_finite():
    logp = torch.tensor([[float("-inf")], [-1.0], [-2.0]], dtype=torch.float64)
    expected = durbin_koopman_reference(logp.numpy())
    assert np.allclose(durbin_koopman(logp).numpy(), expected)
