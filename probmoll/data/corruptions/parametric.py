"""The 19 corruptions as functions of (image, parameters): the cifar10-c and tinyimagenet-c
presets.

Each kernel takes an RGB uint8 ``(H, W, 3)`` image and one entry of a preset's table
(:mod:`~probmoll.data.corruptions.presets`) and returns uint8 ``(H, W, 3)``. They follow
the scripts that made CIFAR-10-C and Tiny-ImageNet-C (``make_cifar_c.py``,
``make_tinyimagenet_c.py`` in ``hendrycks/robustness``), with the helpers of the
``imagecorruptions`` package where they fit: its ImageMagick-free motion blur
(``_motion_blur``), ``plasma_fractal``, ``disk`` and the numba-compiled pixel shuffle of
glass blur. Random numbers come from numpy's global RNG, in the scripts' order (the
caller seeds it); impulse noise and glass blur draw from generators of their own, seeded
with ``seed`` as in :mod:`~probmoll.data.corruptions.kernels`.

Where the published scripts do more than change the package's constants, the kernels do
what the scripts do:

- zooms (``clipped_zoom``) are trimmed to ``H x W`` about their centre; the package keeps
  the top-left corner. With factors below 1.5 (all of ``zoom_blur``'s) the zoomed crop
  exceeds the image by one pixel at most and both keep the same pixels, so ``zoom_blur``
  differs from the package by its factors alone (run a chunk at a time,
  :func:`zoom_blur_batch`); ``snow``'s larger zooms are where the trim matters.
- ``snow``: the snow layer is trimmed before its motion blur (the package blurs the
  larger layer, then crops), quantised to 8 bits before it (truncated, as the PNG the
  scripts hand to ImageMagick) and rounded to 8 bits after it.
- ``frost``: one of the first five photographs (``randint(5)``), resized by a fixed factor
  with OpenCV's default bilinear interpolation (0.2 for 32 px images, 0.3 for 64 px);
  the package takes any of six, resized bicubically to just fit the image.
- ``pixelate``: box filter down to ``int(side * c)`` and box filter back up (the package
  goes back up by nearest neighbour).
- ``elastic_transform``: a random affine warp (corners of a centred square moved by up
  to ``affine``) followed by a smooth displacement field (uniform noise, Gaussian
  smoothing ``sigma``, amplitude ``alpha``), all three given as fractions of the image
  side (the scripts: ``IMSIZE * fraction``).
- ``spatter``'s mud (severities 4-5) is coloured in float32, as in the scripts (the
  package: float64; one grey level apart on under 1% of pixels).
- The tinyimagenet-c preset stores every image as a JPEG of quality 85 (the script saved
  its images so); :func:`corrupt_one` and :func:`corrupt_batch` apply that round trip.

With the imagenet-c table, the kernels of the 15 corruptions whose procedure the package
shares (all but snow, frost, pixelate and elastic_transform) reproduce the package's
bytes for the same RNG state, spatter's mud within one grey level
(``tests/data/test_corruption_parametric.py``): the kernels are the package's
computation, and the presets differ by their tables.

Deviations from the scripts, all kept small:

- motion blur (``motion_blur`` and the snow layer) uses the package's ImageMagick-free
  kernel (ImageMagick's ``MotionBlurImage`` weights and offsets, edge pixels repeated)
  instead of ImageMagick; ``motion_blur`` truncates its result to uint8 where ImageMagick
  rounds (half a grey level on average);
- glass blur's pixel shuffle is the package's numba loop, which draws from numba's RNG
  seeded per image instead of numpy's global RNG (same distribution);
- ``fog``'s plasma map is the package's (float32; the scripts compute it in float64),
  of side the power of two at least the image side (32 and 64 at the scripts' sizes, as
  they use);
- images that are not square, or not of the script's size, get the scripts' rules with
  the image's own sides (zoom crops, pixelate sizes, elastic fractions of the shorter
  side, frost photographs scaled in proportion to the longer side);
- ``spatter`` maps an empty liquid layer (0/0, a NaN image in the scripts) to "no
  spatter", as :func:`probmoll.data.corruptions.kernels.spatter` does.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Callable
from io import BytesIO
from typing import Any

import numpy as np

from .presets import CorruptionPreset

__all__ = [
    "BATCH_KERNELS",
    "KERNELS",
    "TAKES_SEED",
    "brightness",
    "contrast",
    "corrupt_batch",
    "corrupt_one",
    "defocus_blur",
    "elastic_transform",
    "fog",
    "frost",
    "frost_photograph",
    "gaussian_blur",
    "gaussian_noise",
    "glass_blur",
    "impulse_noise",
    "jpeg_compression",
    "jpeg_round_trip",
    "motion_blur",
    "pixelate",
    "saturate",
    "shot_noise",
    "snow",
    "spatter",
    "speckle_noise",
    "zoom_blur",
    "zoom_blur_batch",
]

# imagecorruptions' frost photographs, in the scripts' order (frost1 ... frost6).
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """The scripts' (and the package's) final ``np.uint8``: truncation of [0, 255] floats."""
    return np.uint8(values)


def _draw_seed(seed: int | None) -> int:
    """``seed``, or one drawn from numpy's global RNG, so that seeding it suffices."""
    if seed is None:
        return int(np.random.randint(2**31 - 1))  # noqa: NPY002
    return int(seed)


def _gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.filters import gaussian

    return gaussian(image, sigma=sigma, channel_axis=-1)


# ------------------------------------------------------------------------------ noise
def gaussian_noise(image: np.ndarray, sigma: float) -> np.ndarray:
    """Additive Gaussian noise of standard deviation ``sigma`` (on [0, 1] intensities)."""
    x = np.array(image) / 255.0
    return _to_uint8(np.clip(x + np.random.normal(size=x.shape, scale=sigma), 0, 1) * 255)  # noqa: NPY002


def shot_noise(image: np.ndarray, rate: float) -> np.ndarray:
    """Poisson noise: ``Poisson(x * rate) / rate``, variance ``x / rate``."""
    x = np.array(image) / 255.0
    return _to_uint8(np.clip(np.random.poisson(x * rate) / float(rate), 0, 1) * 255)  # noqa: NPY002


def impulse_noise(image: np.ndarray, amount: float, seed: int | None = None) -> np.ndarray:
    """Salt and pepper: each value set to 0 or 1 (equally likely) with probability ``amount``."""
    from skimage.util import random_noise

    x = random_noise(np.array(image) / 255.0, mode="s&p", rng=_draw_seed(seed), amount=amount)
    return _to_uint8(np.clip(x, 0, 1) * 255)


def speckle_noise(image: np.ndarray, scale: float) -> np.ndarray:
    """Multiplicative Gaussian noise: ``x + x * N(0, scale^2)``."""
    x = np.array(image) / 255.0
    return _to_uint8(np.clip(x + x * np.random.normal(size=x.shape, scale=scale), 0, 1) * 255)  # noqa: NPY002


# ------------------------------------------------------------------------------- blur
def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels."""
    return _to_uint8(np.clip(_gaussian(np.array(image) / 255.0, sigma), 0, 1) * 255)


def glass_blur(image: np.ndarray, params: tuple, seed: int | None = None) -> np.ndarray:
    """``(sigma, max_delta, iterations)``: blur, swap each pixel with a random neighbour
    up to ``max_delta`` away (``iterations`` sweeps, bottom-right to top-left), blur again."""
    from imagecorruptions.corruptions import _shuffle_pixels_njit_glass_blur

    sigma, max_delta, iterations = params
    height, width = image.shape[:2]
    x = np.uint8(_gaussian(np.array(image) / 255.0, sigma) * 255)
    # One tuple type (float, int, int), so numba compiles one signature.
    c = (float(sigma), int(max_delta), int(iterations))
    x = _shuffle_pixels_njit_glass_blur(height, width, x, c, _draw_seed(seed))
    return _to_uint8(np.clip(_gaussian(x / 255.0, sigma), 0, 1) * 255)


@functools.cache
def _disk(radius: float, alias_blur: float) -> np.ndarray:
    from imagecorruptions.corruptions import disk

    kernel = disk(radius=radius, alias_blur=alias_blur)
    kernel.flags.writeable = False
    return kernel


def defocus_blur(image: np.ndarray, params: tuple) -> np.ndarray:
    """``(radius, alias_blur)``: convolution with an anti-aliased disk (cached per entry)."""
    import cv2

    radius, alias_blur = params
    x = np.array(image) / 255.0
    kernel = _disk(radius, alias_blur)
    channels = np.array([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)])
    return _to_uint8(np.clip(channels.transpose((1, 2, 0)), 0, 1) * 255)


def motion_blur(image: np.ndarray, params: tuple) -> np.ndarray:
    """``(radius, sigma)``: one-sided Gaussian motion blur at a uniform angle in [-45, 45]
    degrees (the package's kernel in place of ImageMagick's)."""
    from imagecorruptions.corruptions import _motion_blur

    radius, sigma = params
    angle = np.random.uniform(-45, 45)  # noqa: NPY002
    blurred = _motion_blur(np.array(image), radius=radius, sigma=sigma, angle=angle)
    return _to_uint8(np.clip(blurred, 0, 255))


def _centred_zoom(stack: np.ndarray, factor: float) -> np.ndarray:
    """Zoom the centre of ``stack`` ``(H, W, K)`` by ``factor`` (bilinear) and trim the
    result to ``H x W`` about its centre, as the scripts' ``clipped_zoom``."""
    from scipy.ndimage import zoom as scipy_zoom

    height, width = stack.shape[:2]
    crop_h, crop_w = int(np.ceil(height / factor)), int(np.ceil(width / factor))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    zoomed = scipy_zoom(
        stack[top : top + crop_h, left : left + crop_w], (factor, factor, 1), order=1
    )
    trim_top, trim_left = (zoomed.shape[0] - height) // 2, (zoomed.shape[1] - width) // 2
    return zoomed[trim_top : trim_top + height, trim_left : trim_left + width]


def zoom_blur_batch(images: np.ndarray, params: tuple) -> np.ndarray:
    """``zoom_blur`` on a batch of RGB uint8 images ``(B, H, W, 3)``.

    The images are stacked along the channel axis, where scipy's zoom factor is 1 and the
    interpolation weights are exactly 0 and 1, so each image gets the numbers it would
    get alone.
    """
    count, height, width, channels = images.shape
    factors = np.arange(*params)
    scaled = (images / 255.0).astype(np.float32)
    stacked = np.ascontiguousarray(
        scaled.transpose(1, 2, 0, 3).reshape(height, width, count * channels)
    )
    total = np.zeros_like(stacked)
    for factor in factors:
        total += _centred_zoom(stacked, factor)
    blurred = np.clip((stacked + total) / (len(factors) + 1), 0, 1) * 255
    return _to_uint8(blurred).reshape(height, width, count, channels).transpose(2, 0, 1, 3)


def zoom_blur(image: np.ndarray, params: tuple) -> np.ndarray:
    """``(start, stop, step)``: the mean of the image and its centre zooms by each factor
    of ``np.arange(start, stop, step)``."""
    return zoom_blur_batch(image[None], params)[0]


# ---------------------------------------------------------------------------- weather
def snow(image: np.ndarray, params: tuple) -> np.ndarray:
    """``(loc, scale, zoom, threshold, radius, sigma, blend)``: a thresholded, zoomed
    Gaussian layer streaked by a motion blur at an angle in [-135, -45] degrees, added
    twice (rotated by 180 degrees) to the image brightened towards grey by ``1 - blend``."""
    import cv2
    from imagecorruptions.corruptions import _motion_blur

    loc, scale, zoom, threshold, radius, sigma, blend = params
    x = np.array(image, dtype=np.float32) / 255.0
    height, width = x.shape[:2]
    layer = np.random.normal(size=(height, width), loc=loc, scale=scale)  # noqa: NPY002
    layer = _centred_zoom(layer[..., np.newaxis], zoom)
    layer[layer < threshold] = 0
    layer = (np.clip(layer.squeeze(-1), 0, 1) * 255).astype(np.uint8)
    angle = np.random.uniform(-135, -45)  # noqa: NPY002
    streaks = _motion_blur(layer, radius=radius, sigma=sigma, angle=angle)
    streaks = (np.clip(np.round(streaks), 0, 255) / 255.0)[..., np.newaxis]
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(height, width, 1)
    x = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    return _to_uint8(np.clip(x + streaks + np.rot90(streaks, k=2), 0, 1) * 255)


@functools.cache
def frost_photograph(index: int) -> np.ndarray:
    """imagecorruptions' frost photograph ``index`` (0-5), BGR uint8, read once per process."""
    import cv2

    resource = importlib.resources.files("imagecorruptions") / "frost" / FROST_FILES[index]
    with importlib.resources.as_file(resource) as path:
        photo = cv2.imread(str(path))
    if photo is None:
        raise FileNotFoundError(f"imagecorruptions' frost image {str(resource)!r} is missing")
    photo.flags.writeable = False
    return photo


@functools.cache
def _scaled_photograph(index: int, scale: float) -> np.ndarray:
    import cv2

    layer = cv2.resize(frost_photograph(index), (0, 0), fx=scale, fy=scale)
    layer.flags.writeable = False
    return layer


def frost(
    image: np.ndarray,
    params: tuple,
    *,
    photographs: int = 5,
    photo_scale: float = 0.2,
    reference_size: int = 32,
) -> np.ndarray:
    """``(image_weight, frost_weight)``: the image mixed with a random crop of one of the
    first ``photographs`` frost photographs, resized by ``photo_scale`` for images of
    side ``reference_size`` (in proportion for others)."""
    height, width = image.shape[:2]
    image_weight, frost_weight = params
    index = np.random.randint(photographs)  # noqa: NPY002
    layer = _scaled_photograph(int(index), photo_scale * max(height, width) / reference_size)
    top = np.random.randint(0, layer.shape[0] - height)  # noqa: NPY002
    left = np.random.randint(0, layer.shape[1] - width)  # noqa: NPY002
    crop = layer[top : top + height, left : left + width][..., [2, 1, 0]]
    return _to_uint8(np.clip(image_weight * np.array(image) + frost_weight * crop, 0, 255))


def fog(image: np.ndarray, params: tuple) -> np.ndarray:
    """``(strength, wibble_decay)``: a diamond-square plasma added with weight
    ``strength``, the result rescaled to the image's maximum."""
    from imagecorruptions.corruptions import next_power_of_2, plasma_fractal

    strength, decay = params
    x = np.array(image) / 255.0
    height, width = x.shape[:2]
    max_value = x.max()
    plasma = plasma_fractal(mapsize=next_power_of_2(max(height, width)), wibbledecay=decay)
    x += strength * plasma[:height, :width][..., np.newaxis]
    return _to_uint8(np.clip(x * max_value / (max_value + strength), 0, 1) * 255)


def spatter(image: np.ndarray, params: tuple) -> np.ndarray:
    """``(loc, scale, sigma, threshold, intensity, mud)``: a thresholded smooth Gaussian
    layer, drawn as pale turquoise water (``mud = 0``) or brown mud (``mud = 1``)."""
    import cv2
    from skimage.filters import gaussian

    loc, scale, sigma, threshold, intensity, mud = params
    x = np.array(image, dtype=np.float32) / 255.0
    liquid = np.random.normal(size=x.shape[:2], loc=loc, scale=scale)  # noqa: NPY002
    liquid = gaussian(liquid, sigma=sigma)
    liquid[liquid < threshold] = 0
    if mud == 0:
        liquid = (liquid * 255).astype(np.uint8)
        dist = 255 - cv2.Canny(liquid, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
        ridge = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, ridge), (3, 3)).astype(np.float32)
        layer = cv2.cvtColor(liquid * dist, cv2.COLOR_GRAY2BGRA)
        with np.errstate(invalid="ignore", divide="ignore"):
            layer /= np.max(layer, axis=(0, 1))
        if np.isnan(layer).any():  # no liquid at all: 0/0
            return _to_uint8(np.clip(x, 0, 1) * 255)
        layer *= intensity
        ones = np.ones_like(layer[..., :1])
        colour = np.concatenate((175 / 255.0 * ones, 238 / 255.0 * ones, 238 / 255.0 * ones), 2)
        colour = cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2BGRA)
        return _to_uint8(cv2.cvtColor(np.clip(x + layer * colour, 0, 1), cv2.COLOR_BGRA2BGR) * 255)
    mask = gaussian(np.where(liquid > threshold, 1, 0).astype(np.float32), sigma=intensity)
    mask[mask < 0.8] = 0
    ones = np.ones_like(x[..., :1])
    colour = np.concatenate((63 / 255.0 * ones, 42 / 255.0 * ones, 20 / 255.0 * ones), axis=2)
    colour *= mask[..., np.newaxis]
    x *= 1 - mask[..., np.newaxis]
    return _to_uint8(np.clip(x + colour, 0, 1) * 255)


# ---------------------------------------------------------------------------- digital
def _hsv_channel(image: np.ndarray, channel: int, change: Callable) -> np.ndarray:
    from skimage.color import hsv2rgb, rgb2hsv

    x = rgb2hsv(np.array(image) / 255.0)
    x[:, :, channel] = np.clip(change(x[:, :, channel]), 0, 1)
    return _to_uint8(np.clip(hsv2rgb(x), 0, 1) * 255)


def brightness(image: np.ndarray, amount: float) -> np.ndarray:
    """HSV value raised by ``amount`` (clipped at 1)."""
    return _hsv_channel(image, 2, lambda value: value + amount)


def saturate(image: np.ndarray, params: tuple) -> np.ndarray:
    """``(factor, offset)``: HSV saturation ``s * factor + offset`` (clipped to [0, 1])."""
    factor, offset = params
    return _hsv_channel(image, 1, lambda saturation: saturation * factor + offset)


def contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """Deviations from each channel's mean scaled by ``factor``."""
    x = np.array(image) / 255.0
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return _to_uint8(np.clip((x - means) * factor + means, 0, 1) * 255)


@functools.cache
def _grid(height: int, width: int, channels: int) -> tuple[np.ndarray, ...]:
    cols, rows, planes = np.meshgrid(np.arange(width), np.arange(height), np.arange(channels))
    for array in (cols, rows, planes):
        array.flags.writeable = False
    return cols, rows, planes


def _displacement(height: int, width: int, sigma: float, alpha: float) -> np.ndarray:
    """Uniform noise in [-1, 1], Gaussian-smoothed (``sigma``) and scaled by ``alpha``."""
    from skimage.filters import gaussian

    noise = np.random.uniform(-1, 1, size=(height, width))  # noqa: NPY002
    smooth = gaussian(noise, sigma, mode="reflect", truncate=3)
    return (smooth * alpha).astype(np.float32)[..., np.newaxis]


def elastic_transform(image: np.ndarray, params: tuple) -> np.ndarray:
    """``(alpha, sigma, affine)`` as fractions of the image's shorter side: a random
    affine warp, then a displacement field of amplitude ``alpha`` and smoothness
    ``sigma`` (bilinear, reflected at the borders)."""
    import cv2
    from scipy.ndimage import map_coordinates

    x = np.array(image, dtype=np.float32) / 255.0
    height, width, channels = x.shape
    side = min(height, width)
    alpha, sigma, affine = (fraction * side for fraction in params)
    centre = np.float32((width, height)) // 2
    square = side // 3
    corners = np.float32(
        [centre + square, [centre[0] + square, centre[1] - square], centre - square]
    )
    moved = corners + np.random.uniform(-affine, affine, size=corners.shape).astype(np.float32)  # noqa: NPY002
    warp = cv2.getAffineTransform(corners, moved)
    x = cv2.warpAffine(x, warp, (width, height), borderMode=cv2.BORDER_REFLECT_101)
    dx = _displacement(height, width, sigma, alpha)
    dy = _displacement(height, width, sigma, alpha)
    cols, rows, planes = _grid(height, width, channels)
    indices = (rows + dy).reshape(-1, 1), (cols + dx).reshape(-1, 1), planes.reshape(-1, 1)
    warped = map_coordinates(x, indices, order=1, mode="reflect").reshape(x.shape)
    return _to_uint8(np.clip(warped, 0, 1) * 255)


def pixelate(image: np.ndarray, factor: float) -> np.ndarray:
    """Box filter down to ``int(side * factor)`` pixels and box filter back up."""
    from PIL import Image

    height, width = image.shape[:2]
    small = Image.fromarray(image).resize((int(width * factor), int(height * factor)), Image.BOX)
    return np.asarray(small.resize((width, height), Image.BOX))


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` encoded as a JPEG of ``quality`` by PIL and decoded."""
    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=int(quality))
    return np.asarray(Image.open(buffer))


def jpeg_compression(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG compression at ``quality`` (PIL)."""
    return jpeg_round_trip(image, quality)


# ------------------------------------------------------------------------ dispatch
#: The kernel of each corruption: ``kernel(image, params, **options)``.
KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "zoom_blur": zoom_blur,
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "brightness": brightness,
    "contrast": contrast,
    "elastic_transform": elastic_transform,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "speckle_noise": speckle_noise,
    "gaussian_blur": gaussian_blur,
    "spatter": spatter,
    "saturate": saturate,
}
#: Corruptions computed a chunk at a time (they draw no random numbers).
BATCH_KERNELS: dict[str, Callable[[np.ndarray, Any], np.ndarray]] = {"zoom_blur": zoom_blur_batch}
#: Corruptions that take ``seed=`` for a generator of their own.
TAKES_SEED = frozenset({"impulse_noise", "glass_blur"})


def corrupt_one(
    image: np.ndarray, name: str, severity: int, seed: int, preset: CorruptionPreset
) -> np.ndarray:
    """Corrupt one RGB uint8 image with ``preset``'s entry for ``name`` at ``severity``,
    after seeding numpy's global RNG with ``seed`` (also passed to :data:`TAKES_SEED`)."""
    np.random.seed(seed)  # noqa: NPY002
    options = dict(preset.settings.get(name, {}))
    if name in TAKES_SEED:
        options["seed"] = seed
    result = KERNELS[name](image, preset.params(name, severity), **options)
    if preset.storage_quality is not None:
        result = jpeg_round_trip(result, preset.storage_quality)
    return result


def corrupt_batch(
    images: np.ndarray, name: str, severity: int, preset: CorruptionPreset
) -> np.ndarray:
    """``name`` (one of :data:`BATCH_KERNELS`) on RGB uint8 images ``(B, H, W, 3)``."""
    result = BATCH_KERNELS[name](images, preset.params(name, severity))
    if preset.storage_quality is not None:
        result = np.stack([jpeg_round_trip(image, preset.storage_quality) for image in result])
    return result
