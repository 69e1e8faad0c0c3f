"""Label smoothing (Eq. 8), tempering (Eq. 7) and the schedules gamma_t (Eqs. 12-13)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from probmoll.mollify import (
    BlurInformationCurve,
    as_soft_targets,
    blur_information_curve,
    gamma_blur,
    gamma_blur_png,
    gamma_blur_table,
    gamma_noise,
    label_smooth,
    label_temper,
    noise_coefficients,
    png_sizes,
    simplex_tolerance,
)


def onehot_reference(indices, num_classes):
    return np.eye(num_classes)[np.asarray(indices)]


# ---------------------------------------------------------------------- label forms
LABEL_CASES = [
    # (targets, gamma, num_classes)
    (torch.tensor([0, 2, 1]), 0.3, 3),
    (torch.tensor([4, 0]), torch.tensor([0.0, 1.0]), 5),
    (torch.tensor([1]), torch.tensor([0.5], dtype=torch.float64), 2),
    (torch.tensor([[0.25, 0.75], [1.0, 0.0]]), torch.tensor([0.2, 0.9]), None),
    (torch.tensor([[0.1, 0.2, 0.7]], dtype=torch.float64), 0.4, 3),
]


@pytest.mark.parametrize("targets, gamma, num_classes", LABEL_CASES)
def test_label_smooth_and_temper_follow_eq7_eq8(targets, gamma, num_classes):
    if targets.is_floating_point():
        base = targets.double().numpy()
    else:
        base = onehot_reference(targets.numpy(), num_classes)
    classes = base.shape[1]
    g = np.asarray(gamma.double() if isinstance(gamma, torch.Tensor) else gamma)
    g = g[:, None] if g.ndim == 1 else g
    smooth = label_smooth(targets, gamma, num_classes)
    temper = label_temper(targets, gamma, num_classes)
    np.testing.assert_allclose(smooth.double().numpy(), (1 - g) * base + g / classes, atol=1e-6)
    np.testing.assert_allclose(temper.double().numpy(), (1 - g) * base, atol=1e-6)
    assert smooth.shape == temper.shape == base.shape


@given(
    classes=st.integers(1, 12),
    batch=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    soft=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_smoothed_labels_stay_on_simplex(classes, batch, seed, soft):
    generator = torch.Generator().manual_seed(seed)
    if soft:
        targets = torch.distributions.Dirichlet(torch.ones(classes)).sample((batch,))
        targets = targets / targets.sum(-1, keepdim=True)
    else:
        targets = torch.randint(0, classes, (batch,), generator=generator)
    gamma = torch.rand(batch, generator=generator)
    smooth = label_smooth(targets, gamma, classes)
    assert (smooth >= 0).all()
    torch.testing.assert_close(smooth.sum(-1), torch.ones(batch))
    temper = label_temper(targets, gamma, classes)
    assert (temper >= 0).all()
    torch.testing.assert_close(temper.sum(-1), 1 - gamma)
    if not soft:
        # True-class probability of Eq. 8: 1 - gamma (C - 1) / C.
        true_class = smooth.gather(1, targets.unsqueeze(1)).squeeze(1)
        torch.testing.assert_close(true_class, 1 - gamma * (classes - 1) / classes)


def test_gamma_zero_and_one_are_onehot_and_uniform():
    targets = torch.tensor([3, 0, 1])
    onehot = torch.eye(4)[targets]
    assert torch.equal(label_smooth(targets, 0.0, 4), onehot)
    assert torch.equal(label_temper(targets, 0.0, 4), onehot)
    torch.testing.assert_close(label_smooth(targets, 1.0, 4), torch.full((3, 4), 0.25))
    assert torch.equal(label_temper(targets, 1.0, 4), torch.zeros(3, 4))


def test_output_dtypes():
    indices = torch.tensor([0, 1])
    assert label_smooth(indices, 0.1, 2).dtype == torch.get_default_dtype()
    assert (
        label_smooth(indices, torch.full((2,), 0.1, dtype=torch.float64), 2).dtype == torch.float64
    )
    soft = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.bfloat16)
    assert label_smooth(soft, torch.full((2,), 0.1), None).dtype == torch.bfloat16
    assert as_soft_targets(indices, 3, dtype=torch.float64).dtype == torch.float64


def test_soft_targets_pass_through_unchanged():
    soft = torch.tensor([[0.3, 0.7], [1.0, 0.0]])
    assert as_soft_targets(soft) is soft
    assert torch.equal(
        as_soft_targets(torch.tensor([1, 0]), 2), torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_simplex_tolerance_accepts_rounded_mixup_targets(dtype):
    # A MixUp target computed in float32, then stored in `dtype`.
    lam = torch.rand(64, generator=torch.Generator().manual_seed(0))
    onehot_a = torch.eye(10)[torch.arange(64) % 10]
    onehot_b = torch.eye(10)[(torch.arange(64) * 7 + 3) % 10]
    mixed = (lam[:, None] * onehot_a + (1 - lam[:, None]) * onehot_b).to(dtype)
    label_smooth(mixed, 0.2)  # must not raise
    off = mixed.double()
    off[0] *= 1 + 4 * simplex_tolerance(dtype)
    with pytest.raises(ValueError, match="sum to 1"):
        label_smooth(off.to(torch.float64) if dtype == torch.float64 else off, 0.2)


BAD_LABELS = [
    # (targets, gamma, num_classes, error, message fragment)
    (torch.tensor([0, 3]), 0.1, 3, ValueError, r"\[0, 3\).*3"),
    (torch.tensor([-1, 0]), 0.1, 3, ValueError, "-1"),
    (torch.tensor([0, 1]), 0.1, None, ValueError, "num_classes is required"),
    (torch.tensor([[[0, 1]]]), 0.1, 2, ValueError, r"\(1, 1, 2\)"),
    (torch.tensor([[0, 2]]), 0.1, 2, ValueError, r"one-hot.*row 0 = \[0, 2\]"),
    (torch.tensor([[1, 0], [1, 1]]), 0.1, None, ValueError, r"one-hot.*rows \[1\]"),
    (torch.tensor([[0, 0, 0]]), 0.1, None, ValueError, "one-hot"),
    (torch.tensor([[-1, 1, 1]]), 0.1, None, ValueError, "one-hot"),
    (torch.tensor([[True, True]]), 0.1, None, ValueError, "one-hot"),
    (torch.tensor([[True, False]]), 0.1, 3, ValueError, "num_classes=3"),
    (torch.tensor([[0.5, 0.4]]), 0.1, None, ValueError, "0.9"),
    (torch.tensor([[1.2, -0.2]]), 0.1, None, ValueError, "-0.2"),
    (torch.tensor([[math.nan, 1.0]]), 0.1, None, ValueError, "nan"),
    (torch.tensor([0.5, 0.5]), 0.1, None, ValueError, r"\(2,\)"),
    (torch.tensor([[0.5, 0.5]]), 0.1, 3, ValueError, "num_classes=3"),
    (torch.tensor([0, 1]), torch.tensor([0.1, 0.2, 0.3]), 2, ValueError, r"\(3,\)"),
    (torch.tensor([0, 1]), 1.5, 2, ValueError, "1.5"),
    (torch.tensor([0, 1]), torch.tensor([0.1, -0.2]), 2, ValueError, "-0.2"),
    (torch.tensor([0, 1]), math.nan, 2, ValueError, "nan"),
    (torch.tensor([True, False]), 0.1, 2, TypeError, "bool.*one-hot rows"),
    ([0, 1], 0.1, 2, TypeError, "list"),
    (torch.tensor([0, 1]), 0.1, 0, ValueError, "num_classes"),
    (torch.tensor([0, 1]), 0.1, 2.0, ValueError, "num_classes"),
]


@pytest.mark.parametrize("targets, gamma, num_classes, error, message", BAD_LABELS)
@pytest.mark.parametrize("form", [label_smooth, label_temper])
def test_label_forms_reject_bad_input(form, targets, gamma, num_classes, error, message):
    with pytest.raises(error, match=message):
        form(targets, gamma, num_classes)


def test_label_value_checks_can_be_skipped_but_shapes_cannot():
    label_smooth(torch.tensor([0, 1]), torch.tensor([0.1, 1.5]), 2, validate=False)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        label_smooth(torch.tensor([0, 1]), torch.zeros(3), 2, validate=False)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
@pytest.mark.parametrize("form", [label_smooth, label_temper])
def test_integer_and_boolean_onehot_rows_equal_class_indices(form, dtype):
    indices = torch.tensor([2, 0, 4, 4])
    rows = F.one_hot(indices, 5).to(dtype)  # int64 (B, C) straight from F.one_hot
    gamma = torch.tensor([0.0, 0.3, 0.9, 1.0])
    expected = form(indices, gamma, 5)
    torch.testing.assert_close(form(rows, gamma), expected, rtol=0, atol=0)
    torch.testing.assert_close(form(rows, gamma, 5, validate="async"), expected, rtol=0, atol=0)
    # The result is floating: gamma's dtype, else the default dtype.
    assert form(rows, 0.2).dtype == torch.get_default_dtype()
    assert form(rows, gamma.double()).dtype == torch.float64
    assert torch.equal(as_soft_targets(rows), torch.eye(5)[indices])


# Bad targets and levels checked on the device: (targets, gamma, num_classes, message).
ASYNC_BAD = [
    (torch.tensor([0, 3]), 0.1, 3, r"class indices must lie in \[0, 3\)"),
    (torch.tensor([-1, 0]), 0.1, 3, r"\[0, 3\)"),
    (torch.tensor([[0, 2]]), 0.1, 2, "one-hot"),
    (torch.tensor([[1, 1, 0]]), 0.1, 3, "one-hot"),
    (torch.tensor([[False, False]]), 0.1, 2, "one-hot"),
    (torch.tensor([[1.2, -0.2]]), 0.1, None, "non-negative"),
    (torch.tensor([[0.5, 0.4]]), 0.1, None, "sum to 1"),
    (torch.tensor([[math.nan, 1.0]]), 0.1, None, "sum to 1"),
    (torch.tensor([0, 1]), torch.tensor([0.1, 1.5]), 2, r"gamma must lie in \[0, 1\]"),
]


@pytest.mark.parametrize("targets, gamma, num_classes, message", ASYNC_BAD)
@pytest.mark.parametrize("form", [label_smooth, label_temper])
def test_async_validation_fails_on_the_device(form, targets, gamma, num_classes, message):
    # torch._assert_async raises RuntimeError at once on the CPU; on CUDA the same
    # check fails the stream without making the host wait for it.
    with pytest.raises(RuntimeError, match=message):
        form(targets, gamma, num_classes, validate="async")
    with pytest.raises(ValueError):  # the host check quotes the values instead
        form(targets, gamma, num_classes, validate=True)
    form(targets, gamma, num_classes, validate=False)  # skipped: no error at all


def test_async_validation_passes_good_targets_unchanged():
    soft = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    for targets, num_classes in ((torch.tensor([1, 0, 1]), 2), (soft, None)):
        torch.testing.assert_close(
            label_smooth(targets, 0.4, num_classes, validate="async"),
            label_smooth(targets, 0.4, num_classes),
        )


def test_validate_accepts_only_true_false_or_async():
    with pytest.raises(ValueError, match="'async'.*'sync'"):
        label_smooth(torch.tensor([0, 1]), 0.1, 2, validate="sync")


# ----------------------------------------------------------------------- schedules
@pytest.mark.parametrize("k", [0.5, 1.0, 2.0, 4.0])
@pytest.mark.parametrize("schedule", [gamma_noise, gamma_blur])
def test_schedules_hit_end_points(schedule, k):
    assert schedule(0.0, k).item() == 0.0
    assert schedule(1.0, k).item() == pytest.approx(1.0, abs=1e-7)
    values = schedule(torch.tensor([0.0, 1.0]), k)
    assert values[0] == 0 and values[1].item() == pytest.approx(1.0, abs=1e-7)


def test_gamma_noise_is_one_half_at_unit_snr():
    assert gamma_noise(0.5).item() == pytest.approx(0.5, abs=1e-7)
    assert gamma_noise(torch.tensor([0.5], dtype=torch.float64)).item() == pytest.approx(
        0.5, abs=1e-15
    )


@given(t=st.floats(0.01, 1.0), k=st.floats(0.2, 5.0))
@settings(max_examples=50, deadline=None)
def test_gamma_noise_equals_eq12_through_the_snr(t, k):
    alpha, sigma = noise_coefficients(torch.tensor(t, dtype=torch.float64))
    snr = alpha**2 / sigma**2
    expected = (1 / (1 + snr)) ** k
    torch.testing.assert_close(gamma_noise(torch.tensor(t, dtype=torch.float64), k), expected)
    torch.testing.assert_close(expected, sigma ** (2 * k))


@given(t=st.lists(st.floats(0, 1), min_size=2, max_size=2), k=st.floats(0.2, 5.0))
@settings(max_examples=50, deadline=None)
def test_schedules_are_monotone_and_in_unit_interval(t, k):
    t = torch.tensor(sorted(t), dtype=torch.float64)
    for schedule in (gamma_noise, gamma_blur):
        values = schedule(t, k)
        assert ((values >= 0) & (values <= 1)).all() and values[0] <= values[1]


def test_gamma_blur_is_power_of_t():
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    torch.testing.assert_close(gamma_blur(t, 2.5), t**2.5)


@pytest.mark.parametrize("schedule", [gamma_noise, gamma_blur])
@pytest.mark.parametrize(
    "t, k, message",
    [
        (1.5, 1.0, "1.5"),
        (-0.5, 1.0, "-0.5"),
        (math.nan, 1.0, "nan"),
        (0.5, 0.0, "k"),
        (0.5, -1, "k"),
    ],
)
def test_schedules_reject_bad_input(schedule, t, k, message):
    with pytest.raises(ValueError, match=message):
        schedule(t, k)


# --------------------------------------------------------- PNG information (Eq. 13)
def structured_images(count=4, size=32, channels=3, seed=0):
    """Smooth gradients, edges and fine texture: compressible, like natural images."""
    generator = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    images = []
    for _ in range(count):
        phase = torch.rand(3, generator=generator)
        base = 0.5 + 0.3 * torch.sin(2 * math.pi * (x * (1 + 2 * phase[0]) + phase[1]))
        square = ((x - phase[2]).abs() < 0.2) & ((y - 0.5).abs() < 0.2)
        texture = 0.1 * torch.rand(size, size, generator=generator)
        image = (base + 0.3 * square + texture).clamp(0, 1)
        images.append(image.expand(channels, size, size))
    return (torch.stack(images) * 255).round().to(torch.uint8)


def test_png_sizes_order_flat_below_noise():
    flat = torch.full((1, 3, 32, 32), 128, dtype=torch.uint8)
    random = torch.randint(0, 256, (1, 3, 32, 32), generator=torch.Generator().manual_seed(0)).to(
        torch.uint8
    )
    sizes = png_sizes(torch.cat([flat, random]))
    assert sizes.dtype == torch.int64 and sizes[0] < sizes[1] / 10


def test_gamma_blur_png_grows_with_blur_and_reads_erratum1():
    images = structured_images()
    t = torch.tensor([0.0, 0.4, 0.7, 1.0])
    gamma = gamma_blur_png(images, t)
    assert gamma.shape == (4,) and ((gamma >= 0) & (gamma <= 1)).all()
    # Little information removed at t = 0 (only by the 0.3-pixel blur), most of it at
    # t = 1, and more the more blur: the direction of erratum 1.
    assert gamma[0] < 0.25 and gamma[3] > 0.7
    assert all(later > earlier for earlier, later in zip(gamma, gamma[1:], strict=False))
    for level in (0.0, 0.5, 1.0):
        per_image = gamma_blur_png(images, level)
        curve = blur_information_curve(images, torch.tensor([level]))
        torch.testing.assert_close(per_image, (1 - curve.size_ratio[0]).clamp(0, 1))
    # k sharpens or flattens the same measurement.
    torch.testing.assert_close(gamma_blur_png(images, t, k=2.0), gamma**2)


def test_gamma_blur_png_accepts_float_images_in_unit_range():
    images = structured_images(count=2, channels=1)
    t = torch.tensor([0.3, 0.8])
    torch.testing.assert_close(gamma_blur_png(images.float() / 255, t), gamma_blur_png(images, t))


def test_blur_information_curve_decreases_with_t():
    curve = blur_information_curve(structured_images(count=3), torch.linspace(0, 1, 6))
    assert curve.t.shape == (6,) and curve.size_ratio.shape == (6, 3)
    mean_ratio = curve.size_ratio.mean(1)
    assert all(later < earlier for earlier, later in zip(mean_ratio, mean_ratio[1:], strict=False))
    gamma = curve.gamma()
    assert gamma.shape == (6,) and gamma[0] < gamma[-1]


@pytest.mark.parametrize(
    "images, message, error",
    [
        (torch.zeros(2, 2, 8, 8, dtype=torch.uint8), r"\(2, 2, 8, 8\)", ValueError),
        (torch.zeros(8, 8, dtype=torch.uint8), r"\(8, 8\)", ValueError),
        (torch.full((1, 3, 8, 8), 2.0), "2", ValueError),
        (torch.zeros(1, 3, 8, 8, dtype=torch.int16), "int16", TypeError),
    ],
)
def test_png_schedule_rejects_bad_images(images, message, error):
    with pytest.raises(error, match=message):
        gamma_blur_png(images, 0.5)


def test_png_schedule_rejects_bad_temperatures_and_grid():
    images = structured_images(count=2)
    with pytest.raises(ValueError, match="1.5"):
        gamma_blur_png(images, torch.tensor([0.2, 1.5]))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        gamma_blur_png(images, torch.tensor([0.2, 0.3, 0.4]))
    with pytest.raises(ValueError, match="1-D"):
        blur_information_curve(images, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="compression_level"):
        png_sizes(images, compression_level=11)


# ------------------------------------------------- measured schedule (Eq. 13, erratum 1)
def test_measured_schedule_matches_gamma_blur_png_at_the_measured_points():
    images = structured_images(count=4)
    grid = torch.linspace(0, 1, 6)
    curve = blur_information_curve(images, grid)
    for k in (1.0, 2.0):
        t, gamma = curve.schedule(k)
        assert torch.equal(t, grid)
        # The measured curve of these images is monotone, so the table is the
        # measurement: the mean of Eq. 13 over the images at every grid point.
        expected = torch.stack([gamma_blur_png(images, level, k=k).mean() for level in grid])
        torch.testing.assert_close(gamma, expected)
        # Interpolation returns the table exactly at its points, end points included.
        torch.testing.assert_close(gamma_blur_table(grid, t, gamma), gamma, rtol=0, atol=0)
        assert gamma_blur_table(0.0, t, gamma) == gamma[0]
        assert gamma_blur_table(1.0, t, gamma) == gamma[-1]
    # Eq. 13 raises the information removed from each image to the power k.
    single = blur_information_curve(images[:1], grid)
    torch.testing.assert_close(single.schedule(2.0)[1], single.schedule(1.0)[1] ** 2)


def test_measured_schedule_interpolates_linearly_and_is_monotone():
    grid = torch.tensor([0.0, 0.25, 1.0])
    gamma = torch.tensor([0.1, 0.3, 0.9])
    t = torch.tensor([0.0, 0.125, 0.25, 0.625, 1.0], dtype=torch.float64)
    expected = torch.tensor([0.1, 0.2, 0.3, 0.6, 0.9], dtype=torch.float64)
    out = gamma_blur_table(t, grid, gamma)
    assert out.dtype == torch.float64 and out.shape == t.shape
    torch.testing.assert_close(out, expected)
    assert gamma_blur_table(torch.full((2, 3), 0.625), grid, gamma).shape == (2, 3)
    # A measured curve that wobbles is made non-decreasing before interpolation.
    wobbly = BlurInformationCurve(
        t=torch.tensor([0.0, 0.5, 1.0]), size_ratio=torch.tensor([[0.9], [0.3], [0.4]])
    )
    t_grid, levels = wobbly.schedule()
    torch.testing.assert_close(levels, torch.tensor([0.1, 0.7, 0.7]))
    dense = gamma_blur_table(torch.linspace(0, 1, 101), t_grid, levels)
    assert bool((dense[1:] >= dense[:-1]).all())
    assert ((dense >= 0) & (dense <= 1)).all()


@pytest.mark.parametrize(
    "t, size_ratio, message",
    [
        (torch.tensor([0.0]), torch.ones(1, 2), "at least 2"),
        (torch.tensor([0.0, 0.5]), torch.ones(2, 2), "from 0 to 1"),
        (torch.tensor([0.0, 1.0, 0.5, 1.0]), torch.ones(4, 2), "increase strictly"),
        (torch.tensor([0.0, 1.0]), torch.ones(3, 2), r"\(T, N\)"),
        (torch.tensor([0.0, 1.0]), torch.tensor([[1.0], [math.nan]]), "finite"),
    ],
)
def test_measured_schedule_rejects_bad_curves(t, size_ratio, message):
    with pytest.raises(ValueError, match=message):
        BlurInformationCurve(t=t, size_ratio=size_ratio).schedule()


def test_gamma_blur_table_rejects_bad_tables_and_temperatures():
    grid, gamma = torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.8])
    with pytest.raises(ValueError, match="1.5"):
        gamma_blur_table(torch.tensor([0.5, 1.5]), grid, gamma)
    with pytest.raises(ValueError, match="same length"):
        gamma_blur_table(0.5, grid, torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="from 0 to 1"):
        gamma_blur_table(0.5, torch.tensor([0.2, 1.0]), gamma)
    with pytest.raises(ValueError, match="gamma must lie"):
        gamma_blur_table(0.5, grid, torch.tensor([0.0, 1.2]))
    with pytest.raises(ValueError, match="1-D"):
        gamma_blur_table(0.5, torch.tensor(0.0), gamma)
