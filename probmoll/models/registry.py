"""Model registry: ``register_model``, ``create_model``, ``list_models``.

Every factory takes ``(num_classes, in_channels, image_size, **kwargs)`` and returns an
``nn.Module`` mapping standardised float images ``(B, C, H, W)`` to logits ``(B, num_classes)``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from probmoll.utils.registry import Registry

__all__ = ["MODELS", "create_model", "list_models", "model_factory", "register_model"]

ModelFactory = Callable[..., nn.Module]
#: The registered model factories, by name (:func:`register_model`).
MODELS: Registry[ModelFactory] = Registry("model", listing="valid names")


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator registering ``factory(num_classes, in_channels, image_size, **kwargs)``.

    A name taken by another factory raises ValueError.
    """
    return MODELS.register(name)


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return MODELS.names()


def model_factory(name: str) -> ModelFactory:
    """The factory registered under ``name``; a ``ValueError`` lists the valid names."""
    return MODELS.get(name)


def create_model(
    name: str, num_classes: int, in_channels: int = 3, image_size: int = 32, **kwargs
) -> nn.Module:
    """Build the model registered as ``name``.

    Parameters
    ----------
    name : str
        One of :func:`list_models`.
    num_classes : int
        Number of output logits (>= 2).
    in_channels : int, default 3
        Image channels (1 for Fashion-MNIST).
    image_size : int, default 32
        Side of the (square) training images; selects the stem where a model has variants.
    **kwargs
        Model-specific options (e.g. ``width`` for the preact-ResNets).
    """
    factory = model_factory(name)
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}")
    return factory(
        num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs
    )
