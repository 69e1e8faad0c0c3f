"""Batched FCR against torchvision's per-image FCR: pixel equality and distributions."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torchvision.transforms.v2 import functional as TF

from probmoll.augment import (
    BatchFCR,
    FCRParams,
    batch_fcr,
    build_fcr_transform,
    list_interpolations,
    sample_fcr_params,
)

devices = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


def torchvision_fcr(image, top, left, flip, angle, padding, interpolation):
    """The sequential per-image reference: pad, crop, flip, rotate (fill 0)."""
    height, width = image.shape[-2:]
    out = TF.crop(TF.pad(image, [padding], fill=0), top, left, height, width)
    if flip:
        out = TF.horizontal_flip(out)
    return TF.rotate(out, angle, interpolation=TF.InterpolationMode(interpolation), fill=0)


def one_image_params(top, left, flip, angle):
    """FCRParams of a batch of one image."""
    return FCRParams(
        top=torch.tensor([top]),
        left=torch.tensor([left]),
        flip=torch.tensor([flip]),
        angle=torch.tensor([float(angle)]),
    )


def coordinate_image(height, width):
    """float32 (3, H, W) image holding x + 1, y + 1 and 1.

    Bilinear interpolation reproduces linear functions exactly, so wherever the third
    channel is still 1 (every tap inside the image and the crop window) the first two hold
    the exact continuous source coordinate of the pixel.
    """
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([xs + 1, ys + 1, torch.ones(height, width)]).float()


def recover_fcr_params(outputs, padding):
    """Fit the affine map output pixel -> source pixel of each augmented coordinate image.

    FCR sends the output pixel p (centred) to the source pixel F R(theta) p + t, with F the
    optional mirror and t = centre + (left - padding, top - padding). A least-squares fit
    over the interior pixels recovers (top, left, flip, angle in degrees).
    """
    batch, _, height, width = outputs.shape
    source = outputs[:, :2].double() - 1.0
    interior = (outputs[:, 2] > 1 - 1e-5).double().view(batch, -1)
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64) - (height - 1) / 2,
        torch.arange(width, dtype=torch.float64) - (width - 1) / 2,
        indexing="ij",
    )
    design = torch.stack([xs.flatten(), ys.flatten(), torch.ones(height * width)], dim=1)
    weighted = design.unsqueeze(0) * interior.unsqueeze(-1)
    gram = weighted.transpose(1, 2) @ design
    rhs = weighted.transpose(1, 2) @ source.reshape(batch, 2, -1).transpose(1, 2)
    coefficients = torch.linalg.solve(gram, rhs)  # (B, 3, 2): rows x, y, 1; cols source x, y
    linear = coefficients[:, :2, :].transpose(1, 2)  # (B, 2, 2) acting on (x, y)
    shift = coefficients[:, 2, :]
    flip = torch.linalg.det(linear) < 0
    rotation = linear.clone()
    rotation[flip, 0, :] *= -1
    angle = torch.rad2deg(torch.atan2(rotation[:, 1, 0], rotation[:, 0, 0]))
    left = torch.round(shift[:, 0] - (width - 1) / 2 + padding).long()
    top = torch.round(shift[:, 1] - (height - 1) / 2 + padding).long()
    return top, left, flip, angle


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize(
    "shape, padding, degrees", [((3, 32, 32), 4, 15.0), ((1, 20, 27), 2, 40.0)]
)
def test_batch_fcr_matches_torchvision_per_image(interpolation, dtype, shape, padding, degrees):
    generator = torch.Generator().manual_seed(3)
    batch = 24
    images = torch.randint(0, 256, (batch, *shape), generator=generator).to(dtype)
    params = sample_fcr_params(batch, padding=padding, degrees=degrees, generator=generator)
    output = batch_fcr(images, params, padding=padding, interpolation=interpolation)
    reference = torch.stack(
        [
            torchvision_fcr(
                images[b],
                int(params.top[b]),
                int(params.left[b]),
                bool(params.flip[b]),
                float(params.angle[b]),
                padding,
                interpolation,
            )
            for b in range(batch)
        ]
    )
    if interpolation == "nearest":
        torch.testing.assert_close(output, reference, rtol=0, atol=0)
    else:
        # Same formula, float32 rounding in a different order: at most a stray 1/255 step.
        difference = (output.double() - reference.double()).abs()
        assert difference.max() <= 1.0
        assert (difference > 1e-3).double().mean() < 1e-3


def test_recovered_parameters_equal_drawn_parameters():
    padding = 4
    generator = torch.Generator().manual_seed(0)
    images = coordinate_image(32, 32).expand(64, -1, -1, -1)
    params = sample_fcr_params(64, padding=padding, degrees=15.0, generator=generator)
    output = batch_fcr(images, params, padding=padding, interpolation="bilinear")
    top, left, flip, angle = recover_fcr_params(output, padding)
    torch.testing.assert_close(top, params.top)
    torch.testing.assert_close(left, params.left)
    torch.testing.assert_close(flip, params.flip)
    assert (angle - params.angle.double()).abs().max() < 1e-3


def test_batched_and_per_image_fcr_share_one_distribution():
    padding, degrees, draws = 4, 15.0, 1500
    generator = torch.Generator().manual_seed(1)
    image = coordinate_image(32, 32)
    # Bilinear keeps sub-pixel coordinates; the sampling of the parameters is what is tested
    # here (nearest equals torchvision pixel for pixel above).
    fcr = BatchFCR(padding, degrees, interpolation="bilinear")
    batched = fcr(image.expand(draws, -1, -1, -1), generator=generator)
    torch.manual_seed(2)
    per_image_transform = build_fcr_transform(
        32, padding=padding, degrees=degrees, interpolation="bilinear"
    )
    # One intra-op thread, as in DataLoader workers: tiny per-image ops only lose time to
    # thread hand-offs, badly so on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        per_image = torch.stack([per_image_transform(image) for _ in range(draws)])
    finally:
        torch.set_num_threads(threads)

    recovered = {
        "batched": recover_fcr_params(batched, padding),
        "per_image": recover_fcr_params(per_image, padding),
    }
    offsets = np.arange(2 * padding + 1)
    for top, left, flip, angle in recovered.values():
        for offset in (top, left):
            counts = (offset.numpy()[:, None] == offsets).sum(0)
            assert counts.sum() == draws  # every offset lies in {0, ..., 2 * padding}
            assert stats.chisquare(counts).pvalue > 1e-3
        assert stats.binomtest(int(flip.sum()), draws, 0.5).pvalue > 1e-3
        assert angle.abs().max() < degrees + 1e-3
        assert stats.kstest(angle.numpy(), stats.uniform(-degrees, 2 * degrees).cdf).pvalue > 1e-3

    (top_a, left_a, flip_a, angle_a), (top_b, left_b, flip_b, angle_b) = recovered.values()
    for a, b in ((top_a, top_b), (left_a, left_b)):
        table = np.stack(
            [(a.numpy()[:, None] == offsets).sum(0), (b.numpy()[:, None] == offsets).sum(0)]
        )
        assert stats.chi2_contingency(table).pvalue > 1e-3
    flips = np.array([[flip_a.sum(), draws - flip_a.sum()], [flip_b.sum(), draws - flip_b.sum()]])
    assert stats.chi2_contingency(flips).pvalue > 1e-3
    assert stats.ks_2samp(angle_a.numpy(), angle_b.numpy()).pvalue > 1e-3


def test_sampled_parameters_have_fcr_distribution():
    padding, degrees, flip_p, draws = 3, 10.0, 0.3, 20000
    params = sample_fcr_params(
        draws,
        padding=padding,
        degrees=degrees,
        flip_p=flip_p,
        generator=torch.Generator().manual_seed(4),
    )
    for offset in (params.top, params.left):
        counts = torch.bincount(offset, minlength=2 * padding + 1).numpy()
        assert len(counts) == 2 * padding + 1
        assert stats.chisquare(counts).pvalue > 1e-3
    assert stats.binomtest(int(params.flip.sum()), draws, flip_p).pvalue > 1e-3
    cdf = stats.uniform(-degrees, 2 * degrees).cdf
    assert stats.kstest(params.angle.numpy(), cdf).pvalue > 1e-3
    assert params.top.dtype == torch.int64 and params.flip.dtype == torch.bool


@pytest.mark.parametrize("device", devices)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float16, torch.float64])
@pytest.mark.parametrize("interpolation", list_interpolations())
def test_shape_dtype_device_preserved(device, dtype, interpolation):
    generator = torch.Generator(device=device).manual_seed(0)
    images = torch.rand(5, 3, 16, 12, generator=generator, device=device).mul(255).to(dtype)
    output = BatchFCR(interpolation=interpolation)(images, generator=generator)
    assert output.shape == images.shape
    assert output.dtype == images.dtype
    assert output.device == images.device


def test_deterministic_given_a_generator():
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    fcr = BatchFCR()
    first = fcr(images, generator=torch.Generator().manual_seed(7))
    again = fcr(images, generator=torch.Generator().manual_seed(7))
    other = fcr(images, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)


def test_no_op_settings_are_identity_and_full_flip_mirrors():
    images = torch.randint(0, 256, (6, 3, 9, 11), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    identity = BatchFCR(padding=0, degrees=0.0, flip_p=0.0)(images, generator=generator)
    torch.testing.assert_close(identity, images, rtol=0, atol=0)
    mirrored = BatchFCR(padding=0, degrees=0.0, flip_p=1.0)(images, generator=generator)
    torch.testing.assert_close(mirrored, images.flip(-1), rtol=0, atol=0)


def test_crop_shifts_content_and_fills_with_zero():
    images = torch.full((1, 1, 8, 8), 9.0)
    params = one_image_params(0, 6, False, 0.0)
    output = batch_fcr(images, params, padding=3)
    # Window rows start 3 above the image (zero rows), columns 3 right of it (zero columns).
    expected = torch.zeros(8, 8)
    expected[3:, :5] = 9.0
    torch.testing.assert_close(output[0, 0], expected)


def test_rotation_by_quarter_turn_about_centre():
    images = torch.arange(16.0).view(1, 1, 4, 4)
    params = one_image_params(0, 0, False, 90.0)
    output = batch_fcr(images, params, padding=0)
    # A counter-clockwise quarter turn of the array, as torch.rot90 does.
    torch.testing.assert_close(output[0, 0], torch.rot90(images[0, 0], 1, dims=(0, 1)))


def test_empty_batch():
    images = torch.zeros(0, 3, 8, 8, dtype=torch.uint8)
    assert BatchFCR()(images).shape == images.shape


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"padding": -1}, "padding"),
        ({"padding": 2.5}, "padding"),
        ({"degrees": 200.0}, "degrees"),
        ({"flip_p": 1.5}, "flip_p"),
        ({"interpolation": "bicubic"}, "bicubic"),
    ],
)
def test_bad_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchFCR(**kwargs)


def test_bad_inputs_raise():
    fcr = BatchFCR()
    with pytest.raises(ValueError, match=r"\(3, 32, 32\)"):
        fcr(torch.zeros(3, 32, 32))
    with pytest.raises(TypeError, match="Tensor"):
        fcr(np.zeros((2, 3, 32, 32)))
    with pytest.raises(TypeError, match="bool"):
        fcr(torch.zeros(2, 3, 8, 8, dtype=torch.bool))
    params = sample_fcr_params(3)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        batch_fcr(torch.zeros(2, 3, 8, 8), params)
    with pytest.raises(ValueError, match="batch_size"):
        sample_fcr_params(-1)


def test_angle_range_is_symmetric_and_bounded():
    degrees = 15.0
    params = sample_fcr_params(5000, degrees=degrees, generator=torch.Generator().manual_seed(5))
    assert params.angle.abs().max() <= degrees
    assert abs(params.angle.mean().item()) < 3 * degrees / math.sqrt(3 * 5000)


@given(
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    padding=st.integers(0, 5),
    angle=st.floats(-180.0, 180.0, allow_nan=False, width=32),
    flip=st.booleans(),
    data=st.data(),
)
@settings(max_examples=80, deadline=None)
def test_nearest_equals_torchvision_for_any_parameters(height, width, padding, angle, flip, data):
    top = data.draw(st.integers(0, 2 * padding))
    left = data.draw(st.integers(0, 2 * padding))
    image = torch.arange(1, 2 * height * width + 1, dtype=torch.float32).view(2, height, width)
    params = one_image_params(top, left, flip, angle)
    output = batch_fcr(image.unsqueeze(0), params, padding=padding)[0]
    reference = torchvision_fcr(image, top, left, flip, angle, padding, "nearest")
    torch.testing.assert_close(output, reference, rtol=0, atol=0)
