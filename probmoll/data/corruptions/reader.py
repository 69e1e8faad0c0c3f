"""Opening a corruption benchmark by name: a published -C set, or one generated locally.

:func:`open_corruptions` finds the published CIFAR-10-C, CIFAR-100-C and Tiny-ImageNet-C
(:data:`PUBLISHED_SETS`; they cannot be downloaded from here), generates a set from any
dataset split on first use (and finds it in the cache afterwards), or opens a set's
folder, and checks the set's labels against the clean split. The sets themselves are read
by :class:`~probmoll.data.corruptions.sets.CorruptedDataset`, also importable from here.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cache import default_cache_dir, default_data_root
from ..dataset import DatasetSplit
from ..registry import load_dataset
from .generate import generate_corruptions, set_name_from_settings, set_settings
from .kernels import check_image_size
from .manifest import with_preset
from .names import (
    ALL_CORRUPTIONS,
    BENCHMARK_CORRUPTIONS,
    SEVERITIES,
    check_severities,
    resolve_corruptions,
)
from .presets import PUBLISHED_PRESETS, check_preset
from .sets import CORRUPTION_KINDS, LAYOUTS, CorruptedDataset

__all__ = [
    "CORRUPTION_KINDS",
    "PUBLISHED_SETS",
    "CorruptedDataset",
    "check_corruption_set",
    "open_corruptions",
]

# The published sets (Hendrycks & Dietterich, 2019), the Zenodo records they come from, and
# the preset of their constants (CIFAR-100-C was made like CIFAR-10-C).
PUBLISHED_SETS: dict[str, dict[str, Any]] = {
    "cifar10-c": {
        "title": "CIFAR-10-C",
        "folder": "CIFAR-10-C",
        "kind": "cifar-c",
        "image_size": (32, 32),
        "url": "https://zenodo.org/records/2535967",
        "archive": "CIFAR-10-C.tar",
        "preset": PUBLISHED_PRESETS["cifar10-c"],
    },
    "cifar100-c": {
        "title": "CIFAR-100-C",
        "folder": "CIFAR-100-C",
        "kind": "cifar-c",
        "image_size": (32, 32),
        "url": "https://zenodo.org/records/3555552",
        "archive": "CIFAR-100-C.tar",
        "preset": PUBLISHED_PRESETS["cifar100-c"],
    },
    "tinyimagenet-c": {
        "title": "Tiny-ImageNet-C",
        "folder": "Tiny-ImageNet-C",
        "kind": "tinyimagenet-c",
        "image_size": (64, 64),
        "url": "https://zenodo.org/records/2536630",
        "archive": "Tiny-ImageNet-C.tar",
        "preset": PUBLISHED_PRESETS["tinyimagenet-c"],
    },
}


def open_corruptions(
    spec: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    dataset: DatasetSplit | str | None = None,
    split: str = "test",
    dataset_options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    subset: int | None = None,
    corruptions: Sequence[str] | None = None,
    include_heldout: bool = True,
    severities: Sequence[int] = SEVERITIES,
    workers: int | None = None,
    progress: bool = True,
    preset: str = "auto",
) -> CorruptedDataset:
    """Open a corruption benchmark by name.

    Parameters
    ----------
    spec : str or path-like
        ``"cifar10-c"``, ``"cifar100-c"``, ``"tinyimagenet-c"`` (published sets, read from
        ``root``; they cannot be downloaded from here), ``"generated"`` (a set generated
        locally from ``dataset`` on first use, resumed if interrupted), or the path of a
        set's folder.
    root : path-like, optional
        Published sets: the set's folder or its parent (default: the data root,
        ``$PROBMOLL_DATA`` or ``~/.cache/probmoll/datasets``). Generated sets: the output
        folder (default ``<cache>/corruptions/`` and the name
        :func:`~probmoll.data.corruptions.generate.default_set_name` gives).
    dataset : DatasetSplit or str, optional
        Generated sets: the clean split, or a dataset name loaded with
        ``load_dataset(dataset, split, **dataset_options)``. Published sets and folders:
        the clean split, whose ``class_ids`` give the label order of Tiny-ImageNet-C and
        against which the set's labels are checked (see
        :meth:`CorruptedDataset.check_labels`).
    split : str
        Split to load when ``dataset`` is a name (default ``"test"``).
    dataset_options : dict, optional
        Keyword arguments of ``load_dataset`` (e.g. ``{"root": ..., "pad_to": 32}``).
    cache_dir : path-like, optional
        probmoll cache (decoded datasets and Tiny-ImageNet-C, default generated sets).
    seed, subset, corruptions, include_heldout, severities, workers, progress
        Generated sets: see :func:`~probmoll.data.corruptions.generate_corruptions`.
    preset : {"auto", "imagenet-c", "cifar10-c", "tinyimagenet-c"}
        Generated sets: the severity constants (``"auto"``: the preset made for the image
        size). Other sets were made with a preset of their own (:attr:`CorruptedDataset.preset`:
        a published set's, or the one a generated set's manifest names); a ``preset`` other
        than ``"auto"`` must then be that one.

    Returns
    -------
    CorruptedDataset
        Its ``preset`` says which constants made it (None for a folder that does not say).
    """
    check_preset(preset)
    key = spec.lower() if isinstance(spec, str) else None
    if key not in PUBLISHED_SETS and key != "generated":
        path = Path(spec)
        if path.is_dir():
            # A folder without a manifest named like a published set is taken to be it.
            named = {v["folder"]: v["preset"] for v in PUBLISHED_SETS.values()}
            found = CorruptedDataset(
                path, kind="auto", cache_dir=cache_dir, preset=named.get(path.resolve().name)
            )
            _check_set_preset(found, preset)
            if isinstance(dataset, DatasetSplit):
                found.check_labels(dataset.labels, dataset.num_classes, what=_describe(dataset))
            return found
        if not isinstance(spec, str) or os.sep in spec:
            raise FileNotFoundError(f"no corruption set folder at {str(path)!r}")
    if key in PUBLISHED_SETS:
        info = PUBLISHED_SETS[key]
        base = default_data_root(root)
        # The named sub-folder first: a parent holding several sets must give the one asked
        # for, not whichever set happens to sit at its top level.
        candidates = [base / info["folder"], base]
        if info["kind"] == "cifar-c":
            found = next((c for c in candidates if (c / "labels.npy").is_file()), None)
        else:
            found = next(
                (
                    c
                    for c in candidates
                    if c.is_dir() and any((c / n).is_dir() for n in ALL_CORRUPTIONS)
                ),
                None,
            )
        others = {v["folder"]: v["title"] for k, v in PUBLISHED_SETS.items() if k != key}
        if found == base and base.name in others:
            raise ValueError(
                f"{info['title']} ({key!r}) was asked for but {str(base)!r} is the folder of "
                f"{others[base.name]}: pass the folder of {info['title']} (or its parent)"
            )
        if found is None:
            raise FileNotFoundError(
                f"{info['title']} not found in {[str(c) for c in candidates]}. probmoll cannot "
                f"download it here: get {info['archive']} from the Zenodo record {info['url']}, "
                f"extract it so that {str(base / info['folder'])!r} holds "
                f"{LAYOUTS[info['kind']]}, then pass root= that folder (or set $PROBMOLL_DATA "
                f"to its parent)."
            )
        classes = dataset.folder_ids if isinstance(dataset, DatasetSplit) else None
        published = CorruptedDataset(
            found,
            kind=info["kind"],
            image_size=info["image_size"],
            classes=classes,
            cache_dir=cache_dir,
            preset=info["preset"],
        )
        _check_set_preset(published, preset)
        if isinstance(dataset, DatasetSplit):
            published.check_labels(dataset.labels, dataset.num_classes, what=_describe(dataset))
        return published
    if key == "generated":
        if dataset is None:
            raise ValueError(
                "open_corruptions('generated') needs dataset= (a DatasetSplit or a dataset name)"
            )
        if isinstance(dataset, str):
            dataset = load_dataset(dataset, split, cache_dir=cache_dir, **(dataset_options or {}))
        if not isinstance(dataset, DatasetSplit):
            raise TypeError(
                f"dataset must be a DatasetSplit or a name, got {type(dataset).__name__}"
            )
        settings = None
        if root is None:
            # Computed once (it hashes every source image) for the name and the manifest.
            settings = set_settings(dataset, subset, seed, severities, preset)
            name = set_name_from_settings(dataset, settings)
            root = default_cache_dir(cache_dir) / "corruptions" / name
        return generate_corruptions(
            dataset,
            root,
            corruptions=corruptions,
            severities=severities,
            seed=seed,
            subset=subset,
            workers=workers,
            include_heldout=include_heldout,
            progress=progress,
            preset=preset,
            _precomputed_settings=settings,
        )
    raise ValueError(
        f"unknown corruption set {spec!r} (and no such folder); valid: {sorted(PUBLISHED_SETS)}, "
        "'generated', or a folder path"
    )


def check_corruption_set(
    spec: str | os.PathLike,
    dataset: DatasetSplit,
    *,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    corruptions: Sequence[str] | None = None,
    include_heldout: bool = False,
    severities: Sequence[int] = SEVERITIES,
    preset: str = "auto",
) -> None:
    """Check, cheaply, that :func:`open_corruptions` and an evaluation of ``dataset`` on
    the set will work: what a training run checks before its first step.

    A published set or a folder is opened (its labels are read and checked against
    ``dataset``) and :meth:`CorruptedDataset.check_cells` checks the requested
    corruptions, severities and image shape from the files' headers; no image is read. A
    generated set is not generated: the names, severities and image size are checked,
    and so is the ``imagecorruptions`` package and, when ``root`` already holds a set,
    that it was made with the same settings.

    Parameters
    ----------
    spec : str or path-like
        As for :func:`open_corruptions`; ``"none"`` checks nothing.
    dataset : DatasetSplit
        The clean split to be evaluated (after any subset).
    root, cache_dir, corruptions, include_heldout, severities, preset
        As for :func:`open_corruptions` and
        :func:`probmoll.evaluate.evaluate_model`.

    Raises
    ------
    ValueError, FileNotFoundError
        Naming the set and what is wrong with it.
    """
    if isinstance(spec, str) and spec.lower() == "none":
        return
    check_preset(preset)
    severities = check_severities(severities)
    if isinstance(spec, str) and spec.lower() == "generated":
        check_image_size(dataset.image_size)
        names = resolve_corruptions(corruptions, include_heldout)
        if not any(name in BENCHMARK_CORRUPTIONS for name in names):
            raise ValueError(
                f"corruptions {list(names)} include no benchmark corruption, so there is no "
                f"benchmark mean to report; benchmark corruptions: {list(BENCHMARK_CORRUPTIONS)}"
            )
        if importlib.util.find_spec("imagecorruptions") is None:
            raise ValueError(
                "a generated corruption set needs the imagecorruptions package "
                "(pip install imagecorruptions-imaug)"
            )
        manifest_path = None if root is None else Path(root) / "manifest.json"
        if manifest_path is not None and manifest_path.is_file():
            settings = set_settings(dataset, None, 0, severities, preset)
            try:
                manifest = with_preset(json.loads(manifest_path.read_text()))
            except ValueError as error:
                raise ValueError(
                    f"{str(manifest_path)!r} is not valid JSON ({error}); delete it to regenerate"
                ) from error
            differing = sorted(k for k in settings if manifest.get(k) != settings[k])
            if differing:
                raise ValueError(
                    f"{str(root)!r} holds a corruption set made with other settings "
                    f"(differing: {differing}); choose another folder or delete that set"
                )
        return
    found = open_corruptions(spec, root=root, dataset=dataset, cache_dir=cache_dir, preset=preset)
    found.check_cells(
        corruptions,
        severities,
        include_heldout=include_heldout,
        image_shape=dataset.images.shape[1:],
    )


def _check_set_preset(found: CorruptedDataset, preset: str) -> None:
    """Raise a ValueError when ``preset`` asks for other constants than ``found`` was made with."""
    if preset != "auto" and found.preset is not None and found.preset != preset:
        raise ValueError(
            f"corruption set {str(found.root)!r} was made with the {found.preset!r} preset, not "
            f"{preset!r}: the preset chooses the constants of a generated set; leave it at "
            "'auto' or ask for a generated set"
        )


def _describe(split: DatasetSplit) -> str:
    return f"the {split.split} split of {split.name!r}"
