"""Dataset registry: ``register_dataset``, ``load_dataset``, ``list_datasets``.

A loader is a function ``loader(split, *, root, cache_dir, download, **options)`` returning
a :class:`~probmoll.data.DatasetSplit`; its keyword-only parameters beyond the common four
are the dataset's options (e.g. ``pad_to`` for Fashion-MNIST). Loaders live in
:data:`DATASETS`, whose names are case-insensitive.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from probmoll.utils.registry import Registry

from .dataset import DatasetSplit

__all__ = [
    "DATASETS",
    "check_split",
    "dataset_loader",
    "dataset_options",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]

Loader = Callable[..., DatasetSplit]
_COMMON = ("root", "cache_dir", "download")
#: The registered dataset loaders, by lower-case name (:func:`register_dataset`).
DATASETS: Registry[Loader] = Registry(
    "dataset", case_sensitive=False, listing="registered datasets"
)


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Decorator registering a dataset loader under ``name`` (case-insensitive).

    The loader must accept the keyword arguments ``root``, ``cache_dir`` and
    ``download`` (TypeError otherwise); a name taken by another loader raises ValueError.

    Examples
    --------
    >>> @register_dataset("my-data")  # doctest: +SKIP
    ... def load_my_data(split, *, root=None, cache_dir=None, download=False, size=32):
    ...     ...
    """
    add = DATASETS.register(name)  # a name that is not a non-empty str: TypeError

    def decorator(loader: Loader) -> Loader:
        parameters = inspect.signature(loader).parameters
        missing = [p for p in _COMMON if p not in parameters]
        if missing:
            raise TypeError(f"loader for {name!r} must accept keyword arguments {missing}")
        return add(loader)

    return decorator


def list_datasets() -> list[str]:
    """Names of the registered datasets, sorted."""
    return DATASETS.names()


def dataset_options(name: str) -> list[str]:
    """The options (keyword arguments beyond root/cache_dir/download) that ``name`` accepts."""
    loader = dataset_loader(name)
    return [
        p.name
        for p in inspect.signature(loader).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in _COMMON
    ]


def dataset_loader(name: str) -> Loader:
    """The loader registered under ``name`` (case-insensitive).

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.

    Returns
    -------
    callable
        ``loader(split, *, root, cache_dir, download, **options) -> DatasetSplit``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the registered datasets.
    TypeError
        When ``name`` is not a non-empty ``str``.
    """
    return DATASETS.get(name)


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
    loader = dataset_loader(name)
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
