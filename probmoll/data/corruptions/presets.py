"""Severity presets: the parameters of each corruption at each severity, as data.

Hendrycks & Dietterich (2019) built each -C benchmark with its own script and its own
constants, chosen for the image size. A generated set is made with one preset:

``"imagenet-c"``
    The constants of the ``imagecorruptions-imaug`` package (``imagecorruptions/
    corruptions.py``, version 1.1.5), which hard-codes ImageNet-C's constants (224 px
    images) whatever the image size. Its ``elastic_transform`` is the package's own
    formulation (no random affine; displacement ``alpha`` with smoothing ``0.01 x size``
    and amplitude ``0.005 x height``), not ``make_imagenet_c.py``'s. Sets of this preset
    are made by the package's functions (:mod:`~probmoll.data.corruptions.kernels`).
``"cifar10-c"``
    The constants of ``ImageNet-C/create_c/make_cifar_c.py`` in the repository
    ``hendrycks/robustness``, which made CIFAR-10-C (32 x 32). CIFAR-100-C was made with
    the same script and the same constants, so it is this preset too.
``"tinyimagenet-c"``
    The constants of ``ImageNet-C/create_c/make_tinyimagenet_c.py`` in
    ``hendrycks/robustness``, which made Tiny-ImageNet-C (64 x 64). That script saved
    every corrupted image as a JPEG of quality 85 (:attr:`CorruptionPreset.storage_quality`).

The two published-script presets are computed by
:mod:`~probmoll.data.corruptions.parametric`, whose docstrings give the meaning of each
entry. ``"auto"`` (:func:`resolve_preset`) picks the preset made for the image size.

Every table holds, per corruption, five entries (severities 1 to 5), each the number or
tuple the source writes as ``c``. Two are written differently: ``zoom_blur``'s entry is
``(start, stop, step)`` of the ``np.arange`` of zoom factors the sources write, and the
published scripts' ``elastic_transform`` entry is ``(alpha, sigma, affine)`` as fractions
of the image side (the scripts write ``IMSIZE * fraction`` with ``IMSIZE`` 32 or 64).

This module imports nothing but the standard library, so configurations can be checked
without numpy or torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .names import ALL_CORRUPTIONS

__all__ = [
    "CIFAR10_C",
    "CORRUPTION_PRESETS",
    "IMAGENET_C",
    "PRESETS",
    "PRESET_CHOICES",
    "PUBLISHED_PRESETS",
    "TINYIMAGENET_C",
    "CorruptionPreset",
    "check_preset",
    "get_preset",
    "resolve_preset",
]


@dataclass(frozen=True)
class CorruptionPreset:
    """The parameters of the 19 corruptions at severities 1-5, and where they come from.

    Attributes
    ----------
    name : str
        ``"imagenet-c"``, ``"cifar10-c"`` or ``"tinyimagenet-c"``.
    source : str
        The file (and repository) the constants are taken from.
    max_size : int or None
        ``"auto"`` picks this preset for images whose larger side is at most this (and
        larger than the previous preset's); None: any larger image.
    parameters : mapping of str to tuple
        Corruption name -> its five per-severity entries.
    settings : mapping of str to mapping
        Corruption name -> options shared by its severities (e.g. frost's photographs).
    storage_quality : int or None
        JPEG quality every corrupted image goes through at the end, as the source saved
        its images that way; None: stored losslessly.
    """

    name: str
    source: str
    max_size: int | None
    parameters: Mapping[str, tuple[Any, ...]]
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    storage_quality: int | None = None

    def __post_init__(self) -> None:
        missing = [name for name in ALL_CORRUPTIONS if name not in self.parameters]
        extra = [name for name in self.parameters if name not in ALL_CORRUPTIONS]
        short = [name for name, entries in self.parameters.items() if len(entries) != 5]
        if missing or extra or short:
            raise ValueError(
                f"preset {self.name!r}: missing {missing}, unknown {extra}, "
                f"not 5 severities {short}"
            )

    def params(self, corruption: str, severity: int) -> Any:
        """The entry of ``corruption`` at ``severity`` (1..5)."""
        return self.parameters[corruption][severity - 1]

    def table(self) -> dict[str, Any]:
        """The preset as JSON-ready data (tuples as lists): what a manifest records."""
        return json.loads(
            json.dumps(
                {
                    "name": self.name,
                    "source": self.source,
                    "parameters": {name: self.parameters[name] for name in ALL_CORRUPTIONS},
                    "settings": self.settings,
                    "storage_quality": self.storage_quality,
                }
            )
        )

    def digest(self) -> str:
        """sha256 of :meth:`table` (canonical JSON): changes with any constant."""
        text = json.dumps(self.table(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


_REPOSITORY = "hendrycks/robustness"

# imagecorruptions-imaug 1.1.5, imagecorruptions/corruptions.py: the ``c`` of each function.
IMAGENET_C = CorruptionPreset(
    name="imagenet-c",
    source="imagecorruptions-imaug 1.1.5, imagecorruptions/corruptions.py (ImageNet-C's constants)",
    max_size=None,
    parameters={
        "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
        "shot_noise": (60, 25, 12, 5, 3),
        "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
        "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
        "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
        "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
        "zoom_blur": (
            (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.02), (1, 1.26, 0.02), (1, 1.31, 0.03),
        ),
        "snow": (
            (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
            (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
            (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
            (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
            (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
        ),
        "frost": ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
        "fog": ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)),
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
        # The package's formulation: (alpha, sigma / size, displacement / height).
        "elastic_transform": tuple(
            (250 * a, 0.01, 0.005) for a in (0.05, 0.065, 0.085, 0.1, 0.12)
        ),
        "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
        "jpeg_compression": (25, 18, 15, 10, 7),
        "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
        "gaussian_blur": (1, 2, 3, 4, 6),
        "spatter": (
            (0.65, 0.3, 4, 0.69, 0.6, 0),
            (0.65, 0.3, 3, 0.68, 0.6, 0),
            (0.65, 0.3, 2, 0.68, 0.5, 0),
            (0.65, 0.3, 1, 0.65, 1.5, 1),
            (0.67, 0.4, 1, 0.65, 1.5, 1),
        ),
        "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
    },
    # The package picks among all six photographs, scaled to fit (x 1.1), bicubic.
    settings={"frost": {"photographs": 6, "photo_scale": "fit"}},
)  # fmt: skip

# hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py (CIFAR-10-C and CIFAR-100-C).
CIFAR10_C = CorruptionPreset(
    name="cifar10-c",
    source=f"{_REPOSITORY}, ImageNet-C/create_c/make_cifar_c.py",
    max_size=32,
    parameters={
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        "shot_noise": (500, 250, 100, 75, 50),
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
        "zoom_blur": (
            (1, 1.06, 0.01), (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.01), (1, 1.26, 0.01),
        ),
        "snow": (
            (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
            (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
            (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
            (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
        ),
        "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
        "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
        # (alpha, sigma, affine) / image side; the script: IMSIZE * these, IMSIZE = 32.
        "elastic_transform": (
            (0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05),
            (0.1, 0.03, 0.03),
        ),
        "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
        "jpeg_compression": (80, 65, 58, 50, 40),
        "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1),
        "spatter": (
            (0.62, 0.1, 0.7, 0.7, 0.5, 0),
            (0.65, 0.1, 0.8, 0.7, 0.5, 0),
            (0.65, 0.3, 1, 0.69, 0.5, 0),
            (0.65, 0.1, 0.7, 0.69, 0.6, 1),
            (0.65, 0.1, 0.5, 0.68, 0.6, 1),
        ),
        "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
    },
    # The first five photographs (np.random.randint(5)) resized by 0.2 for 32 px images.
    settings={"frost": {"photographs": 5, "photo_scale": 0.2, "reference_size": 32}},
)  # fmt: skip

# hendrycks/robustness, ImageNet-C/create_c/make_tinyimagenet_c.py (Tiny-ImageNet-C).
TINYIMAGENET_C = CorruptionPreset(
    name="tinyimagenet-c",
    source=f"{_REPOSITORY}, ImageNet-C/create_c/make_tinyimagenet_c.py",
    max_size=64,
    parameters={
        "gaussian_noise": (0.04, 0.08, 0.12, 0.15, 0.18),
        "shot_noise": (250, 100, 50, 30, 15),
        "impulse_noise": (0.01, 0.02, 0.05, 0.08, 0.14),
        "defocus_blur": ((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
        "glass_blur": ((0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)),
        "motion_blur": ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
        "zoom_blur": (
            (1, 1.06, 0.01), (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.01), (1, 1.26, 0.01),
        ),
        "snow": (
            (0.1, 0.2, 1, 0.6, 8, 3, 0.8),
            (0.1, 0.2, 1, 0.5, 10, 4, 0.8),
            (0.15, 0.3, 1.75, 0.55, 10, 4, 0.7),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.65),
            (0.3, 0.3, 1.25, 0.65, 14, 12, 0.6),
        ),
        "frost": ((1, 0.3), (0.9, 0.4), (0.8, 0.45), (0.75, 0.5), (0.7, 0.55)),
        "fog": ((0.4, 3), (0.7, 3), (1, 2.5), (1.5, 2), (2, 1.75)),
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
        # (alpha, sigma, affine) / image side; the script: IMSIZE * these, IMSIZE = 64.
        "elastic_transform": (
            (0, 0, 0.08), (0.05, 0.3, 0.06), (0.1, 0.08, 0.06), (0.1, 0.03, 0.03),
            (0.16, 0.03, 0.02),
        ),
        "pixelate": (0.9, 0.8, 0.7, 0.6, 0.5),
        "jpeg_compression": (65, 58, 50, 40, 25),
        "speckle_noise": (0.15, 0.2, 0.25, 0.3, 0.35),
        "gaussian_blur": (0.5, 0.75, 1, 1.25, 1.5),
        "spatter": (
            (0.62, 0.1, 0.7, 0.7, 0.6, 0),
            (0.65, 0.1, 0.8, 0.7, 0.6, 0),
            (0.65, 0.3, 1, 0.69, 0.6, 0),
            (0.65, 0.1, 0.7, 0.68, 0.6, 1),
            (0.65, 0.1, 0.5, 0.67, 0.6, 1),
        ),
        "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (30, 0.2)),
    },
    # The first five photographs resized by 0.3 for 64 px images.
    settings={"frost": {"photographs": 5, "photo_scale": 0.3, "reference_size": 64}},
    # The script saves each image with PIL: quality=85, optimize=True.
    storage_quality=85,
)  # fmt: skip

#: The presets by name, smallest images first (the order ``"auto"`` tries them in).
CORRUPTION_PRESETS: dict[str, CorruptionPreset] = {
    preset.name: preset for preset in (CIFAR10_C, TINYIMAGENET_C, IMAGENET_C)
}
#: Preset names.
PRESETS: tuple[str, ...] = ("imagenet-c", "cifar10-c", "tinyimagenet-c")
#: What a ``preset`` argument accepts.
PRESET_CHOICES: tuple[str, ...] = ("auto", *PRESETS)
#: The preset of each published set (CIFAR-100-C was made like CIFAR-10-C).
PUBLISHED_PRESETS: dict[str, str] = {
    "cifar10-c": "cifar10-c",
    "cifar100-c": "cifar10-c",
    "tinyimagenet-c": "tinyimagenet-c",
}


def check_preset(name: str, *, what: str = "preset") -> str:
    """``name`` if it is in :data:`PRESET_CHOICES`, else a ValueError listing them."""
    if not isinstance(name, str) or name not in PRESET_CHOICES:
        raise ValueError(f"unknown {what} {name!r}; valid choices: {', '.join(PRESET_CHOICES)}")
    return name


def resolve_preset(name: str, image_size: int | Sequence[int]) -> str:
    """The preset ``name`` stands for with images of ``image_size``.

    Parameters
    ----------
    name : str
        A preset name, or ``"auto"``: ``"cifar10-c"`` for images whose larger side is at
        most 32 pixels, ``"tinyimagenet-c"`` up to 64, ``"imagenet-c"`` above.
    image_size : int or (int, int)
        Image side, or ``(H, W)``.

    Returns
    -------
    str
        A name of :data:`PRESETS`.
    """
    check_preset(name)
    if name != "auto":
        return name
    side = max(image_size) if isinstance(image_size, Sequence) else image_size
    for preset in CORRUPTION_PRESETS.values():
        if preset.max_size is None or side <= preset.max_size:
            return preset.name
    raise AssertionError("the last preset takes any size")  # pragma: no cover


def get_preset(name: str, image_size: int | Sequence[int] | None = None) -> CorruptionPreset:
    """The :class:`CorruptionPreset` called ``name`` (``"auto"`` needs ``image_size``)."""
    if check_preset(name) == "auto":
        if image_size is None:
            raise ValueError("preset 'auto' needs the image size to pick a preset")
        name = resolve_preset(name, image_size)
    return CORRUPTION_PRESETS[name]
