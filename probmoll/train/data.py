"""The images of a run: the training set (on the device, or read a batch at a time from
the dataset's memory map) and the test split, with what the model needs to know of them,
and their standardisation, the one transform that training and evaluation share.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from probmoll.augment import apply_image_transform
from probmoll.evaluate.core import standardize
from probmoll.models import data_info
from probmoll.train.config import TrainConfig
from probmoll.train.distributed import DistributedContext, barrier

__all__ = [
    "BatchTransformDataset",
    "DataError",
    "HostImages",
    "TrainData",
    "check_evaluation",
    "check_splits",
    "load_data",
    "standardize",
]


class DataError(ValueError):
    """The data of a run cannot be loaded or used as configured; the message names the
    split, file or setting, and it is raised before training starts."""


@dataclasses.dataclass
class TrainData:
    """Training and test images of a run, with what the model needs to know about them."""

    # uint8 (N, C, H, W): a tensor on the device, or the dataset's own array (often a
    # memory map of the cache) read a batch at a time (data.on_device).
    train_images: torch.Tensor | HostImages
    train_labels: torch.Tensor  # int64 (N,), same device as train_images
    test_images: torch.Tensor  # uint8 (M, C, H, W), on the training device
    test_labels: torch.Tensor  # int64 (M,)
    mean: torch.Tensor  # (C,) float32 on the training device, [0, 1] scale
    std: torch.Tensor  # (C,)
    info: dict[str, Any]  # probmoll.models.data_info(...) of the dataset
    test_split: Any  # the probmoll.data.DatasetSplit evaluated at the end


def load_data(config: TrainConfig, device: torch.device, context: DistributedContext) -> TrainData:
    """Load the train and test splits (rank 0 first, so that it fills the cache alone).

    The training set goes onto the device as uint8 ``(N, C, H, W)`` when it fits
    (``data.on_device``; on the CPU: into memory), else it stays where the dataset keeps
    it -- for a cached dataset a memory map, never copied whole (:class:`HostImages`).
    The test split is cut to ``eval.subset`` images.

    Raises
    ------
    DataError
        When a split cannot be loaded (naming it and the ``data.*`` settings), or when
        the test split does not fit the training split (:func:`check_splits`).
    """

    def load() -> tuple[Any, Any]:
        options = dict(
            root=config.data.root,
            cache_dir=config.data.cache_dir,
            download=config.data.download,
            **config.data.options,
        )
        return tuple(_load_split(config, split, options) for split in ("train", "test"))

    if context.is_main:
        train, test = load()
    barrier(context)
    if not context.is_main:
        train, test = load()
    if config.data.subset is not None and config.data.subset < len(train):
        train = train.subset(config.data.subset, seed=config.data.subset_seed)
    if config.eval.subset is not None and config.eval.subset < len(test):
        # The first images, as `probmoll evaluate --subset` and the -C sets (same order) take.
        test = test.subset(config.eval.subset)
    check_splits(train, test, config.data.name)

    # Placement first: copying a large memory-mapped set into memory just to find that it
    # does not fit on the device would exhaust the host (ImageNet's training set: ~190 GB).
    if _keep_on_device(config.data.on_device, train.images, device):
        train_images, train_labels = train.to_tensor(device)
    else:
        train_images = HostImages(train.images)
        train_labels = torch.from_numpy(np.array(train.labels, dtype=np.int64))
    test_images, test_labels = test.to_tensor(device)
    height, width = train.image_size
    info = data_info(
        name=config.data.name,
        num_classes=train.num_classes,
        in_channels=train.in_channels,
        image_size=(height, width),
        mean=train.mean,
        std=train.std,
        classes=train.classes,
    )
    # Beyond the standard keys: how to load the same test split again.
    info["options"] = dict(config.data.options)
    return TrainData(
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        mean=torch.tensor(train.mean, dtype=torch.float32, device=device),
        std=torch.tensor(train.std, dtype=torch.float32, device=device),
        info=info,
        test_split=test,
    )


def _load_split(config: TrainConfig, split: str, options: dict[str, Any]) -> Any:
    """``load_dataset(data.name, split, **options)``; a failure names the split and the
    configuration that pointed at it."""
    from probmoll.data import load_dataset

    try:
        return load_dataset(config.data.name, split, **options)
    except (OSError, ValueError, TypeError, RuntimeError, EOFError) as error:
        where = f"data.root = {config.data.root!r}" if config.data.root is not None else ""
        if config.data.options:
            where += f"{', ' if where else ''}data.options = {dict(config.data.options)}"
        message = " ".join(str(error).split()) or type(error).__name__
        raise DataError(
            f"cannot load the {split} split of dataset {config.data.name!r}"
            + (f" ({where})" if where else "")
            + f": {message}"
        ) from error


def check_splits(train: Any, test: Any, name: str) -> None:
    """Check that the test split can be evaluated by a model of the training split.

    The model's outputs are the training split's classes (its class list, never its
    largest label), so the test split must list the same classes and its images must
    have the training images' size and channels; an empty test split has nothing to
    evaluate.

    Raises
    ------
    DataError
        Naming what differs.
    """
    problem = None
    if len(test) == 0:
        problem = "the test split is empty"
    elif tuple(test.classes) != tuple(train.classes):
        problem = (
            f"the test split lists {len(test.classes)} classes {list(test.classes)[:5]}... "
            f"but the training split {len(train.classes)} {list(train.classes)[:5]}...: "
            "both splits must list the same classes in the same order"
        )
    elif test.labels.size and int(test.labels.max()) >= train.num_classes:
        problem = (
            f"the test split has label {int(test.labels.max())}, outside the "
            f"{train.num_classes} training classes"
        )
    elif (test.image_size, test.in_channels) != (train.image_size, train.in_channels):
        problem = (
            f"test images are {test.image_size[0]}x{test.image_size[1]}x{test.in_channels} "
            f"but training images {train.image_size[0]}x{train.image_size[1]}x"
            f"{train.in_channels}"
        )
    if problem is not None:
        raise DataError(f"dataset {name!r}: {problem}")


def check_evaluation(config: TrainConfig, test: Any) -> None:
    """Check, before training, that the final evaluation will find its corruption set.

    ``eval.corruptions`` must hold ``eval.names`` (or a benchmark corruption) at every
    one of ``eval.severities``, in complete files of the test images' shape and labels
    (:func:`probmoll.data.corruptions.check_corruption_set`: headers only, nothing is
    generated or decoded).

    Raises
    ------
    DataError
        Naming ``eval.corruptions`` and what the set lacks.
    """
    evaluation = config.eval
    if evaluation.corruptions == "none":
        return
    from probmoll.data.corruptions import check_corruption_set

    try:
        check_corruption_set(
            evaluation.corruptions,
            test,
            root=evaluation.root,
            cache_dir=config.data.cache_dir,
            corruptions=None if evaluation.names is None else list(evaluation.names),
            include_heldout=evaluation.include_heldout,
            severities=list(evaluation.severities),
            preset=evaluation.corruption_preset,
        )
    except (OSError, ValueError, TypeError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        if evaluation.corruptions not in message:  # a folder's messages name it already
            message = f"eval.corruptions = {evaluation.corruptions!r}: {message}"
        raise DataError(message) from error


def _keep_on_device(policy: str, images: np.ndarray, device: torch.device) -> bool:
    """Whether the training images (``(N, H, W, C)`` uint8, maybe a memory map) go to
    ``device``: ``data.on_device`` = ``"auto"`` does when they take less than a quarter of
    its free memory (on the CPU: of the available RAM; a set already in RAM always does)."""
    if policy != "auto":
        return policy == "always"
    if device.type == "cpu":
        available = _available_ram()
        in_ram = not isinstance(images, np.memmap)
        return in_ram or available is None or images.nbytes < available / 4
    free, _ = torch.cuda.mem_get_info(device)
    return images.nbytes < free / 4


def _available_ram() -> int | None:
    """Bytes of RAM available to new allocations (Linux's MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class HostImages:
    """Training images left in the dataset's ``(N, H, W, C)`` uint8 array, seen as
    ``(N, C, H, W)``: indexing with a tensor of indices reads just those images.

    For a cached dataset the array is a read-only memory map, so a training set far
    larger than memory (ImageNet) trains with the operating system's page cache.
    DataLoader workers (per-image policies) inherit the map when forked.
    """

    def __init__(self, array: np.ndarray) -> None:
        if array.ndim != 4 or array.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 images (N, H, W, C), got {array.dtype} {tuple(array.shape)}"
            )
        self.array = array
        count, height, width, channels = array.shape
        self.shape = torch.Size((count, channels, height, width))
        self.ndim = 4
        self.dtype = torch.uint8
        self.device = torch.device("cpu")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, indices: torch.Tensor) -> torch.Tensor:
        # The same values and layout as DatasetSplit.to_tensor()[indices].
        rows = self.array[indices.cpu().numpy()]  # fancy indexing: one copy, contiguous
        return torch.from_numpy(rows).permute(0, 3, 1, 2).contiguous()

    def cpu(self) -> HostImages:
        return self


class BatchTransformDataset(Dataset):
    """Whole training batches through a per-image policy, for DataLoader workers.

    Item ``(seed, indices)`` is the batch of those images, each transformed with the
    torch RNG seeded by ``seed`` (:func:`probmoll.augment.apply_image_transform`). The
    trainer derives the seed of a batch from (run seed, rank, epoch, step), so the result
    does not depend on the number of workers nor on where a resumed run restarts.

    Parameters
    ----------
    images : Tensor or HostImages
        uint8 ``(N, C, H, W)`` training images on the CPU.
    transform : callable
        The policy's per-image transform (uint8 ``(C, H, W)`` -> uint8 ``(C, H, W)``).
    """

    def __init__(self, images: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor]):
        self.images = images
        self.transform = transform

    def __getitem__(self, key: tuple[int, torch.Tensor]) -> torch.Tensor:
        seed, indices = key
        generator = torch.Generator().manual_seed(seed)
        return apply_image_transform(self.images[indices], self.transform, generator)
