"""Per-image augmentation policies built from ``torchvision.transforms.v2``.

The rows of Table 1 of the paper (Sec. 4) combine FCR (flip, crop with 4 pixels of zero
padding, rotation up to 15 degrees) with one of the standard policies RandAugment,
AutoAugment, AugMix or TrivialAugment. These run image by image on uint8 ``(C, H, W)``
tensors, on the CPU, typically inside ``DataLoader`` workers
(:class:`AugmentedImageDataset`).

FCR is applied exactly once, in one of two places:

- ``build_image_transform(name, size)`` (``include_fcr=True``) is the reference
  per-image pipeline, FCR first and the policy after it, the order of the paper's
  ``Compose``;
- ``build_image_transform(name, size, include_fcr=False)`` keeps only the policy, for use
  with :class:`probmoll.augment.batched.BatchFCR` on the device afterwards. The policy
  then sees the un-padded image: its colour operations (e.g. ``Invert``, ``Equalize``,
  ``AutoContrast``) never touch the zero padding and rotated-in corners, which stay 0.
  The two orders differ only in that detail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from probmoll.augment.options import (
    AUTOAUGMENT_POLICIES,
    POLICIES,
    POLICIES_WITH_FCR,
    _check_fcr_arguments,
    _check_interpolation,
)

__all__ = [
    "AugmentedImageDataset",
    "apply_image_transform",
    "build_fcr_transform",
    "build_image_transform",
    "build_policy_transform",
    "default_autoaugment_policy",
    "list_autoaugment_policies",
    "list_policies",
    "policy_uses_fcr",
]

ImageSize = int | Sequence[int]


def _randaugment(autoaugment_policy: str) -> v2.Transform:
    # torchvision's defaults (2 operations, magnitude 9), those of Cubuk et al. (2020) on CIFAR.
    return v2.RandAugment()


def _autoaugment(autoaugment_policy: str) -> v2.Transform:
    return v2.AutoAugment(v2.AutoAugmentPolicy(autoaugment_policy))


def _augmix(autoaugment_policy: str) -> v2.Transform:
    # Severity 3, width 3, random depth: the defaults of Hendrycks et al. (2020).
    return v2.AugMix()


def _trivial_augment(autoaugment_policy: str) -> v2.Transform:
    return v2.TrivialAugmentWide()


# name -> builder of the per-image policy applied after FCR, for the names of POLICIES
# (probmoll.augment.options) that add one to FCR.
_POLICY_BUILDERS: dict[str, Callable[[str], v2.Transform]] = {
    "fcr+randaug": _randaugment,
    "fcr+autoaug": _autoaugment,
    "fcr+augmix": _augmix,
    "fcr+trivaug": _trivial_augment,
}


def list_policies() -> list[str]:
    """Names of the augmentation policies (the rows of Table 1 without mixing)."""
    return list(POLICIES)


def list_autoaugment_policies() -> list[str]:
    """Learned AutoAugment policies shipped with torchvision."""
    return list(AUTOAUGMENT_POLICIES)


def _check_policy(name: str) -> None:
    if name not in POLICIES:
        raise ValueError(f"unknown augmentation policy {name!r}; valid choices: {list_policies()}")


def _image_size(image_size: ImageSize) -> tuple[int, int]:
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    elif isinstance(image_size, Sequence) and len(image_size) == 2:
        size = tuple(image_size)
    else:
        raise ValueError(f"image_size must be an int or a (height, width) pair, got {image_size!r}")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ValueError(f"image_size must hold positive ints, got {image_size!r}")
    return size


def policy_uses_fcr(name: str) -> bool:
    """Whether policy ``name`` includes FCR."""
    _check_policy(name)
    return name in POLICIES_WITH_FCR


def default_autoaugment_policy(image_size: ImageSize) -> str:
    """AutoAugment policy for ``image_size``: CIFAR-10's up to 32 x 32, ImageNet's above."""
    height, width = _image_size(image_size)
    return "cifar10" if max(height, width) <= 32 else "imagenet"


def build_fcr_transform(
    image_size: ImageSize,
    *,
    padding: int = 4,
    degrees: float = 15.0,
    flip_p: float = 0.5,
    interpolation: str = "nearest",
) -> v2.Compose:
    """Per-image FCR: ``RandomCrop`` (zero padding), ``RandomHorizontalFlip``, ``RandomRotation``.

    The reference for :class:`probmoll.augment.batched.BatchFCR`, which computes the same
    thing for a whole batch at once (Sec. 4 of the paper).

    Parameters
    ----------
    image_size : int or (int, int)
        Output size ``H`` or ``(H, W)``, equal to the input size.
    padding : int, default 4
        Zero padding on each side before the random crop.
    degrees : float, default 15.0
        Rotation angles are uniform on ``[-degrees, degrees]``.
    flip_p : float, default 0.5
        Probability of a horizontal flip.
    interpolation : {"nearest", "bilinear"}, default "nearest"
        Interpolation of the rotation.
    """
    _check_fcr_arguments(padding, degrees, flip_p)
    _check_interpolation(interpolation)
    size = _image_size(image_size)
    steps: list[v2.Transform] = [
        v2.RandomCrop(size, padding=padding, fill=0),
        v2.RandomHorizontalFlip(flip_p),
    ]
    if degrees > 0:
        steps.append(
            v2.RandomRotation(degrees, interpolation=v2.InterpolationMode(interpolation), fill=0)
        )
    return v2.Compose(steps)


def build_policy_transform(
    name: str, image_size: ImageSize, *, autoaugment_policy: str | None = None
) -> v2.Transform | None:
    """The part of policy ``name`` that comes after FCR, or ``None`` if there is none.

    Parameters
    ----------
    name : str
        One of :func:`list_policies`.
    image_size : int or (int, int)
        Image size; chooses the AutoAugment policy when ``autoaugment_policy`` is ``None``.
    autoaugment_policy : {"cifar10", "imagenet", "svhn"}, optional
        Learned policy of ``"fcr+autoaug"``; ignored by the other names.
    """
    _check_policy(name)
    if autoaugment_policy is None:
        autoaugment_policy = default_autoaugment_policy(image_size)
    elif autoaugment_policy not in list_autoaugment_policies():
        raise ValueError(
            f"unknown AutoAugment policy {autoaugment_policy!r}; "
            f"valid choices: {list_autoaugment_policies()}"
        )
    _image_size(image_size)
    builder = _POLICY_BUILDERS.get(name)
    return None if builder is None else builder(autoaugment_policy)


def build_image_transform(
    name: str,
    image_size: ImageSize,
    *,
    include_fcr: bool = True,
    padding: int = 4,
    degrees: float = 15.0,
    flip_p: float = 0.5,
    interpolation: str = "nearest",
    autoaugment_policy: str | None = None,
) -> v2.Transform:
    """Per-image pipeline of policy ``name`` for uint8 ``(C, H, W)`` tensors.

    Parameters
    ----------
    name : str
        One of :func:`list_policies`: ``"none"``, ``"fcr"``, ``"fcr+randaug"``,
        ``"fcr+autoaug"``, ``"fcr+augmix"``, ``"fcr+trivaug"``.
    image_size : int or (int, int)
        Image size ``H`` or ``(H, W)``.
    include_fcr : bool, default True
        Put FCR (when the policy has it) at the head of the pipeline. Pass ``False`` when
        FCR runs on the device with :class:`~probmoll.augment.batched.BatchFCR` instead.
    padding, degrees, flip_p, interpolation
        FCR settings, see :func:`build_fcr_transform`.
    autoaugment_policy : {"cifar10", "imagenet", "svhn"}, optional
        Learned policy of ``"fcr+autoaug"``; by default CIFAR-10's for images up to
        32 x 32 and ImageNet's for larger ones.

    Returns
    -------
    torchvision.transforms.v2.Transform
        A ``Compose`` (``Identity`` when there is nothing to do) mapping a uint8
        ``(C, H, W)`` tensor to one of the same shape and dtype, drawing from torch's
        global random generator.
    """
    policy = build_policy_transform(name, image_size, autoaugment_policy=autoaugment_policy)
    steps: list[v2.Transform] = []
    if include_fcr and policy_uses_fcr(name):
        steps.append(
            build_fcr_transform(
                image_size,
                padding=padding,
                degrees=degrees,
                flip_p=flip_p,
                interpolation=interpolation,
            )
        )
    else:
        _check_fcr_arguments(padding, degrees, flip_p)
        _check_interpolation(interpolation)
    if policy is not None:
        steps.append(policy)
    return v2.Compose(steps) if steps else v2.Identity()


def _check_uint8_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8, got {images.dtype}")


def apply_image_transform(
    images: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply a per-image transform to every image of a uint8 ``(B, C, H, W)`` batch.

    A loop over images, for the CPU. torchvision's transforms draw from torch's global
    generator; given ``generator``, a seed drawn from it drives them inside
    ``torch.random.fork_rng``, so the result is reproducible and the global state is
    left untouched.

    Returns
    -------
    torch.Tensor
        The stacked outputs (uint8 ``(B, C, H, W)`` for the transforms of this module).
    """
    _check_uint8_images(images)
    if images.shape[0] == 0:
        return images.clone()
    if generator is None:
        return torch.stack([transform(image) for image in images])
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.stack([transform(image) for image in images])


class AugmentedImageDataset(Dataset):
    """A uint8 image tensor with labels whose items pass through a per-image transform.

    Meant for ``torch.utils.data.DataLoader`` with worker processes: each worker applies
    the transform to its own images, and ``DataLoader(generator=...)`` seeds the workers'
    torch generators, which torchvision's transforms draw from, so runs are reproducible.
    Labels are returned untouched (integer classes or soft targets).

    Parameters
    ----------
    images : torch.Tensor
        uint8 ``(N, C, H, W)``; see :meth:`from_nhwc` for probmoll's ``(N, H, W, C)``
        numpy arrays.
    labels : torch.Tensor
        ``(N,)`` int64 class indices or ``(N, K)`` soft targets.
    transform : callable, optional
        Per-image transform, e.g. from :func:`build_image_transform`; ``None`` returns the
        images as stored.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        _check_uint8_images(images)
        if not isinstance(labels, torch.Tensor) or labels.ndim not in (1, 2):
            shape = (
                tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
            )
            raise ValueError(f"labels must be a (N,) or (N, K) tensor, got {shape}")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"images and labels disagree on N: {tuple(images.shape)} vs {tuple(labels.shape)}"
            )
        self.images = images
        self.labels = labels
        self.transform = transform

    @classmethod
    def from_nhwc(
        cls,
        images: np.ndarray,
        labels: np.ndarray | torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> AugmentedImageDataset:
        """Build from a uint8 ``(N, H, W, C)`` numpy array, probmoll's in-memory layout."""
        if not isinstance(images, np.ndarray) or images.ndim != 4 or images.dtype != np.uint8:
            described = (
                f"{images.dtype} array of shape {images.shape}"
                if isinstance(images, np.ndarray)
                else type(images).__name__
            )
            raise ValueError(f"images must be a uint8 (N, H, W, C) numpy array, got {described}")
        # Dataset arrays are read-only memory maps: copy while transposing to channels-first
        # (torch.from_numpy on a read-only array warns, and the copy is made anyway).
        channels_first = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        labels = labels if isinstance(labels, torch.Tensor) else torch.tensor(np.asarray(labels))
        return cls(channels_first, labels, transform)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]
