"""User datasets: image folders (or zips of them) and ``.npz`` arrays.

``folder``: ``<root>/<split>/<class>/*.{png,jpg,jpeg}``, ``root`` being a directory or a
``.zip`` holding that layout (e.g. the JPEG copy of CIFAR-10, ``cifar10-jpeg.zip``). Classes
are the sorted union of the class folders of all splits, so a label means the same class
in every split.

``npz``: ``root`` is a ``.npz`` file, or a folder of ``<split>.npz`` files, each with keys
``images`` and ``labels`` (see :func:`~probmoll.data.load_npz`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .cache import CacheEntry, cached_split, dataset_statistics
from .dataset import DatasetSplit, load_npz
from .files import IMAGE_EXTENSIONS, FileTree, decode_items, interleave_classes, parse_size
from .registry import check_split, register_dataset

__all__ = ["load_folder", "load_npz_dataset"]


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS) and "/." not in "/" + path


@register_dataset("folder")
def load_folder(
    split,
    *,
    root=None,
    cache_dir=None,
    download=False,
    resize=None,
    channels: int | None = None,
    name: str | None = None,
) -> DatasetSplit:
    """Images in class folders: ``<root>/<split>/<class>/*.{png,jpg,jpeg}``.

    Parameters
    ----------
    split : str
        A split folder under ``root`` (e.g. ``"train"``, ``"test"``).
    root : path-like
        The directory or ``.zip`` archive (a lone top-level folder inside is stepped into).
    cache_dir : path-like, optional
        Cache of the decoded arrays.
    download : bool
        Not supported (there is nothing to download); must be False.
    resize : int or (H, W), optional
        Resize every image to this size; without it all images must have the same size.
    channels : {1, 3}, optional
        Convert to grayscale (1) or RGB (3); default: grayscale if the first image is.
    name : str, optional
        Dataset name recorded in the split (default: the stem of ``root``).

    Notes
    -----
    ``mean``/``std`` come from the ``train`` split when there is one, else from ``split``.
    """
    if root is None:
        raise ValueError(
            "the 'folder' dataset needs root=<directory or .zip of <split>/<class>/images>"
        )
    if download:
        raise ValueError("the 'folder' dataset has nothing to download; pass download=False")
    resize = parse_size(resize, "resize")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
    tree = FileTree(root).descend_into_single_folder((split, "train", "test"))
    splits = [s for s in tree.subfolders() if tree.subfolders(s)]
    name = name or Path(root).stem
    if not splits:
        raise ValueError(
            f"{tree.describe()!r} has no <split>/<class>/ folders; expected e.g. "
            f"train/<class>/*.png and test/<class>/*.png"
        )
    check_split(split, splits, name)
    classes = tuple(sorted({c for s in splits for c in tree.subfolders(s)}))
    entry = CacheEntry(
        cache_dir,
        "folder",
        {
            "source": tree.fingerprint(),
            "resize": resize,
            "channels": channels,
            "order": "interleaved",
        },
    )

    def decode(which: str):
        items = interleave_classes(
            [
                [(path, label) for path in tree.files(f"{which}/{cls}") if _is_image(path)]
                for label, cls in enumerate(classes)
            ]
        )

        def build(allocate):
            labels, used_channels = decode_items(
                tree, items, allocate, channels=channels, resize=resize, desc=f"{name} {which}"
            )
            return labels, {
                "source": tree.describe(which),
                "dataset": name,
                "classes": list(classes),
                "channels": used_channels,
            }

        return cached_split(entry, which, build)

    images, labels, sidecar = decode(split)
    mean, std, _ = dataset_statistics(
        split, sidecar, lambda: decode("train")[2] if "train" in splits else None
    )
    return DatasetSplit(name, split, images, labels, classes, mean, std)


@register_dataset("npz")
def load_npz_dataset(
    split, *, root=None, cache_dir=None, download=False, name=None
) -> DatasetSplit:
    """Arrays from ``.npz`` files: ``root`` is one file, or a folder of ``<split>.npz``.

    ``mean``/``std`` are those of ``train.npz`` when ``root`` is a folder that has one,
    else those of the file loaded (its ``mean``/``std`` keys, else computed from its images).
    """
    if root is None:
        raise ValueError("the 'npz' dataset needs root=<file.npz or folder of <split>.npz>")
    if download:
        raise ValueError("the 'npz' dataset has nothing to download; pass download=False")
    root = Path(root)
    if root.is_dir():
        available = sorted(p.stem for p in root.glob("*.npz"))
        check_split(split, available, str(root))
        loaded = load_npz(root / f"{split}.npz", name=name or root.name, split=split)
        if split != "train" and "train" in available:
            train = load_npz(root / "train.npz", name=name or root.name, split="train")
            return dataclasses.replace(loaded, mean=train.mean, std=train.std)
        return loaded
    return load_npz(root, name=name, split=split)
