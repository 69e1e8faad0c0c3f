"""Corruption kernels: the seeded corruption of a set's images, for every preset.

The ``imagenet-c`` preset is imagecorruptions' own functions (three of them mended, see
below); the ``cifar10-c`` and ``tinyimagenet-c`` presets are the kernels of
:mod:`~probmoll.data.corruptions.parametric` with their tables
(:mod:`~probmoll.data.corruptions.presets`). Seeding and grayscale rules are the same for
all of them.

The mends of the package's functions (``imagenet-c``):

- ``frost`` is made fast. The package decodes a large frost photograph (up to 900x600)
  from disk and resizes it on *every* call: at 32x32 that is ~95% of its time and ~40% of
  the time of generating all 19 corruptions. :func:`frost` here keeps each resized
  photograph in a per-process cache and otherwise performs the same operations on the same
  numbers, drawing from numpy's global RNG in the same order, so its output is
  byte-identical to the package's for the same RNG state (``tests/data/test_corruptions.py``
  checks this on many images, sizes, seeds and all severities).
- ``zoom_blur`` (the slowest corruption at 32x32 once frost is cached; it draws no random
  numbers) runs on a whole chunk of images at once: :func:`zoom_blur_batch` stacks the
  images along the channel axis, where scipy's zoom factor is 1 and the interpolation
  weights are exactly 0 and 1, so every image gets the package's numbers bit for bit
  (checked by the tests), with one scipy call per zoom factor instead of one per image.
- ``spatter`` is made well defined. At severities 1-3 the package normalises the "liquid"
  layer by its maximum; when the random layer falls entirely below the threshold (about 1%
  of 32x32 images at severity 1) that is 0/0, the whole image becomes NaN and its cast to
  uint8 is undefined (black on x86). :func:`spatter` returns the package's output
  unchanged otherwise, and in that case the limit of no liquid: the image after the same
  float round trip the package applies to untouched pixels.

Every image of a generated set is corrupted by :func:`corrupt_range` (one image:
:func:`corrupt_image`); :func:`~probmoll.data.corruptions.generate_corruptions` records
both rules below in the set's manifest (:data:`SEEDING_RULE`, :data:`GRAYSCALE_RULE`).

Determinism (every preset): image ``i`` of corruption ``c`` at severity ``s`` is corrupted
after seeding numpy's global RNG (and passing ``seed=`` to the two corruptions that take
one) with ``SeedSequence([seed, ALL_CORRUPTIONS.index(c), s, i]).generate_state(1)[0]``.
The bytes therefore depend on neither the number of workers nor the chunking, and a
``subset=m`` run equals the first ``m`` images of the full run.

Grayscale (``C = 1``, every preset): the kernels corrupt 3-channel images (the package
replicates a 2-D input to 3 channels and returns 3). The channel is replicated, the image
corrupted, and channel 0 (red) kept. Taking one channel keeps the per-pixel statistics of
the channel-independent noises (Gaussian, shot, impulse, speckle); a luminance average
would shrink Gaussian noise by a factor ~0.67 and turn impulse noise's salt and pepper
into grey levels. For corruptions that act on all channels alike the three channels are
equal anyway; the tinted overlays (frost, spatter) contribute their red channel.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from . import parametric
from .names import ALL_CORRUPTIONS, check_corruption, check_severities
from .parametric import frost_photograph
from .presets import CORRUPTION_PRESETS, check_preset, resolve_preset

__all__ = [
    "BATCH_KERNELS",
    "GRAYSCALE_RULE",
    "MIN_SIZE",
    "SEEDING_RULE",
    "apply_corruption",
    "apply_preset",
    "check_image_size",
    "corrupt_image",
    "corrupt_range",
    "frost",
    "image_seed",
    "spatter",
    "warm_up",
    "zoom_blur_batch",
]

#: How image ``i`` of corruption ``c`` at severity ``s`` is seeded (see :func:`image_seed`).
SEEDING_RULE = (
    "np.random.seed(SeedSequence([seed, ALL_CORRUPTIONS.index(c), s, i]).generate_state(1)[0])"
)
#: How grayscale images are corrupted (the package corrupts 3-channel images only).
GRAYSCALE_RULE = "replicate to RGB, corrupt, keep channel 0"
#: Smallest height and width imagecorruptions accepts.
MIN_SIZE = 32

# imagecorruptions' frost: (weight of the image, weight of the frost layer) per severity.
_FROST_MIXING = ((1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))


@functools.cache
def _frost_layer(index: int, height: int, width: int) -> np.ndarray:
    """The package's frost photograph ``index`` (BGR) rescaled for an image of (height, width)."""
    import cv2

    photo = frost_photograph(index)
    photo_h, photo_w = photo.shape[:2]
    # Same rule as the package: scale up only along a side the photograph is too small for
    # (the larger factor when both are), then by 1.1 so that a crop always fits.
    if photo_h >= height and photo_w >= width:
        scale = 1
    elif photo_h < height and photo_w >= width:
        scale = height / photo_h
    elif photo_h >= height and photo_w < width:
        scale = width / photo_w
    else:
        scale = np.maximum(height / photo_h, width / photo_w)
    scale *= 1.1
    new_size = (int(np.ceil(photo_w * scale)), int(np.ceil(photo_h * scale)))
    layer = cv2.resize(photo, dsize=new_size, interpolation=cv2.INTER_CUBIC)
    layer.flags.writeable = False
    return layer


def frost(image: np.ndarray, severity: int) -> np.ndarray:
    """imagecorruptions' ``frost`` on an RGB uint8 ``(H, W, 3)`` image, with cached photographs.

    Draws ``np.random.randint(6)`` (which photograph) then two ``randint`` (crop corner)
    from numpy's global RNG, like the package; returns uint8 ``(H, W, 3)``.
    """
    height, width = image.shape[:2]
    image_weight, frost_weight = _FROST_MIXING[severity - 1]
    # The package's draws, in its order, from the global RNG it uses.
    index = np.random.randint(6)  # noqa: NPY002
    layer = _frost_layer(int(index), height, width)
    top = np.random.randint(0, layer.shape[0] - height)  # noqa: NPY002
    left = np.random.randint(0, layer.shape[1] - width)  # noqa: NPY002
    crop = layer[top : top + height, left : left + width][..., [2, 1, 0]]
    return np.uint8(np.clip(image_weight * image + frost_weight * crop, 0, 255))


def spatter(image: np.ndarray, severity: int) -> np.ndarray:
    """imagecorruptions' ``spatter`` on an RGB uint8 ``(H, W, 3)`` image, with the empty
    liquid layer (0/0 in the package) mapped to "no spatter"."""
    from imagecorruptions.corruptions import spatter as package_spatter
    from PIL import Image

    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.asarray(package_spatter(Image.fromarray(image), severity))
    if np.isnan(result).any():
        # What the package computes for pixels the liquid does not touch.
        result = np.clip(np.asarray(image, dtype=np.float32) / 255.0, 0, 1) * 255
    return np.uint8(result)


# imagecorruptions' zoom_blur: the zoom factors of each severity (same expressions, so the
# same floating-point values).
_ZOOM_FACTORS = (
    np.arange(1, 1.11, 0.01),
    np.arange(1, 1.16, 0.01),
    np.arange(1, 1.21, 0.02),
    np.arange(1, 1.26, 0.02),
    np.arange(1, 1.31, 0.03),
)


def zoom_blur_batch(images: np.ndarray, severity: int) -> np.ndarray:
    """imagecorruptions' ``zoom_blur`` on a batch of RGB uint8 images ``(B, H, W, 3)``.

    The average of the image and its center zooms by each factor (bilinear, cropped back to
    ``H x W``); byte-identical to calling the package on each image.
    """
    from scipy.ndimage import zoom as scipy_zoom

    count, height, width, channels = images.shape
    scaled = (images / 255.0).astype(np.float32)
    stacked = np.ascontiguousarray(
        scaled.transpose(1, 2, 0, 3).reshape(height, width, count * channels)
    )
    total = np.zeros_like(stacked)
    factors = _ZOOM_FACTORS[severity - 1]
    for factor in factors:
        crop_h = int(np.ceil(height / float(factor)))
        crop_w = int(np.ceil(width / float(factor)))
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
        crop = stacked[top : top + crop_h, left : left + crop_w]
        layer = scipy_zoom(crop, (factor, factor, 1), order=1)[:height, :width, :]
        # A zoomed crop can come out a pixel short; the package then adds it top-left.
        total[: layer.shape[0], : layer.shape[1]] += layer
    blurred = np.clip((stacked + total) / (len(factors) + 1), 0, 1) * 255
    return np.uint8(blurred).reshape(height, width, count, channels).transpose(2, 0, 1, 3)


# Corruptions computed a chunk at a time; only ones that draw no random numbers qualify,
# so per-image seeding is moot.
BATCH_KERNELS = {"zoom_blur": zoom_blur_batch}

# Corruptions that draw from a generator of their own unless given ``seed=`` (skimage's
# random_noise and the package's numba pixel shuffle); the rest use numpy's global RNG.
_TAKES_SEED = frozenset({"impulse_noise", "glass_blur"})


def apply_corruption(image: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt one RGB uint8 ``(H, W, 3)`` image after seeding every RNG the package uses.

    Parameters
    ----------
    image : numpy.ndarray
        ``uint8`` ``(H, W, 3)``, ``H, W >= 32``.
    name : str
        A corruption name (see :data:`~probmoll.data.corruptions.ALL_CORRUPTIONS`).
    severity : int
        1 to 5.
    seed : int
        Seed in ``[0, 2**32)``: seeds numpy's global RNG and is passed as ``seed=`` to the
        corruptions that otherwise draw fresh OS entropy.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(H, W, 3)``.
    """
    np.random.seed(seed)  # noqa: NPY002  (imagecorruptions draws from the global RNG)
    if name == "frost":
        return frost(image, severity)
    if name == "spatter":
        return spatter(image, severity)
    from imagecorruptions import corrupt

    extra = {"seed": seed} if name in _TAKES_SEED else {}
    return corrupt(image, severity=severity, corruption_name=name, **extra)


def apply_preset(
    image: np.ndarray, name: str, severity: int, seed: int, preset: str = "imagenet-c"
) -> np.ndarray:
    """:func:`apply_corruption` for any preset: ``"imagenet-c"`` is the package's functions,
    the others :func:`probmoll.data.corruptions.parametric.corrupt_one` with their table.

    ``preset`` is a name of :data:`~probmoll.data.corruptions.presets.PRESETS` (not
    ``"auto"``); the other arguments are those of :func:`apply_corruption`.
    """
    if preset == "imagenet-c":
        return apply_corruption(image, name, severity, seed)
    return parametric.corrupt_one(image, name, severity, seed, CORRUPTION_PRESETS[preset])


def _batch_kernel(name: str, severity: int, preset: str):
    """``kernel(images (B, H, W, 3))`` of a corruption computed a chunk at a time, or None."""
    if preset == "imagenet-c":
        kernel = BATCH_KERNELS.get(name)
        return None if kernel is None else functools.partial(kernel, severity=severity)
    if name not in parametric.BATCH_KERNELS:
        return None
    table = CORRUPTION_PRESETS[preset]
    return functools.partial(parametric.corrupt_batch, name=name, severity=severity, preset=table)


def warm_up() -> None:
    """Import imagecorruptions and compile its numba kernel (both argument types), leaving
    numpy's global RNG as it was. Uses no OpenCV, so no thread pool is started."""
    import imagecorruptions  # noqa: F401

    state = np.random.get_state()  # noqa: NPY002
    blank = np.zeros((32, 32, 3), dtype=np.uint8)
    for severity in (1, 3):  # float and int parameter tuples: two compiled signatures
        apply_corruption(blank, "glass_blur", severity, 0)
    np.random.set_state(state)  # noqa: NPY002


# ------------------------------------------------------- seeded corruption of a set's images
def image_seed(seed: int, corruption: str, severity: int, index: int) -> int:
    """The 32-bit seed used for image ``index`` of ``corruption`` at ``severity``."""
    entropy = [seed, ALL_CORRUPTIONS.index(corruption), severity, index]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def check_image_size(size: Sequence[int]) -> None:
    """Raise a ValueError unless an ``(H, W)`` image size is at least :data:`MIN_SIZE`."""
    if min(size) < MIN_SIZE:
        raise ValueError(
            f"images are {size[0]}x{size[1]} but the corruptions need at least "
            f"{MIN_SIZE}x{MIN_SIZE} (imagecorruptions refuses smaller ones); load the dataset "
            f"padded or resized, e.g. load_dataset('fashion-mnist', pad_to=32)"
        )


def corrupt_image(
    image: np.ndarray,
    corruption: str,
    severity: int,
    *,
    seed: int = 0,
    index: int = 0,
    preset: str = "auto",
) -> np.ndarray:
    """Corrupt one uint8 ``(H, W, C)`` image exactly as a generated set does.

    Parameters
    ----------
    image : numpy.ndarray
        ``uint8`` ``(H, W, C)`` with ``C`` in (1, 3) and ``H, W >= 32``.
    corruption : str
        Corruption name.
    severity : int
        1 to 5.
    seed, index : int
        The set's seed and the image's index in the set (see :func:`image_seed`).
    preset : str, default "auto"
        The set's preset (:data:`~probmoll.data.corruptions.presets.PRESET_CHOICES`);
        ``"auto"`` picks it from the image size
        (:func:`~probmoll.data.corruptions.presets.resolve_preset`).

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(H, W, C)``. numpy's global RNG state is restored afterwards.
    """
    check_corruption(corruption)
    check_preset(preset)
    check_severities([severity])
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(
            f"image must be uint8 (H, W, C) with C in (1, 3), got {image.dtype} {image.shape}"
        )
    check_image_size(image.shape[:2])
    preset = resolve_preset(preset, image.shape[:2])
    state = np.random.get_state()  # noqa: NPY002  (the package draws from the global RNG)
    try:
        return corrupt_range(
            image[None], corruption, severity, 0, 1, seed, first_index=index, preset=preset
        )[0]
    finally:
        np.random.set_state(state)  # noqa: NPY002


def corrupt_range(
    source: np.ndarray,
    corruption: str,
    severity: int,
    start: int,
    stop: int,
    seed: int,
    first_index: int = 0,
    preset: str = "imagenet-c",
) -> np.ndarray:
    """Corrupt the images ``source[start:stop]`` as a generated set with ``seed`` does.

    Image ``i`` of the range is seeded as image ``first_index + i`` of the set
    (:func:`image_seed`); grayscale images follow :data:`GRAYSCALE_RULE`. Nothing is
    checked and numpy's global RNG is left reseeded: this is the inner loop of
    :func:`~probmoll.data.corruptions.generate_corruptions` (use :func:`corrupt_image`
    for one image).

    Parameters
    ----------
    source : numpy.ndarray
        ``uint8`` ``(N, H, W, C)``, ``C`` in (1, 3), ``H, W >= 32`` (a memory map will do).
    corruption : str
        A corruption name.
    severity : int
        1 to 5.
    start, stop : int
        The rows of ``source`` to corrupt.
    seed : int
        The set's seed.
    first_index : int, default 0
        Index in the set of row 0 of ``source``.
    preset : str, default "imagenet-c"
        The set's preset, resolved (a name of
        :data:`~probmoll.data.corruptions.presets.PRESETS`, not ``"auto"``).

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(stop - start, H, W, C)``.
    """
    channels = source.shape[-1]
    batch = _batch_kernel(corruption, severity, preset)
    if batch is not None:
        images = np.asarray(source[start:stop])
        rgb = images if channels == 3 else np.repeat(images, 3, axis=3)
        return np.ascontiguousarray(batch(rgb)[..., :channels])
    out = np.empty((stop - start, *source.shape[1:]), dtype=np.uint8)
    for row, i in enumerate(range(start, stop)):
        image = np.asarray(source[i])
        rgb = image if channels == 3 else np.repeat(image, 3, axis=2)
        index_seed = image_seed(seed, corruption, severity, first_index + i)
        result = apply_preset(rgb, corruption, severity, index_seed, preset)
        if result.shape != rgb.shape:
            raise RuntimeError(
                f"{corruption} at severity {severity} returned shape {result.shape} for an image "
                f"of shape {rgb.shape}"
            )
        out[row] = result if channels == 3 else result[..., :1]
    return out
