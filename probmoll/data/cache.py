"""On-disk cache of decoded datasets: memory-mapped uint8 ``.npy`` files plus a JSON sidecar.

A dataset split is decoded once (JPEG/PNG/IDX/pickle -> uint8 ``(N, H, W, C)``) into
``<cache>/datasets/<name>/<key>/<split>-images.npy`` with ``<split>-labels.npy`` and a
sidecar ``<split>.json`` (source, counts, classes, per-channel statistics). Later loads
open the images with ``np.load(mmap_mode="r")``: no decoding and no copy in memory.

Every file is written atomically (temporary file in the same folder, then ``os.replace``),
and the sidecar is written last, so a killed decode leaves no entry that looks complete.
The cache key hashes the source's identity (path, size, modification time) and the
decoding options, so changing either makes a new entry.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from probmoll.utils.io import atomic_write_bytes, atomic_write_json

from .dataset import channel_stats

__all__ = [
    "ArrayFileWriter",
    "CacheEntry",
    "cached_split",
    "default_cache_dir",
    "default_data_root",
    "digest",
    "save_npy_atomic",
    "sha256_file",
]

CACHE_FORMAT_VERSION = 1


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$PROBMOLL_CACHE``, else
    ``~/.cache/probmoll``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("PROBMOLL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "probmoll"


def default_data_root(root: str | os.PathLike | None = None) -> Path:
    """Where raw datasets live: ``root`` if given, else ``$PROBMOLL_DATA``, else
    ``~/.cache/probmoll/datasets``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("PROBMOLL_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "probmoll" / "datasets"


def digest(obj: Any, length: int = 16) -> str:
    """Short sha256 of a JSON-serialisable object (keys sorted): a stable cache key."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def sha256_file(path: str | os.PathLike, block: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in blocks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            hasher.update(chunk)
    return hasher.hexdigest()


def save_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` a small array to ``path`` atomically."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue())


class ArrayFileWriter:
    """Write a large ``.npy`` array in place, then publish it atomically.

    The array is a writable memory map over a temporary file in the destination folder,
    so it is filled without holding it in memory; :meth:`commit` flushes, fsyncs and
    renames it over ``path``. Used as a context manager, an exception discards the file.

    Parameters
    ----------
    path : path-like
        Final ``.npy`` path.
    shape : tuple of int
        Array shape.
    dtype : numpy dtype
        Array dtype (default ``uint8``).
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...], dtype=np.uint8):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self._tmp = Path(tmp)
        try:
            self.array = np.lib.format.open_memmap(self._tmp, mode="w+", dtype=dtype, shape=shape)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self._done = False

    def commit(self) -> Path:
        """Flush the data to disk and rename the temporary file to ``path``."""
        self.array.flush()
        del self.array
        with open(self._tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # mkstemp creates the file private (0600); give it the permissions of a normal file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._tmp, 0o666 & ~umask)
        os.replace(self._tmp, self.path)
        self._done = True
        return self.path

    def discard(self) -> None:
        """Drop the temporary file (no-op after :meth:`commit`)."""
        if not self._done:
            self.__dict__.pop("array", None)
            self._tmp.unlink(missing_ok=True)
            self._done = True

    def __enter__(self) -> ArrayFileWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()


class CacheEntry:
    """One cache folder holding decoded splits of one dataset source + options.

    Parameters
    ----------
    cache_dir : path-like or None
        Cache root (see :func:`default_cache_dir`).
    name : str
        Dataset name (first folder level).
    key : dict
        JSON-serialisable identity of the source and options; hashed into the folder name.
    """

    def __init__(self, cache_dir: str | os.PathLike | None, name: str, key: dict[str, Any]):
        # A JSON round trip, so the key compares equal to the one read back from the sidecar.
        self.key = json.loads(json.dumps({"format": CACHE_FORMAT_VERSION, **key}, default=str))
        self.folder = default_cache_dir(cache_dir) / "datasets" / name / digest(self.key)

    def paths(self, split: str) -> tuple[Path, Path, Path]:
        """``(images.npy, labels.npy, sidecar.json)`` of ``split``."""
        return (
            self.folder / f"{split}-images.npy",
            self.folder / f"{split}-labels.npy",
            self.folder / f"{split}.json",
        )

    def read(self, split: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
        """The cached split as ``(images memmap, labels, sidecar)``, or None if absent/stale."""
        images_path, labels_path, sidecar_path = self.paths(split)
        if not (sidecar_path.is_file() and images_path.is_file() and labels_path.is_file()):
            return None
        try:
            sidecar = json.loads(sidecar_path.read_text())
            images = np.load(images_path, mmap_mode="r")
            labels = np.load(labels_path)
        except (OSError, ValueError):
            return None  # unreadable entry: decode again
        if (
            sidecar.get("key") != self.key
            or list(images.shape) != [sidecar.get("count"), *sidecar.get("image_shape", [])]
            or labels.shape != (images.shape[0],)
        ):
            return None
        return images, labels.astype(np.int64, copy=False), sidecar

    def update_sidecar(self, split: str, **fields: Any) -> dict[str, Any]:
        """Add fields to a split's sidecar (atomically)."""
        sidecar_path = self.paths(split)[2]
        sidecar = json.loads(sidecar_path.read_text())
        sidecar.update(fields)
        atomic_write_json(sidecar_path, sidecar)
        return sidecar


Allocate = Callable[[int, tuple[int, int, int]], np.ndarray]


def cached_split(
    entry: CacheEntry,
    split: str,
    build: Callable[[Allocate], tuple[np.ndarray, dict[str, Any]]],
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Return a split from the cache, decoding it with ``build`` on a miss.

    Parameters
    ----------
    entry : CacheEntry
        Where the split is cached.
    split : str
        Split name.
    build : callable
        ``build(allocate) -> (labels, sidecar_fields)``. It calls ``allocate(n, (H, W, C))``
        exactly once to get a writable ``uint8`` array ``(n, H, W, C)`` (a memory map over
        the future cache file), fills it, and returns the labels and extra sidecar fields
        (e.g. ``source``, ``classes``).

    Returns
    -------
    images, labels, sidecar
        Read-only memory-mapped images, ``int64`` labels and the sidecar dict, which always
        holds ``split_mean``/``split_std`` (per-channel statistics of this split, [0, 1]).
    """
    cached = entry.read(split)
    if cached is not None:
        return cached
    images_path, labels_path, sidecar_path = entry.paths(split)
    writers: list[ArrayFileWriter] = []

    def allocate(count: int, image_shape: tuple[int, int, int]) -> np.ndarray:
        if writers:
            raise RuntimeError("allocate() may be called only once per split")
        writers.append(ArrayFileWriter(images_path, (count, *image_shape)))
        return writers[0].array

    try:
        labels, fields = build(allocate)
        if not writers:
            raise RuntimeError("build() never allocated the images array")
        images = writers[0].array
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (images.shape[0],):
            raise ValueError(f"decoded {images.shape[0]} images but {labels.shape} labels")
        mean, std = channel_stats(images)
        sidecar = {
            **fields,
            "split": split,
            "key": entry.key,
            "count": int(images.shape[0]),
            "image_shape": [int(s) for s in images.shape[1:]],
            "split_mean": list(mean),
            "split_std": list(std),
        }
        writers[0].commit()
        save_npy_atomic(labels_path, labels)
        atomic_write_json(sidecar_path, sidecar)  # last: marks the entry complete
    finally:
        for writer in writers:
            writer.discard()
    result = entry.read(split)
    if result is None:
        raise RuntimeError(
            f"cache entry {str(entry.folder)!r} could not be read back after writing"
        )
    return result


def dataset_statistics(
    split: str,
    sidecar: dict[str, Any],
    train_sidecar: Callable[[], dict[str, Any] | None],
) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    """Per-channel ``(mean, std, source)`` for standardising a split.

    Statistics come from the train split (as is standard: test images must not inform
    preprocessing); ``train_sidecar()`` returns the train split's sidecar, decoding it if
    needed, or None when the dataset has no train split, in which case the split's own
    statistics are used and ``source`` says so.
    """
    if split == "train":
        return tuple(sidecar["split_mean"]), tuple(sidecar["split_std"]), "train"
    train = train_sidecar()
    if train is None:
        return tuple(sidecar["split_mean"]), tuple(sidecar["split_std"]), split
    return tuple(train["split_mean"]), tuple(train["split_std"]), "train"
