"""AugmentConfig validation and the pipeline it builds: FCR once, stages in their place."""

import dataclasses

import pytest
import torch
from torchvision.transforms import v2

from probmoll.augment import (
    AugmentConfig,
    BatchFCR,
    CutMix,
    MixUp,
    apply_image_transform,
    create_augmentation,
    list_mixings,
    list_policies,
)

FCR_TRANSFORMS = (v2.RandomCrop, v2.RandomHorizontalFlip, v2.RandomRotation)


def count_fcr_steps(transform):
    if transform is None:
        return 0
    if isinstance(transform, v2.Compose):
        return sum(count_fcr_steps(step) for step in transform.transforms)
    return int(isinstance(transform, FCR_TRANSFORMS))


def test_defaults_are_the_papers_fcr():
    config = AugmentConfig()
    assert (config.policy, config.padding, config.degrees, config.flip_p) == ("fcr", 4, 15.0, 0.5)
    assert config.batched_fcr and config.mix == "none" and config.mix_alpha == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.policy = "none"


@pytest.mark.parametrize(
    "fields, error, message",
    [
        ({"policy": "fcr+cutmix"}, ValueError, r"'fcr\+cutmix'.*'fcr\+trivaug'"),
        ({"mix": "cutout"}, ValueError, r"'cutout'.*'mixup', 'cutmix'"),
        ({"autoaugment_policy": "mnist"}, ValueError, r"'mnist'.*'cifar10'"),
        ({"interpolation": "bicubic"}, ValueError, r"'bicubic'.*'nearest', 'bilinear'"),
        ({"padding": -1}, ValueError, "padding"),
        ({"padding": 4.0}, ValueError, "padding"),
        ({"degrees": -5.0}, ValueError, "degrees"),
        ({"flip_p": 2.0}, ValueError, "flip_p"),
        ({"mix_alpha": 0.0}, ValueError, "mix_alpha"),
        ({"mix_alpha": True}, ValueError, "mix_alpha"),
        ({"batched_fcr": "yes"}, TypeError, "batched_fcr"),
        ({"mix_per_sample": 1}, TypeError, "mix_per_sample"),
    ],
)
def test_bad_fields_raise(fields, error, message):
    with pytest.raises(error, match=message):
        AugmentConfig(**fields)


@pytest.mark.parametrize("policy", list_policies())
@pytest.mark.parametrize("batched_fcr", [True, False])
@pytest.mark.parametrize("mix", list_mixings())
def test_pipeline_applies_fcr_exactly_once_and_runs(policy, batched_fcr, mix):
    config = AugmentConfig(policy=policy, batched_fcr=batched_fcr, mix=mix)
    pipeline = create_augmentation(config, image_size=16, num_classes=5)
    uses_fcr = policy != "none"
    fcr_on_device = isinstance(pipeline.batch_transform, BatchFCR)
    fcr_per_image = count_fcr_steps(pipeline.image_transform) == 3
    assert fcr_on_device + fcr_per_image == uses_fcr
    assert fcr_on_device == (uses_fcr and batched_fcr)
    assert count_fcr_steps(pipeline.image_transform) in (0, 3)
    if policy in ("none", "fcr") and (batched_fcr or policy == "none"):
        assert pipeline.image_transform is None
    assert {"none": type(None), "mixup": MixUp, "cutmix": CutMix}[mix] is type(pipeline.mixing)

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 5, (6,), generator=generator)
    if pipeline.image_transform is not None:
        images = apply_image_transform(images, pipeline.image_transform, generator)
    if pipeline.batch_transform is not None:
        images = pipeline.batch_transform(images, generator=generator)
    images = images.float().div(255)
    targets = labels
    if pipeline.mixing is not None:
        images, targets = pipeline.mixing(images, labels, generator=generator)
        torch.testing.assert_close(targets.sum(1), torch.ones(6))
    assert images.shape == (6, 3, 16, 16)


def test_config_settings_reach_the_stages():
    config = AugmentConfig(
        policy="fcr+autoaug",
        padding=2,
        degrees=5.0,
        flip_p=0.1,
        interpolation="bilinear",
        autoaugment_policy="svhn",
        mix="cutmix",
        mix_alpha=0.4,
        mix_per_sample=True,
    )
    pipeline = create_augmentation(config, image_size=32, num_classes=7)
    fcr = pipeline.batch_transform
    assert (fcr.padding, fcr.degrees, fcr.flip_p, fcr.interpolation) == (2, 5.0, 0.1, "bilinear")
    (policy,) = pipeline.image_transform.transforms
    assert policy.policy == v2.AutoAugmentPolicy.SVHN
    mixing = pipeline.mixing
    assert (mixing.num_classes, mixing.alpha, mixing.per_sample) == (7, 0.4, True)


def test_create_augmentation_rejects_other_configs():
    with pytest.raises(TypeError, match="dict"):
        create_augmentation({"policy": "fcr"}, 32, 10)
    with pytest.raises(ValueError, match="num_classes"):
        create_augmentation(AugmentConfig(mix="mixup"), 32, 0)
