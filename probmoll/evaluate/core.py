"""The one evaluation loop of probmoll: exact metrics of a classifier on uint8 images.

Every evaluation -- ``probmoll evaluate`` on dataset arrays (``(N, H, W, C)``, often
memory-mapped caches) and the per-epoch evaluation of training (``(N, C, H, W)`` tensors
already on the device, shared out over DDP ranks) -- runs :func:`evaluate_images`, so
both measure the same thing: the model in eval mode (BatchNorm uses its running
statistics, so results do not depend on the batch size), without gradients, on images
only standardised with the training mean/std (:func:`standardize`; no augmentation, no
mollification), against the *hard* labels, with exact sums
(:class:`~probmoll.metrics.ClassificationMetrics`).

A model that standardises its inputs itself -- :func:`probmoll.load_model`'s output, a
torchvision or RobustBench model wrapped with its normalisation -- is evaluated without
``mean``/``std``: it is fed the images in [0, 1] (``x / 255``, float32).
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from probmoll.metrics import DEFAULT_N_BINS, ClassificationMetrics

__all__ = [
    "ImageLayout",
    "check_images",
    "evaluate_images",
    "model_device_and_dtype",
    "standardize",
    "to_unit_range",
]


class ImageLayout(str, enum.Enum):
    """Axis order of a stack of images."""

    NHWC = "NHWC"  # dataset arrays and .npz files: (N, H, W, C)
    NCHW = "NCHW"  # what the models take: (N, C, H, W)

    @classmethod
    def parse(cls, value: str | ImageLayout) -> ImageLayout:
        """``value`` as an :class:`ImageLayout`; a ValueError listing the layouts otherwise."""
        try:
            return cls(value)
        except ValueError:
            choices = [layout.value for layout in cls]
            raise ValueError(f"unknown image layout {value!r}; choose one of {choices}") from None

    @property
    def channel_axis(self) -> int:
        """Position of the channel axis."""
        return 3 if self is ImageLayout.NHWC else 1


def standardize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float32 ``(x / 255 - mean) / std`` per channel.

    Parameters
    ----------
    images : torch.Tensor
        uint8 images ``(B, C, H, W)`` (any strides).
    mean, std : torch.Tensor
        ``(C,)`` float32 tensors on the [0, 1] scale, on the device of ``images``.

    Returns
    -------
    torch.Tensor
        A new float32 tensor; ``images`` is left as it was. Training (before
        mollification, which assumes standardised images -- Sec. 3.2: zero mean, unit
        variance per channel) and every evaluation use this arithmetic.
    """
    shape = (1, -1, 1, 1)
    return to_unit_range(images).sub_(mean.view(shape)).div_(std.view(shape))


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 ``x / 255`` in [0, 1] (a new tensor; what models that
    standardise their inputs themselves take)."""
    return images.to(torch.float32).div_(255.0)


def check_images(
    images: Any,
    labels: Any,
    channels: int | None,
    layout: str | ImageLayout = ImageLayout.NHWC,
    where: str = "images",
) -> None:
    """Raise unless ``images`` are uint8 images with ``channels`` channels (any number for
    None) and ``labels`` one integer per image.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        uint8 images in ``layout``.
    labels : numpy.ndarray or torch.Tensor
        Integer class indices ``(N,)``.
    channels : int or None
        Channels the images must have (one per mean/std entry); None: any.
    layout : {"NHWC", "NCHW"}, default "NHWC"
        Axis order of ``images``.
    where : str, default "images"
        What the images are, for the messages (e.g. ``"clean split"``).

    Raises
    ------
    TypeError
        When ``images`` are not a uint8 array or tensor.
    ValueError
        When their shape or the labels' shape or dtype do not fit.
    """
    layout = ImageLayout.parse(layout)
    shape = "(N, H, W, C)" if layout is ImageLayout.NHWC else "(N, C, H, W)"
    if isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8:
            raise TypeError(f"{where}: images must be a uint8 tensor {shape}, got {images.dtype}")
    elif not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        found = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
        raise TypeError(f"{where}: images must be a uint8 numpy array {shape}, got {found}")
    if images.ndim != 4 or channels not in (None, images.shape[layout.channel_axis]):
        wanted = (
            "" if channels is None else f" with C = {channels} channels (one per mean/std entry)"
        )
        raise ValueError(
            f"{where}: images must have shape {shape}{wanted}, got {tuple(images.shape)}"
        )
    if isinstance(labels, torch.Tensor):
        integer = not (
            labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool
        )
    else:
        labels = np.asarray(labels)
        integer = np.issubdtype(labels.dtype, np.integer)
    if tuple(labels.shape) != (images.shape[0],) or not integer:
        raise ValueError(
            f"{where}: labels must be integers of shape ({images.shape[0]},), "
            f"got dtype {labels.dtype} and shape {tuple(labels.shape)}"
        )


def model_device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of ``model``'s first parameter (CPU, float32 without one).

    Parameters
    ----------
    model : nn.Module
        Any module.

    Returns
    -------
    tuple of torch.device and torch.dtype
        Where the inputs must go, and the dtype they must have outside autocast.
    """
    for parameter in model.parameters():
        dtype = parameter.dtype if parameter.is_floating_point() else torch.float32
        return parameter.device, dtype
    return torch.device("cpu"), torch.float32


def _batch(
    array: np.ndarray | torch.Tensor,
    start: int,
    stop: int,
    device: torch.device,
    dtype: type | None = None,
) -> torch.Tensor:
    """Rows ``start:stop`` of ``array`` as a tensor on ``device``."""
    if isinstance(array, torch.Tensor):
        return array[start:stop].to(device, non_blocking=True)
    # np.array copies: memory-mapped caches are read-only, torch wants writable memory.
    return torch.from_numpy(np.array(array[start:stop], dtype)).to(device, non_blocking=True)


def _share(count: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[first, last)`` of rank ``rank``'s contiguous share of ``count`` images: the
    split of :func:`torch.tensor_split` (the first ``count % world_size`` shares hold
    one image more)."""
    base, extra = divmod(count, world_size)
    first = rank * base + min(rank, extra)
    return first, first + base + (1 if rank < extra else 0)


@torch.no_grad()
def evaluate_images(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    *,
    mean: Sequence[float] | torch.Tensor | None = None,
    std: Sequence[float] | torch.Tensor | None = None,
    batch_size: int = 512,
    layout: str | ImageLayout = ImageLayout.NHWC,
    device: torch.device | str | None = None,
    num_classes: int | None = None,
    n_bins: int = DEFAULT_N_BINS,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> ClassificationMetrics:
    """Error, NLL, ECE and Brier score sums of ``model`` on uint8 images.

    Each batch is moved to ``device``, put in ``(B, C, H, W)`` order, standardised in
    float32 (:func:`standardize`; without ``mean``/``std`` only scaled to [0, 1]), cast
    to the model's dtype and fed to the model in eval mode under :func:`torch.no_grad`;
    the train/eval mode of every submodule is restored afterwards. With
    ``world_size > 1`` (DDP) rank ``rank`` scores a contiguous share of the images and
    the exact metric sums are all-reduced, so every rank returns the metrics of all
    images, whatever the number of processes (and the batch size) -- every rank must
    call it.

    Parameters
    ----------
    model : nn.Module
        Maps standardised float images ``(B, C, H, W)`` (float images in [0, 1] without
        ``mean``/``std``) to logits ``(B, K)``; it is not moved.
    images : numpy.ndarray or torch.Tensor
        uint8 images in ``layout``, on any device (a memory map is read a batch at a
        time).
    labels : numpy.ndarray or torch.Tensor
        Integer (hard) class indices ``(N,)``.
    mean, std : sequence of float or torch.Tensor, optional
        Per-channel standardisation on the [0, 1] scale (the training statistics), one
        entry per channel. Both None (default): the model standardises its inputs itself
        and is fed ``x / 255``.
    batch_size : int, default 512
        Images per forward pass (per rank).
    layout : {"NHWC", "NCHW"}, default "NHWC"
        Axis order of ``images``: ``"NHWC"`` for dataset arrays, ``"NCHW"`` for tensors
        already in the models' order.
    device : torch.device or str, optional
        Where to run the batches; default: where the model's parameters are.
    num_classes : int, optional
        Classes of the model; default: taken from the first logits.
    n_bins : int, default 15
        Confidence bins of the ECE.
    autocast_dtype : torch.dtype, optional
        Run the forward pass under :func:`torch.autocast` with this dtype (e.g.
        ``torch.bfloat16``); default: no autocast. Metrics are computed in float64.
    channels_last : bool, default False
        Give the model channels-last inputs.
    rank, world_size : int, default 0 and 1
        This process's rank and the number of processes sharing the images.

    Returns
    -------
    ClassificationMetrics
        The accumulated sums, on ``device``: ``.compute()`` gives the metrics,
        ``.reliability_diagram()`` the reliability diagram, ``.merge`` pools several
        sets.
    """
    layout = ImageLayout.parse(layout)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (isinstance(world_size, int) and world_size >= 1 and 0 <= rank < world_size):
        raise ValueError(f"need 0 <= rank < world_size, got rank {rank!r} of {world_size!r}")
    model_device, dtype = model_device_and_dtype(model)
    device = model_device if device is None else torch.device(device)
    if (mean is None) != (std is None):
        raise ValueError("pass both mean and std, or neither (a model fed images in [0, 1])")
    channels = None
    if mean is not None:
        mean = torch.as_tensor(mean, dtype=torch.float32, device=device).reshape(-1)
        std = torch.as_tensor(std, dtype=torch.float32, device=device).reshape(-1)
        if mean.numel() != std.numel() or mean.numel() == 0:
            raise ValueError(
                f"mean and std need one entry per channel, got {mean.tolist()} and {std.tolist()}"
            )
        channels = mean.numel()
    check_images(images, labels, channels, layout)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    metrics = ClassificationMetrics(num_classes=num_classes, n_bins=n_bins).to(device)
    first, last = _share(images.shape[0], rank, world_size)
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        for start in range(first, last, batch_size):
            stop = min(start + batch_size, last)
            batch = _batch(images, start, stop, device)
            if layout is ImageLayout.NHWC:
                batch = batch.permute(0, 3, 1, 2)
            # contiguous: the NHWC -> NCHW permute leaves strides some models cannot .view().
            inputs = to_unit_range(batch) if mean is None else standardize(batch, mean, std)
            inputs = inputs.to(dtype).contiguous(memory_format=memory_format)
            if autocast_dtype is None:
                autocast = contextlib.nullcontext()
            else:
                autocast = torch.autocast(device.type, dtype=autocast_dtype)
            with autocast:
                logits = model(inputs)
            metrics.update(logits, _batch(labels, start, stop, device, np.int64))
    finally:
        for module, training in modes.items():
            module.training = training
    if world_size > 1:
        # A rank without images still joins the reduction, with an all-zero state.
        metrics.all_reduce()
    return metrics
