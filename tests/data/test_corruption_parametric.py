"""The parametric corruption kernels: the package's bytes with its own constants, the
published scripts' procedures, and the statistics each parameter sets."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from probmoll.data.corruptions import CORRUPTION_PRESETS, corrupt_image, kernels, parametric

IMAGENET, CIFAR, TINY = (
    CORRUPTION_PRESETS[n] for n in ("imagenet-c", "cifar10-c", "tinyimagenet-c")
)
# Where the published scripts do what the package does, up to the constants.
SAME_PROCEDURE = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "fog", "brightness", "contrast", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)  # fmt: skip


def random_images(count, shape, seed):
    return np.random.default_rng(seed).integers(0, 256, (count, *shape, 3), dtype=np.uint8)


def flat(value, size=64):
    return np.full((size, size, 3), value, dtype=np.uint8)


# ------------------------------------------------------- the package with its constants
@pytest.mark.parametrize("name", SAME_PROCEDURE)
def test_kernels_with_the_imagenet_table_are_the_package(name):
    """Same RNG state, same bytes: the kernels are right, and only the tables differ."""
    for shape in ((32, 32), (40, 56)):
        for index, image in enumerate(random_images(2, shape, seed=shape[1])):
            for severity in range(1, 6):
                seed = 100 * severity + index
                with np.errstate(invalid="ignore", divide="ignore"):  # the package's spatter
                    package = kernels.apply_corruption(image, name, severity, seed)
                ours = parametric.corrupt_one(image, name, severity, seed, IMAGENET)
                if name == "spatter" and severity >= 4:
                    # Mud: the scripts colour it in float32, the package in float64.
                    assert np.abs(ours.astype(int) - package).max() <= 1
                    assert (ours != package).mean() < 0.01
                else:
                    np.testing.assert_array_equal(ours, package, err_msg=f"{name} {severity}")


# ------------------------------------------------------------- the scripts' procedures
def crop_positions(layer, crop):
    """Every ``(top, left)`` where ``crop`` sits in ``layer`` (both ``(h, w, 3)``)."""
    height, width = crop.shape[:2]
    corner = layer[: layer.shape[0] - height + 1, : layer.shape[1] - width + 1] == crop[0, 0]
    return [
        (top, left)
        for top, left in zip(*np.nonzero(corner.all(axis=2)), strict=True)
        if np.array_equal(layer[top : top + height, left : left + width], crop)
    ]


@pytest.mark.parametrize("preset, size", [(CIFAR, 32), (TINY, 64)])
def test_frost_uses_the_first_five_photographs_at_a_fixed_scale(preset, size):
    import cv2

    scale = preset.settings["frost"]["photo_scale"]
    weight = preset.params("frost", 1)[1]
    # On a black image the output is frost_weight times a crop of a photograph.
    layers = [
        np.uint8(weight * cv2.resize(parametric.frost_photograph(i), (0, 0), fx=scale, fy=scale))
        for i in range(6)
    ]
    used = set()
    for seed in range(10):
        np.random.seed(seed)  # noqa: NPY002
        out = parametric.frost(flat(0, size), preset.params("frost", 1), **preset.settings["frost"])
        found = [i for i, layer in enumerate(layers) if crop_positions(layer[..., ::-1], out)]
        assert found, seed  # frost2 and frost3 share regions: a crop may fit both
        used.update(found)
    assert used <= {0, 1, 2, 3, 4} and len(used) >= 3


def test_pixelate_is_a_box_filter_down_and_up():
    image = random_images(1, (32, 32), seed=3)[0]
    for severity, factor in enumerate(CIFAR.parameters["pixelate"], 1):
        side = int(32 * factor)
        pil = Image.fromarray(image)
        expected = np.asarray(pil.resize((side, side), Image.BOX).resize((32, 32), Image.BOX))
        out = corrupt_image(image, "pixelate", severity, preset="cifar10-c")
        np.testing.assert_array_equal(out, expected)


def test_jpeg_compression_is_pils_jpeg_at_the_quality():
    image = random_images(1, (32, 32), seed=4)[0]
    for severity, quality in enumerate(CIFAR.parameters["jpeg_compression"], 1):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        expected = np.asarray(Image.open(buffer))
        out = corrupt_image(image, "jpeg_compression", severity, preset="cifar10-c")
        np.testing.assert_array_equal(out, expected)


def test_tinyimagenet_images_are_stored_as_jpeg_quality_85():
    image = random_images(1, (64, 64), seed=5)[0]
    contrast = parametric.contrast(image, TINY.params("contrast", 2))  # draws nothing
    buffer = io.BytesIO()
    Image.fromarray(contrast).save(buffer, "JPEG", quality=85)
    out = corrupt_image(image, "contrast", 2)  # auto at 64 px: tinyimagenet-c
    np.testing.assert_array_equal(out, np.asarray(Image.open(buffer)))
    batch = parametric.corrupt_batch(image[None], "zoom_blur", 1, TINY)[0]
    np.testing.assert_array_equal(
        batch,
        parametric.jpeg_round_trip(parametric.zoom_blur(image, TINY.params("zoom_blur", 1)), 85),
    )


def test_zoom_blur_of_one_image_is_its_row_of_the_batch():
    images = random_images(3, (32, 40), seed=6)
    params = CIFAR.params("zoom_blur", 4)
    batch = parametric.zoom_blur_batch(images, params)
    for image, row in zip(images, batch, strict=True):
        np.testing.assert_array_equal(row, parametric.zoom_blur(image, params))


def test_fog_map_is_the_power_of_two_of_the_image_side(monkeypatch):
    import imagecorruptions.corruptions as package

    sizes = []
    original = package.plasma_fractal
    monkeypatch.setattr(
        package,
        "plasma_fractal",
        lambda mapsize, wibbledecay: sizes.append(mapsize) or original(mapsize, wibbledecay),
    )
    for side in (32, 48, 64):
        parametric.fog(flat(100, side), CIFAR.params("fog", 3))
    assert sizes == [32, 64, 64]  # 32 and 64 at the scripts' own sizes


def test_elastic_transform_parameters_are_fractions_of_the_side():
    # Severity 1: alpha = 0, only the affine warp (corners moved by up to 0.08 x side).
    image = random_images(1, (32, 32), seed=7)[0]
    warped = corrupt_image(image, "elastic_transform", 1, preset="cifar10-c")
    assert warped.shape == image.shape and not np.array_equal(warped, image)
    flat_out = corrupt_image(flat(90, 32), "elastic_transform", 5, preset="cifar10-c")
    assert len(np.unique(flat_out)) == 1 and abs(int(flat_out[0, 0, 0]) - 90) <= 1


# --------------------------------------------------------------------------- statistics
def corrupted_pixels(value, name, severity, preset="cifar10-c", count=2):
    return np.stack(
        [corrupt_image(flat(value), name, severity, preset=preset, index=i) for i in range(count)]
    ).astype(float)


@pytest.mark.parametrize("severity", range(1, 6))
def test_gaussian_noise_std_is_sigma(severity):
    sigma = CIFAR.params("gaussian_noise", severity)
    assert sigma == [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    pixels = corrupted_pixels(128, "gaussian_noise", severity)
    # Truncation to uint8 adds a uniform rounding error: variance 1/12, mean -1/2.
    assert pixels.std() == pytest.approx(np.sqrt((sigma * 255) ** 2 + 1 / 12), rel=0.03)
    assert pixels.mean() == pytest.approx(127.5, abs=0.5)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_shot_noise_variance_is_intensity_over_rate(severity):
    rate = CIFAR.params("shot_noise", severity)
    pixels = corrupted_pixels(128, "shot_noise", severity)
    expected = 255**2 * (128 / 255) / rate + 1 / 12
    assert pixels.var() == pytest.approx(expected, rel=0.06)


@pytest.mark.parametrize("severity", [1, 5])
def test_speckle_noise_std_is_proportional_to_intensity(severity):
    scale = CIFAR.params("speckle_noise", severity)
    pixels = corrupted_pixels(128, "speckle_noise", severity)
    assert pixels.std() == pytest.approx(np.sqrt((128 * scale) ** 2 + 1 / 12), rel=0.03)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_impulse_noise_replaces_the_amount(severity):
    amount = CIFAR.params("impulse_noise", severity)
    pixels = corrupted_pixels(128, "impulse_noise", severity, count=3)
    salt, pepper = (pixels == 255).mean(), (pixels == 0).mean()
    tolerance = 4 * np.sqrt(amount * (1 - amount) / pixels.size)
    assert salt + pepper == pytest.approx(amount, abs=tolerance)
    assert salt == pytest.approx(pepper, abs=tolerance)
    assert np.isin(pixels, [0, 128, 255]).all()


@pytest.mark.parametrize("severity", range(1, 6))
def test_contrast_scales_deviations_from_the_mean(severity):
    factor = CIFAR.params("contrast", severity)
    image = (64 + random_images(1, (32, 32), seed=8)[0] // 2).astype(np.uint8)  # 64..191
    out = corrupt_image(image, "contrast", severity, preset="cifar10-c").astype(float)
    mean = image.mean(axis=(0, 1))
    np.testing.assert_allclose(out, (image - mean) * factor + mean, atol=1)  # no clipping here
    assert out.std(axis=(0, 1)) / image.std(axis=(0, 1)) == pytest.approx(
        np.full(3, factor), rel=0.06
    )


@pytest.mark.parametrize("severity", range(1, 6))
def test_brightness_raises_grey_levels_by_the_amount(severity):
    amount = CIFAR.params("brightness", severity)
    grey = np.repeat(random_images(1, (32, 32), seed=9)[0][..., :1], 3, axis=2)
    out = corrupt_image(grey, "brightness", severity, preset="cifar10-c").astype(float)
    # On grey pixels the HSV value is the grey level itself.
    np.testing.assert_allclose(out, np.clip(grey + amount * 255, 0, 255), atol=1)


def test_every_kernel_keeps_shape_and_type_for_both_presets():
    image = random_images(1, (40, 48), seed=10)[0]
    for preset in (CIFAR, TINY):
        for name in parametric.KERNELS:
            for severity in (1, 5):
                out = parametric.corrupt_one(image, name, severity, 3, preset)
                assert out.shape == image.shape and out.dtype == np.uint8, (name, severity)


def test_an_empty_spatter_layer_leaves_the_image():
    # loc far below the threshold: no liquid anywhere (0/0 in the scripts).
    image = random_images(1, (32, 32), seed=11)[0]
    np.random.seed(0)  # noqa: NPY002
    out = parametric.spatter(image, (0.0, 0.01, 0.7, 0.7, 0.5, 0))
    np.testing.assert_array_equal(
        out, np.uint8(np.clip(image.astype(np.float32) / 255, 0, 1) * 255)
    )
