"""Standard augmentations: batched on-device FCR, torchvision policies, MixUp/CutMix.

FCR (flip, crop with zero padding, rotation) is the base of every row of Table 1 of the
paper (Sec. 4); RandAugment, AutoAugment, AugMix and TrivialAugment are added per image;
MixUp and CutMix mix a batch and produce the soft targets that label mollification
smooths next. :class:`AugmentConfig` selects a combination and :func:`create_augmentation`
places each stage where it runs best (DataLoader workers or the device).

Names are imported on first use (PEP 562), so that ``import probmoll.augment`` imports
no torch: :class:`AugmentConfig` and the option names it checks come from torch-free
modules (:mod:`probmoll.augment.options`), the transforms from modules that import torch
and torchvision.
"""

from __future__ import annotations

from probmoll.utils.lazy import lazy_exports

# Where each public name is defined: the module imported when the name is first used.
_SOURCES = {
    "AugmentConfig": "config",
    "AugmentPipeline": "config",
    "AugmentedImageDataset": "policies",
    "BatchFCR": "batched",
    "CutMix": "mixing",
    "FCRParams": "batched",
    "MixParams": "mixing",
    "MixUp": "mixing",
    "apply_image_transform": "policies",
    "batch_fcr": "batched",
    "build_fcr_transform": "policies",
    "build_image_transform": "policies",
    "build_policy_transform": "policies",
    "create_augmentation": "config",
    "create_mixing": "mixing",
    "cutmix": "mixing",
    "default_autoaugment_policy": "policies",
    "list_autoaugment_policies": "policies",
    "list_interpolations": "batched",
    "list_mixings": "mixing",
    "list_policies": "policies",
    "mixup": "mixing",
    "policy_uses_fcr": "policies",
    "sample_beta": "mixing",
    "sample_cutmix_boxes": "mixing",
    "sample_fcr_params": "batched",
    "sample_mix_params": "mixing",
    "to_soft_targets": "mixing",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
