"""Per-image torchvision policies, their batch helper and the DataLoader dataset."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from probmoll.augment import (
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


def transforms_in(transform):
    """Flatten nested Compose objects into the list of their leaf transforms."""
    if isinstance(transform, v2.Compose):
        return [leaf for step in transform.transforms for leaf in transforms_in(step)]
    return [transform]


def test_policies_cover_table_1():
    assert list_policies() == [
        "none",
        "fcr",
        "fcr+randaug",
        "fcr+autoaug",
        "fcr+augmix",
        "fcr+trivaug",
    ]
    assert [policy_uses_fcr(name) for name in list_policies()] == [False] + [True] * 5


@pytest.mark.parametrize("name", list_policies())
@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("include_fcr", [True, False])
def test_every_policy_builds_and_runs_on_uint8(name, channels, include_fcr):
    torch.manual_seed(0)
    image = torch.randint(0, 256, (channels, 32, 32), dtype=torch.uint8)
    transform = build_image_transform(name, 32, include_fcr=include_fcr)
    for _ in range(3):
        output = transform(image)
        assert output.shape == image.shape
        assert output.dtype == torch.uint8


@pytest.mark.parametrize("name", list_policies())
def test_fcr_appears_once_and_first(name):
    kinds = [type(t) for t in transforms_in(build_image_transform(name, 32))]
    fcr_kinds = [v2.RandomCrop, v2.RandomHorizontalFlip, v2.RandomRotation]
    if policy_uses_fcr(name):
        assert kinds[:3] == fcr_kinds
        assert len(kinds) == (3 if name == "fcr" else 4)
    else:
        assert kinds == [v2.Identity]
    without_fcr = [
        type(t) for t in transforms_in(build_image_transform(name, 32, include_fcr=False))
    ]
    assert not set(without_fcr) & set(fcr_kinds)


def test_none_is_identity_and_trivial_fcr_is_identity():
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    torch.testing.assert_close(build_image_transform("none", 32)(image), image, rtol=0, atol=0)
    still = build_fcr_transform(32, padding=0, degrees=0.0, flip_p=0.0)
    torch.testing.assert_close(still(image), image, rtol=0, atol=0)


def test_fcr_transform_settings_reach_torchvision():
    transform = build_fcr_transform(
        (24, 20), padding=2, degrees=7.0, flip_p=0.25, interpolation="bilinear"
    )
    crop, flip, rotation = transforms_in(transform)
    assert crop.size == (24, 20) and crop.padding == [2, 2, 2, 2]
    assert flip.p == 0.25
    assert rotation.degrees == [-7.0, 7.0]
    assert rotation.interpolation == v2.InterpolationMode.BILINEAR


def test_autoaugment_policy_follows_image_size_unless_given():
    assert default_autoaugment_policy(32) == "cifar10"
    assert default_autoaugment_policy((64, 64)) == "imagenet"
    assert build_policy_transform("fcr+autoaug", 32).policy == v2.AutoAugmentPolicy.CIFAR10
    assert build_policy_transform("fcr+autoaug", 64).policy == v2.AutoAugmentPolicy.IMAGENET
    explicit = build_policy_transform("fcr+autoaug", 64, autoaugment_policy="svhn")
    assert explicit.policy == v2.AutoAugmentPolicy.SVHN
    assert set(list_autoaugment_policies()) == {"cifar10", "imagenet", "svhn"}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: build_image_transform("fcr+cutout", 32), "fcr\\+trivaug"),
        (lambda: build_image_transform("fcr", 0), "image_size"),
        (lambda: build_image_transform("fcr", (32, 32, 3)), "image_size"),
        (lambda: build_image_transform("fcr", 32, padding=-2), "padding"),
        (lambda: build_image_transform("none", 32, interpolation="area"), "area"),
        (lambda: build_policy_transform("fcr+autoaug", 32, autoaugment_policy="mnist"), "svhn"),
        (lambda: policy_uses_fcr("FCR"), "valid choices"),
    ],
)
def test_bad_names_and_settings_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_apply_image_transform_is_reproducible_and_leaves_global_rng_alone():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    transform = build_image_transform("fcr+trivaug", 32)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = apply_image_transform(images, transform, torch.Generator().manual_seed(1))
    assert torch.equal(torch.get_rng_state(), state)
    again = apply_image_transform(images, transform, torch.Generator().manual_seed(1))
    other = apply_image_transform(images, transform, torch.Generator().manual_seed(2))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)
    assert first.shape == images.shape and first.dtype == torch.uint8
    with pytest.raises(TypeError, match="uint8"):
        apply_image_transform(images.float(), transform)


def test_dataset_in_dataloader_workers_is_seeded_by_the_loader():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8, generator=generator)
    labels = torch.arange(12)
    dataset = AugmentedImageDataset(images, labels, build_image_transform("fcr", 16))

    def one_epoch(seed):
        loader = DataLoader(
            dataset, batch_size=4, num_workers=2, generator=torch.Generator().manual_seed(seed)
        )
        batches = list(loader)
        return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])

    first_images, first_labels = one_epoch(5)
    again_images, _ = one_epoch(5)
    other_images, _ = one_epoch(6)
    torch.testing.assert_close(first_labels, labels)
    torch.testing.assert_close(first_images, again_images, rtol=0, atol=0)
    assert not torch.equal(first_images, other_images)
    assert first_images.dtype == torch.uint8 and first_images.shape == images.shape


def test_dataset_from_nhwc_and_without_transform():
    array = np.random.default_rng(0).integers(0, 256, (5, 8, 6, 3), dtype=np.uint8)
    dataset = AugmentedImageDataset.from_nhwc(array, np.arange(5))
    image, label = dataset[2]
    assert len(dataset) == 5
    torch.testing.assert_close(image, torch.from_numpy(array[2]).permute(2, 0, 1))
    assert int(label) == 2


@pytest.mark.parametrize(
    "images, labels, error",
    [
        (torch.zeros(4, 3, 8, 8), torch.arange(4), TypeError),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), torch.arange(3), ValueError),
        (torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.arange(5), ValueError),
        (torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, 2, 2), ValueError),
    ],
)
def test_dataset_rejects_bad_inputs(images, labels, error):
    with pytest.raises(error):
        AugmentedImageDataset(images, labels)


def test_from_nhwc_rejects_float_arrays():
    with pytest.raises(ValueError, match="float64"):
        AugmentedImageDataset.from_nhwc(np.zeros((2, 8, 8, 3)), np.arange(2))


def test_from_nhwc_accepts_read_only_dataset_arrays():
    # DatasetSplit arrays are read-only memory maps; building the dataset must not warn.
    images = np.arange(4 * 8 * 8 * 3, dtype=np.int64).astype(np.uint8).reshape(4, 8, 8, 3)
    labels = np.arange(4)
    images.setflags(write=False)
    labels.setflags(write=False)
    dataset = AugmentedImageDataset.from_nhwc(images, labels)
    image, label = dataset[2]
    assert torch.equal(image, torch.from_numpy(images[2].transpose(2, 0, 1).copy()))
    assert int(label) == 2
