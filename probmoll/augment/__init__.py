"""Standard augmentations: batched on-device FCR, torchvision policies, MixUp/CutMix.

FCR (flip, crop with zero padding, rotation) is the base of every row of Table 1 of the
paper (Sec. 4); RandAugment, AutoAugment, AugMix and TrivialAugment are added per image;
MixUp and CutMix mix a batch and produce the soft targets that label mollification
smooths next. :class:`AugmentConfig` selects a combination and :func:`create_augmentation`
places each stage where it runs best (DataLoader workers or the device).
"""

from probmoll.augment.batched import (
    BatchFCR,
    FCRParams,
    batch_fcr,
    list_interpolations,
    sample_fcr_params,
)
from probmoll.augment.config import AugmentConfig, AugmentPipeline, create_augmentation
from probmoll.augment.mixing import (
    CutMix,
    MixParams,
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
from probmoll.augment.policies import (
    AugmentedImageDataset,
    apply_image_transform,
    build_fcr_transform,
    build_image_transform,
    build_policy_transform,
    default_autoaugment_policy,
    list_autoaugment_policies,
    list_policies,
    policy_uses_fcr,
)

__all__ = [
    "AugmentConfig",
    "AugmentPipeline",
    "AugmentedImageDataset",
    "BatchFCR",
    "CutMix",
    "FCRParams",
    "MixParams",
    "MixUp",
    "apply_image_transform",
    "batch_fcr",
    "build_fcr_transform",
    "build_image_transform",
    "build_policy_transform",
    "create_augmentation",
    "create_mixing",
    "cutmix",
    "default_autoaugment_policy",
    "list_autoaugment_policies",
    "list_interpolations",
    "list_mixings",
    "list_policies",
    "mixup",
    "policy_uses_fcr",
    "sample_beta",
    "sample_cutmix_boxes",
    "sample_fcr_params",
    "sample_mix_params",
    "to_soft_targets",
]
