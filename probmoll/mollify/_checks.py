"""Input validation shared by the mollification kernels.

Shape and dtype checks are free (they read tensor metadata) and always run.
Checks on *values* of tensors (``t`` in [0, 1], labels on the simplex, ...)
need the host to look at device memory, which synchronises an accelerator
with the host; the public kernels therefore take ``validate=True`` and the
batched :class:`~probmoll.mollify.Mollifier` turns it off for quantities it
drew itself.

Where a value check must not stall an accelerator but a wrong value must not pass
silently either (targets handed to the :class:`~probmoll.mollify.Mollifier` on a
GPU), ``validate="async"`` enqueues the check on the device with
``torch._assert_async``: no host synchronisation, and a violated check fails the
device stream (a ``RuntimeError`` at the next synchronising call; on the CPU it
raises at once). The message cannot quote the offending values, which stay on the
device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from probmoll.mollify.options import check_positive

__all__ = [
    "ASYNC",
    "Validation",
    "as_level",
    "as_temperature",
    "assert_async",
    "check_batch",
    "check_finite_images",
    "check_image",
    "check_num_classes",
    "check_positive",
    "check_validation",
    "parameter_dtype",
    "preview",
]

#: ``validate`` value that checks on the device, without a host synchronisation.
ASYNC = "async"

#: What a ``validate`` argument accepts: ``True`` (check on the host, raising
#: ``ValueError`` that quotes the bad values), ``False`` (skip) or :data:`ASYNC`.
Validation = bool | Literal["async"]


def check_validation(validate: object) -> Validation:
    """``validate`` if it is ``True``, ``False`` or ``"async"``; otherwise ``ValueError``."""
    if isinstance(validate, bool) or validate == ASYNC:
        return validate  # type: ignore[return-value]
    raise ValueError(f"validate must be True, False or {ASYNC!r}, got {validate!r}")


def assert_async(condition: torch.Tensor, message: str) -> None:
    """Fail the device stream unless every element of the boolean ``condition`` holds.

    ``torch._assert_async`` reads the flag on the device, so the host does not wait
    for it; on CUDA a violation is reported as a device-side assertion by the next
    call that synchronises, on the CPU it raises ``RuntimeError(message)`` at once.
    """
    torch._assert_async(condition.all(), message)


def preview(values: torch.Tensor, limit: int = 6) -> str:
    """Short text rendering of (some of) ``values`` for error messages."""
    flat = values.detach().reshape(-1)
    shown = ", ".join(f"{v:.6g}" for v in flat[:limit].tolist())
    return f"[{shown}{', ...' if flat.numel() > limit else ''}]"


def check_image(x: object, op: str) -> None:
    """Require a floating tensor of shape ``(..., C, H, W)``.

    Raises
    ------
    TypeError
        If ``x`` is not a tensor or holds integers, booleans or complex numbers
        (mollifiers act on standardised real images; convert ``uint8`` images
        with ``x.float() / 255`` and standardise first).
    ValueError
        If ``x`` has fewer than 3 dimensions or an empty spatial size.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: expected a torch.Tensor image batch, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{op}: expected a floating-point image tensor (standardised images), got dtype "
            f"{x.dtype}; convert integer images with x.float() / 255 and standardise first"
        )
    if x.ndim < 3:
        raise ValueError(
            f"{op}: expected images of shape (..., C, H, W) with at least 3 dimensions, "
            f"got shape {tuple(x.shape)}"
        )
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError(f"{op}: images have an empty spatial size, shape {tuple(x.shape)}")


def check_batch(x: object, y: object, op: str) -> None:
    """Require images ``(B, C, H, W)`` (see :func:`check_image`) and targets of the same
    batch size on the same device (``TypeError`` or ``ValueError`` naming ``op``)."""
    check_image(x, op)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected images (B, C, H, W), got shape {tuple(x.shape)}")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{op}: targets must be a torch.Tensor, got {type(y).__name__}")
    if y.ndim == 0 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{op}: images and targets disagree on the batch size: x has shape "
            f"{tuple(x.shape)}, y has shape {tuple(y.shape)}"
        )
    if y.device != x.device:
        raise ValueError(f"{op}: targets are on {y.device} but images on {x.device}")


def check_finite_images(x: torch.Tensor, op: str, validate: Validation) -> None:
    """Require every value of the images ``x`` (``(B, ..., C, H, W)``) to be finite.

    One reduction, ``torch.aminmax``, finds NaN and both infinities (it propagates NaN,
    and a batch is finite when its smallest and largest values are): a pass over the
    batch without the boolean copy ``torch.isfinite(x)`` would write, several times
    cheaper. ``validate=True`` reads the result on the host and raises ``ValueError``
    naming the images; ``"async"`` asserts on the device (:func:`assert_async`).
    """
    if not validate or x.numel() == 0:
        return
    extremes = torch.stack(torch.aminmax(x))
    message = f"{op}: images must be finite (no NaN or infinite values)"
    if validate == ASYNC:
        assert_async(extremes.isfinite(), message)
        return
    if bool(extremes.isfinite().all()):
        return
    bad = ~torch.isfinite(x)
    images = bad.flatten(1).any(dim=1).nonzero().squeeze(1)
    raise ValueError(
        f"{message}, got {int(bad.sum())} non-finite values {preview(x[bad])} in "
        f"{images.numel()} of {x.shape[0]} images, images {preview(images)}; look for "
        "their source in the data or the augmentation before mollification"
    )


def check_num_classes(num_classes: object) -> int | None:
    """Return ``num_classes`` if it is ``None`` or a positive ``int``, else raise ``ValueError``."""
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
    ):
        raise ValueError(f"num_classes must be a positive integer or None, got {num_classes!r}")
    return num_classes


def parameter_dtype(dtype: torch.dtype) -> torch.dtype:
    """Floating dtype in which to compute per-image parameters for images of ``dtype``.

    Coefficients and filters are computed in float32 (float64 for float64
    images): half-precision trigonometry and matrix products would cost more
    accuracy than the data itself holds.
    """
    return torch.float64 if dtype == torch.float64 else torch.float32


def as_level(
    value: float | torch.Tensor,
    name: str,
    batch_shape: Sequence[int],
    *,
    device: torch.device | None,
    dtype: torch.dtype,
    validate: Validation,
    lower: float = 0.0,
    upper: float | None = 1.0,
) -> torch.Tensor:
    """Turn a per-image level (``t``, ``gamma`` or ``sigma``) into a checked tensor.

    Parameters
    ----------
    value : float or Tensor
        A Python number (one level for the whole batch), a 0-d tensor, or a
        tensor of shape ``batch_shape`` (one level per image).
    name : str
        Name quoted in error messages.
    batch_shape : sequence of int
        The leading (batch) shape of the images or targets.
    device, dtype
        Where and how to hold the result. ``device=None`` keeps a tensor's own
        device (CPU for Python numbers).
    validate : bool or "async"
        Check that tensor values lie in ``[lower, upper]`` (NaN fails). ``True``
        reads device memory, hence synchronises an accelerator with the host;
        ``"async"`` checks on the device (see :func:`assert_async`). Python
        numbers are always checked (free).
    lower, upper : float
        The admissible range; ``upper=None`` means any finite value ``>= lower``.

    Returns
    -------
    Tensor
        Shape ``()`` or ``batch_shape``, on ``device`` with ``dtype``.
    """
    batch_shape = tuple(batch_shape)
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number or a tensor, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
        below_upper = number <= upper if upper is not None else math.isfinite(number)
        if not (number >= lower and below_upper):
            raise ValueError(f"{name} must lie in {_interval(lower, upper)}, got {value!r}")
        # torch.full fills on the target device without a host-to-device copy.
        return torch.full((), number, dtype=dtype, device=device)
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a Python number or a tensor of shape {batch_shape}, "
            f"got {type(value).__name__}"
        )
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    if value.ndim != 0 and tuple(value.shape) != batch_shape:
        raise ValueError(
            f"{name} must be a scalar or have shape {batch_shape} (one value per image), "
            f"got shape {tuple(value.shape)}"
        )
    value = value.to(device=value.device if device is None else device, dtype=dtype)
    if check_validation(validate):
        inside = (value >= lower) & (value <= upper if upper is not None else value.isfinite())
        if validate == ASYNC:
            message = f"{name} must lie in {_interval(lower, upper)} (NaN is not allowed)"
            assert_async(inside, message)
        elif not bool(inside.all()):
            raise ValueError(
                f"{name} must lie in {_interval(lower, upper)} (NaN is not allowed), "
                f"got {preview(value[~inside])}"
            )
    return value


def as_temperature(t: float | torch.Tensor, validate: bool, name: str = "t") -> torch.Tensor:
    """``t`` as a floating tensor of its own shape and device, checked to lie in [0, 1].

    Integer tensors and Python numbers become ``torch.get_default_dtype()``.
    """
    if isinstance(t, torch.Tensor):
        dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
        return as_level(t, name, t.shape, device=None, dtype=dtype, validate=validate)
    return as_level(t, name, (), device=None, dtype=torch.get_default_dtype(), validate=validate)


def _interval(lower: float, upper: float | None) -> str:
    return f"[{lower:g}, {upper:g}]" if upper is not None else f"[{lower:g}, inf) (finite)"
