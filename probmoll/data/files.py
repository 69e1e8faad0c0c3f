"""Reading image folders the same way whether they are directories or ``.zip`` archives.

A :class:`FileTree` lists files by POSIX path relative to its root and reads their bytes.
Archives such as ``tiny-imagenet-200.zip`` wrap everything in one top-level folder;
:meth:`FileTree.descend_into_single_folder` steps into it, so loaders see the same layout
in both cases.
"""

from __future__ import annotations

import bisect
import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "FileTree",
    "IMAGE_EXTENSIONS",
    "decode_image",
    "interleave_classes",
    "parse_size",
    "torchvision_download",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
T = TypeVar("T")


def interleave_classes(per_class: Sequence[Sequence[T]]) -> list[T]:
    """Items of all classes in round-robin order: the first of each class, then the second...

    Class-folder datasets are stored in this order, so that the *first* ``n`` images of a
    split -- what ``eval.subset``, ``probmoll evaluate --subset`` and the ``--subset`` of
    generated corruption sets take -- cover the classes evenly instead of being the
    first class alone. Within a class the given order is kept.

    >>> interleave_classes([["a1", "a2", "a3"], ["b1"], ["c1", "c2"]])
    ['a1', 'b1', 'c1', 'a2', 'c2', 'a3']
    """
    longest = max((len(items) for items in per_class), default=0)
    return [items[i] for i in range(longest) for items in per_class if i < len(items)]


class FileTree:
    """Files under a directory or inside a zip archive.

    Parameters
    ----------
    root : path-like
        A directory or a ``.zip`` file.
    prefix : str
        Sub-folder (POSIX, relative) to treat as the root.
    """

    def __init__(self, root: str | os.PathLike, prefix: str = ""):
        self.root = Path(root).expanduser()
        self.prefix = prefix.strip("/")
        if self.root.is_file() and zipfile.is_zipfile(self.root):
            self._zip: zipfile.ZipFile | None = zipfile.ZipFile(self.root)
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
        elif self.root.is_dir():
            self._zip = None
            names = []
            self._folder_mtimes: dict[str, int] = {}
            for folder, _dirs, files in os.walk(self.root, followlinks=True):
                rel = Path(folder).relative_to(self.root).as_posix()
                base = "" if rel == "." else rel + "/"
                names.extend(base + f for f in files)
                self._folder_mtimes[base] = os.stat(folder).st_mtime_ns
        elif self.root.exists():
            raise ValueError(f"{str(self.root)!r} is neither a directory nor a .zip archive")
        else:
            raise FileNotFoundError(f"no such directory or .zip archive: {str(self.root)!r}")
        self._all_names = sorted(names)
        self._names = self._under(self.prefix)

    def _under(self, prefix: str) -> list[str]:
        if not prefix:
            return list(self._all_names)
        start = prefix + "/"
        return [n[len(start) :] for n in self._all_names if n.startswith(start)]

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def describe(self, rel: str = "") -> str:
        """Human-readable location of ``rel`` (for error messages)."""
        inner = "/".join(p for p in (self.prefix, rel) if p)
        if self.is_zip:
            return f"{self.root}::{inner}" if inner else str(self.root)
        return str(self.root / inner) if inner else str(self.root)

    def files(self, folder: str = "") -> list[str]:
        """Sorted relative paths of all files under ``folder`` (recursively)."""
        if not folder:
            return list(self._names)
        # The names are sorted, so those under a folder form one contiguous run: bisect for
        # it rather than scanning (ImageNet has 1.28M files in 1000 folders).
        start = folder.strip("/") + "/"
        low = bisect.bisect_left(self._names, start)
        high = bisect.bisect_left(self._names, start + "\U0010ffff", lo=low)
        return self._names[low:high]

    def subfolders(self, folder: str = "") -> list[str]:
        """Sorted names of the immediate sub-folders of ``folder``."""
        depth = len(PurePosixPath(folder).parts) if folder else 0
        found = set()
        for name in self.files(folder):
            parts = PurePosixPath(name).parts
            if len(parts) > depth + 1:
                found.add(parts[depth])
        return sorted(found)

    def exists(self, rel: str) -> bool:
        return rel in self._name_set

    @property
    def _name_set(self) -> set[str]:
        cached = self.__dict__.get("_name_set_cache")
        if cached is None:
            cached = self.__dict__["_name_set_cache"] = set(self._names)
        return cached

    def read_bytes(self, rel: str) -> bytes:
        """The bytes of file ``rel``.

        Raises
        ------
        FileNotFoundError
            No such file (for an archive: no such member; zipfile's KeyError names neither
            the archive nor, usefully, the member).
        ValueError
            An archive member that cannot be read back (bad CRC, unsupported compression).
        """
        full = "/".join(p for p in (self.prefix, rel) if p)
        if self._zip is None:
            return (self.root / full).read_bytes()
        try:
            return self._zip.read(full)
        except KeyError:
            raise FileNotFoundError(
                f"the archive {str(self.root)!r} has no member {full!r}"
            ) from None
        except (zipfile.BadZipFile, NotImplementedError, EOFError) as error:
            raise ValueError(
                f"cannot read member {full!r} of the archive {str(self.root)!r}: {error}"
            ) from error

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8")

    def descend_into_single_folder(self, expected: Sequence[str]) -> FileTree:
        """Step into a lone top-level folder when none of ``expected`` is at the top.

        E.g. ``tiny-imagenet-200.zip`` holds ``tiny-imagenet-200/train/...``: with
        ``expected=("train",)`` this returns the tree rooted at ``tiny-imagenet-200``.
        """
        tree = self
        while True:
            top = tree.subfolders()
            if any(name in top for name in expected):
                return tree
            loose_files = [n for n in tree.files() if "/" not in n]
            if len(top) != 1 or loose_files:
                return tree
            tree = tree._with_prefix("/".join(p for p in (tree.prefix, top[0]) if p))

    def _with_prefix(self, prefix: str) -> FileTree:
        clone = object.__new__(FileTree)
        clone.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_name_set_cache"})
        clone.prefix = prefix
        clone._names = self._under(prefix)
        return clone

    def fingerprint(self) -> dict[str, Any]:
        """Identity of the source for cache keys: path, and size + mtime of the archive or
        the file count and latest folder mtime of a directory."""
        if self._zip is not None:
            stat = self.root.stat()
            return {
                "path": str(self.root.resolve()),
                "prefix": self.prefix,
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
        # Folders' modification times change when files are added, removed or renamed in
        # them; statting folders rather than files keeps this cheap for ImageNet-sized trees.
        start = self.prefix + "/" if self.prefix else ""
        latest = max((t for f, t in self._folder_mtimes.items() if f.startswith(start)), default=0)
        return {
            "path": str((self.root / self.prefix).resolve()),
            "files": len(self._names),
            "mtime_ns": latest,
        }


def parse_size(size: int | Sequence[int] | None, option: str = "resize") -> tuple[int, int] | None:
    """``None``, an int ``s`` (-> ``(s, s)``) or ``(H, W)`` -> ``(H, W)`` of positive ints."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        pair = (int(size), int(size))
    elif (
        isinstance(size, Sequence)
        and len(size) == 2
        and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)
    ):
        pair = (int(size[0]), int(size[1]))
    else:
        raise TypeError(f"{option} must be an int or a pair (H, W) of ints, got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"{option} must be positive, got {size!r}")
    return pair


def decode_image(
    data: bytes,
    *,
    channels: int,
    resize: tuple[int, int] | None = None,
    shorter_side: int | None = None,
    crop: tuple[int, int] | None = None,
    where: str = "",
) -> np.ndarray:
    """Decode PNG/JPEG bytes into a uint8 ``(H, W, C)`` array.

    Parameters
    ----------
    data : bytes
        Encoded image.
    channels : int
        1 (converted to 8-bit grayscale, PIL mode ``"L"``) or 3 (``"RGB"``).
    resize : (H, W), optional
        Resize to exactly this size (bilinear, antialiased).
    shorter_side : int, optional
        Resize so that the shorter side has this length, keeping the aspect ratio
        (exclusive with ``resize``).
    crop : (H, W), optional
        Center crop to this size, after resizing.
    where : str
        Name of the image, for error messages.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            target = resize
            if shorter_side is not None:
                target = resize_shorter_side((image.height, image.width), shorter_side)
            if target is not None and image.size != (target[1], target[0]):
                image = image.resize((target[1], target[0]), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except OSError as error:
        raise ValueError(f"cannot decode image {where!r}: {error}") from error
    if array.ndim == 2:
        array = array[..., None]
    if crop is not None:
        height, width = array.shape[:2]
        if crop[0] > height or crop[1] > width:
            raise ValueError(f"cannot center-crop {where!r} of size {height}x{width} to {crop}")
        top, left = (height - crop[0]) // 2, (width - crop[1]) // 2
        array = array[top : top + crop[0], left : left + crop[1]]
    return array


def resize_shorter_side(size: tuple[int, int], shorter: int) -> tuple[int, int]:
    """``(H, W)`` scaled so that its shorter side is ``shorter`` (aspect ratio kept)."""
    height, width = size
    if height <= width:
        return shorter, max(shorter, round(width * shorter / height))
    return max(shorter, round(height * shorter / width)), shorter


def infer_channels(data: bytes, where: str = "") -> int:
    """1 for grayscale encodings (PIL modes 1, L, LA, I, I;16, F), else 3."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            mode = image.mode
    except OSError as error:
        raise ValueError(f"cannot decode image {where!r}: {error}") from error
    return 1 if mode in ("1", "L", "LA", "I", "I;16", "F") else 3


def decode_items(
    tree: FileTree,
    items: Sequence[tuple[str, int]],
    allocate,
    *,
    channels: int | None = None,
    resize: tuple[int, int] | None = None,
    shorter_side: int | None = None,
    crop: tuple[int, int] | None = None,
    desc: str = "decoding",
) -> tuple[np.ndarray, int]:
    """Decode ``(path, label)`` items of ``tree`` into one preallocated uint8 array.

    The first image fixes ``(H, W, C)``; ``allocate(n, (H, W, C))`` returns the array to
    fill (a memory map over the cache file), so memory stays flat however many images
    there are. Every image must decode to that shape: a differently sized one raises a
    ValueError naming it and suggesting ``resize``.

    Returns
    -------
    labels : numpy.ndarray
        ``int64`` labels in item order.
    channels : int
        The channel count used.
    """
    from tqdm.auto import tqdm

    if not items:
        raise ValueError(f"no images found in {tree.describe()!r}")
    first_path = items[0][0]
    first_bytes = tree.read_bytes(first_path)
    if channels is None:
        channels = infer_channels(first_bytes, tree.describe(first_path))
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    options = {"channels": channels, "resize": resize, "shorter_side": shorter_side, "crop": crop}
    first = decode_image(first_bytes, where=tree.describe(first_path), **options)
    images = allocate(len(items), first.shape)
    progress = tqdm(total=len(items), desc=desc, unit="img", disable=len(items) < 5000 or None)
    with progress:
        for index, (path, _label) in enumerate(items):
            data = first_bytes if index == 0 else tree.read_bytes(path)
            image = (
                first if index == 0 else decode_image(data, where=tree.describe(path), **options)
            )
            if image.shape != first.shape:
                raise ValueError(
                    f"image {tree.describe(path)!r} has shape {image.shape} but "
                    f"{tree.describe(first_path)!r} has {first.shape}: all images must have the "
                    f"same size; pass resize=(H, W) to resize them all"
                )
            images[index] = image
            progress.update(1)
    return np.asarray([label for _path, label in items], dtype=np.int64), channels


def torchvision_download(dataset_class: str, root: str | os.PathLike, **kwargs: Any) -> None:
    """Download a dataset with ``torchvision.datasets.<dataset_class>(root, download=True)``.

    A failed download (no internet, a proxy, a broken mirror) becomes a ``RuntimeError`` that
    says which dataset, where it was going, and how to provide the files by hand.
    """
    import torchvision

    try:
        getattr(torchvision.datasets, dataset_class)(root=str(root), download=True, **kwargs)
    except Exception as error:  # urllib, http and torchvision raise many types here
        raise RuntimeError(
            f"could not download {dataset_class} into {str(root)!r} ({type(error).__name__}: "
            f"{error}). Without internet, copy the dataset's files into that folder by hand "
            f"(or point root= / $PROBMOLL_DATA at a copy) and load it with download=False."
        ) from error
