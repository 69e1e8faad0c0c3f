"""Gaussian noising on the variance-preserving cosine schedule (Sec. 3.2, Eq. 4)."""

from __future__ import annotations

import math

import torch

from probmoll.mollify._checks import as_level, check_image, parameter_dtype

__all__ = ["noise", "noise_coefficients"]


def noise_coefficients(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise scales ``(alpha_t, sigma_t) = (cos(t pi/2), sin(t pi/2))`` of Eq. 4.

    ``alpha_t^2 + sigma_t^2 = 1``: standardised images keep unit variance.
    """
    angle = t * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)


def noise(
    x: torch.Tensor,
    t: float | torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    validate: bool = True,
) -> torch.Tensor:
    """Drown standardised images in Gaussian noise (Eq. 4).

    .. math:: x_t = \\cos(t\\pi/2)\\, x + \\sin(t\\pi/2)\\, \\epsilon,
       \\qquad \\epsilon \\sim \\mathcal{N}(0, I)

    The schedule is variance preserving for standardised images (zero mean, unit
    variance per channel; docs/paper-readings.md, reading 5). ``t = 0`` returns the
    input exactly; ``t = 1`` is pure noise.

    Parameters
    ----------
    x : Tensor
        Floating images of shape ``(..., C, H, W)``.
    t : float or Tensor
        Temperature(s) in ``[0, 1]``: a number or a tensor of shape ``x.shape[:-3]``.
    generator : torch.Generator, optional
        Source of ``epsilon``; must live on ``x``'s device.
    validate : bool
        Check that tensor ``t`` lies in ``[0, 1]`` (synchronises an accelerator
        with the host; pass ``False`` for temperatures you drew yourself).

    Returns
    -------
    Tensor
        Noised images, same shape, dtype and device as ``x``.
    """
    check_image(x, "noise")
    t = as_level(
        t, "t", x.shape[:-3], device=x.device, dtype=parameter_dtype(x.dtype), validate=validate
    )
    alpha, sigma = noise_coefficients(t.reshape(*t.shape, 1, 1, 1))
    epsilon = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    # alpha = 1 and sigma = 0 exactly at t = 0, so clean images pass through bit for bit.
    return torch.addcmul(x * alpha.to(x.dtype), epsilon, sigma.to(x.dtype))
