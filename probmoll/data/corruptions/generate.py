"""Generate a corruption benchmark for any dataset split, in the CIFAR-10-C on-disk format.

The 19 corruptions are those of Hendrycks & Dietterich (2019), with the severity constants
of a preset (:mod:`~probmoll.data.corruptions.presets`): ``"imagenet-c"`` (the
``imagecorruptions-imaug`` package, import name ``imagecorruptions``, ImageNet-C's
constants), ``"cifar10-c"`` or ``"tinyimagenet-c"`` (the constants and procedures of the
scripts that made CIFAR-10-C/CIFAR-100-C and Tiny-ImageNet-C), or ``"auto"`` (the preset
made for the image size: cifar10-c up to 32 px, tinyimagenet-c up to 64 px, else
imagenet-c). Output layout, identical to the published CIFAR-10-C so that
:class:`~probmoll.data.corruptions.CorruptedDataset` reads both:

- ``<corruption>.npy``: uint8 ``(S * n, H, W, C)``, severity block ``b`` (the ``b``-th
  entry of ``severities``, 1..5 by default) in rows ``[b * n, (b + 1) * n)``;
- ``labels.npy``: int64 ``(S * n,)``, the ``n`` labels repeated once per block;
- ``manifest.json``: generator package and version, preset and its parameter table (and
  that table's sha256), seed, source dataset/split/shape and its sha256, subset,
  severities, and the size and sha256 of every file.

Every image is corrupted by :func:`~probmoll.data.corruptions.kernels.corrupt_range`, seeded
per image (so the bytes depend on neither the number of workers nor the chunking, and a
``subset=m`` run equals the first ``m`` images of the full run) and with grayscale images
replicated to RGB (see :mod:`probmoll.data.corruptions.kernels`).

Parallelism: chunks of images go to worker processes started by a forkserver (spawn where
there is none), never by a plain fork of the caller, which may already run OpenCV or BLAS
thread pools whose locks a forked child inherits (a deadlock we observed). As with any
spawn-based pool, a script calling this with ``workers > 1`` must guard its entry point
with ``if __name__ == "__main__":``.

Note: ImageNet-C's severity constants are much harsher on 32x32 images than those
Hendrycks & Dietterich used to build CIFAR-10-C (Gaussian noise sigma 0.08-0.38 against
0.04-0.10). Even with the cifar10-c preset a generated set is not the published one (other
random draws, the package's motion blur instead of ImageMagick's), so compare methods on
the same set.
"""

from __future__ import annotations

import importlib.metadata
import math
import multiprocessing
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from probmoll.utils.io import atomic_write_json, exclusive_file_lock

from ..cache import ArrayFileWriter, digest, save_npy_atomic
from ..dataset import DatasetSplit
from .kernels import (
    GRAYSCALE_RULE,
    MIN_SIZE,
    SEEDING_RULE,
    check_image_size,
    corrupt_image,
    corrupt_range,
    image_seed,
)
from .manifest import complete as _complete
from .manifest import file_record as _file_record
from .manifest import open_manifest as _open_manifest
from .manifest import with_preset
from .names import ALL_CORRUPTIONS, SEVERITIES, check_severities, resolve_corruptions
from .presets import CORRUPTION_PRESETS, check_preset, resolve_preset
from .sets import CorruptedDataset

__all__ = [
    "GRAYSCALE_RULE",
    "MANIFEST_FORMAT",
    "MIN_SIZE",
    "PACKAGE",
    "SEEDING_RULE",
    "corrupt_image",
    "corrupt_range",
    "default_set_name",
    "generate_corruptions",
    "image_seed",
    "resolve_corruptions",
    "set_name_from_settings",
    "set_settings",
    "with_preset",
]

#: The distribution that provides the corruptions (its version is part of a set's settings).
PACKAGE = "imagecorruptions-imaug"
#: Format tag of a generated set's ``manifest.json``.
MANIFEST_FORMAT = "probmoll-corruptions/1"
#: The file a generating process locks in the set's folder (:func:`generate_corruptions`).
LOCK_NAME = ".generating.lock"


# Worker processes read the source images from a temporary .npy file, memory-mapped.
# They are started with forkserver (or spawn), never plain fork: the parent may already
# run OpenCV/BLAS thread pools, and a forked child would deadlock on their locks.
_WORKER_SOURCE: np.ndarray | None = None


def _init_worker(source_path: str) -> None:
    global _WORKER_SOURCE
    _WORKER_SOURCE = np.load(source_path, mmap_mode="r")
    import cv2

    cv2.setNumThreads(1)  # one process per core already; avoid oversubscription


def _worker_task(
    task: tuple[str, int, int, int, int, str],
) -> tuple[str, int, int, np.ndarray]:
    corruption, severity, start, stop, seed, preset = task
    assert _WORKER_SOURCE is not None
    images = corrupt_range(_WORKER_SOURCE, corruption, severity, start, stop, seed, preset=preset)
    return corruption, severity, start, images


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _resolve_subset(subset: int | None, total: int) -> int | None:
    """``subset`` as an int below ``total``, or None for the whole split.

    ``subset >= total`` means the whole split, and is recorded as such: otherwise one set
    would get two manifests (and the cache two names) depending on how it was asked for.
    """
    if subset is None:
        return None
    if isinstance(subset, bool) or not isinstance(subset, (int, np.integer)) or subset < 1:
        raise ValueError(f"subset must be a positive int or None, got {subset!r}")
    return None if subset >= total else int(subset)


def default_set_name(
    split: DatasetSplit,
    *,
    subset: int | None = None,
    seed: int = 0,
    severities: Iterable[int] = SEVERITIES,
    preset: str = "auto",
) -> str:
    """Folder name of a generated set in the probmoll cache.

    ``<dataset>-<split>-<H>x<W>x<C>-n<n>-<preset>-seed<seed>-<digest>``, where ``preset``
    is the resolved preset and ``digest`` a short sha256 of every setting the manifest
    compares: the source images and labels (sha256 of their bytes), their classes, the
    generator package and version, the preset's parameter table, the seed and the
    severities. A changed dataset, package or preset therefore gets a new folder instead
    of colliding with a set made from other settings.
    """
    return set_name_from_settings(split, set_settings(split, subset, seed, severities, preset))


def set_settings(
    split: DatasetSplit,
    subset: int | None,
    seed: int,
    severities: Iterable[int],
    preset: str = "auto",
) -> dict[str, Any]:
    """The manifest settings of a set generated from ``split``.

    Computing them hashes every source image: compute them once, then pass them to
    :func:`set_name_from_settings` and to :func:`generate_corruptions`.

    Parameters
    ----------
    split : DatasetSplit
        The clean split.
    subset : int or None
        Use the first ``subset`` images; ``None`` (or ``subset >= len(split)``) means all.
    seed : int
        The set's seed, ``>= 0``.
    severities : iterable of int
        Severity levels (checked by :func:`~probmoll.data.corruptions.names.check_severities`).
    preset : str, default "auto"
        A name of :data:`~probmoll.data.corruptions.presets.PRESET_CHOICES`; ``"auto"`` is
        resolved from the split's image size.

    Returns
    -------
    dict
        What ``manifest.json`` records about the set's making: generator package and
        version, preset and its parameter table, seeding and grayscale rules, seed,
        severities, and the source (dataset, split, subset, classes, sha256 of its images
        and labels).
    """
    if not isinstance(split, DatasetSplit):
        raise TypeError(f"split must be a DatasetSplit, got {type(split).__name__}")
    severities = check_severities(severities)
    seed = _check_seed(seed)
    preset = resolve_preset(preset, split.image_size)
    total = len(split)
    subset = _resolve_subset(subset, total)
    source = split if subset is None else split.subset(subset)
    return _settings(source, total, subset, seed, severities, preset)


def set_name_from_settings(split: DatasetSplit, settings: dict[str, Any]) -> str:
    """:func:`default_set_name` from the settings :func:`set_settings` gave for ``split``."""
    seed = settings["seed"]
    height, width = split.image_size
    name = (
        f"{split.name}-{split.split}-{height}x{width}x{split.in_channels}"
        f"-n{settings['num_images']}-{settings['preset']}"
        f"-seed{seed}-{digest(settings, 12)}"
    )
    return name.replace("/", "_").replace(os.sep, "_")


def _array_sha256(array: np.ndarray, chunk: int = 4096) -> str:
    import hashlib

    hasher = hashlib.sha256()
    for start in range(0, array.shape[0], chunk):
        hasher.update(np.ascontiguousarray(array[start : start + chunk]).tobytes())
    return hasher.hexdigest()


# How each preset's images are computed, for the manifest. The imagenet-c entry is what
# manifests said before presets existed, so those sets keep their settings.
_KERNEL_NOTES: dict[str, dict[str, Any]] = {
    "imagenet-c": {
        "constants": "ImageNet-C severity constants as implemented by the package",
        "kernels": {
            "frost": "resized photographs cached per process; output identical to the package",
            "zoom_blur": "computed a chunk at a time; output identical to the package",
            "spatter": "as the package, but an empty liquid layer (0/0 in the package) "
            "leaves the image unchanged",
        },
    },
    **{
        name: {
            "constants": f"{CORRUPTION_PRESETS[name].source} (see 'parameters')",
            "kernels": "probmoll.data.corruptions.parametric: the script's procedures with "
            "the package's helpers (its motion blur instead of ImageMagick's, its numba "
            "glass-blur shuffle); an empty spatter layer leaves the image unchanged",
        }
        for name in ("cifar10-c", "tinyimagenet-c")
    },
}


def _settings(
    split: DatasetSplit, total: int, subset: int | None, seed: int, severities, preset: str
) -> dict[str, Any]:
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        version = "unknown"
    table = CORRUPTION_PRESETS[preset]
    return {
        "format": MANIFEST_FORMAT,
        "layout": "cifar-c",
        "generator": {
            "package": PACKAGE,
            "version": version,
            "import_name": "imagecorruptions",
            **_KERNEL_NOTES[preset],
        },
        "preset": preset,
        "parameters": table.table(),
        "parameters_sha256": table.digest(),
        "seed": int(seed),
        "seeding": SEEDING_RULE,
        "grayscale": GRAYSCALE_RULE,
        "severities": list(severities),
        "num_images": len(split),
        "image_shape": [int(s) for s in split.images.shape[1:]],
        "source": {
            "dataset": split.name,
            "split": split.split,
            "images_in_split": total,
            "subset": subset,
            "classes": list(split.classes),
            "class_ids": list(split.folder_ids),
            "images_sha256": _array_sha256(split.images),
            "labels_sha256": _array_sha256(split.labels),
        },
    }


def generate_corruptions(
    split: DatasetSplit,
    out_dir: str | os.PathLike,
    corruptions: Iterable[str] | None = None,
    severities: Iterable[int] = SEVERITIES,
    seed: int = 0,
    subset: int | None = None,
    workers: int | None = None,
    include_heldout: bool = True,
    *,
    preset: str = "auto",
    chunk_size: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    _precomputed_settings: dict[str, Any] | None = None,
):
    """Corrupt a dataset split and write a CIFAR-10-C style set.

    Parameters
    ----------
    split : DatasetSplit
        Source images (``H, W >= 32``; grayscale handled as described in the module notes).
    out_dir : path-like
        Output folder (created). Files already there that match the manifest are kept, so an
        interrupted run resumes corruption by corruption.
    corruptions : iterable of str, optional
        Names to generate (canonical order is used); default: the 15 benchmark corruptions,
        plus the 4 held-out ones if ``include_heldout``.
    severities : iterable of int
        Severities, stored as consecutive blocks in increasing order (default 1..5).
    seed : int
        Seed of the whole set (see :func:`image_seed`).
    subset : int, optional
        Use only the first ``subset`` images of ``split``; ``subset >= len(split)`` is the
        whole split (recorded as ``None``).
    workers : int, optional
        Worker processes (default ``os.cpu_count()``); 1 runs in this process. The output
        does not depend on it. With more than one, the calling script needs an
        ``if __name__ == "__main__":`` guard (see the module notes).
    include_heldout : bool
        Whether the default corruption list includes the held-out four.
    preset : {"auto", "imagenet-c", "cifar10-c", "tinyimagenet-c"}
        The severity constants (:mod:`~probmoll.data.corruptions.presets`); ``"auto"``
        picks by image size: ``cifar10-c`` up to 32 px, ``tinyimagenet-c`` up to 64 px,
        else ``imagenet-c``. Recorded in the manifest with its parameter table.
    chunk_size : int, optional
        Images per task sent to a worker (default: about a quarter of ``n / workers``,
        between 16 and 500).
    progress : bool
        Show a tqdm progress bar.
    overwrite : bool
        Replace a set in ``out_dir`` made with different settings (seed, source, severities,
        preset, package version) instead of raising.

    Returns
    -------
    CorruptedDataset
        Reader over ``out_dir``; its ``preset`` is the resolved preset.
    """
    if not isinstance(split, DatasetSplit):
        raise TypeError(f"split must be a DatasetSplit, got {type(split).__name__}")
    check_image_size(split.image_size)
    preset = resolve_preset(check_preset(preset), split.image_size)
    names = resolve_corruptions(corruptions, include_heldout)
    severities = check_severities(severities)
    seed = _check_seed(seed)
    total = len(split)
    subset = _resolve_subset(subset, total)
    if subset is not None:
        split = split.subset(subset)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # open_corruptions passes the settings it hashed for the set's name (set_settings):
    # computing them hashes every source image, which should not happen twice on a cache hit.
    settings = (
        _settings(split, total, subset, seed, severities, preset)
        if _precomputed_settings is None
        else _precomputed_settings
    )
    manifest_path = out_dir / "manifest.json"

    def say_waiting() -> None:
        print(f"waiting for another process generating {out_dir}", file=sys.stderr, flush=True)

    # Two runs started together (a sweep's parallel runs) ask for the same cached set: the
    # second waits for the first, then finds its files complete, instead of both writing.
    with exclusive_file_lock(out_dir / LOCK_NAME, on_wait=say_waiting):
        manifest = _open_manifest(manifest_path, settings, out_dir, overwrite)
        labels = np.tile(split.labels, len(severities)).astype(np.int64)
        labels_path = out_dir / "labels.npy"
        if not _complete(out_dir, manifest.get("labels")):
            save_npy_atomic(labels_path, labels)
            manifest["labels"] = _file_record(labels_path)
            atomic_write_json(manifest_path, manifest)

        todo = [c for c in names if not _complete(out_dir, manifest["files"].get(c))]
        if todo:
            source = np.ascontiguousarray(split.images)
            _run(
                source,
                todo,
                severities,
                seed,
                preset,
                out_dir,
                manifest,
                manifest_path,
                workers,
                chunk_size,
                progress,
            )
    return CorruptedDataset(out_dir, kind="cifar-c", image_size=split.image_size)


def _run(
    source,
    todo,
    severities,
    seed,
    preset,
    out_dir,
    manifest,
    manifest_path,
    workers,
    chunk_size,
    progress,
):
    from tqdm.auto import tqdm

    n = source.shape[0]
    if chunk_size is None:
        chunk_size = min(500, max(16, math.ceil(n / (4 * workers))))
    tasks = [
        (c, s, start, min(start + chunk_size, n), seed, preset)
        for c in todo
        for s in severities
        for start in range(0, n, chunk_size)
    ]
    block = {s: b for b, s in enumerate(severities)}
    remaining = {c: len(severities) * n for c in todo}
    writers: dict[str, ArrayFileWriter] = {}
    pool = None
    source_path = out_dir / f".source-{os.getpid()}.npy"
    state = np.random.get_state()  # noqa: NPY002  (restored below: the package seeds it)
    if workers > 1 and len(tasks) > 1:
        np.save(source_path, source)
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if context.get_start_method() == "forkserver":
            # Imported (and the numba kernel compiled) once by the server, inherited by
            # every worker it forks.
            context.set_forkserver_preload([__name__, f"{__package__}._preload"])
        pool = context.Pool(
            min(workers, len(tasks)), initializer=_init_worker, initargs=(str(source_path),)
        )
        results = pool.imap_unordered(_worker_task, tasks)
    else:
        results = (
            (c, s, start, corrupt_range(source, c, s, start, stop, seed, preset=preset))
            for c, s, start, stop, seed, preset in tasks
        )
    total = len(todo) * len(severities) * n
    bar = tqdm(total=total, desc="corrupting", unit="img", disable=True if not progress else None)
    try:
        for corruption, severity, start, chunk in results:
            if corruption not in writers:
                writers[corruption] = ArrayFileWriter(
                    out_dir / f"{corruption}.npy", (len(severities) * n, *source.shape[1:])
                )
            offset = block[severity] * n + start
            writers[corruption].array[offset : offset + len(chunk)] = chunk
            remaining[corruption] -= len(chunk)
            bar.update(len(chunk))
            bar.set_postfix_str(corruption, refresh=False)
            if remaining[corruption] == 0:
                path = writers.pop(corruption).commit()
                manifest["files"][corruption] = _file_record(path)
                manifest["files"] = {
                    c: manifest["files"][c] for c in ALL_CORRUPTIONS if c in manifest["files"]
                }
                atomic_write_json(manifest_path, manifest)
    finally:
        bar.close()
        for writer in writers.values():
            writer.discard()
        if pool is not None:
            pool.terminate()
            pool.join()
        source_path.unlink(missing_ok=True)
        np.random.set_state(state)  # noqa: NPY002
