"""CIFAR-10 and CIFAR-100 (the paper's main benchmarks, Sec. 4 "Datasets").

Reads the official "python version" archives as extracted by torchvision
(``<root>/cifar-10-batches-py/`` and ``<root>/cifar-100-python/``) and decodes them once
into the probmoll cache. ``download=True`` fetches them with ``torchvision.datasets``, which
also checks their MD5 sums.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .cache import CacheEntry, cached_split, dataset_statistics, default_data_root
from .dataset import DatasetSplit
from .files import torchvision_download
from .registry import check_split, register_dataset

__all__ = ["CIFAR_SPECS", "load_cifar10", "load_cifar100"]

# Layout of the official archives; "labels" is the key of the label list in each batch.
CIFAR_SPECS: dict[str, dict[str, Any]] = {
    "cifar10": {
        "title": "CIFAR-10",
        "folder": "cifar-10-batches-py",
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
        "meta": "batches.meta",
        "names": "label_names",
        "labels": "labels",
        "torchvision": "CIFAR10",
    },
    "cifar100": {
        "title": "CIFAR-100",
        "folder": "cifar-100-python",
        "train": ("train",),
        "test": ("test",),
        "meta": "meta",
        "names": "fine_label_names",
        "labels": "fine_labels",
        "torchvision": "CIFAR100",
    },
}


def _unpickle(path: Path) -> dict[str, Any]:
    # The official archives are Python pickles of dicts of numpy arrays and lists.
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise ValueError(f"cannot read CIFAR batch {str(path)!r}: {error}") from error


def _find_folder(name: str, root: Path | None, download: bool) -> Path:
    spec = CIFAR_SPECS[name]
    base = default_data_root(root)
    candidates = [base / spec["folder"], base]
    for folder in candidates:
        if all((folder / f).is_file() for f in (*spec["train"], *spec["test"], spec["meta"])):
            return folder
    if download:
        torchvision_download(spec["torchvision"], base, train=True)
        return _find_folder(name, root, download=False)
    files = ", ".join((*spec["train"], *spec["test"], spec["meta"]))
    raise FileNotFoundError(
        f"{spec['title']} not found: expected the folder {str(base / spec['folder'])!r} holding "
        f"{files}. Download it with load_dataset({name!r}, root={str(base)!r}, download=True) "
        f"(command line: --download), or pass root= (or set $PROBMOLL_DATA to) the folder "
        f"that contains {spec['folder']}/."
    )


def _load_cifar(
    name: str, split: str, root: Path | None, cache_dir, download: bool
) -> DatasetSplit:
    spec = CIFAR_SPECS[name]
    check_split(split, ("train", "test"), name)
    folder = _find_folder(name, root, download)
    meta = _unpickle(folder / spec["meta"])
    classes = tuple(str(c) for c in meta[spec["names"]])

    files = sorted((*spec["train"], *spec["test"], spec["meta"]))
    stats = [(f, (folder / f).stat().st_size, (folder / f).stat().st_mtime_ns) for f in files]
    entry = CacheEntry(cache_dir, name, {"source": str(folder.resolve()), "files": stats})

    def decode(which: str):
        def build(allocate):
            batches = [_unpickle(folder / f) for f in spec[which]]
            count = sum(len(b[spec["labels"]]) for b in batches)
            images = allocate(count, (32, 32, 3))
            labels, start = [], 0
            for batch in batches:
                data = np.asarray(batch["data"], dtype=np.uint8)
                if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                    raise ValueError(f"unexpected CIFAR data shape {data.shape} in {str(folder)!r}")
                block = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                images[start : start + len(block)] = block
                start += len(block)
                labels.extend(batch[spec["labels"]])
            return np.asarray(labels, dtype=np.int64), {
                "source": str(folder.resolve()),
                "dataset": name,
                "classes": list(classes),
            }

        return cached_split(entry, which, build)

    images, labels, sidecar = decode(split)
    mean, std, _ = dataset_statistics(split, sidecar, lambda: decode("train")[2])
    return DatasetSplit(name, split, images, labels, classes, mean, std)


@register_dataset("cifar10")
def load_cifar10(split, *, root=None, cache_dir=None, download=False) -> DatasetSplit:
    """CIFAR-10: 50,000 train / 10,000 test RGB images, 32x32, 10 classes.

    ``root`` holds ``cifar-10-batches-py/`` (default ``$PROBMOLL_DATA`` or
    ``~/.cache/probmoll/datasets``); ``download=True`` fetches it with torchvision.
    ``mean``/``std`` are computed from the train split.
    """
    return _load_cifar("cifar10", split, root, cache_dir, download)


@register_dataset("cifar100")
def load_cifar100(split, *, root=None, cache_dir=None, download=False) -> DatasetSplit:
    """CIFAR-100 (fine labels): 50,000 train / 10,000 test RGB images, 32x32, 100 classes.

    ``root`` holds ``cifar-100-python/``; see :func:`load_cifar10`.
    """
    return _load_cifar("cifar100", split, root, cache_dir, download)
