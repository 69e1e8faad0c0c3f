"""A procedurally generated, learnable image dataset for smoke tests and CI.

Class ``k`` of ``K`` is a sinusoidal grating at orientation ``pi * k / K`` (jittered by up
to a quarter of the spacing between classes) seen through a Gaussian window at a random
place, with random spatial frequency, phase, contrast, colour and background, plus pixel
noise. Only the orientation carries the label, so a small CNN must learn oriented filters
-- the kind of feature that blurring and noising (the paper's mollifiers) degrade.

Images are generated in blocks of :data:`BLOCK` from ``np.random.default_rng([seed,
split, block])``, so the result is deterministic given ``seed`` and image ``i`` does not
depend on ``n``: a smaller ``n`` gives a prefix of a larger one.
"""

from __future__ import annotations

import math

import numpy as np

from .dataset import DatasetSplit, channel_stats
from .registry import check_split, register_dataset

__all__ = ["BLOCK", "generate_synthetic", "load_synthetic"]

BLOCK = 256
_SPLIT_CODES = {"train": 0, "test": 1}
_DEFAULT_SIZES = {"train": 5000, "test": 1000}
# Statistics come from this many train images whatever n is, so that every n gives the
# same standardisation.
_STATS_IMAGES = 1024


def _render_block(
    seed: int, split_code: int, block: int, num_classes: int, size: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, split_code, block])
    labels = rng.permutation(np.arange(BLOCK) % num_classes)
    spacing = math.pi / num_classes
    angle = labels * spacing + rng.uniform(-0.25, 0.25, BLOCK) * spacing
    cycles = rng.uniform(2.0, 4.0, BLOCK)  # across the image side
    phase = rng.uniform(0.0, 2 * math.pi, BLOCK)
    center = rng.uniform(0.3, 0.7, (BLOCK, 2)) * size
    width = rng.uniform(0.25, 0.4, BLOCK) * size
    amplitude = rng.uniform(0.25, 0.45, BLOCK)
    background = rng.uniform(0.3, 0.7, BLOCK)
    gains = rng.uniform(0.5, 1.0, (BLOCK, channels)) if channels == 3 else np.ones((BLOCK, 1))
    tint = rng.uniform(-0.05, 0.05, (BLOCK, channels)) if channels == 3 else np.zeros((BLOCK, 1))
    noise = rng.normal(0.0, 0.08, (BLOCK, size, size, channels))

    coords = np.arange(size, dtype=np.float64) + 0.5
    y = coords[None, :, None]
    x = coords[None, None, :]
    along = x * np.cos(angle)[:, None, None] + y * np.sin(angle)[:, None, None]
    grating = np.sin(2 * math.pi * cycles[:, None, None] * along / size + phase[:, None, None])
    distance2 = (x - center[:, 0, None, None]) ** 2 + (y - center[:, 1, None, None]) ** 2
    window = np.exp(-distance2 / (2 * width[:, None, None] ** 2))
    pattern = (amplitude[:, None, None] * window * grating)[..., None]
    image = (
        background[:, None, None, None] + tint[:, None, None, :] + pattern * gains[:, None, None, :]
    )
    image = np.clip(image + noise, 0.0, 1.0)
    return np.rint(image * 255).astype(np.uint8), labels.astype(np.int64)


def generate_synthetic(
    n: int,
    *,
    split: str = "train",
    num_classes: int = 10,
    size: int = 32,
    channels: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` images and labels (see the module docstring).

    Returns
    -------
    images : numpy.ndarray
        ``uint8`` ``(n, size, size, channels)``.
    labels : numpy.ndarray
        ``int64`` ``(n,)``, balanced within each block of 256.
    """
    blocks = [
        _render_block(seed, _SPLIT_CODES[split], b, num_classes, size, channels)
        for b in range(-(-n // BLOCK))
    ]
    images = np.concatenate([b[0] for b in blocks])[:n]
    labels = np.concatenate([b[1] for b in blocks])[:n]
    return images, labels


@register_dataset("synthetic")
def load_synthetic(
    split,
    *,
    root=None,
    cache_dir=None,
    download=False,
    num_classes: int = 10,
    size: int = 32,
    n: int | None = None,
    channels: int = 3,
    seed: int = 0,
) -> DatasetSplit:
    """Oriented gratings: a deterministic, learnable dataset generated in memory.

    Parameters
    ----------
    split : {"train", "test"}
        Train and test images come from different random streams.
    root, cache_dir, download
        Ignored (nothing is read or cached: generation takes milliseconds).
    num_classes : int
        Number of orientations, >= 2 (default 10).
    size : int
        Image side, >= 8 (default 32; corruptions need >= 32).
    n : int, optional
        Number of images (default 5000 for train, 1000 for test).
    channels : {1, 3}
        Grayscale or RGB (default 3).
    seed : int
        Seed of the generator.

    Notes
    -----
    ``mean``/``std`` are those of the first 1024 train images.
    """
    check_split(split, tuple(_SPLIT_CODES), "synthetic")
    n = _DEFAULT_SIZES[split] if n is None else n
    for option, value, low in (("num_classes", num_classes, 2), ("size", size, 8), ("n", n, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{option} must be an int >= {low}, got {value!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    options = {"num_classes": num_classes, "size": size, "channels": channels, "seed": seed}
    images, labels = generate_synthetic(n, split=split, **options)
    mean, std = channel_stats(generate_synthetic(_STATS_IMAGES, split="train", **options)[0])
    degrees = [180.0 * k / num_classes for k in range(num_classes)]
    classes = tuple(f"grating-{d:05.1f}deg" for d in degrees)
    images.flags.writeable = False
    return DatasetSplit("synthetic", split, images, labels, classes, mean, std)
