"""Model registry: ``register_model``, ``create_model``, ``list_models``.

Every factory takes ``(num_classes, in_channels, image_size, **kwargs)`` and returns an
``nn.Module`` mapping standardised float images ``(B, C, H, W)`` to logits ``(B, num_classes)``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["create_model", "list_models", "model_factory", "register_model"]

ModelFactory = Callable[..., nn.Module]
_MODELS: dict[str, ModelFactory] = {}


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator registering ``factory(num_classes, in_channels, image_size, **kwargs)``."""

    def decorator(factory: ModelFactory) -> ModelFactory:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = factory
        return factory

    return decorator


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_MODELS)


def model_factory(name: str) -> ModelFactory:
    """The factory registered under ``name``; a ``ValueError`` lists the valid names."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid names: {', '.join(list_models())}"
        ) from None


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
