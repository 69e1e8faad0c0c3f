"""`DatasetSplit`: one split of an image-classification dataset held as uint8 arrays.

Images are ``uint8`` arrays of shape ``(N, H, W, C)`` (the layout of CIFAR-10-C ``.npy``
files and of user ``.npz`` files) and labels ``int64`` arrays of shape ``(N,)``. Models
consume the images standardised per channel with ``mean``/``std`` (given on the [0, 1]
scale), the standardisation under which the paper mollifies (Sec. 3; noising and blurring
act on standardised images).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DatasetSplit",
    "channel_stats",
    "load_npz",
    "read_npz",
]


@dataclasses.dataclass(frozen=True, eq=False)
class DatasetSplit:
    """One split of an image-classification dataset.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"cifar10"``.
    split : str
        Split name, e.g. ``"train"`` or ``"test"``.
    images : numpy.ndarray
        ``uint8`` array of shape ``(N, H, W, C)``; may be a read-only ``np.memmap``.
    labels : numpy.ndarray
        ``int64`` array of shape ``(N,)`` with values in ``[0, len(classes))``.
    classes : tuple of str
        Human-readable class names; ``labels`` index into it.
    mean, std : tuple of float
        Per-channel mean and standard deviation on the [0, 1] scale (of the train split
        unless the dataset says otherwise), used to standardise images.
    class_ids : tuple of str, optional
        Identifiers of the classes on disk (folder names, WordNet ids) when they differ
        from ``classes``; empty means "same as ``classes``". Corruption readers use them to
        map ``<wnid>`` folders to labels.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if not isinstance(images, np.ndarray):
            raise TypeError(f"images must be a numpy.ndarray, got {type(images).__name__}")
        if images.dtype != np.uint8:
            raise TypeError(f"images must have dtype uint8, got {images.dtype}")
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(
                f"images must have shape (N, H, W, C) with C in (1, 3), got {images.shape}"
            )
        if not isinstance(labels, np.ndarray):
            raise TypeError(f"labels must be a numpy.ndarray, got {type(labels).__name__}")
        if labels.dtype != np.int64:
            raise TypeError(f"labels must have dtype int64, got {labels.dtype}")
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"labels must have shape ({images.shape[0]},) to match images "
                f"{images.shape}, got {labels.shape}"
            )
        classes = tuple(self.classes)
        object.__setattr__(self, "classes", classes)
        if not classes:
            raise ValueError("classes must not be empty")
        if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(
                f"labels must lie in [0, {len(classes)}) for {len(classes)} classes, "
                f"got values in [{labels.min()}, {labels.max()}]"
            )
        channels = images.shape[-1]
        for field in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, field))
            object.__setattr__(self, field, value)
            if len(value) != channels:
                raise ValueError(
                    f"{field} must have one entry per channel ({channels}), got {value}"
                )
        if any(not s > 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")
        class_ids = tuple(self.class_ids)
        object.__setattr__(self, "class_ids", class_ids)
        if class_ids and len(class_ids) != len(classes):
            raise ValueError(
                f"class_ids must have one entry per class ({len(classes)}), got {len(class_ids)}"
            )

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of every image."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def in_channels(self) -> int:
        """Number of channels ``C`` (1 for grayscale, 3 for RGB)."""
        return int(self.images.shape[3])

    @property
    def folder_ids(self) -> tuple[str, ...]:
        """Class identifiers on disk: ``class_ids`` when given, else ``classes``."""
        return self.class_ids or self.classes

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"DatasetSplit(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"image_size={self.image_size}, in_channels={self.in_channels}, "
            f"num_classes={self.num_classes})"
        )

    def to_tensor(self, device: Any = None) -> tuple[Any, Any]:
        """Return the whole split as torch tensors, e.g. to keep it on the accelerator.

        Parameters
        ----------
        device : torch.device or str, optional
            Where to put the tensors (default: CPU).

        Returns
        -------
        images : torch.Tensor
            ``uint8`` tensor of shape ``(N, C, H, W)`` (contiguous).
        labels : torch.Tensor
            ``int64`` tensor of shape ``(N,)``.
        """
        import torch

        # A copy: memmaps are read-only and torch.from_numpy refuses to alias them silently.
        images = torch.from_numpy(np.array(self.images, copy=True))
        images = images.permute(0, 3, 1, 2).contiguous()
        labels = torch.from_numpy(np.array(self.labels, copy=True))
        return images.to(device), labels.to(device)

    def subset(self, selection: int | Sequence[int] | np.ndarray, *, seed: int | None = None):
        """Return a new split restricted to some images.

        Parameters
        ----------
        selection : int or sequence of int
            An integer ``n`` keeps the first ``n`` images (or ``n`` images drawn without
            replacement when ``seed`` is given, kept in their original order); a sequence
            keeps those indices in that order.
        seed : int, optional
            Seed of the random draw for an integer ``selection``.
        """
        total = len(self)
        if isinstance(selection, (bool, np.bool_)):
            raise TypeError(f"selection must be an int or a sequence of indices, got {selection!r}")
        if isinstance(selection, (int, np.integer)):
            n = int(selection)
            if not 0 <= n <= total:
                raise ValueError(f"subset size must lie in [0, {total}], got {n}")
            if seed is None:
                indices = np.arange(n)
            else:
                indices = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
        else:
            if seed is not None:
                raise ValueError("seed only applies to an integer subset size")
            indices = np.asarray(selection)
            if indices.ndim != 1 or not (
                indices.size == 0 or np.issubdtype(indices.dtype, np.integer)
            ):
                raise TypeError(
                    f"indices must be a 1-D sequence of integers, got dtype {indices.dtype} "
                    f"and shape {indices.shape}"
                )
            indices = indices.astype(np.int64)
            if indices.size and (indices.min() < -total or indices.max() >= total):
                raise ValueError(
                    f"indices must lie in [-{total}, {total}), got [{indices.min()}, "
                    f"{indices.max()}]"
                )
        if isinstance(selection, (int, np.integer)) and seed is None:
            images = self.images[:n]  # a view: keeps a memmap lazy
        else:
            images = np.asarray(self.images[indices])
        return dataclasses.replace(self, images=images, labels=self.labels[indices].copy())


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[tuple[float, ...], ...]:
    """Per-channel mean and standard deviation of uint8 images on the [0, 1] scale.

    Accumulates exact integer sums chunk by chunk, so a memory-mapped array of any size is
    read once without being loaded whole.

    Parameters
    ----------
    images : numpy.ndarray
        ``uint8`` array ``(N, H, W, C)``.
    chunk : int
        Number of images read at a time.

    Returns
    -------
    mean, std : tuple of float
        Population statistics (``ddof = 0``) over all pixels of all images. A constant
        channel gets ``std = 1`` so that standardising by it stays finite (it only
        subtracts the mean).
    """
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"need a non-empty (N, H, W, C) array, got shape {images.shape}")
    channels = images.shape[-1]
    total = np.zeros(channels, dtype=np.float64)
    total_sq = np.zeros(channels, dtype=np.float64)
    for start in range(0, images.shape[0], chunk):
        block = np.asarray(images[start : start + chunk]).reshape(-1, channels)
        block = block.astype(np.int64)
        total += block.sum(axis=0)
        total_sq += (block * block).sum(axis=0)
    count = images.shape[0] * images.shape[1] * images.shape[2]
    mean = total / count
    var = np.maximum(total_sq / count - mean**2, 0.0)
    std = np.where(var > 0, np.sqrt(var) / 255.0, 1.0)
    return tuple(float(m) / 255.0 for m in mean), tuple(float(s) for s in std)


def load_npz(
    path: str | Path,
    *,
    name: str | None = None,
    split: str = "custom",
    classes: Sequence[str] | None = None,
    num_classes: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> DatasetSplit:
    """Load a user dataset from a ``.npz`` file.

    The file must hold ``images`` (``uint8``, ``(N, H, W, C)`` with ``C`` in 1 or 3, or
    ``(N, H, W)`` for grayscale) and ``labels`` (integers, ``(N,)``). Optional keys
    ``classes`` (strings), ``mean`` and ``std`` (per channel, [0, 1] scale) are used when
    the matching argument is not given.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.
    name : str, optional
        Dataset name (default: the file's stem).
    split : str
        Split name recorded in the result.
    classes : sequence of str, optional
        Class names (default: the file's ``classes``, else ``"0"``, ``"1"``, ... up to
        ``num_classes``).
    num_classes : int, optional
        Number of classes when neither ``classes`` nor the file names them (default: the
        largest label + 1, which is only right when this file holds every class: a
        dataset of several files takes its classes from all of them, see
        :func:`~probmoll.data.user.load_npz_dataset`).
    mean, std : sequence of float, optional
        Standardisation (default: the file's keys, else computed from the images).

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError, TypeError
        Naming the file: a truncated or damaged archive, missing keys, wrong dtypes or
        shapes, a label outside the classes.
    """
    path = Path(path)
    arrays = read_npz(path, ("images", "labels"), optional=("classes", "mean", "std"))
    images, labels = arrays["images"], arrays["labels"]
    if images.dtype != np.uint8:
        raise TypeError(
            f"'images' in {str(path)!r} must have dtype uint8 (values 0..255), got {images.dtype}"
        )
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"'images' in {str(path)!r} must have shape (N, H, W, C) with C in (1, 3) "
            f"or (N, H, W), got {images.shape}"
        )
    labels = _npz_labels(labels, path)
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{str(path)!r} has {images.shape[0]} images but {labels.shape[0]} labels")
    where = "the classes given"
    if classes is None and "classes" in arrays:
        classes, where = [str(c) for c in arrays["classes"].tolist()], "its 'classes' array"
    if classes is None and num_classes is not None:
        classes, where = [str(k) for k in range(num_classes)], f"num_classes = {num_classes}"
    if classes is None:
        classes = [str(k) for k in range(int(labels.max()) + 1 if labels.size else 1)]
    _check_label_range(labels, len(classes), f"{str(path)!r}", where)
    if mean is None or std is None:
        if "mean" in arrays and "std" in arrays:
            mean = mean if mean is not None else arrays["mean"].tolist()
            std = std if std is not None else arrays["std"].tolist()
        else:
            computed_mean, computed_std = channel_stats(images)
            mean = computed_mean if mean is None else mean
            std = computed_std if std is None else std
    return DatasetSplit(
        name=name or path.stem,
        split=split,
        images=images,
        labels=labels,
        classes=tuple(classes),
        mean=tuple(mean),
        std=tuple(std),
    )


def read_npz(
    path: str | Path, keys: Sequence[str], *, optional: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (required) and ``optional`` (when present) of a ``.npz`` file.

    Reads only those members, so the labels of a large file come without its images.

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        Naming the file: not an archive, truncated or damaged (a member that fails its
        checksum), or lacking a required key (the keys it has are listed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .npz file at {str(path)!r}")
    # The file is opened here, not by np.load, which leaks its handle when the archive's
    # index cannot be read.
    with open(path, "rb") as handle:
        try:
            archive = np.load(handle, allow_pickle=False)
        except Exception as error:
            raise ValueError(
                f"{str(path)!r} is not a readable .npz file: it is truncated or damaged "
                f"({_reason(error)}); write it again with numpy.savez"
            ) from error
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a .npy file: one bare array
            raise ValueError(
                f"{str(path)!r} is not a readable .npz file: it holds a single array, not an "
                "archive of named arrays; write it with numpy.savez(path, images=..., labels=...)"
            )
        with archive:
            present = set(archive.files)
            missing = [key for key in keys if key not in present]
            if missing:
                raise ValueError(
                    f"{str(path)!r} lacks key(s) {missing}; it has {sorted(present)}. "
                    "Expected 'images' (uint8, (N, H, W, C)) and 'labels' (integers, (N,))"
                )
            arrays = {}
            for key in [*keys, *(key for key in optional if key in present)]:
                try:
                    arrays[key] = archive[key]
                except Exception as error:  # BadZipFile (a checksum), EOFError, ValueError
                    raise ValueError(
                        f"{str(path)!r} is truncated or damaged: its {key!r} array cannot be "
                        f"read ({_reason(error)}); write the file again with numpy.savez"
                    ) from error
    return arrays


def _npz_labels(labels: np.ndarray, path: str | Path) -> np.ndarray:
    """``labels`` of the file ``path`` as ``int64``, checked to be a 1-D integer array."""
    if not np.issubdtype(labels.dtype, np.integer) or labels.ndim != 1:
        raise ValueError(
            f"'labels' in {str(path)!r} must be a 1-D integer array, got dtype {labels.dtype} "
            f"and shape {labels.shape}"
        )
    return labels.astype(np.int64)


def _check_label_range(labels: np.ndarray, num_classes: int, what: str, where: str) -> None:
    """Raise a ValueError unless every label of ``what`` lies in ``[0, num_classes)``;
    ``where`` says where the classes come from."""
    if not labels.size:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(
            f"{what} has label {bad}, outside the {num_classes} classes [0, {num_classes - 1}] "
            f"of {where}; fix the labels or declare every class (a 'classes' array in the "
            "files, or the num_classes option)"
        )


def _reason(error: BaseException) -> str:
    """An exception as a short phrase: its message on one line, else its type."""
    return " ".join(str(error).split()) or type(error).__name__
