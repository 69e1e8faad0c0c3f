"""Label mollification: tempering (Eq. 7) and smoothing (Eq. 8) by a level ``gamma``.

:class:`LabelForm` (defined, torch-free, in :mod:`probmoll.mollify.options`) names the
three ways a mollified image's target may be formed: smoothed, tempered, or left as it is.

Targets are integer class indices ``(B,)``, integer or boolean one-hot rows
``(B, C)`` (``F.one_hot(y, C)``), or floating soft targets ``(B, C)`` on the
probability simplex (one-hot, or the output of MixUp/CutMix). Soft targets go
through the same formulas with ``y`` in place of ``y^onehot``, so label
mollification composes with any augmentation that produces soft targets.
"""

from __future__ import annotations

import torch

from probmoll.mollify._checks import (
    ASYNC,
    Validation,
    as_level,
    assert_async,
    check_num_classes,
    check_validation,
    preview,
)
from probmoll.mollify.options import LabelForm

__all__ = ["LabelForm", "as_soft_targets", "label_smooth", "label_temper", "simplex_tolerance"]


def simplex_tolerance(dtype: torch.dtype) -> float:
    """Largest accepted ``|sum(y) - 1|`` for soft targets of ``dtype``.

    Rounding each entry of a vector on the simplex moves its sum by at most
    ``eps / 2`` (the entries sum to one); a few more ulps cover the arithmetic
    that produced it (MixUp's convex combination, a softmax). The floor of 1e-6
    lets float32 targets cast to float64 through.
    """
    return max(4 * torch.finfo(dtype).eps, 1e-6)


def as_soft_targets(
    y: torch.Tensor,
    num_classes: int | None = None,
    *,
    dtype: torch.dtype | None = None,
    validate: Validation = True,
) -> torch.Tensor:
    """Turn class indices, one-hot rows or soft targets into soft targets ``(B, C)``.

    These are the ``y^onehot`` (or its soft replacement ``y``) of Eqs. 7-8.

    Parameters
    ----------
    y : Tensor
        One of: integer class indices of shape ``(B,)``; integer or boolean
        one-hot rows of shape ``(B, C)`` (e.g. ``F.one_hot(indices, C)``); or
        floating soft targets of shape ``(B, C)`` with non-negative rows summing
        to one.
    num_classes : int, optional
        Number of classes ``C``. Required for class indices; checked against
        ``y.shape[1]`` for rows.
    dtype : torch.dtype, optional
        Floating dtype of the result; default: ``y``'s dtype for soft targets,
        ``torch.get_default_dtype()`` for indices and integer/boolean rows.
    validate : bool or "async"
        Check values: indices in ``[0, C)``, integer/boolean rows one-hot, soft
        targets non-negative and summing to one within
        :func:`simplex_tolerance`. ``True`` reads device memory (synchronises
        an accelerator with the host) and raises ``ValueError`` quoting the bad
        values; ``"async"`` checks on the device without a synchronisation
        (``torch._assert_async``: ``RuntimeError`` on the CPU, a device-side
        assertion on CUDA); ``False`` skips the check.

    Returns
    -------
    Tensor
        Soft targets ``(B, C)``; one-hot rows for indices.
    """
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(y).__name__}")
    if y.is_complex():
        raise TypeError(f"targets must be real, got dtype {y.dtype}")
    check_num_classes(num_classes)
    validate = check_validation(validate)
    if dtype is not None and not dtype.is_floating_point:
        raise TypeError(f"dtype of soft targets must be floating, got {dtype}")

    if not y.is_floating_point() and y.ndim == 2:
        return _onehot_rows(y, num_classes, dtype or torch.get_default_dtype(), validate)
    if y.dtype == torch.bool:
        raise TypeError(
            f"boolean targets must be one-hot rows of shape (B, C), got shape {tuple(y.shape)} "
            "(pass class indices as an integer tensor of shape (B,))"
        )
    if not y.is_floating_point():
        if y.ndim != 1:
            raise ValueError(
                "integer targets must be class indices of shape (B,) or one-hot rows of shape "
                f"(B, C), got shape {tuple(y.shape)}"
            )
        if num_classes is None:
            raise ValueError(
                "num_classes is required when targets are integer class indices "
                f"(got indices of shape {tuple(y.shape)})"
            )
        if validate:
            inside = (y >= 0) & (y < num_classes)
            message = f"class indices must lie in [0, {num_classes})"
            if validate == ASYNC:
                assert_async(inside, message)
            elif not bool(inside.all()):
                raise ValueError(f"{message}, got {preview(y[~inside])}")
        # Comparison with arange rather than F.one_hot: no hidden range check that
        # would synchronise an accelerator with the host.
        classes = torch.arange(num_classes, device=y.device)
        return (y.unsqueeze(-1) == classes).to(dtype or torch.get_default_dtype())

    if y.ndim != 2:
        raise ValueError(
            f"soft targets must have shape (B, C), got shape {tuple(y.shape)}; "
            "pass class indices as an integer tensor of shape (B,)"
        )
    _check_classes(y, num_classes)
    if validate:
        _check_simplex(y, validate)
    return y if dtype is None else y.to(dtype)


def label_smooth(
    y: torch.Tensor,
    gamma: float | torch.Tensor,
    num_classes: int | None = None,
    *,
    validate: Validation = True,
) -> torch.Tensor:
    """Label smoothing of level ``gamma`` (Eq. 8).

    .. math:: y^{LS} = (1 - \\gamma)\\, y^{onehot} + \\frac{\\gamma}{C} \\mathbf{1}

    Rows stay on the simplex; ``gamma = 0`` returns the (one-hot) targets,
    ``gamma = 1`` the uniform distribution. The true-class probability is
    ``1 - gamma (C - 1) / C``.

    Parameters
    ----------
    y : Tensor
        Class indices ``(B,)`` or soft targets ``(B, C)`` (used in place of
        ``y^onehot``), see :func:`as_soft_targets`.
    gamma : float or Tensor
        Smoothing level(s) in ``[0, 1]``: a number or a tensor of shape ``(B,)``.
    num_classes : int, optional
        Number of classes ``C``; required for class indices.
    validate : bool or "async"
        Check values of ``y`` and tensor ``gamma``: ``True`` on the host
        (synchronises an accelerator), ``"async"`` on the device, ``False`` not
        at all (see :func:`as_soft_targets`).

    Returns
    -------
    Tensor
        Soft targets ``(B, C)``; dtype of soft ``y``, else of a floating
        ``gamma`` tensor, else the default dtype.
    """
    targets, gamma = _targets_and_level(y, gamma, num_classes, validate)
    return torch.lerp(targets, torch.full_like(targets, 1.0 / targets.shape[-1]), gamma)


def label_temper(
    y: torch.Tensor,
    gamma: float | torch.Tensor,
    num_classes: int | None = None,
    *,
    validate: Validation = True,
) -> torch.Tensor:
    """Label tempering of level ``gamma`` (Eq. 7): ``y^temp = (1 - gamma) y^onehot``.

    Rows sum to ``1 - gamma``: with the cross-entropy this is the tempered
    likelihood ``Cat(y | f)^(1 - gamma)`` (Eq. 9). Soft targets are scaled the
    same way.

    Parameters and return value as in :func:`label_smooth`.
    """
    targets, gamma = _targets_and_level(y, gamma, num_classes, validate)
    return targets * (1 - gamma)


def _targets_and_level(
    y: torch.Tensor, gamma: float | torch.Tensor, num_classes: int | None, validate: Validation
) -> tuple[torch.Tensor, torch.Tensor]:
    floating_gamma = isinstance(gamma, torch.Tensor) and gamma.is_floating_point()
    index_dtype = gamma.dtype if floating_gamma else None
    targets = as_soft_targets(
        y,
        num_classes,
        dtype=None if isinstance(y, torch.Tensor) and y.is_floating_point() else index_dtype,
        validate=validate,
    )
    level = as_level(
        gamma,
        "gamma",
        targets.shape[:1],
        device=targets.device,
        dtype=targets.dtype,
        validate=validate,
    )
    return targets, level.unsqueeze(-1) if level.ndim == 1 else level


def _check_classes(y: torch.Tensor, num_classes: int | None) -> None:
    if num_classes is not None and y.shape[1] != num_classes:
        raise ValueError(f"target rows have {y.shape[1]} classes but num_classes={num_classes}")


def _onehot_rows(
    y: torch.Tensor, num_classes: int | None, dtype: torch.dtype, validate: Validation
) -> torch.Tensor:
    """Integer or boolean rows ``(B, C)`` that must be one-hot, as floating rows."""
    _check_classes(y, num_classes)
    if validate:
        # One-hot: every entry 0 or 1 and exactly one 1 per row. Summing an int64
        # copy cannot overflow (entries of uint8 rows could wrap around).
        binary = (y == 0) | (y == 1) if y.dtype != torch.bool else torch.ones_like(y)
        ones = y.to(torch.int64).sum(dim=-1)
        message = "integer/boolean targets of shape (B, C) must be one-hot rows (one 1, rest 0)"
        if validate == ASYNC:
            assert_async(binary, message)
            assert_async(ones == 1, message)
        else:
            wrong = ~binary.all(dim=-1) | (ones != 1)
            if bool(wrong.any()):
                rows = wrong.nonzero().squeeze(-1)
                raise ValueError(
                    f"{message}; rows {preview(rows)} are not, e.g. row {int(rows[0])} = "
                    f"{preview(y[rows[0]])}"
                )
    return y.to(dtype)


def _check_simplex(y: torch.Tensor, validate: Validation) -> None:
    tolerance = simplex_tolerance(y.dtype)
    # Sum in float64 so that only the targets' own rounding counts (MPS has no float64).
    total = y.to(torch.float32 if y.device.type == "mps" else torch.float64).sum(dim=-1)
    on_simplex = (total - 1).abs() <= tolerance  # False for NaN
    if validate == ASYNC:
        assert_async(~(y < 0), "soft targets must be non-negative")  # NaN: the sum check
        assert_async(
            on_simplex, f"soft target rows must sum to 1 (tolerance {tolerance:.3g} for {y.dtype})"
        )
        return
    negative = y < 0
    if bool(negative.any()):
        raise ValueError(f"soft targets must be non-negative, got entries {preview(y[negative])}")
    if not bool(on_simplex.all()):
        raise ValueError(
            f"soft target rows must sum to 1 (tolerance {tolerance:.3g} for {y.dtype}), "
            f"got row sums {preview(total[~on_simplex])}"
        )
