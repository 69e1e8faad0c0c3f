"""Trained models as plain modules: images in [0, 1] in, logits out.

A probmoll network takes images standardised with its training mean/std. Most evaluation
code -- RobustBench (``robustbench.utils.clean_accuracy``), torchattacks, AutoAttack --
feeds a model float images in [0, 1] instead and expects the model to standardise them
itself. :func:`load_model` rebuilds a checkpoint's network
(:func:`~probmoll.models.model_from_checkpoint`) and wraps it in a
:class:`StandardizedModel` that holds the mean/std as buffers::

    >>> from probmoll import load_model
    >>> model = load_model("runs/cifar10-moll")  # doctest: +SKIP
    >>> logits = model(images)  # float (B, 3, 32, 32) in [0, 1]  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from probmoll.models.checkpoint import model_from_checkpoint

__all__ = ["StandardizedModel", "load_model"]


class StandardizedModel(nn.Module):
    """``network((x - mean) / std)``: a network trained on standardised images, fed
    images in [0, 1].

    The arithmetic is that of training and of :func:`probmoll.evaluate.standardize`
    (subtract, then divide, per channel, in the input's dtype), so the logits equal those
    of the network on images standardised there.

    Parameters
    ----------
    network : nn.Module
        Maps standardised float images ``(B, C, H, W)`` to logits; available as
        :attr:`network`.
    mean, std : sequence of float
        Per-channel statistics on the [0, 1] scale, one entry per input channel; kept as
        buffers (they follow ``.to()`` and are part of ``state_dict()``).
    info : mapping, optional
        What the checkpoint says about the data (``num_classes``, ``classes``,
        ``image_size``, ...), available as :attr:`info`.

    Notes
    -----
    ``forward_features`` (the penultimate features, e.g. for a last-layer Laplace
    approximation) is available when the network has it, on standardised inputs likewise.
    """

    def __init__(
        self,
        network: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        info: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean.numel() == 0 or mean.shape != std.shape:
            raise ValueError(
                f"mean and std need one entry per channel, got {mean.tolist()} and {std.tolist()}"
            )
        if not bool((std > 0).all()):
            raise ValueError(f"std must be positive, got {std.tolist()}")
        self.network = network
        self.register_buffer("mean", mean.view(1, -1, 1, 1))
        self.register_buffer("std", std.view(1, -1, 1, 1))
        self.info = dict(info or {})

    @property
    def in_channels(self) -> int:
        """Channels the inputs must have."""
        return self.mean.shape[1]

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` after checking that ``x`` is a float ``(B, C, H, W)`` batch."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            found = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(
                f"{type(self).__name__} takes float images in [0, 1], got {found}"
                + (": convert uint8 images with x.float() / 255" if found == torch.uint8 else "")
            )
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} takes images of shape (B, C, H, W) with C = "
                f"{self.in_channels} channels, got {tuple(x.shape)}"
            )
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` of float images ``x`` ``(B, C, H, W)`` in [0, 1]."""
        return self.network(self.standardize(x))

    def __getattr__(self, name: str) -> Any:
        # forward_features exists exactly when the network has it, so that
        # hasattr(model, "forward_features") tells the truth.
        if name == "forward_features":
            network = super().__getattr__("network")
            if hasattr(network, "forward_features"):
                return lambda x: network.forward_features(self.standardize(x))
        return super().__getattr__(name)

    def extra_repr(self) -> str:
        mean = [round(v, 4) for v in self.mean.flatten().tolist()]
        std = [round(v, 4) for v in self.std.flatten().tolist()]
        return f"mean={mean}, std={std}"


def load_model(
    checkpoint: str | os.PathLike | Mapping[str, Any], device: str | torch.device = "cpu"
) -> StandardizedModel:
    """A checkpoint's network as a module that takes images in [0, 1], in eval mode.

    Parameters
    ----------
    checkpoint : path or mapping
        A checkpoint file, a run folder (``probmoll train``'s output) or a loaded
        checkpoint dict.
    device : str or torch.device, default "cpu"
        Where the model is put.

    Returns
    -------
    StandardizedModel
        In eval mode; ``model(x)`` takes float ``(B, C, H, W)`` images in [0, 1] and
        returns logits ``(B, num_classes)``; ``model.network`` is the raw network,
        ``model.info`` the checkpoint's data entry (``num_classes``, ``classes``,
        ``image_size``, ``mean``, ``std``, ``name``, ``model_name``).
    """
    network, info = model_from_checkpoint(checkpoint, map_location=device)
    model = StandardizedModel(network, info["mean"], info["std"], info)
    return model.to(device).eval()
