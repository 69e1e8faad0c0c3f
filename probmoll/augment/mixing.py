"""MixUp and CutMix on a batch, producing soft targets.

MixUp (Zhang et al., 2018) and CutMix (Yun et al., 2019) are the two mixing rows of
Table 1 of the paper (Sec. 4). Each image ``i`` is paired with a partner ``pi(i)`` from the
same batch (``pi`` a random permutation, as in Zhang et al.) and a weight
``lambda ~ Beta(alpha, alpha)``:

- MixUp: ``x_i <- lambda x_i + (1 - lambda) x_pi(i)``;
- CutMix: a box of area about ``(1 - lambda) H W`` of ``x_i`` is replaced by the same box
  of ``x_pi(i)``; the box is clipped at the image border and ``lambda`` is then reset to
  the fraction of pixels that still come from ``x_i``;

and in both cases the target becomes ``lambda y_i + (1 - lambda) y_pi(i)``, a point of the
simplex. With mollification the soft targets made here are what label smoothing smooths
afterwards (``probmoll.mollify`` accepts soft targets).

torchvision's ``v2.MixUp``/``v2.CutMix`` draw from the global generator and turn
``lambda`` into a Python float (a host synchronisation on accelerators), so this module has
its own small implementation: the random parts take a ``torch.Generator``, ``lambda`` and the
boxes stay tensors, and CutMix is a masked select, so nothing waits for the device.
By default one ``lambda`` serves the whole batch (the original algorithms and
torchvision); ``per_sample=True`` draws one per image.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from probmoll.augment.options import MIXINGS

__all__ = [
    "CutMix",
    "MixParams",
    "MixUp",
    "create_mixing",
    "cutmix",
    "list_mixings",
    "mixup",
    "sample_beta",
    "sample_cutmix_boxes",
    "sample_mix_params",
    "to_soft_targets",
]


def list_mixings() -> list[str]:
    """Names accepted by :func:`create_mixing` (``"none"`` means no mixing)."""
    return list(MIXINGS)


class MixParams(NamedTuple):
    """Random parameters of one MixUp/CutMix draw for a batch of ``B`` images.

    Attributes
    ----------
    weight : torch.Tensor
        ``(B,)`` float32 ``lambda`` in ``[0, 1]``, the weight of each image itself.
    partner : torch.Tensor
        ``(B,)`` int64 index of the image each one is mixed with (a permutation).
    """

    weight: torch.Tensor
    partner: torch.Tensor


def _check_alpha(alpha: float) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")


def _check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")


def _check_params(images: torch.Tensor, weight: torch.Tensor, partner: torch.Tensor) -> None:
    batch = images.shape[0]
    if weight.shape != (batch,) or partner.shape != (batch,):
        raise ValueError(
            f"weight and partner must have shape ({batch},) to match images "
            f"{tuple(images.shape)}, got {tuple(weight.shape)} and {tuple(partner.shape)}"
        )


def to_soft_targets(
    targets: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Integer labels ``(B,)`` to one-hot ``(B, K)``; soft targets ``(B, K)`` pass through.

    Soft targets are cast to ``dtype`` but not checked to lie on the simplex (that would
    synchronise with the device); labels out of ``[0, K)`` make ``scatter_`` fail.
    """
    _check_num_classes(num_classes)
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    if targets.ndim == 1:
        if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
            raise TypeError(f"(B,) targets must be integer class indices, got {targets.dtype}")
        one_hot = torch.zeros(targets.shape[0], num_classes, dtype=dtype, device=targets.device)
        return one_hot.scatter_(1, targets.long().unsqueeze(1), 1.0)
    if targets.ndim == 2:
        if not targets.is_floating_point():
            raise TypeError(f"(B, K) soft targets must be floating, got {targets.dtype}")
        if targets.shape[1] != num_classes:
            raise ValueError(
                f"soft targets have {targets.shape[1]} classes, expected num_classes={num_classes}"
            )
        return targets.to(dtype)
    raise ValueError(f"targets must have shape (B,) or (B, K), got {tuple(targets.shape)}")


def sample_beta(
    alpha: float,
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw from the symmetric ``Beta(alpha, alpha)`` with a ``torch.Generator``.

    ``G1 / (G1 + G2)`` with independent ``G1, G2 ~ Gamma(alpha, 1)`` from
    ``torch._standard_gamma`` (the sampler behind ``torch.distributions.Gamma``, which
    itself accepts no generator). Draws are made on the generator's device.
    """
    _check_alpha(alpha)
    draw_device = generator.device if generator is not None else torch.device(device or "cpu")
    concentration = torch.full((2, *shape), float(alpha), device=draw_device)
    gammas = torch._standard_gamma(concentration, generator=generator)
    total = gammas[0] + gammas[1]
    # For small alpha both gammas can underflow to 0 in float32; the mass then sits at the
    # ends of [0, 1], so fall back to the larger of the two rather than produce 0/0.
    weight = torch.where(total > 0, gammas[0] / total, (gammas[0] >= gammas[1]).float())
    return weight if device is None else weight.to(device, non_blocking=True)


def sample_mix_params(
    batch_size: int,
    *,
    alpha: float = 1.0,
    per_sample: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> MixParams:
    """Draw ``lambda ~ Beta(alpha, alpha)`` (one, or one per image) and a random pairing.

    Parameters
    ----------
    batch_size : int
        Number of images ``B``.
    alpha : float, default 1.0
        Concentration of the symmetric Beta (1.0: ``lambda`` uniform on ``[0, 1]``).
    per_sample : bool, default False
        One ``lambda`` per image instead of one for the whole batch.
    generator : torch.Generator, optional
        Source of randomness; draws happen on its device and move to ``device``.
    device : torch.device or str, optional
        Device of the returned tensors.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
        raise ValueError(f"batch_size must be a non-negative int, got {batch_size!r}")
    draw_device = generator.device if generator is not None else torch.device(device or "cpu")
    weight = sample_beta(alpha, (batch_size if per_sample else 1,), generator, draw_device)
    weight = weight.expand(batch_size).contiguous()
    partner = torch.randperm(batch_size, generator=generator, device=draw_device)
    params = MixParams(weight=weight, partner=partner)
    if device is not None and torch.device(device) != draw_device:
        params = MixParams(*(t.to(device, non_blocking=True) for t in params))
    return params


def _mix_targets(
    targets: torch.Tensor, weight: torch.Tensor, partner: torch.Tensor
) -> torch.Tensor:
    weight = weight.to(targets.dtype).unsqueeze(1)
    return weight * targets + (1.0 - weight) * targets[partner]


def mixup(
    images: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, partner: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp (Zhang et al., 2018): convex combinations of images and of soft targets.

    Parameters
    ----------
    images : torch.Tensor
        ``(B, C, H, W)``. Floating images are mixed in their dtype; integer ones in
        float32, then rounded back (the targets keep the exact ``lambda``).
    targets : torch.Tensor
        ``(B, K)`` soft targets (see :func:`to_soft_targets`).
    weight, partner : torch.Tensor
        ``(B,)`` ``lambda`` and partner indices, e.g. from :func:`sample_mix_params`.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Mixed images (shape, dtype and device of ``images``) and targets
        ``lambda y_i + (1 - lambda) y_partner``.
    """
    _check_images(images)
    _check_params(images, weight, partner)
    compute_dtype = images.dtype if images.is_floating_point() else torch.float32
    image_weight = weight.to(compute_dtype).view(-1, 1, 1, 1)
    mixed = image_weight * images.to(compute_dtype) + (1.0 - image_weight) * images[partner].to(
        compute_dtype
    )
    if not images.is_floating_point():
        mixed = mixed.round_()
    return mixed.to(images.dtype), _mix_targets(targets, weight, partner)


def sample_cutmix_boxes(
    weight: torch.Tensor,
    height: int,
    width: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Boxes of CutMix (Yun et al., 2019) for sampled weights ``lambda``.

    The box centre is uniform over the pixels and the half-sides are
    ``floor(sqrt(1 - lambda) H / 2)`` and ``floor(sqrt(1 - lambda) W / 2)``, so before
    clipping at the border the box covers about ``(1 - lambda) H W`` pixels.

    Parameters
    ----------
    weight : torch.Tensor
        ``(B,)`` sampled ``lambda``.
    height, width : int
        Image size.
    generator : torch.Generator, optional
        Draws happen on its device and move to ``weight.device``.

    Returns
    -------
    torch.Tensor
        ``(B, 4)`` int64 ``(top, left, bottom, right)``, bottom/right exclusive.
    """
    if weight.ndim != 1:
        raise ValueError(f"weight must have shape (B,), got {tuple(weight.shape)}")
    draw_device = generator.device if generator is not None else weight.device
    batch = weight.shape[0]
    centre_y = torch.randint(0, height, (batch,), generator=generator, device=draw_device)
    centre_x = torch.randint(0, width, (batch,), generator=generator, device=draw_device)
    centre_y = centre_y.to(weight.device, non_blocking=True)
    centre_x = centre_x.to(weight.device, non_blocking=True)
    cut_ratio = torch.sqrt((1.0 - weight.float()).clamp_(min=0.0))
    half_height = torch.floor(0.5 * cut_ratio * height).long()
    half_width = torch.floor(0.5 * cut_ratio * width).long()
    top = (centre_y - half_height).clamp_(min=0)
    bottom = (centre_y + half_height).clamp_(max=height)
    left = (centre_x - half_width).clamp_(min=0)
    right = (centre_x + half_width).clamp_(max=width)
    return torch.stack([top, left, bottom, right], dim=1)


def cutmix(
    images: torch.Tensor, targets: torch.Tensor, boxes: torch.Tensor, partner: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix (Yun et al., 2019): paste each partner's box, weight targets by pixel share.

    Parameters
    ----------
    images : torch.Tensor
        ``(B, C, H, W)`` of any dtype.
    targets : torch.Tensor
        ``(B, K)`` soft targets.
    boxes : torch.Tensor
        ``(B, 4)`` ``(top, left, bottom, right)`` from :func:`sample_cutmix_boxes`.
    partner : torch.Tensor
        ``(B,)`` partner indices.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Images with ``images[partner]`` inside each box, and targets
        ``lambda y_i + (1 - lambda) y_partner`` with ``lambda = 1 - box area / (H W)``.
    """
    _check_images(images)
    batch, _, height, width = images.shape
    if boxes.shape != (batch, 4):
        raise ValueError(
            f"boxes must have shape ({batch}, 4) to match images {tuple(images.shape)}, "
            f"got {tuple(boxes.shape)}"
        )
    top, left, bottom, right = (side.view(-1, 1, 1) for side in boxes.unbind(1))
    rows = torch.arange(height, device=images.device).view(1, -1, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, -1)
    inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
    area = ((bottom - top) * (right - left)).view(-1)
    weight = 1.0 - area.float() / float(height * width)
    _check_params(images, weight, partner)
    mixed = torch.where(inside.unsqueeze(1), images[partner], images)
    return mixed, _mix_targets(targets, weight, partner)


class _BatchMixing:
    """Shared plumbing of :class:`MixUp` and :class:`CutMix`: validation, targets, params."""

    def __init__(self, num_classes: int, alpha: float = 1.0, per_sample: bool = False) -> None:
        _check_num_classes(num_classes)
        _check_alpha(alpha)
        self.num_classes = num_classes
        self.alpha = float(alpha)
        self.per_sample = bool(per_sample)

    def _prepare(
        self, images: torch.Tensor, targets: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, MixParams]:
        _check_images(images)
        if not isinstance(targets, torch.Tensor) or targets.shape[:1] != images.shape[:1]:
            shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets)
            raise ValueError(
                f"targets must have B={images.shape[0]} rows like images {tuple(images.shape)}, "
                f"got {shape}"
            )
        dtype = targets.dtype if targets.is_floating_point() else torch.float32
        soft_targets = to_soft_targets(targets, self.num_classes, dtype)
        params = sample_mix_params(
            images.shape[0],
            alpha=self.alpha,
            per_sample=self.per_sample,
            generator=generator,
            device=images.device,
        )
        return soft_targets, params

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, alpha={self.alpha}, "
            f"per_sample={self.per_sample})"
        )


class MixUp(_BatchMixing):
    """Batch MixUp producing soft targets (Zhang et al., 2018; Table 1 of the paper).

    Parameters
    ----------
    num_classes : int
        Number of classes ``K`` of the soft targets.
    alpha : float, default 1.0
        ``lambda ~ Beta(alpha, alpha)``; 1.0 (uniform) is torchvision's default.
    per_sample : bool, default False
        One ``lambda`` per image instead of one per batch.

    Notes
    -----
    Call with ``(images (B, C, H, W), targets (B,) or (B, K), generator=None)``; returns
    the mixed images and ``(B, K)`` soft targets.
    """

    def __call__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        soft_targets, params = self._prepare(images, targets, generator)
        return mixup(images, soft_targets, params.weight, params.partner)


class CutMix(_BatchMixing):
    """Batch CutMix producing soft targets (Yun et al., 2019; Table 1 of the paper).

    Parameters
    ----------
    num_classes : int
        Number of classes ``K`` of the soft targets.
    alpha : float, default 1.0
        ``lambda ~ Beta(alpha, alpha)`` before the border correction; 1.0 is the
        default of Yun et al. and torchvision.
    per_sample : bool, default False
        One ``lambda`` (hence one box size) per image instead of one per batch; box
        positions are always drawn per image.

    Notes
    -----
    Call with ``(images (B, C, H, W), targets (B,) or (B, K), generator=None)``; returns
    the mixed images and ``(B, K)`` soft targets weighted by the actual pixel shares.
    """

    def __call__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        soft_targets, params = self._prepare(images, targets, generator)
        boxes = sample_cutmix_boxes(params.weight, images.shape[-2], images.shape[-1], generator)
        return cutmix(images, soft_targets, boxes, params.partner)


def create_mixing(
    name: str, num_classes: int, *, alpha: float = 1.0, per_sample: bool = False
) -> MixUp | CutMix | None:
    """The mixing called ``name`` (one of :func:`list_mixings`); ``None`` for ``"none"``."""
    if name not in MIXINGS:
        raise ValueError(f"unknown mixing {name!r}; valid choices: {list_mixings()}")
    if name == "none":
        _check_num_classes(num_classes)
        _check_alpha(alpha)
        return None
    mixing_class = MixUp if name == "mixup" else CutMix
    return mixing_class(num_classes, alpha=alpha, per_sample=per_sample)
