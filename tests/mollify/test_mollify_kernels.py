"""Noise (Eq. 4), heat blur (Eqs. 5-6) and the DCT they rely on, against independent references."""

import math

import numpy as np
import pytest
import scipy.fft
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probmoll.mollify import (
    blur,
    dct_2d,
    dct_matrix,
    heat_blur,
    idct_2d,
    noise,
    noise_coefficients,
    sigma_blur,
)
from probmoll.mollify.dct import laplacian_eigenvalues

# (batch shape, channels, height, width): non-square on purpose.
IMAGE_SHAPES = [((2,), 3, 5, 7), ((3,), 1, 9, 4), ((1,), 2, 16, 16), ((2, 2), 3, 6, 11)]
# dtype -> absolute tolerance against a float64 reference on unit-variance images.
DTYPE_ATOL = {torch.float64: 1e-10, torch.float32: 2e-5, torch.bfloat16: 5e-2}


def reference_heat_blur(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Eq. 5 with scipy's orthonormal DCT: V exp(-sigma^2/2 Lambda) V^T x."""
    height, width = x.shape[-2:]
    h = np.arange(height)[:, None]
    w = np.arange(width)[None, :]
    squared_frequencies = np.pi**2 * (w**2 / width**2 + h**2 / height**2)
    tau = (np.asarray(sigma, dtype=np.float64) ** 2 / 2)[..., None, None, None]
    coefficients = scipy.fft.dctn(x, axes=(-2, -1), norm="ortho")
    return scipy.fft.idctn(
        coefficients * np.exp(-tau * squared_frequencies), axes=(-2, -1), norm="ortho"
    )


def reference_sigma(t, sigma_min, sigma_max):
    """Eq. 6 written as a geometric interpolation sigma_min^(1-t) sigma_max^t."""
    t = np.asarray(t, dtype=np.float64)
    return sigma_min ** (1 - t) * sigma_max**t


def random_images(batch_shape, channels, height, width, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(
        *batch_shape, channels, height, width, generator=generator, dtype=torch.float64
    ).to(dtype)


# ----------------------------------------------------------------------------- DCT
@pytest.mark.parametrize("n", [1, 2, 7, 32])
def test_dct_matrix_is_orthonormal_and_matches_scipy(n):
    matrix = dct_matrix(n, torch.device("cpu"), torch.float64)
    torch.testing.assert_close(matrix @ matrix.T, torch.eye(n, dtype=torch.float64))
    expected = scipy.fft.dct(np.eye(n), axis=0, norm="ortho")
    np.testing.assert_allclose(matrix.numpy(), expected, atol=1e-13)


def test_dct_matrices_are_cached_per_size_device_dtype():
    cpu = torch.device("cpu")
    assert dct_matrix(12, cpu, torch.float32) is dct_matrix(12, cpu, torch.float32)
    assert dct_matrix(12, cpu, torch.float32) is not dct_matrix(12, cpu, torch.float64)
    assert dct_matrix(12, cpu, torch.float32).dtype == torch.float32


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 8, 6)])
def test_dct_2d_matches_scipy_and_inverts(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    coefficients = dct_2d(x)
    expected = scipy.fft.dctn(x.numpy(), axes=(-2, -1), norm="ortho")
    np.testing.assert_allclose(coefficients.numpy(), expected, atol=1e-12)
    torch.testing.assert_close(idct_2d(coefficients), x)


def test_laplacian_eigenvalues_are_squared_frequencies():
    values = laplacian_eigenvalues(8, torch.device("cpu"), torch.float64)
    np.testing.assert_allclose(values.numpy(), (np.pi * np.arange(8) / 8) ** 2)


def test_dct_rejects_integers_and_vectors():
    with pytest.raises(TypeError, match="int64"):
        dct_2d(torch.ones(4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\(4,\)"):
        idct_2d(torch.ones(4))


# ---------------------------------------------------------------------------- blur
@pytest.mark.parametrize("batch_shape, channels, height, width", IMAGE_SHAPES)
def test_heat_blur_matches_scipy_dct_reference(batch_shape, channels, height, width):
    x = random_images(batch_shape, channels, height, width)
    sigma = torch.rand(batch_shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sigma = sigma * 4
    expected = reference_heat_blur(x.numpy(), sigma.numpy())
    np.testing.assert_allclose(heat_blur(x, sigma).numpy(), expected, atol=1e-12)
    # One scale for the whole batch: the shared-matrix path.
    expected = reference_heat_blur(x.numpy(), np.full(batch_shape, 1.7))
    np.testing.assert_allclose(heat_blur(x, 1.7).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("batch_shape, channels, height, width", IMAGE_SHAPES)
@pytest.mark.parametrize("sigma_min, sigma_max", [(0.3, None), (0.5, 3.0)])
def test_blur_follows_log_schedule_of_eq6(
    batch_shape, channels, height, width, sigma_min, sigma_max
):
    x = random_images(batch_shape, channels, height, width, seed=3)
    t = torch.rand(batch_shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    sigma = reference_sigma(t.numpy(), sigma_min, width if sigma_max is None else sigma_max)
    expected = reference_heat_blur(x.numpy(), sigma)
    np.testing.assert_allclose(blur(x, t, sigma_min, sigma_max).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("dtype", list(DTYPE_ATOL))
def test_blur_dtypes_keep_dtype_and_accuracy(dtype):
    x = random_images((4,), 3, 8, 12, seed=5)
    t = torch.tensor([0.0, 0.2, 0.6, 1.0])
    expected = reference_heat_blur(x.numpy(), reference_sigma(t.numpy(), 0.3, 12))
    out = blur(x.to(dtype), t.to(dtype))
    assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_allclose(out.double().numpy(), expected, atol=DTYPE_ATOL[dtype])


def test_blur_under_cpu_autocast_keeps_float32_precision():
    x = random_images((4,), 3, 16, 16, seed=6, dtype=torch.float32)
    t = torch.tensor([0.0, 0.3, 0.5, 0.9])
    outside = blur(x, t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = blur(x, t)
        inside_half = blur(x.bfloat16(), t)
    assert inside.dtype == torch.float32 and inside_half.dtype == torch.bfloat16
    torch.testing.assert_close(inside, outside, atol=1e-6, rtol=0)
    torch.testing.assert_close(inside_half.float(), outside, atol=5e-2, rtol=0)


@pytest.mark.parametrize("sigma", [0.0, torch.zeros(3), torch.zeros(())])
def test_heat_blur_with_zero_sigma_is_exact_identity(sigma):
    x = random_images((3,), 2, 5, 9, dtype=torch.float32)
    assert torch.equal(heat_blur(x, sigma), x)


def test_heat_blur_zero_sigma_images_untouched_in_mixed_batch():
    x = random_images((3,), 2, 6, 6, dtype=torch.float32)
    out = heat_blur(x, torch.tensor([0.0, 2.0, 0.0]))
    assert torch.equal(out[0], x[0]) and torch.equal(out[2], x[2])
    assert not torch.allclose(out[1], x[1])


def test_blur_at_t0_is_a_small_blur_not_identity():
    x = random_images((2,), 3, 8, 8)
    out = blur(x, 0.0)
    assert not torch.equal(out, x)
    np.testing.assert_allclose(out.numpy(), reference_heat_blur(x.numpy(), np.full(2, 0.3)))


@pytest.mark.parametrize("height, width", [(8, 8), (7, 12)])
def test_blur_preserves_channel_means(height, width):
    x = random_images((3,), 3, height, width, seed=7) + 2.0
    for t in (0.0, 0.3, 0.7, 1.0):
        torch.testing.assert_close(blur(x, t).mean(dim=(-2, -1)), x.mean(dim=(-2, -1)))


def test_blur_removes_high_frequency_energy_monotonically_in_t():
    x = random_images((2,), 3, 16, 12, seed=8)
    height, width = x.shape[-2:]
    h = np.arange(height)[:, None] / height
    w = np.arange(width)[None, :] / width
    high = (h**2 + w**2) > 0.1
    energies = []
    for t in np.linspace(0, 1, 11):
        coefficients = scipy.fft.dctn(blur(x, float(t)).numpy(), axes=(-2, -1), norm="ortho")
        energies.append((coefficients**2)[..., high].sum())
    assert all(later < earlier for earlier, later in zip(energies, energies[1:], strict=False))
    assert energies[-1] < 1e-6 * energies[0]


@pytest.mark.parametrize("sigma", [2.0, 3.0])
def test_heat_blur_of_impulse_is_gaussian_of_scale_sigma(sigma):
    """Heat dissipation for tau = sigma^2/2 is a Gaussian blur of std sigma (Sec. 3.2)."""
    size, centre = 41, 20
    impulse = torch.zeros(1, 1, size, size, dtype=torch.float64)
    impulse[..., centre, centre] = 1
    response = heat_blur(impulse, sigma)[0, 0].numpy()
    d = np.arange(size) - centre
    gaussian = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma**2)) / (
        2 * np.pi * sigma**2
    )
    np.testing.assert_allclose(response, gaussian, atol=1e-9)


def test_blur_with_leading_dims_equals_per_image_blur():
    x = random_images((2, 3), 1, 6, 5, seed=9)
    t = torch.rand(2, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    out = blur(x, t)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(out[i, j], blur(x[i, j], t[i, j]))


def test_blur_is_differentiable_with_matrices_cached_in_inference_mode():
    dct_matrix.cache_clear()
    with torch.inference_mode():
        blur(torch.randn(1, 1, 13, 13), 0.5)
    x = torch.randn(1, 1, 13, 13, requires_grad=True)
    blur(x, 0.5).sum().backward()
    # The blur is linear and mean preserving: d sum(blur(x)) / dx = 1.
    torch.testing.assert_close(x.grad, torch.ones_like(x))


@given(t=st.lists(st.floats(0, 1), min_size=2, max_size=2))
@settings(max_examples=30, deadline=None)
def test_sigma_blur_is_log_linear_and_increasing(t):
    t = torch.tensor(sorted(t), dtype=torch.float64)
    sigma = sigma_blur(t, 0.3, 32.0)
    np.testing.assert_allclose(sigma.numpy(), reference_sigma(t.numpy(), 0.3, 32.0), rtol=1e-12)
    assert sigma[0] <= sigma[1]


def test_sigma_blur_end_points():
    assert sigma_blur(0.0, 0.3, 32.0).item() == pytest.approx(0.3)
    assert sigma_blur(1.0, 0.3, 32.0).item() == pytest.approx(32.0)


# --------------------------------------------------------------------------- noise
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("t", [0.0, "zeros"])
def test_noise_at_t0_returns_input_exactly(dtype, t):
    x = random_images((4,), 3, 5, 6, dtype=dtype)
    t = torch.zeros(4, dtype=dtype) if t == "zeros" else t
    out = noise(x, t, torch.Generator().manual_seed(0))
    assert out.dtype == dtype and torch.equal(out, x)


@pytest.mark.parametrize("t", [0.25, 0.5, 0.8, 1.0])
@pytest.mark.parametrize("level", [0.0, 1.5])
def test_noise_moments_match_eq4(t, level):
    """x_t = cos(t pi/2) x + sin(t pi/2) eps: mean cos(.) x, variance sin(.)^2."""
    x = torch.full((1, 1, 256, 256), level, dtype=torch.float64)
    out = noise(x, t, torch.Generator().manual_seed(11)).reshape(-1)
    mean = math.cos(t * math.pi / 2) * level
    std = math.sin(t * math.pi / 2)
    n = out.numel()
    assert abs(out.mean().item() - mean) < 5 * std / math.sqrt(n)
    # Var of the sample variance of a Gaussian: 2 sigma^4 / (n - 1).
    assert abs(out.var().item() - std**2) < 5 * std**2 * math.sqrt(2 / (n - 1))


def test_noise_preserves_unit_variance_of_standardised_images():
    generator = torch.Generator().manual_seed(12)
    x = torch.randn(4, 3, 64, 64, generator=generator, dtype=torch.float64)
    out = noise(x, torch.tensor([0.1, 0.4, 0.7, 0.95], dtype=torch.float64), generator)
    variances = out.var(dim=(1, 2, 3))
    np.testing.assert_allclose(variances.numpy(), 1.0, atol=0.05)


def test_noise_uses_per_image_temperatures():
    x = torch.zeros(3, 1, 128, 128, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    stds = noise(x, t, torch.Generator().manual_seed(13)).std(dim=(1, 2, 3))
    expected = [0.0, math.sin(math.pi / 4), 1.0]
    np.testing.assert_allclose(stds.numpy(), expected, atol=0.02)


def test_noise_is_reproducible_with_generator():
    x = random_images((2,), 3, 4, 4, dtype=torch.float32)
    first = noise(x, 0.5, torch.Generator().manual_seed(5))
    assert torch.equal(first, noise(x, 0.5, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, noise(x, 0.5, torch.Generator().manual_seed(6)))


def test_noise_coefficients_are_variance_preserving():
    t = torch.linspace(0, 1, 17, dtype=torch.float64)
    alpha, sigma = noise_coefficients(t)
    torch.testing.assert_close(alpha**2 + sigma**2, torch.ones_like(t))
    assert alpha[0] == 1 and sigma[0] == 0


def test_noise_works_under_cpu_autocast():
    x = random_images((2,), 3, 8, 8, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = noise(x, 0.3, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, noise(x, 0.3, torch.Generator().manual_seed(0)))


# ------------------------------------------------------------------------ bad input
def _noise(x, t):
    return noise(x, t)


BAD_INPUTS = [
    # (kernel, x, level, error, message fragment)
    (_noise, torch.zeros(2, 3, 4, 4, dtype=torch.uint8), 0.5, TypeError, "uint8"),
    (blur, torch.zeros(2, 3, 4, 4, dtype=torch.int64), 0.5, TypeError, "int64"),
    (heat_blur, torch.zeros(2, 3, 4, 4, dtype=torch.int32), 1.0, TypeError, "int32"),
    (blur, torch.zeros(2, 3, 4, 4, dtype=torch.bool), 0.5, TypeError, "bool"),
    (blur, np.zeros((2, 3, 4, 4)), 0.5, TypeError, "ndarray"),
    (_noise, torch.zeros(4, 4), 0.5, ValueError, r"\(4, 4\)"),
    (blur, torch.zeros(4, 4), 0.5, ValueError, r"\(4, 4\)"),
    (blur, torch.zeros(2, 3, 0, 4), 0.5, ValueError, "empty"),
    (_noise, torch.zeros(2, 3, 4, 4), 1.5, ValueError, "1.5"),
    (blur, torch.zeros(2, 3, 4, 4), -0.1, ValueError, "-0.1"),
    (blur, torch.zeros(2, 3, 4, 4), float("nan"), ValueError, "nan"),
    (_noise, torch.zeros(2, 3, 4, 4), torch.tensor([0.2, 1.2]), ValueError, "1.2"),
    (blur, torch.zeros(2, 3, 4, 4), torch.tensor([0.2, float("nan")]), ValueError, "nan"),
    (_noise, torch.zeros(2, 3, 4, 4), torch.full((3,), 0.5), ValueError, r"\(3,\)"),
    (blur, torch.zeros(2, 3, 4, 4), torch.full((2, 1), 0.5), ValueError, r"\(2, 1\)"),
    (_noise, torch.zeros(2, 3, 4, 4), torch.tensor([True, False]), TypeError, "bool"),
    (_noise, torch.zeros(2, 3, 4, 4), "0.5", TypeError, "str"),
    (heat_blur, torch.zeros(2, 3, 4, 4), -1.0, ValueError, "-1"),
    (heat_blur, torch.zeros(2, 3, 4, 4), torch.tensor([1.0, math.inf]), ValueError, "inf"),
]


@pytest.mark.parametrize("kernel, x, level, error, message", BAD_INPUTS)
def test_kernels_reject_bad_input_with_clear_errors(kernel, x, level, error, message):
    with pytest.raises(error, match=message):
        kernel(x, level)


@pytest.mark.parametrize(
    "sigma_min, sigma_max, message",
    [
        (0.0, 4.0, "sigma_min"),
        (-1.0, 4.0, "sigma_min"),
        (0.3, 0.1, "sigma_max"),
        (0.3, math.nan, "nan"),
    ],
)
def test_blur_rejects_bad_scales(sigma_min, sigma_max, message):
    with pytest.raises(ValueError, match=message):
        blur(torch.zeros(1, 1, 4, 4), 0.5, sigma_min, sigma_max)


def test_validate_false_skips_value_checks_only():
    x = torch.zeros(2, 1, 4, 4)
    blur(x, torch.tensor([0.5, 1.5]), validate=False)  # values unchecked
    with pytest.raises(ValueError, match=r"\(3,\)"):
        noise(x, torch.zeros(3), validate=False)  # shapes always checked
