"""Tiny-ImageNet (Sec. 4 "Datasets") and ImageNet from their standard folder layouts.

Both use WordNet ids (``wnid``) as class folders; labels index the *sorted* wnids (the
order ``torchvision.datasets.ImageFolder`` uses), and ``DatasetSplit.class_ids`` keeps
the wnids so that corruption sets laid out as ``<corruption>/<severity>/<wnid>/`` map to
the same labels. The ``test`` split is the labelled validation set (the official test
sets have no labels).
"""

from __future__ import annotations

from pathlib import Path

from .cache import CacheEntry, cached_split, dataset_statistics, default_data_root
from .dataset import DatasetSplit
from .files import FileTree, decode_items, interleave_classes
from .registry import check_split, register_dataset

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "load_imagenet", "load_tinyimagenet"]

# The usual ImageNet statistics (torchvision's); computing them needs a pass over 1.28M images.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

TINYIMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


def _class_names(tree: FileTree, wnids: tuple[str, ...]) -> tuple[str, ...]:
    """First synonym of each wnid from ``words.txt``/``LOC_synset_mapping.txt``, else the wnid."""
    names: dict[str, str] = {}
    for mapping, separator in (("words.txt", "\t"), ("LOC_synset_mapping.txt", " ")):
        if tree.exists(mapping):
            for line in tree.read_text(mapping).splitlines():
                wnid, _, words = line.strip().partition(separator)
                if words:
                    names.setdefault(wnid, words.split(",")[0].strip())
    return tuple(names.get(w, w) for w in wnids)


def _find_tinyimagenet(base: Path) -> FileTree | None:
    # The named candidates first: listing a whole data root can be slow.
    for candidate in (base / "tiny-imagenet-200", base / "tiny-imagenet-200.zip", base):
        if candidate.is_file() or (
            candidate.is_dir()
            and any((candidate / sub).exists() for sub in ("train", "tiny-imagenet-200"))
        ):
            tree = FileTree(candidate).descend_into_single_folder(("train", "val"))
            if "train" in tree.subfolders() and tree.exists("val/val_annotations.txt"):
                return tree
    return None


def _is_jpeg(path: str) -> bool:
    return path.lower().endswith((".jpeg", ".jpg"))


@register_dataset("tinyimagenet")
def load_tinyimagenet(split, *, root=None, cache_dir=None, download=False) -> DatasetSplit:
    """Tiny-ImageNet-200: 100,000 train / 10,000 validation RGB images, 64x64, 200 classes.

    Parameters
    ----------
    split : {"train", "test"}
        ``"test"`` reads the labelled validation set (``val/``; ``"val"`` is accepted too).
    root : path-like, optional
        The ``tiny-imagenet-200`` folder or ``tiny-imagenet-200.zip``, or a folder holding
        either (default: the data root). Layout: ``wnids.txt``, ``words.txt``,
        ``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG``, ``val/val_annotations.txt``.
    cache_dir : path-like, optional
        Cache of the decoded arrays.
    download : bool
        Not available (no torchvision downloader); raises with the URL to fetch by hand.
    """
    check_split(split, ("train", "test", "val"), "tinyimagenet")
    split = "test" if split == "val" else split
    base = default_data_root(root)
    tree = _find_tinyimagenet(base)
    if tree is None:
        hint = (
            f"Download it from {TINYIMAGENET_URL} and pass root= the .zip or its extracted folder"
        )
        if download:
            raise ValueError(f"Tiny-ImageNet cannot be downloaded automatically. {hint}.")
        raise FileNotFoundError(
            f"Tiny-ImageNet not found under {str(base)!r}: expected tiny-imagenet-200/ (or .zip) "
            f"with wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and "
            f"val/val_annotations.txt. {hint}."
        )
    if tree.exists("wnids.txt"):
        wnids = tuple(sorted(w.strip() for w in tree.read_text("wnids.txt").split() if w.strip()))
    else:
        wnids = tuple(tree.subfolders("train"))
    label_of = {w: i for i, w in enumerate(wnids)}
    classes = _class_names(tree, wnids)
    entry = CacheEntry(
        cache_dir, "tinyimagenet", {"source": tree.fingerprint(), "order": "interleaved"}
    )

    def items_for(which: str) -> list[tuple[str, int]]:
        if which == "train":
            return interleave_classes(
                [
                    [(path, label_of[w]) for path in tree.files(f"train/{w}") if _is_jpeg(path)]
                    for w in wnids
                ]
            )
        items = []
        for line_number, line in enumerate(
            tree.read_text("val/val_annotations.txt").splitlines(), 1
        ):
            fields = line.split("\t")
            if not line.strip():
                continue
            if len(fields) < 2 or fields[1] not in label_of:
                raise ValueError(
                    f"{tree.describe('val/val_annotations.txt')!r} line {line_number}: "
                    f"expected '<file>\\t<wnid>\\t...' with a wnid from wnids.txt, got {line!r}"
                )
            path = f"val/images/{fields[0]}"
            if not tree.exists(path):
                raise FileNotFoundError(
                    f"{tree.describe('val/val_annotations.txt')!r} line {line_number} lists "
                    f"{fields[0]!r}, but {tree.describe(path)!r} does not exist: the dataset is "
                    "incomplete; extract or download it again"
                )
            items.append((path, label_of[fields[1]]))
        return items

    def decode(which: str):
        def build(allocate):
            labels, _ = decode_items(
                tree, items_for(which), allocate, channels=3, desc=f"tinyimagenet {which}"
            )
            return labels, {
                "source": tree.describe(),
                "dataset": "tinyimagenet",
                "classes": list(wnids),
            }

        return cached_split(entry, which, build)

    images, labels, sidecar = decode(split)
    mean, std, _ = dataset_statistics(split, sidecar, lambda: decode("train")[2])
    return DatasetSplit("tinyimagenet", split, images, labels, classes, mean, std, class_ids=wnids)


@register_dataset("imagenet")
def load_imagenet(
    split, *, root=None, cache_dir=None, download=False, size: int = 224, resize: int | None = None
) -> DatasetSplit:
    """ImageNet (ILSVRC-2012) from ``<root>/{train,val}/<wnid>/*.JPEG``, resized and center-cropped.

    Each image is resized so that its shorter side is ``resize`` and center-cropped to
    ``size`` x ``size`` (the usual evaluation transform), then stored in the cache as one
    uint8 memory-mapped array, written image by image so memory stays flat.

    Parameters
    ----------
    split : {"train", "test"}
        ``"test"`` reads ``val/`` (``"val"`` is accepted too).
    root : path-like
        The folder holding ``train/`` and ``val/`` (or a ``.zip`` of it); optional
        ``words.txt``/``LOC_synset_mapping.txt`` give class names.
    size : int
        Output side length (default 224).
    resize : int, optional
        Shorter side before cropping (default ``round(size / 0.875)``, 256 for 224).

    Notes
    -----
    ``mean``/``std`` are the usual ImageNet statistics, not recomputed.
    """
    check_split(split, ("train", "test", "val"), "imagenet")
    folder = "train" if split == "train" else "val"
    split = "test" if split == "val" else split
    if download:
        raise ValueError("ImageNet cannot be downloaded automatically; pass root= its folder")
    for option, value in (("size", size), ("resize", resize)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{option} must be a positive int, got {value!r}")
    shorter = resize if resize is not None else round(size / 0.875)
    if shorter < size:
        raise ValueError(f"resize={shorter} is smaller than size={size}; nothing left to crop")
    base = default_data_root(root)
    try:
        tree = FileTree(base).descend_into_single_folder(("train", "val"))
    except FileNotFoundError:
        tree = None
    if tree is None or folder not in tree.subfolders():
        raise FileNotFoundError(
            f"ImageNet split folder {folder!r} not found under {str(base)!r}: expected "
            f"train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (validation images sorted into wnid "
            f"folders); pass root= that folder"
        )
    wnids = tuple(sorted(set(tree.subfolders("train")) | set(tree.subfolders("val"))))
    label_of = {w: i for i, w in enumerate(wnids)}
    entry = CacheEntry(
        cache_dir,
        "imagenet",
        {
            "source": tree.fingerprint(),
            "size": size,
            "resize": shorter,
            "order": "interleaved",
        },
    )

    def build(allocate):
        items = interleave_classes(
            [
                [(path, label_of[w]) for path in tree.files(f"{folder}/{w}") if _is_jpeg(path)]
                for w in wnids
            ]
        )
        labels, _ = decode_items(
            tree,
            items,
            allocate,
            channels=3,
            shorter_side=shorter,
            crop=(size, size),
            desc=f"imagenet {folder}",
        )
        return labels, {
            "source": tree.describe(folder),
            "dataset": "imagenet",
            "classes": list(wnids),
        }

    images, labels, _sidecar = cached_split(entry, split, build)
    return DatasetSplit(
        "imagenet",
        split,
        images,
        labels,
        _class_names(tree, wnids),
        IMAGENET_MEAN,
        IMAGENET_STD,
        class_ids=wnids,
    )
