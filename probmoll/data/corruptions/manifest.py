"""The manifest of a generated corruption set: its settings and the record of each file.

``manifest.json`` holds the settings a set was made with (generator, preset and its
parameter table, seed, severities, source) and, per written ``.npy`` file, its name, shape,
size and sha256. :func:`open_manifest` reuses a manifest whose settings match, so that an
interrupted generation resumes file by file, and refuses (or, with ``overwrite``, clears)
one made with other settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from probmoll.utils.io import atomic_write_json

from ..cache import sha256_file
from .presets import IMAGENET_C

__all__ = ["complete", "file_record", "open_manifest", "with_preset"]


def file_record(path: Path) -> dict[str, Any]:
    header = np.load(path, mmap_mode="r")
    return {
        "file": path.name,
        "shape": [int(s) for s in header.shape],
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def complete(out_dir: Path, record: dict[str, Any] | None) -> bool:
    """Whether a manifest record matches its file (same name, size and shape)."""
    if not record:
        return False
    path = out_dir / record["file"]
    if not path.is_file() or path.stat().st_size != record["bytes"]:
        return False
    try:
        return list(np.load(path, mmap_mode="r").shape) == record["shape"]
    except (OSError, ValueError):
        return False


def open_manifest(
    path: Path, settings: dict[str, Any], out_dir: Path, overwrite: bool
) -> dict[str, Any]:
    if path.is_file():
        try:
            manifest = json.loads(path.read_text())
        except ValueError as error:
            raise ValueError(
                f"{str(path)!r} is not valid JSON ({error}); delete it to regenerate"
            ) from error
        legacy = "preset" not in manifest
        manifest = with_preset(manifest)
        old = {k: manifest.get(k) for k in settings}
        if old == settings:
            manifest.setdefault("files", {})
            if legacy:
                atomic_write_json(path, manifest)  # now records its preset
            return manifest
        differing = sorted(k for k in settings if old.get(k) != settings[k])
        if not overwrite:
            raise ValueError(
                f"{str(out_dir)!r} holds a corruption set made with other settings (differing: "
                f"{differing}); choose another out_dir or pass overwrite=True to replace it"
            )
        for record in [*manifest.get("files", {}).values(), manifest.get("labels")]:
            if record:
                (out_dir / record["file"]).unlink(missing_ok=True)
    manifest = {**settings, "labels": None, "files": {}}
    atomic_write_json(path, manifest)
    return manifest


def with_preset(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with the entries of its preset: those a manifest written before presets
    existed leaves out (its set was made by the package's functions, an imagenet-c set)."""
    if "preset" in manifest:
        return manifest
    return {
        **manifest,
        "preset": IMAGENET_C.name,
        "parameters": IMAGENET_C.table(),
        "parameters_sha256": IMAGENET_C.digest(),
    }
