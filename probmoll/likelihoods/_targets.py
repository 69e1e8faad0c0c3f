"""Checks on the targets an :class:`~probmoll.likelihoods.Objective` scores.

The loss sees K * B rows of logits and targets and can only trust that rows ``k * B + b``
are the K copies of example ``b`` (:meth:`~probmoll.likelihoods.Objective.expand`). The
one thing it can verify is that the copies share their class: exactly for class indices,
and for soft targets the class that holds the most mass over the copies must hold the most
in every copy (up to rounding; a copy mollified to uniform or all-zero targets holds no
class and agrees with any). This catches an un-expanded batch of distinct images, or one
expanded in the wrong (b-major) order, unless the rows it pairs up happen to share their
class; it cannot tell two images of one class apart.

Value checks read device memory. ``validate=True`` does so on the host and raises
``ValueError`` quoting the rows; ``"async"`` enqueues ``torch._assert_async`` on the
device (no host synchronisation; a violation fails the device stream, a ``RuntimeError``
at once on the CPU); ``False`` skips them; ``None`` means ``True`` on the CPU and
``"async"`` elsewhere, as for :class:`~probmoll.mollify.Mollifier` targets.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from probmoll.mollify.labels import simplex_tolerance

#: What ``validate`` accepts besides ``None``: True (host), False (skip) or "async".
Validation = bool | Literal["async"]
ASYNC = "async"


def validation_level(validate: object, device: torch.device) -> Validation:
    """``validate``, with ``None`` resolved for ``device``; a ValueError for other values."""
    if validate is None:
        return True if device.type == "cpu" else ASYNC
    if isinstance(validate, bool) or validate == ASYNC:
        return validate  # type: ignore[return-value]
    raise ValueError(f"validate must be True, False or {ASYNC!r} (or None), got {validate!r}")


def check_copies(targets: Tensor, k: int, validate: Validation) -> None:
    """Require the K copies of every example (rows ``k * B + b``) to share their class."""
    if k == 1 or not validate:
        return
    targets = targets.detach()
    batch = targets.shape[0] // k
    copies = targets.view(k, batch, *targets.shape[1:])
    if targets.dim() == 1:
        agree = (copies == copies[:1]).all(0)
    else:
        # Ties count as agreement: MixUp's lambda = 1/2, or a label mollified away.
        label = copies.sum(0).argmax(-1)
        at_label = copies.gather(-1, label.view(1, batch, 1).expand(k, batch, 1)).squeeze(-1)
        tolerance = simplex_tolerance(targets.dtype) if targets.is_floating_point() else 0
        agree = (at_label >= copies.amax(-1) - tolerance).all(0)
    message = (
        f"Objective(k={k}): rows k * B + b must be the {k} copies of example b "
        "(Objective.expand repeats a batch k-major), but copies of one example carry "
        "different classes"
    )
    if validate == ASYNC:
        torch._assert_async(agree.all(), message)
        return
    if bool(agree.all()):
        return
    wrong = (~agree).nonzero().squeeze(1)
    first = int(wrong[0])
    classes = copies[:, first] if targets.dim() == 1 else copies[:, first].argmax(-1)
    raise ValueError(
        f"{message}: {wrong.numel()} of {batch} examples, e.g. example {first} has classes "
        f"{classes.tolist()} in its {k} copies; expand the batch of B distinct images with "
        "Objective.expand before mollification (validate=False accepts copies whose "
        "targets are meant to differ)"
    )


def check_tempered(targets: Tensor, form: str, label_form: str, validate: Validation) -> None:
    """Require tempered targets ``(1 - gamma) e_y`` (Eq. 7): non-negative rows of mass at
    most 1, all of it on one class, within :func:`~probmoll.mollify.simplex_tolerance`."""
    if targets.dim() == 1 or not validate:
        return  # class indices are tempered targets with gamma = 0
    targets = targets.detach()
    tolerance = simplex_tolerance(targets.dtype) if targets.is_floating_point() else 0
    # Sum in float64 so that only the targets' own rounding counts (MPS has no float64).
    wide = targets.to(torch.float32 if targets.device.type == "mps" else torch.float64)
    largest = wide.amax(-1)
    outside = wide.sum(-1) - largest
    tempered = (wide.amin(-1) >= 0) & (outside <= tolerance) & (largest <= 1 + tolerance)
    message = (
        f"likelihood form {form!r} needs tempered targets (1 - gamma) e_y (Eq. 7), as the "
        f"Mollifier gives with label_form={label_form!r}: non-negative, mass <= 1, all of "
        f"it on one class (tolerance {tolerance:.3g} for {targets.dtype})"
    )
    if validate == ASYNC:
        torch._assert_async(tempered.all(), message)
        return
    if bool(tempered.all()):
        return
    rows = (~tempered).nonzero().squeeze(1)
    raise ValueError(
        f"{message}; rows {_preview(rows)} are not, e.g. row {int(rows[0])} = "
        f"{_preview(targets[rows[0]])} with mass {float(outside[rows[0]]):.3g} outside its "
        "largest class. Smoothed targets (label_form='smooth') and MixUp/CutMix targets "
        "belong to the forms 'smooth' and 'normalized'"
    )


def _preview(values: Tensor, limit: int = 6) -> str:
    flat = values.detach().reshape(-1)
    shown = ", ".join(f"{v:.4g}" for v in flat[:limit].tolist())
    return f"[{shown}{', ...' if flat.numel() > limit else ''}]"
