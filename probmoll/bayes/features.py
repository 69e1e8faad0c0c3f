"""Penultimate features of a trained network, the inputs of the Bayesian last layer.

:func:`extract_features` runs ``model.forward_features`` of
:func:`probmoll.models.load_model` (images in [0, 1], standardised inside the model) over
uint8 ``(N, H, W, C)`` image arrays, e.g. a clean test split and its corrupted copies, in
batches under ``torch.inference_mode``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from probmoll.models import load_model

__all__ = ["extract_features"]


def extract_features(
    run_or_checkpoint: str | os.PathLike | Mapping[str, Any] | nn.Module,
    split_images: np.ndarray | Mapping[str, np.ndarray],
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> Tensor | dict[str, Tensor]:
    """``forward_features`` of a trained network on uint8 images, in batches.

    Parameters
    ----------
    run_or_checkpoint : path, mapping or nn.Module
        A run folder, checkpoint file or loaded checkpoint dict (given to
        :func:`probmoll.models.load_model`), or a model already loaded by it.
    split_images : array or mapping of arrays
        uint8 images ``(N, H, W, C)``, or ``{name: images}`` (e.g. ``{"clean": ...,
        "corrupted": ...}``).
    batch_size : int
        Images per forward pass.
    device : str or torch.device
        Where the network runs; the features come back on the CPU as float32.

    Returns
    -------
    Tensor or dict of Tensor
        Features ``(N, F)``, or ``{name: (N, F)}`` for a mapping.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if isinstance(run_or_checkpoint, nn.Module):
        model = run_or_checkpoint.to(device).eval()
    else:
        model = load_model(run_or_checkpoint, device=device)
    if not hasattr(model, "forward_features"):
        raise ValueError(f"{type(model).__name__} has no forward_features")
    if isinstance(split_images, Mapping):
        return {
            name: _features(model, images, batch_size, device, name)
            for name, images in split_images.items()
        }
    return _features(model, split_images, batch_size, device, "images")


def _features(model, images, batch_size: int, device, name: str) -> Tensor:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        found = (
            f"{images.dtype} array of shape {images.shape}"
            if isinstance(images, np.ndarray)
            else type(images).__name__
        )
        raise ValueError(f"{name} must be a uint8 array (N, H, W, C), got {found}")
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            # A copy: split images may be read-only (memory-mapped) arrays.
            batch = torch.from_numpy(np.array(images[start : start + batch_size]))
            x = batch.to(device).permute(0, 3, 1, 2).float().div_(255)
            chunks.append(model.forward_features(x).float().cpu())
    if not chunks:
        raise ValueError(f"{name} holds no images")
    return torch.cat(chunks)
