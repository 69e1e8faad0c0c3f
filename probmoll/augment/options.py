"""The option names of the standard augmentations and their value checks, torch-free.

Every name an :class:`~probmoll.augment.config.AugmentConfig` accepts is defined here
once, as plain data, and read by the modules that build the transforms
(:mod:`~probmoll.augment.policies`, :mod:`~probmoll.augment.mixing`,
:mod:`~probmoll.augment.batched`). This module imports neither torch nor torchvision,
so a configuration is checked without either being loaded.
"""

from __future__ import annotations

__all__ = [
    "AUTOAUGMENT_POLICIES",
    "INTERPOLATIONS",
    "MIXINGS",
    "POLICIES",
    "POLICIES_WITH_FCR",
]

# Per-image policies (the rows of Table 1 of the paper without mixing); FCR = flip, crop
# with zero padding, rotation.
POLICIES = ("none", "fcr", "fcr+randaug", "fcr+autoaug", "fcr+augmix", "fcr+trivaug")
# The policies that include FCR.
POLICIES_WITH_FCR = frozenset(name for name in POLICIES if name.startswith("fcr"))
# Learned AutoAugment policies shipped with torchvision, in the order of
# torchvision.transforms.v2.AutoAugmentPolicy (the values of that enum).
AUTOAUGMENT_POLICIES = ("imagenet", "cifar10", "svhn")
# Batch mixings producing soft targets ("none": no mixing).
MIXINGS = ("none", "mixup", "cutmix")
# Interpolation of the rotation step of FCR.
INTERPOLATIONS = ("nearest", "bilinear")


def _check_fcr_arguments(padding: int, degrees: float, flip_p: float) -> None:
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    if not (isinstance(degrees, (int, float)) and 0.0 <= degrees <= 180.0):
        raise ValueError(f"degrees must be a number in [0, 180], got {degrees!r}")
    if not (isinstance(flip_p, (int, float)) and 0.0 <= flip_p <= 1.0):
        raise ValueError(f"flip_p must be a probability in [0, 1], got {flip_p!r}")


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"unknown interpolation {interpolation!r}; valid choices: {list(INTERPOLATIONS)}"
        )
