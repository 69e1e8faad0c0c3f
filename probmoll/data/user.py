"""User datasets: image folders (or zips of them) and ``.npz`` arrays.

``folder``: ``<root>/<split>/<class>/*.{png,jpg,jpeg}``, ``root`` being a directory or a
``.zip`` holding that layout (e.g. the JPEG copy of CIFAR-10, ``cifar10-jpeg.zip``). Classes
are the sorted union of the class folders of all splits, so a label means the same class
in every split.

``npz``: ``root`` is a ``.npz`` file, or a folder of ``<split>.npz`` files, each with keys
``images`` and ``labels`` (see :func:`~probmoll.data.load_npz`). Classes come from the
files' ``classes`` arrays, the ``num_classes`` option or the labels of all splits, in
that order (see :func:`load_npz_dataset`), never from one split's largest label.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .cache import CacheEntry, cached_split, dataset_statistics
from .dataset import DatasetSplit, _check_label_range, _npz_labels, load_npz, read_npz
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
    split, *, root=None, cache_dir=None, download=False, name=None, num_classes: int | None = None
) -> DatasetSplit:
    """Arrays from ``.npz`` files: ``root`` is one file, or a folder of ``<split>.npz``.

    The classes are the same in every split, so that a label means the same class in all
    of them (and a model trained on one split can be evaluated on another). They come
    from, in this order:

    1. the files' ``classes`` arrays (every file that has one must agree), with
       ``num_classes``, when given, checked against their length;
    2. ``num_classes``: classes ``"0"`` ... ``"num_classes - 1"``;
    3. else the labels of all the splits: ``"0"`` up to the largest label of any
       ``<split>.npz`` in the folder, as the ``folder`` dataset takes the union of every
       split's class folders. A test label that the training split lacks thus gets its
       own class rather than a class count read from the training labels alone.

    A label outside the classes is an error naming the file. ``mean``/``std`` are those
    of ``train.npz`` when ``root`` is a folder that has one, else those of the file loaded
    (its ``mean``/``std`` keys, else computed from its images).
    """
    if root is None:
        raise ValueError("the 'npz' dataset needs root=<file.npz or folder of <split>.npz>")
    if download:
        raise ValueError("the 'npz' dataset has nothing to download; pass download=False")
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(
            f"the 'npz' dataset's root {str(root)!r} does not exist; expected a .npz file or "
            "a folder of <split>.npz files (train.npz, test.npz)"
        )
    if not root.is_dir():
        return load_npz(root, name=name, split=split, num_classes=num_classes)
    available = sorted(p.stem for p in root.glob("*.npz"))
    check_split(split, available, str(root))
    files = [root / f"{stem}.npz" for stem in available]
    classes = _npz_classes(files, num_classes)
    loaded = load_npz(root / f"{split}.npz", name=name or root.name, split=split, classes=classes)
    if split != "train" and "train" in available:
        train = load_npz(root / "train.npz", name=name or root.name, split="train", classes=classes)
        return dataclasses.replace(loaded, mean=train.mean, std=train.std)
    return loaded


def _npz_classes(files: list[Path], num_classes: int | None) -> list[str]:
    """The class names shared by the splits ``files`` (see :func:`load_npz_dataset`);
    every file's labels are checked to lie in them."""
    named: dict[Path, list[str]] = {}
    labels: dict[Path, np.ndarray] = {}
    for path in files:
        arrays = read_npz(path, ("labels",), optional=("classes",))
        if "classes" in arrays:
            named[path] = [str(c) for c in arrays["classes"].tolist()]
        labels[path] = _npz_labels(arrays["labels"], path)
    if named:
        (first, classes), *others = named.items()
        for path, other in others:
            if other != classes:
                raise ValueError(
                    f"{str(path)!r} and {str(first)!r} list different classes ({len(other)} "
                    f"and {len(classes)}: {other[:5]} and {classes[:5]}...); every split must "
                    "list the same classes in the same order"
                )
        if num_classes is not None and num_classes != len(classes):
            raise ValueError(
                f"num_classes = {num_classes} but {str(first)!r} lists {len(classes)} classes"
            )
        where = f"the 'classes' array of {str(first)!r}"
    elif num_classes is not None:
        classes, where = [str(k) for k in range(num_classes)], f"num_classes = {num_classes}"
    else:
        largest = max((int(v.max()) for v in labels.values() if v.size), default=0)
        classes, where = [str(k) for k in range(largest + 1)], "the labels of all splits"
    for path, values in labels.items():
        _check_label_range(values, len(classes), f"{str(path)!r}", where)
    return classes
