"""Penultimate features of a trained network, the inputs of the Bayesian last layer.

:func:`extract_features` runs ``model.forward_features`` of
:func:`probmoll.models.load_model` (images in [0, 1], standardised inside the model) over
uint8 ``(N, H, W, C)`` image arrays, e.g. a clean test split and its corrupted copies, in
batches under ``torch.inference_mode``. :func:`mollified_features` gives the features and
soft targets of K mollified copies of each image (the rows of the mollified likelihoods of
:func:`~probmoll.bayes.softmax_regression_model`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from probmoll.models import load_model

__all__ = ["extract_features", "mollified_features"]


def extract_features(
    run_or_checkpoint: str | os.PathLike | Mapping[str, Any] | nn.Module,
    split_images: np.ndarray | Mapping[str, np.ndarray],
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    autocast: torch.dtype | None = None,
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
    autocast : torch.dtype, optional
        Run the network under ``torch.autocast`` with this dtype (e.g. ``torch.bfloat16``
        for a network trained in bf16); ``None``: in float32.

    Returns
    -------
    Tensor or dict of Tensor
        Features ``(N, F)``, or ``{name: (N, F)}`` for a mapping.
    """
    model = _model(run_or_checkpoint, batch_size, device)
    if not hasattr(model, "forward_features"):
        raise ValueError(f"{type(model).__name__} has no forward_features")
    if isinstance(split_images, Mapping):
        return {
            name: _features(model, images, batch_size, device, name, autocast)
            for name, images in split_images.items()
        }
    return _features(model, split_images, batch_size, device, "images", autocast)


def mollified_features(
    run_or_checkpoint: str | os.PathLike | Mapping[str, Any] | nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    mollify: Any,
    *,
    copies: int,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    autocast: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:
    """Features and soft targets of ``copies`` mollified copies of each image, k-major.

    Each copy is the image standardised with the network's statistics, then mollified by
    ``mollify`` (a :class:`probmoll.Mollify`: a random amount of noise or blur, the label
    smoothed to match), then passed through ``forward_features``: the same inputs the
    network saw in training.

    Parameters
    ----------
    run_or_checkpoint : path, mapping or nn.Module
        As in :func:`extract_features`; a module must be a
        :class:`~probmoll.models.StandardizedModel` (it holds the statistics).
    images, labels : numpy.ndarray
        uint8 images ``(N, H, W, C)`` and integer labels ``(N,)``.
    mollify : probmoll.Mollify
        The transform; ``Mollify.from_config(run_config.mollify, num_classes)`` repeats a
        run's own.
    copies : int
        K >= 1.
    generator : torch.Generator, optional
        Source of the mollifier's draws (seed it to repeat the copies).
    batch_size : int
        Images per forward pass.
    device : str or torch.device
        Where the network runs; results come back on the CPU as float32.
    autocast : torch.dtype, optional
        As in :func:`extract_features`: the network only; mollification runs in float32.

    Returns
    -------
    (Tensor, Tensor)
        Features ``(K * N, F)`` and soft targets ``(K * N, C)``; row ``k * N + n`` is copy k
        of image n (the layout of :func:`~probmoll.bayes.softmax_regression_model`).
    """
    from probmoll.models.loading import StandardizedModel

    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be an int >= 1, got {copies!r}")
    model = _model(run_or_checkpoint, batch_size, device)
    if not isinstance(model, StandardizedModel) or not hasattr(model.network, "forward_features"):
        raise ValueError(
            "mollified_features needs a StandardizedModel whose network has forward_features "
            f"(probmoll.load_model gives one), got {type(model).__name__}"
        )
    labels = np.asarray(labels)
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices of shape ({len(images)},)")
    _check_images(images, "images")
    rows, targets = [], []
    with torch.inference_mode():
        for _ in range(copies):
            for start in range(0, len(images), batch_size):
                batch = torch.from_numpy(np.array(images[start : start + batch_size]))
                x = model.standardize(batch.to(device).permute(0, 3, 1, 2).float().div_(255))
                y = torch.from_numpy(np.array(labels[start : start + batch_size])).long().to(device)
                x, soft = mollify(x, y, generator=generator)
                with _autocast(device, autocast):
                    rows.append(model.network.forward_features(x).float().cpu())
                targets.append(soft.float().cpu())
    if not rows:
        raise ValueError("images holds no images")
    return torch.cat(rows), torch.cat(targets)


def _model(run_or_checkpoint, batch_size: int, device) -> nn.Module:
    """The network in eval mode on ``device`` (loaded unless a module), after checking
    ``batch_size``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if isinstance(run_or_checkpoint, nn.Module):
        return run_or_checkpoint.to(device).eval()
    return load_model(run_or_checkpoint, device=device)


def _check_images(images, name: str) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        found = (
            f"{images.dtype} array of shape {images.shape}"
            if isinstance(images, np.ndarray)
            else type(images).__name__
        )
        raise ValueError(f"{name} must be a uint8 array (N, H, W, C), got {found}")


def _autocast(device, dtype: torch.dtype | None):
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=dtype, enabled=dtype is not None)


def _features(model, images, batch_size: int, device, name: str, autocast=None) -> Tensor:
    _check_images(images, name)
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            # A copy: split images may be read-only (memory-mapped) arrays.
            batch = torch.from_numpy(np.array(images[start : start + batch_size]))
            x = batch.to(device).permute(0, 3, 1, 2).float().div_(255)
            with _autocast(device, autocast):
                chunks.append(model.forward_features(x).float().cpu())
    if not chunks:
        raise ValueError(f"{name} holds no images")
    return torch.cat(chunks)
