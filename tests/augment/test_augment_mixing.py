"""MixUp and CutMix: soft targets on the simplex that equal the pixel mixing weights."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from probmoll.augment import (
    CutMix,
    MixUp,
    create_mixing,
    cutmix,
    list_mixings,
    mixup,
    sample_beta,
    sample_cutmix_boxes,
    sample_mix_params,
    to_soft_targets,
)


def labelled_constant_images(batch, height=12, width=10, dtype=torch.float32):
    """Image k is constant k and has label k, so pixel values reveal the mixing weights."""
    images = torch.arange(batch, dtype=dtype).view(-1, 1, 1, 1).expand(-1, 2, height, width)
    return images.contiguous(), torch.arange(batch)


def implied_pixel_values(targets):
    """The value of a pixel mix of constant images k = 0..K-1 with weights ``targets``."""
    return targets @ torch.arange(targets.shape[1], dtype=targets.dtype)


@pytest.mark.parametrize("mixing_class", [MixUp, CutMix])
@pytest.mark.parametrize("per_sample", [False, True])
def test_targets_on_simplex_and_equal_to_pixel_weights(mixing_class, per_sample):
    batch = 16
    images, labels = labelled_constant_images(batch)
    mixing = mixing_class(batch, alpha=1.0, per_sample=per_sample)
    mixed, targets = mixing(images, labels, generator=torch.Generator().manual_seed(0))
    assert targets.shape == (batch, batch)
    assert (targets >= 0).all()
    torch.testing.assert_close(targets.sum(1), torch.ones(batch))
    # Each row has at most two non-zero entries: the image itself and its partner.
    assert ((targets > 0).sum(1) <= 2).all()
    # MixUp: every pixel is the weighted mean; CutMix: the image mean is.
    torch.testing.assert_close(mixed.mean(dim=(1, 2, 3)), implied_pixel_values(targets))
    if mixing_class is MixUp:
        expected = implied_pixel_values(targets).view(-1, 1, 1, 1).expand_as(mixed)
        torch.testing.assert_close(mixed, expected)
    self_weight = targets.diagonal()
    if per_sample:
        assert self_weight.unique().numel() > 1
    elif mixing_class is MixUp:
        # One lambda for the batch; an image paired with itself keeps weight 1.
        assert torch.isin(self_weight, torch.stack([self_weight.min(), torch.tensor(1.0)])).all()


def test_cutmix_pixels_come_from_one_box_of_the_partner():
    batch, height, width = 32, 16, 16
    images, labels = labelled_constant_images(batch, height, width)
    generator = torch.Generator().manual_seed(1)
    params = sample_mix_params(batch, per_sample=True, generator=generator)
    boxes = sample_cutmix_boxes(params.weight, height, width, generator)
    mixed, targets = cutmix(images, to_soft_targets(labels, batch), boxes, params.partner)
    for b in range(batch):
        top, left, bottom, right = boxes[b].tolist()
        partner = int(params.partner[b])
        from_partner = (mixed[b, 0] == partner) & (mixed[b, 0] != b)
        if partner != b:
            expected = torch.zeros(height, width, dtype=torch.bool)
            expected[top:bottom, left:right] = True
            torch.testing.assert_close(from_partner, expected)
            pasted_fraction = (bottom - top) * (right - left) / (height * width)
            assert math.isclose(float(targets[b, partner]), pasted_fraction, rel_tol=1e-6)


@given(weight=st.floats(0.0, 1.0), height=st.integers(8, 64), width=st.integers(8, 64))
@settings(max_examples=60, deadline=None)
def test_cutmix_box_area_matches_lambda_away_from_borders(weight, height, width):
    # Away from the border the box has even sides 2 floor(sqrt(1 - lam) H / 2) and
    # 2 floor(sqrt(1 - lam) W / 2), so its area is the ideal (1 - lambda) H W up to the
    # rounding of the sides.
    generator = torch.Generator().manual_seed(0)
    boxes = sample_cutmix_boxes(torch.tensor([weight] * 64), height, width, generator)
    box_height = boxes[:, 2] - boxes[:, 0]
    box_width = boxes[:, 3] - boxes[:, 1]
    unclipped = (
        (boxes[:, 0] > 0) & (boxes[:, 1] > 0) & (boxes[:, 2] < height) & (boxes[:, 3] < width)
    )
    ratio = math.sqrt(1.0 - weight)
    for h, w in zip(box_height[unclipped].tolist(), box_width[unclipped].tolist(), strict=True):
        assert h % 2 == 0 and w % 2 == 0
        assert ratio * height - 2 < h <= ratio * height + 1e-4
        assert ratio * width - 2 < w <= ratio * width + 1e-4
        ideal_area = (1.0 - weight) * height * width
        assert h * w <= ideal_area + 1e-3
        assert h * w >= max(ratio * height - 2, 0) * max(ratio * width - 2, 0)
    assert (boxes[:, :2] >= 0).all()
    assert (boxes[:, 2] <= height).all() and (boxes[:, 3] <= width).all()
    assert (box_height >= 0).all() and (box_width >= 0).all()


def test_cutmix_mean_target_weight_follows_beta_with_border_correction():
    # With alpha = 1 and boxes clipped at the border, the expected share of the image
    # itself exceeds E[lambda] = 1/2; Monte-Carlo check against an independent numpy draw.
    batch, size = 20000, 32
    generator = torch.Generator().manual_seed(2)
    params = sample_mix_params(batch, per_sample=True, generator=generator)
    boxes = sample_cutmix_boxes(params.weight, size, size, generator)
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).double()
    share = 1 - area / size**2

    rng = np.random.default_rng(0)
    lam = rng.uniform(size=batch)
    half = np.floor(0.5 * np.sqrt(1 - lam) * size)
    cy, cx = rng.integers(0, size, batch), rng.integers(0, size, batch)
    sides = [np.clip(c + half, None, size) - np.clip(c - half, 0, None) for c in (cy, cx)]
    reference = 1 - sides[0] * sides[1] / size**2
    assert stats.ks_2samp(share.numpy(), reference).pvalue > 1e-3
    assert share.mean() > 0.5


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.5])
def test_sample_beta_matches_scipy(alpha):
    draws = sample_beta(alpha, (4000,), torch.Generator().manual_seed(3))
    assert ((draws >= 0) & (draws <= 1)).all()
    assert stats.kstest(draws.numpy(), stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_one_lambda_per_batch_by_default():
    params = sample_mix_params(64, alpha=0.5, generator=torch.Generator().manual_seed(0))
    assert params.weight.unique().numel() == 1
    assert sorted(params.partner.tolist()) == list(range(64))
    per_sample = sample_mix_params(
        64, alpha=0.5, per_sample=True, generator=torch.Generator().manual_seed(0)
    )
    assert per_sample.weight.unique().numel() == 64


def test_soft_targets_in_soft_targets_out():
    generator = torch.Generator().manual_seed(4)
    batch, classes = 10, 5
    soft = torch.rand(batch, classes, generator=generator, dtype=torch.float64)
    soft = soft / soft.sum(1, keepdim=True)
    images = torch.randn(batch, 3, 8, 8, generator=generator)
    for mixing in (MixUp(classes), CutMix(classes)):
        _, targets = mixing(images, soft, generator=generator)
        assert targets.dtype == torch.float64
        assert (targets >= 0).all()
        torch.testing.assert_close(targets.sum(1), torch.ones(batch, dtype=torch.float64))


def test_mixup_with_weight_one_is_identity():
    images = torch.randn(6, 3, 8, 8)
    targets = to_soft_targets(torch.tensor([0, 1, 2, 0, 1, 2]), 3)
    partner = torch.randperm(6)
    mixed, mixed_targets = mixup(images, targets, torch.ones(6), partner)
    torch.testing.assert_close(mixed, images)
    torch.testing.assert_close(mixed_targets, targets)


def test_mixup_rounds_integer_images():
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 1, 4, 4)
    targets = to_soft_targets(torch.tensor([0, 1]), 2)
    mixed, mixed_targets = mixup(images, targets, torch.tensor([0.3, 0.3]), torch.tensor([1, 0]))
    assert mixed.dtype == torch.uint8
    assert mixed[0].unique().tolist() == [round(0.7 * 255)]
    torch.testing.assert_close(mixed_targets[0], torch.tensor([0.3, 0.7]))


@pytest.mark.parametrize("mixing_class", [MixUp, CutMix])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.bfloat16])
def test_shapes_dtypes_and_determinism(mixing_class, dtype):
    images = torch.randint(0, 256, (8, 3, 16, 16)).to(dtype)
    labels = torch.randint(0, 4, (8,))
    mixing = mixing_class(4)
    first = mixing(images, labels, generator=torch.Generator().manual_seed(9))
    again = mixing(images, labels, generator=torch.Generator().manual_seed(9))
    assert first[0].shape == images.shape and first[0].dtype == dtype
    assert first[1].shape == (8, 4) and first[1].dtype == torch.float32
    for a, b in zip(first, again, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_to_soft_targets():
    torch.testing.assert_close(
        to_soft_targets(torch.tensor([2, 0]), 3), torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    )
    with pytest.raises(ValueError, match="expected num_classes=4"):
        to_soft_targets(torch.ones(2, 3) / 3, 4)
    with pytest.raises(TypeError, match="float32"):
        to_soft_targets(torch.tensor([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match=r"\(2, 2, 2\)"):
        to_soft_targets(torch.zeros(2, 2, 2), 2)


def test_create_mixing_and_bad_settings():
    assert list_mixings() == ["none", "mixup", "cutmix"]
    assert create_mixing("none", 10) is None
    assert isinstance(create_mixing("mixup", 10, alpha=0.4), MixUp)
    assert isinstance(create_mixing("cutmix", 10), CutMix)
    with pytest.raises(ValueError, match="'cutout'.*'cutmix'"):
        create_mixing("cutout", 10)
    with pytest.raises(ValueError, match="alpha"):
        MixUp(10, alpha=0.0)
    with pytest.raises(ValueError, match="num_classes"):
        CutMix(0)
    with pytest.raises(ValueError, match="B=4"):
        MixUp(3)(torch.zeros(4, 3, 8, 8), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)"):
        CutMix(3)(torch.zeros(3, 8, 8), torch.zeros(3, dtype=torch.long))
