"""Checkpoint files: what a model needs to be rebuilt and evaluated anywhere.

A checkpoint is one ``torch.save``'d dict (written atomically). The keys every
checkpoint has:

``format``
    ``"probmoll-checkpoint/1"``.
``model``
    ``{"name": str, "kwargs": dict}``: the :func:`~probmoll.models.create_model` call,
    ``kwargs`` including ``num_classes``, ``in_channels`` and ``image_size``.
``model_state``
    The weights to evaluate (a ``state_dict``).
``data``
    ``{"name", "num_classes", "in_channels", "image_size", "mean", "std", "classes"}``:
    what the inputs must look like (``mean``/``std`` per channel, [0, 1] scale).

Training adds its own state (optimizer, scheduler, RNG states, counters, config) under
other keys. Checkpoints are loaded with ``torch.load(weights_only=True)``, so they hold
only tensors and plain Python values.

A *run folder* (written by ``probmoll train``) holds ``checkpoint.pt``; wherever a
checkpoint path is accepted, a run folder is accepted too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from probmoll.models.registry import create_model
from probmoll.utils.io import atomic_torch_save

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "data_info",
    "load_checkpoint",
    "model_from_checkpoint",
    "resolve_checkpoint_path",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "probmoll-checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"
_DATA_KEYS = ("name", "num_classes", "in_channels", "image_size", "mean", "std", "classes")


def data_info(
    name: str,
    num_classes: int,
    in_channels: int,
    image_size: int | Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``data`` entry of a checkpoint, validated."""
    size = [int(image_size)] * 2 if isinstance(image_size, int) else [int(s) for s in image_size]
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError(
            f"mean/std need one value per channel ({in_channels}), got {len(mean)} and {len(std)}"
        )
    if any(s <= 0 for s in std):
        raise ValueError(f"std must be positive, got {list(std)}")
    if classes is not None and len(classes) != num_classes:
        raise ValueError(f"{len(classes)} class names for {num_classes} classes")
    return {
        "name": str(name),
        "num_classes": int(num_classes),
        "in_channels": int(in_channels),
        "image_size": size,
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "classes": None if classes is None else [str(c) for c in classes],
    }


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    model_name: str,
    model_kwargs: Mapping[str, Any],
    data: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : path
        Destination file (a run folder's ``checkpoint.pt``).
    model : nn.Module
        Its ``state_dict`` becomes ``model_state`` (a DDP/compiled wrapper is unwrapped).
    model_name, model_kwargs
        The :func:`create_model` call that rebuilds ``model``.
    data : mapping
        The output of :func:`data_info`.
    extra : mapping, optional
        Further keys (training state); they must not shadow the keys above.
    """
    missing = [key for key in _DATA_KEYS if key not in data]
    if missing:
        raise ValueError(f"checkpoint data info lacks {missing}; build it with data_info()")
    for key in ("num_classes", "in_channels", "image_size"):
        if key not in model_kwargs:
            raise ValueError(f"model_kwargs must include {key!r}, got {sorted(model_kwargs)}")
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": {"name": model_name, "kwargs": dict(model_kwargs)},
        "model_state": _unwrap(model).state_dict(),
        "data": dict(data),
    }
    for key, value in (extra or {}).items():
        if key in state:
            raise ValueError(f"extra checkpoint key {key!r} would overwrite a reserved key")
        state[key] = value
    return atomic_torch_save(state, path)


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DistributedDataParallel


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """``path`` itself for a file, ``path/checkpoint.pt`` for a run folder."""
    path = Path(path)
    if path.is_dir():
        candidate = path / CHECKPOINT_NAME
        if not candidate.is_file():
            raise FileNotFoundError(
                f"run folder {str(path)!r} holds no {CHECKPOINT_NAME}: was the run started?"
            )
        return candidate
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load and validate a checkpoint file or a run folder's checkpoint."""
    file = resolve_checkpoint_path(path)
    state = _read_torch_file(file, map_location, "probmoll checkpoint")
    _check_checkpoint(state, file)
    return state


def _read_torch_file(file: Path, map_location: str | torch.device, what: str) -> Any:
    """``torch.load(file, weights_only=True)``; a ValueError saying why the file is not a
    readable ``what`` otherwise."""
    try:
        return torch.load(file, map_location=map_location, weights_only=True)
    except Exception as error:
        # torch's messages run over several lines (its first sentence says what failed),
        # or are empty for an empty file.
        reason = " ".join(str(error).split()).split(". ")[0] or type(error).__name__
        if "Weights only load failed" in reason:
            why = "it holds objects other than tensors and plain Python values"
        else:
            why = f"it is truncated or damaged ({file.stat().st_size} bytes)"
        raise ValueError(
            f"{str(file)!r} is not a readable {what}: {why}: {reason}; "
            "restore it from a copy or write it again"
        ) from error


def _check_checkpoint(state: Any, file: Path) -> None:
    """Raise a ValueError unless ``state`` (read from ``file``) is a probmoll checkpoint."""
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"{str(file)!r} is not a probmoll checkpoint (format {found!r}, "
            f"expected {CHECKPOINT_FORMAT!r})"
        )
    for key in ("model", "model_state", "data"):
        if key not in state:
            raise ValueError(f"checkpoint {str(file)!r} lacks the key {key!r}")


def model_from_checkpoint(
    checkpoint: Mapping[str, Any] | str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint (dict, file or run folder) with its weights.

    Returns ``(model, info)``: the model in eval mode on ``map_location``, and the
    checkpoint's ``data`` entry (``num_classes``, ``in_channels``, ``image_size``,
    ``mean``, ``std``, ``classes``, ``name``) plus ``model_name``.
    """
    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(checkpoint, map_location=map_location)
    spec = checkpoint["model"]
    model = create_model(spec["name"], **spec["kwargs"])
    model.load_state_dict(checkpoint["model_state"])
    model.to(map_location).eval()
    info = dict(checkpoint["data"])
    info["model_name"] = spec["name"]
    return model, info
