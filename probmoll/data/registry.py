"""Dataset registry: ``register_dataset``, ``load_dataset``, ``list_datasets``.

A loader is a function ``loader(split, *, root, cache_dir, download, **options)`` returning
a :class:`~probmoll.data.DatasetSplit`; its keyword-only parameters beyond the common four
are the dataset's options (e.g. ``pad_to`` for Fashion-MNIST).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .dataset import DatasetSplit

__all__ = ["check_split", "list_datasets", "load_dataset", "register_dataset"]

_COMMON = ("root", "cache_dir", "download")
_LOADERS: dict[str, Callable[..., DatasetSplit]] = {}


def register_dataset(
    name: str,
) -> Callable[[Callable[..., DatasetSplit]], Callable[..., DatasetSplit]]:
    """Decorator registering a dataset loader under ``name``.

    Examples
    --------
    >>> @register_dataset("my-data")  # doctest: +SKIP
    ... def load_my_data(split, *, root=None, cache_dir=None, download=False, size=32):
    ...     ...
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"dataset name must be a non-empty str, got {name!r}")

    def decorator(loader: Callable[..., DatasetSplit]) -> Callable[..., DatasetSplit]:
        if name in _LOADERS and _LOADERS[name] is not loader:
            raise ValueError(f"a dataset named {name!r} is already registered")
        parameters = inspect.signature(loader).parameters
        missing = [p for p in _COMMON if p not in parameters]
        if missing:
            raise TypeError(f"loader for {name!r} must accept keyword arguments {missing}")
        _LOADERS[name] = loader
        return loader

    return decorator


def list_datasets() -> list[str]:
    """Names of the registered datasets, sorted."""
    return sorted(_LOADERS)


def dataset_options(name: str) -> list[str]:
    """The options (keyword arguments beyond root/cache_dir/download) that ``name`` accepts."""
    loader = _get_loader(name)
    return [
        p.name
        for p in inspect.signature(loader).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in _COMMON
    ]


def _get_loader(name: str) -> Callable[..., DatasetSplit]:
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    key = name.lower()
    if key not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; registered datasets: {list_datasets()}")
    return _LOADERS[key]


def load_dataset(
    name: str,
    split: str = "train",
    /,
    *,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = False,
    **options: Any,
) -> DatasetSplit:
    """Load one split of a registered dataset.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets` (case-insensitive), e.g. ``"cifar10"``,
        ``"fashion-mnist"``, ``"folder"``, ``"synthetic"``.
    split : str
        ``"train"`` or ``"test"`` (folder datasets accept their folder names).
    root : path-like, optional
        Where the raw files are (a folder or, where supported, a ``.zip``); default per
        dataset, usually ``$PROBMOLL_DATA`` or ``~/.cache/probmoll/datasets``.
    cache_dir : path-like, optional
        Where decoded arrays are cached (default ``$PROBMOLL_CACHE`` or ``~/.cache/probmoll``).
    download : bool
        Download the raw files when missing (datasets torchvision can download).
    **options
        Dataset-specific options; an unknown one raises ``TypeError`` listing the valid ones.
        ``name`` and ``split`` are positional-only, so an option may be called ``name``
        (e.g. the ``folder`` dataset's display name).

    Returns
    -------
    DatasetSplit
    """
    loader = _get_loader(name)
    if not isinstance(split, str):
        raise TypeError(f"split must be a str, got {split!r}")
    valid = dataset_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"dataset {name!r} got unknown option(s) {unknown}; valid options: {valid}")
    if root is not None:
        root = Path(root).expanduser()
    return loader(split, root=root, cache_dir=cache_dir, download=bool(download), **options)


def check_split(split: str, valid: Sequence[str], dataset: str) -> str:
    """Return ``split`` if it is one of ``valid``, else raise a ValueError listing them."""
    if split not in valid:
        raise ValueError(f"dataset {dataset!r} has no split {split!r}; valid splits: {list(valid)}")
    return split
