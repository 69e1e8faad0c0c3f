"""Typed configuration of the standard augmentations and the pipeline built from it.

One :class:`AugmentConfig` names a row of Table 1 of the paper (Sec. 4): a policy
(``"fcr"``, ``"fcr+trivaug"``, ...) and optionally a mixing (``"mixup"``/``"cutmix"``);
mollification, configured elsewhere, is applied on top. :func:`create_augmentation`
turns it into three stages placed where they run best:

1. ``image_transform`` -- per image, uint8 ``(C, H, W)`` on the CPU, in ``DataLoader``
   workers (:class:`~probmoll.augment.policies.AugmentedImageDataset`); ``None`` when the
   policy needs nothing per image;
2. ``batch_transform`` -- :class:`~probmoll.augment.batched.BatchFCR` on the device batch
   when ``batched_fcr`` (FCR is then left out of stage 1, so it runs exactly once);
3. ``mixing`` -- :class:`~probmoll.augment.mixing.MixUp`/``CutMix`` on the device batch,
   turning labels into soft targets, which label mollification then smooths.

Stages 2 and 3 commute with per-channel standardisation (FCR fills with 0 before it, as
torchvision does; mixing is convex or a copy), so the training loop may standardise the
images anywhere after stage 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Torch-free: checking an AugmentConfig imports neither torch nor torchvision; the modules
# that build the stages (and import them) are imported by create_augmentation.
from probmoll.augment.options import (
    AUTOAUGMENT_POLICIES,
    MIXINGS,
    POLICIES,
    _check_fcr_arguments,
    _check_interpolation,
)

if TYPE_CHECKING:
    import torch

    from probmoll.augment.batched import BatchFCR
    from probmoll.augment.mixing import CutMix, MixUp
    from probmoll.augment.policies import ImageSize

__all__ = ["AugmentConfig", "AugmentPipeline", "create_augmentation"]


@dataclass(frozen=True)
class AugmentConfig:
    """Standard augmentations of a training run (Sec. 4 and Table 1 of the paper).

    Unknown names and out-of-range numbers raise ``ValueError`` on construction.
    """

    # Per-image policy, one of list_policies(): "none", "fcr", "fcr+randaug",
    # "fcr+autoaug", "fcr+augmix", "fcr+trivaug" (FCR = flip, crop, rotation).
    policy: str = "fcr"
    # Run FCR on the device per batch (BatchFCR, fast) instead of per image in the
    # DataLoader workers, where it would come before the policy as in the paper's pipeline.
    batched_fcr: bool = True
    # Zero padding (pixels, each side) of the random crop.
    padding: int = 4
    # Rotation angles are uniform on [-degrees, degrees].
    degrees: float = 15.0
    # Probability of a horizontal flip.
    flip_p: float = 0.5
    # Rotation interpolation, "nearest" (torchvision's default) or "bilinear".
    interpolation: str = "nearest"
    # Learned AutoAugment policy for "fcr+autoaug" ("cifar10", "imagenet", "svhn");
    # None picks CIFAR-10's for images up to 32 x 32 and ImageNet's for larger ones.
    autoaugment_policy: str | None = None
    # Batch mixing producing soft targets, one of list_mixings(): "none", "mixup", "cutmix".
    mix: str = "none"
    # lambda ~ Beta(mix_alpha, mix_alpha); 1.0 makes lambda uniform.
    mix_alpha: float = 1.0
    # One lambda per image instead of one per batch.
    mix_per_sample: bool = False

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(
                f"unknown augmentation policy {self.policy!r}; valid choices: {list(POLICIES)}"
            )
        if self.mix not in MIXINGS:
            raise ValueError(f"unknown mixing {self.mix!r}; valid choices: {list(MIXINGS)}")
        if (
            self.autoaugment_policy is not None
            and self.autoaugment_policy not in AUTOAUGMENT_POLICIES
        ):
            raise ValueError(
                f"unknown AutoAugment policy {self.autoaugment_policy!r}; "
                f"valid choices: {[None, *AUTOAUGMENT_POLICIES]}"
            )
        for name in ("batched_fcr", "mix_per_sample"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        _check_fcr_arguments(self.padding, self.degrees, self.flip_p)
        _check_interpolation(self.interpolation)
        if (
            isinstance(self.mix_alpha, bool)
            or not isinstance(self.mix_alpha, (int, float))
            or not self.mix_alpha > 0
        ):
            raise ValueError(f"mix_alpha must be a positive number, got {self.mix_alpha!r}")


@dataclass(frozen=True)
class AugmentPipeline:
    """The three stages of an :class:`AugmentConfig`, each ``None`` when not needed.

    Attributes
    ----------
    image_transform : callable or None
        Per-image transform of uint8 ``(C, H, W)`` tensors, for DataLoader workers.
    batch_transform : BatchFCR or None
        ``(images, generator=None) -> images`` on the device batch.
    mixing : MixUp, CutMix or None
        ``(images, targets, generator=None) -> (images, soft targets)`` on the device batch.
    """

    image_transform: Callable[[torch.Tensor], torch.Tensor] | None
    batch_transform: BatchFCR | None
    mixing: MixUp | CutMix | None


def create_augmentation(
    config: AugmentConfig, image_size: ImageSize, num_classes: int
) -> AugmentPipeline:
    """Build the per-image, per-batch and mixing stages of ``config``.

    Parameters
    ----------
    config : AugmentConfig
        The augmentation settings.
    image_size : int or (int, int)
        Size of the training images (chooses the default AutoAugment policy).
    num_classes : int
        Number of classes of the soft targets made by mixing.
    """
    # Here, not at the top: the stages need torch and torchvision, the config does not.
    from probmoll.augment.batched import BatchFCR
    from probmoll.augment.mixing import create_mixing
    from probmoll.augment.policies import build_image_transform, policy_uses_fcr

    if not isinstance(config, AugmentConfig):
        raise TypeError(f"config must be an AugmentConfig, got {type(config).__name__}")
    fcr_on_device = config.batched_fcr and policy_uses_fcr(config.policy)
    per_image_needed = config.policy != "none" and not (fcr_on_device and config.policy == "fcr")
    image_transform = None
    if per_image_needed:
        image_transform = build_image_transform(
            config.policy,
            image_size,
            include_fcr=not fcr_on_device,
            padding=config.padding,
            degrees=config.degrees,
            flip_p=config.flip_p,
            interpolation=config.interpolation,
            autoaugment_policy=config.autoaugment_policy,
        )
    batch_transform = (
        BatchFCR(config.padding, config.degrees, config.flip_p, config.interpolation)
        if fcr_on_device
        else None
    )
    mixing = create_mixing(
        config.mix, num_classes, alpha=config.mix_alpha, per_sample=config.mix_per_sample
    )
    return AugmentPipeline(image_transform, batch_transform, mixing)
