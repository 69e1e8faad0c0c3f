"""Datasets (uint8 images + int64 labels) and corruption benchmarks.

- :class:`DatasetSplit` -- one split held as ``uint8 (N, H, W, C)`` images, ``int64``
  labels, class names and per-channel ``mean``/``std``.
- :func:`load_dataset` / :func:`list_datasets` / :func:`register_dataset` -- the dataset
  registry: ``cifar10``, ``cifar100``, ``tinyimagenet``, ``imagenet``, ``fashion-mnist``,
  ``folder`` (class folders or a zip of them), ``npz`` and ``synthetic``. Decoded images
  are cached as memory-mapped ``.npy`` files (:mod:`probmoll.data.cache`).
- :mod:`probmoll.data.corruptions` -- CIFAR-10-C style benchmarks: read the published sets
  or generate them locally (paper Sec. 4, "Metrics"; Table 2).
"""

from . import cifar, fashion_mnist, imagenet, synthetic, user  # noqa: F401  (register loaders)
from .cache import default_cache_dir, default_data_root
from .dataset import DatasetSplit, channel_stats, load_npz
from .registry import (
    DATASETS,
    dataset_loader,
    dataset_options,
    list_datasets,
    load_dataset,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "DatasetSplit",
    "channel_stats",
    "dataset_loader",
    "dataset_options",
    "default_cache_dir",
    "default_data_root",
    "list_datasets",
    "load_dataset",
    "load_npz",
    "register_dataset",
]
