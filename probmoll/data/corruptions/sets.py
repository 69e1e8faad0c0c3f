"""Corruption sets on disk, read lazily by :class:`CorruptedDataset`.

Two on-disk layouts are read (:data:`LAYOUTS`):

``"cifar-c"`` (CIFAR-10-C, CIFAR-100-C, and every set made by
:func:`~probmoll.data.corruptions.generate_corruptions`)
    ``<root>/<corruption>.npy``: uint8 ``(5 n, H, W, C)`` with severity ``s`` in rows
    ``[(s - 1) n, s n)``, and ``<root>/labels.npy``: the ``n`` labels repeated 5 times.
    A ``manifest.json`` (generated sets) may list other severities; block ``b`` then holds
    the ``b``-th listed severity.

``"tinyimagenet-c"`` (Tiny-ImageNet-C)
    ``<root>/<corruption>/<severity>/<wnid>/*.JPEG``; labels index the sorted wnids (or the
    ``classes`` given, e.g. ``DatasetSplit.class_ids`` of the training set). Each
    (corruption, severity) is decoded once into the probmoll cache.

Severities are always sliced explicitly by position, never inferred from batch indices
(docs/paper-readings.md, pitfalls). To open a set by name -- a published one or one
generated on first use -- see :func:`~probmoll.data.corruptions.open_corruptions`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import CacheEntry, cached_split, sha256_file
from ..files import FileTree, decode_items, interleave_classes, parse_size
from .names import (
    ALL_CORRUPTIONS,
    BENCHMARK_CORRUPTIONS,
    HELDOUT_CORRUPTIONS,
    SEVERITIES,
    check_corruption,
)

__all__ = ["CORRUPTION_KINDS", "LAYOUTS", "CorruptedDataset"]

#: The on-disk layouts :class:`CorruptedDataset` reads, by kind, described for messages.
LAYOUTS: dict[str, str] = {
    "cifar-c": (
        "<root>/<corruption>.npy (uint8, shape (5*n, H, W, C); severity s in rows "
        "[(s-1)*n, s*n)) and <root>/labels.npy (the n labels repeated 5 times)"
    ),
    "tinyimagenet-c": "<root>/<corruption>/<severity 1-5>/<wnid>/*.JPEG",
}
#: The layout kinds, the ``kind`` of :class:`CorruptedDataset` (besides ``"auto"``).
CORRUPTION_KINDS: tuple[str, ...] = tuple(LAYOUTS)


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` of a ``.npy`` file, checking that the data are all there."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        except (ValueError, OSError, EOFError) as error:
            raise ValueError(
                f"{str(path)!r} is not a valid .npy file ({error}); it may be truncated or "
                "corrupted: download or generate it again"
            ) from error
        offset = handle.tell()
    if fortran:
        raise ValueError(f"{str(path)!r} stores a Fortran-ordered array; expected C order")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size != expected:
        raise ValueError(
            f"{str(path)!r} is truncated or corrupted: its header announces shape {shape} of "
            f"{dtype} ({expected} bytes with the header) but the file has {size} bytes; "
            "download or generate it again"
        )
    return tuple(int(s) for s in shape), dtype, offset


def _check_severity(severity: int, available: Sequence[int]) -> int:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)):
        raise TypeError(f"severity must be an int, got {severity!r}")
    if severity not in available:
        raise ValueError(
            f"severity {severity!r} is not available; valid severities: {list(available)}"
        )
    return int(severity)


class CorruptedDataset:
    """A corruption benchmark on disk: images per (corruption, severity), loaded lazily.

    Parameters
    ----------
    root : path-like
        The set's folder (see the module docstring for the layouts).
    kind : {"cifar-c", "tinyimagenet-c", "auto"}
        Layout; ``"auto"`` picks ``"cifar-c"`` when ``labels.npy`` exists.
    image_size : int or (H, W), optional
        Expected image size; a file with another size raises ValueError.
    classes : sequence of str, optional
        ``tinyimagenet-c`` only: wnids in label order (default: sorted wnids found).
    cache_dir : path-like, optional
        ``tinyimagenet-c`` only: where decoded JPEGs are cached.
    preset : str, optional
        The severity preset the set was made with, when known from elsewhere (a published
        set's name); a generated set's manifest says it itself.

    Attributes
    ----------
    corruptions : tuple of str
        Corruptions present, in canonical order (benchmark, then held out).
    severities : tuple of int
        Severities present.
    manifest : dict or None
        ``manifest.json`` of a generated set.
    preset : str or None
        The severity preset (:mod:`~probmoll.data.corruptions.presets`): a generated set's,
        from its manifest (``"imagenet-c"`` for sets made before presets existed), else the
        ``preset`` given; None when unknown.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        kind: str = "cifar-c",
        *,
        image_size: int | Sequence[int] | None = None,
        classes: Sequence[str] | None = None,
        cache_dir: str | os.PathLike | None = None,
        preset: str | None = None,
    ):
        self.root = Path(root).expanduser()
        self.image_size = parse_size(image_size, "image_size")
        self.cache_dir = cache_dir
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"corruption set folder {str(self.root)!r} does not exist; expected layout "
                f"({kind}): {LAYOUTS.get(kind, LAYOUTS['cifar-c'])}"
            )
        if kind == "auto":
            kind = "cifar-c" if (self.root / "labels.npy").is_file() else "tinyimagenet-c"
        if kind not in CORRUPTION_KINDS:
            raise ValueError(
                f"unknown kind {kind!r}; valid kinds: {list(CORRUPTION_KINDS)} or 'auto'"
            )
        self.kind = kind
        self.manifest: dict[str, Any] | None = None
        self._headers: dict[str, tuple[int, ...]] = {}
        if kind == "cifar-c":
            self._init_npy()
        else:
            self._init_jpeg_folders(classes)
        # A generated set's manifest names its preset; before presets existed, the
        # package's constants (imagenet-c) were the only ones.
        self.preset = (
            self.manifest.get("preset", "imagenet-c") if self.manifest is not None else preset
        )

    # ---------------------------------------------------------------- cifar-c
    def _init_npy(self) -> None:
        manifest_path = self.root / "manifest.json"
        if manifest_path.is_file():
            try:
                self.manifest = json.loads(manifest_path.read_text())
            except ValueError as error:
                raise ValueError(f"{str(manifest_path)!r} is not valid JSON: {error}") from error
        self.severities = tuple(int(s) for s in (self.manifest or {}).get("severities", SEVERITIES))
        labels_path = self.root / "labels.npy"
        if not labels_path.is_file():
            raise FileNotFoundError(
                f"missing {str(labels_path)!r}; expected layout: {LAYOUTS['cifar-c']}"
            )
        shape, dtype, _ = _npy_header(labels_path)
        if len(shape) != 1 or not np.issubdtype(dtype, np.integer):
            raise ValueError(
                f"{str(labels_path)!r} must hold a 1-D integer array, got {dtype} {shape}"
            )
        labels = np.load(labels_path).astype(np.int64)
        blocks = len(self.severities)
        if len(labels) == 0 or len(labels) % blocks:
            raise ValueError(
                f"{str(labels_path)!r} has {len(labels)} labels, not a positive multiple of the "
                f"{blocks} severities {list(self.severities)}; expected layout: "
                f"{LAYOUTS['cifar-c']}"
            )
        self.num_images = len(labels) // blocks
        per_block = labels.reshape(blocks, self.num_images)
        if not (per_block == per_block[0]).all():
            raise ValueError(
                f"{str(labels_path)!r} does not repeat the same {self.num_images} labels in "
                "each of "
                f"its {blocks} severity blocks"
            )
        self._labels = labels
        self.corruptions = tuple(c for c in ALL_CORRUPTIONS if (self.root / f"{c}.npy").is_file())

    def _open_npy(self, corruption: str) -> np.ndarray:
        path = self.root / f"{corruption}.npy"
        if not path.is_file():
            raise FileNotFoundError(
                f"missing {str(path)!r} for corruption {corruption!r} (present: "
                f"{list(self.corruptions)}); expected layout: {LAYOUTS['cifar-c']}"
            )
        if corruption not in self._headers:
            shape, dtype, _ = _npy_header(path)
            if dtype != np.uint8 or len(shape) != 4 or shape[-1] not in (1, 3):
                raise ValueError(
                    f"{str(path)!r} holds {dtype} {shape}; expected uint8 (N, H, W, C) with C "
                    "in (1, 3)"
                )
            if shape[0] != len(self._labels):
                raise ValueError(
                    f"{str(path)!r} has {shape[0]} images but labels.npy has {len(self._labels)} "
                    f"labels: they must match ({len(self.severities)} severities x n images)"
                )
            self._check_image_size(shape[1:3], path)
            self._headers[corruption] = shape
        try:
            return np.load(path, mmap_mode="r")
        except (ValueError, OSError) as error:
            raise ValueError(f"cannot memory-map {str(path)!r}: {error}") from error

    # --------------------------------------------------------- tinyimagenet-c
    def _init_jpeg_folders(self, classes: Sequence[str] | None) -> None:
        self.corruptions = tuple(c for c in ALL_CORRUPTIONS if (self.root / c).is_dir())
        found = sorted(
            {
                int(p.name)
                for c in self.corruptions
                for p in (self.root / c).iterdir()
                if p.is_dir() and p.name.isdigit()
            }
        )
        self.severities = tuple(found) or SEVERITIES
        self._classes = tuple(classes) if classes is not None else None
        self.num_images = None

    def _wnids(self) -> tuple[str, ...]:
        if self._classes is None:
            for corruption in self.corruptions:
                for severity in self.severities:
                    folder = self.root / corruption / str(severity)
                    if folder.is_dir():
                        self._classes = tuple(
                            sorted(p.name for p in folder.iterdir() if p.is_dir())
                        )
                        return self._classes
            self._classes = ()
        return self._classes

    def _load_jpeg_folder(self, corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
        folder = self.root / corruption / str(severity)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"missing folder {str(folder)!r} for {corruption!r} at severity {severity} "
                f"(corruptions present: {list(self.corruptions)}); expected layout: "
                f"{LAYOUTS['tinyimagenet-c']}"
            )
        tree = FileTree(folder)
        label_of = {w: i for i, w in enumerate(self._wnids())}
        unknown = sorted(set(tree.subfolders()) - set(label_of))
        if unknown:
            raise ValueError(
                f"{str(folder)!r} has class folders {unknown[:5]} that are not among the "
                f"{len(label_of)} expected wnids"
            )
        # Classes interleaved, so that the first n images of a cell (evaluate --subset)
        # cover the classes evenly instead of being the first class or two.
        by_class: dict[str, list[tuple[str, int]]] = {}
        for path in tree.files():
            if "/" in path and path.lower().endswith((".jpeg", ".jpg", ".png")):
                wnid = path.split("/", 1)[0]
                by_class.setdefault(wnid, []).append((path, label_of[wnid]))
        items = interleave_classes([by_class.get(w, []) for w in self._wnids()])
        entry = CacheEntry(
            self.cache_dir,
            "tinyimagenet-c",
            {
                "source": tree.fingerprint(),
                "classes": list(self._wnids()),
                "order": "interleaved",
            },
        )

        def build(allocate):
            labels, _ = decode_items(
                tree, items, allocate, channels=3, desc=f"{corruption} {severity}"
            )
            return labels, {"source": str(folder), "corruption": corruption, "severity": severity}

        images, labels, _ = cached_split(entry, f"{corruption}-{severity}", build)
        self._check_image_size(images.shape[1:3], folder)
        return images, labels

    # ------------------------------------------------------------------ common
    def _check_image_size(self, size: Sequence[int], where: Path) -> None:
        if self.image_size is not None and tuple(size) != self.image_size:
            raise ValueError(
                f"{str(where)!r} holds {size[0]}x{size[1]} images but {self.image_size[0]}x"
                f"{self.image_size[1]} were expected"
            )

    def check_labels(
        self,
        clean_labels: np.ndarray | None = None,
        num_classes: int | None = None,
        *,
        what: str = "the clean split",
    ) -> None:
        """Raise a ValueError unless the set's labels fit a clean split and a model.

        Catches a -C set read for the wrong dataset (CIFAR-100-C for a CIFAR-10 model, a
        set generated from another split), which would otherwise give plausible-looking
        but meaningless numbers.

        Parameters
        ----------
        clean_labels : array of int, optional
            Labels of the clean split the set claims to corrupt. ``cifar-c`` layout: when
            the set holds as many images per severity as the split, its labels must equal
            the split's, in order (published and generated sets keep the test order).
            ``tinyimagenet-c`` interleaves its class folders (not the clean split's order), so
            only the range is checked.
        num_classes : int, optional
            Classes of the model (or dataset): every label must lie in
            ``[0, num_classes)``.
        what : str
            How error messages name the clean split.
        """
        if self.kind == "tinyimagenet-c":
            wnids = self._wnids()
            if num_classes is not None and len(wnids) > num_classes:
                raise ValueError(
                    f"{str(self.root)!r} has {len(wnids)} class folders but the model has "
                    f"{num_classes} classes: is this the corruption set of another dataset?"
                )
            return
        source = str(self.root / "labels.npy")
        labels = self._labels[: self.num_images]
        if clean_labels is not None:
            clean = np.asarray(clean_labels)
            if len(clean) == self.num_images and not np.array_equal(labels, clean):
                differ = np.flatnonzero(labels != clean)
                raise ValueError(
                    f"{source!r}: its {self.num_images} labels per severity differ from those "
                    f"of {what} at {len(differ)} positions (first at image {differ[0]}: "
                    f"{labels[differ[0]]} against {clean[differ[0]]}); the corruption set was "
                    "made from another dataset or split (e.g. CIFAR-100-C read for a CIFAR-10 "
                    "model): check the set's name and folder"
                )
        if num_classes is not None and labels.size:
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= num_classes:
                raise ValueError(
                    f"{source!r}: label {low if low < 0 else high} is outside "
                    f"[0, {num_classes - 1}] of the model's {num_classes} classes: the "
                    "corruption set belongs to another dataset"
                )

    @property
    def benchmark_corruptions(self) -> tuple[str, ...]:
        """The benchmark corruptions present (the paper's 15, when complete)."""
        return tuple(c for c in self.corruptions if c in BENCHMARK_CORRUPTIONS)

    @property
    def heldout_corruptions(self) -> tuple[str, ...]:
        """The held-out (validation/tuning) corruptions present."""
        return tuple(c for c in self.corruptions if c in HELDOUT_CORRUPTIONS)

    def load(self, corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one corruption at one severity.

        Parameters
        ----------
        corruption : str
            A corruption name (unknown names raise ValueError listing the valid ones).
        severity : int
            One of :attr:`severities` (1..5 for published sets).

        Returns
        -------
        images : numpy.ndarray
            ``uint8`` ``(n, H, W, C)``, a read-only memory map.
        labels : numpy.ndarray
            ``int64`` ``(n,)``.
        """
        check_corruption(corruption)
        severity = _check_severity(severity, self.severities)
        if self.kind == "tinyimagenet-c":
            return self._load_jpeg_folder(corruption, severity)
        images = self._open_npy(corruption)
        n = self.num_images
        block = self.severities.index(severity)  # = severity - 1 for published sets
        rows = slice(block * n, (block + 1) * n)
        return images[rows], self._labels[rows].copy()

    def __iter__(self) -> Iterator[tuple[str, int]]:
        """``(corruption, severity)`` pairs present, corruption-major."""
        return ((c, s) for c in self.corruptions for s in self.severities)

    def check_cells(
        self,
        corruptions: Sequence[str] | None = None,
        severities: Sequence[int] = SEVERITIES,
        *,
        include_heldout: bool = False,
        image_shape: Sequence[int] | None = None,
    ) -> list[tuple[str, int]]:
        """Check, without reading any image, that the set holds what an evaluation asks.

        The cells are chosen as :func:`probmoll.evaluate.evaluate_model` chooses them:
        ``corruptions``, or (None) every benchmark corruption the set holds plus, with
        ``include_heldout``, the held-out ones; each must be present at every one of
        ``severities``, and one at least must be a benchmark corruption (the mean is over
        those). ``cifar-c`` files must be complete ``.npy`` files (header and size) of
        images of ``image_shape`` ``(H, W, C)`` when given; ``tinyimagenet-c`` folders
        must exist (their JPEGs are decoded only when evaluated).

        Returns
        -------
        list of (str, int)
            The ``(corruption, severity)`` cells, corruption-major.

        Raises
        ------
        ValueError, FileNotFoundError
            Naming the set's folder and what it lacks.
        """
        where = f"corruption set {str(self.root)!r}"
        if corruptions is None:
            wanted = BENCHMARK_CORRUPTIONS + (HELDOUT_CORRUPTIONS if include_heldout else ())
            names = [name for name in wanted if name in self.corruptions]
        else:
            names = list(dict.fromkeys(check_corruption(name) for name in corruptions))
            missing = [name for name in names if name not in self.corruptions]
            if missing:
                raise ValueError(
                    f"{where} lacks the corruption(s) {missing}; it holds {list(self.corruptions)}"
                )
        if not any(name in BENCHMARK_CORRUPTIONS for name in names):
            raise ValueError(
                f"{where} holds none of the requested benchmark corruptions "
                f"(it holds {list(self.corruptions)}); the benchmark corruptions are "
                f"{list(BENCHMARK_CORRUPTIONS)}"
            )
        levels = [int(level) for level in severities]
        absent = [level for level in levels if level not in self.severities]
        if absent:
            raise ValueError(
                f"{where} lacks the severities {absent}: it holds severities "
                f"{list(self.severities)}; evaluate those (e.g. eval.severities="
                f"{list(self.severities)}) or complete the set"
            )
        for name in names:
            if self.kind == "cifar-c":
                self._open_npy(name)  # the header, the file's size and the image size
                shape = self._headers[name][1:]
                if image_shape is not None and tuple(shape) != tuple(image_shape):
                    raise ValueError(
                        f"{str(self.root / f'{name}.npy')!r} holds {shape[0]}x{shape[1]}x"
                        f"{shape[2]} images but the clean images are {image_shape[0]}x"
                        f"{image_shape[1]}x{image_shape[2]}: is this the set of another dataset?"
                    )
                continue
            lacking = [s for s in levels if not (self.root / name / str(s)).is_dir()]
            if lacking:
                raise FileNotFoundError(
                    f"{where} lacks the folders of {name!r} at severities {lacking} "
                    f"({str(self.root / name)!r}); expected layout: {LAYOUTS[self.kind]}"
                )
        return [(name, level) for name in names for level in levels]

    def validate(self, checksums: bool = False) -> None:
        """Check every corruption's file(s) now rather than at first load.

        With ``checksums`` (generated sets), also compare every file's sha256 with the
        manifest.
        """
        for corruption in self.corruptions:
            if self.kind == "cifar-c":
                self._open_npy(corruption)
            else:
                for severity in self.severities:
                    self._load_jpeg_folder(corruption, severity)
        if checksums and self.manifest:
            records = [*self.manifest.get("files", {}).values(), self.manifest.get("labels")]
            for record in filter(None, records):
                path = self.root / record["file"]
                if sha256_file(path) != record["sha256"]:
                    raise ValueError(f"{str(path)!r} does not match the sha256 in manifest.json")

    def __repr__(self) -> str:
        preset = "" if self.preset is None else f", preset={self.preset!r}"
        return (
            f"CorruptedDataset(root={str(self.root)!r}, kind={self.kind!r}, "
            f"corruptions={len(self.corruptions)}, severities={list(self.severities)}{preset})"
        )
