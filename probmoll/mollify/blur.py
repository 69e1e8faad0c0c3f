"""Heat-dissipation blur in the DCT basis (Sec. 3.2, Eqs. 5-6).

``x_t = V exp(-tau(t) Lambda) V^T x`` with ``V^T`` the orthonormal 2-D DCT,
``Lambda_wh = pi^2 (w^2/W^2 + h^2/H^2)`` and ``tau = sigma_B^2 / 2``: running the
heat equation for time ``tau`` (reflecting boundaries) is a Gaussian blur of
standard deviation ``sigma_B`` pixels. The scale follows the logarithmic
schedule ``sigma_B(t) = exp((1 - t) log sigma_min + t log sigma_max)``.

Because ``exp(-tau Lambda)`` factorises over the two axes,
``exp(-tau Lambda_wh) = exp(-tau pi^2 h^2/H^2) exp(-tau pi^2 w^2/W^2)``, the blur
of one image is ``B_H x B_W`` with the symmetric matrices
``B_n = V_n diag(exp(-tau pi^2 k^2/n^2)) V_n^T``. Building ``B_H``, ``B_W`` per
image and applying them takes two matrix products per image instead of the
four of a DCT round trip, and never materialises an ``(H, W)`` filter.
"""

from __future__ import annotations

import math

import torch

from probmoll.mollify._checks import (
    as_level,
    as_temperature,
    check_image,
    check_positive,
    parameter_dtype,
)
from probmoll.mollify.dct import dct_matrix, laplacian_eigenvalues

__all__ = ["blur", "heat_blur", "sigma_blur"]


def sigma_blur(
    t: float | torch.Tensor,
    sigma_min: float,
    sigma_max: float,
    *,
    validate: bool = True,
) -> torch.Tensor:
    """Blur scale of the logarithmic schedule (Eq. 6).

    .. math:: \\sigma_B(t) = \\exp\\big((1 - t)\\log\\sigma_{\\min} + t \\log\\sigma_{\\max}\\big)

    Parameters
    ----------
    t : float or Tensor
        Temperature(s) in ``[0, 1]``.
    sigma_min, sigma_max : float
        Scales at ``t = 0`` and ``t = 1`` in pixels, ``0 < sigma_min <= sigma_max``.
        The paper uses ``sigma_min = 0.3`` and ``sigma_max = W``, the image width
        (:func:`blur` fills that in from the image).
    validate : bool
        Check that tensor ``t`` lies in ``[0, 1]`` (synchronises an accelerator).

    Returns
    -------
    Tensor
        ``sigma_B(t)``, same shape as ``t`` (0-d for a Python number), floating.
    """
    sigma_min, sigma_max = _check_scales(sigma_min, sigma_max)
    t = as_temperature(t, validate)
    log_min, log_max = math.log(sigma_min), math.log(sigma_max)
    return torch.exp(log_min + t * (log_max - log_min))


def heat_blur(
    x: torch.Tensor, sigma: float | torch.Tensor, *, validate: bool = True
) -> torch.Tensor:
    """Gaussian blur of scale ``sigma`` by heat dissipation in the DCT basis (Eq. 5).

    .. math:: x_\\sigma = V \\exp(-\\tfrac{\\sigma^2}{2} \\Lambda) V^T x,
       \\qquad \\Lambda_{wh} = \\pi^2 (w^2 / W^2 + h^2 / H^2)

    The DCT basis imposes reflecting (Neumann) boundaries; the image mean (the
    DC coefficient) is preserved exactly in exact arithmetic.

    Parameters
    ----------
    x : Tensor
        Floating images of shape ``(..., C, H, W)``; ``H`` may differ from ``W``.
    sigma : float or Tensor
        Blur scale(s) in pixels, ``>= 0``: a number, a 0-d tensor or a tensor of
        shape ``x.shape[:-3]`` (one scale per image). ``sigma = 0`` returns the
        image unchanged, bit for bit.
    validate : bool
        Check that tensor ``sigma`` is finite and ``>= 0`` (synchronises an
        accelerator with the host; pass ``False`` for scales you computed).

    Returns
    -------
    Tensor
        Blurred images, same shape, dtype and device as ``x``. Half-precision
        inputs are transformed in float32 and autocast is disabled inside, so
        the result does not depend on an enclosing ``torch.autocast`` region.
    """
    check_image(x, "heat_blur")
    batch_shape = x.shape[:-3]
    compute_dtype = parameter_dtype(x.dtype)
    sigma = as_level(
        sigma,
        "sigma",
        batch_shape,
        device=x.device,
        dtype=compute_dtype,
        validate=validate,
        upper=None,
    )
    if torch.is_autocast_enabled(x.device.type):
        with torch.autocast(x.device.type, enabled=False):
            return _heat_blur(x, sigma, compute_dtype)
    return _heat_blur(x, sigma, compute_dtype)


def blur(
    x: torch.Tensor,
    t: float | torch.Tensor,
    sigma_min: float = 0.3,
    sigma_max: float | None = None,
    *,
    validate: bool = True,
) -> torch.Tensor:
    """Blur images at temperature ``t`` on the logarithmic schedule (Eqs. 5-6).

    Equivalent to ``heat_blur(x, sigma_blur(t, sigma_min, sigma_max))``. Note that
    ``t = 0`` is *not* the identity: it blurs with ``sigma_min`` (0.3 pixels by
    default, a barely visible softening); use :func:`heat_blur` with
    ``sigma = 0`` for an exact identity.

    Parameters
    ----------
    x : Tensor
        Floating images of shape ``(..., C, H, W)``.
    t : float or Tensor
        Temperature(s) in ``[0, 1]``: a number or a tensor of shape ``x.shape[:-3]``.
    sigma_min : float
        Blur scale at ``t = 0`` in pixels (paper: 0.3).
    sigma_max : float or None
        Blur scale at ``t = 1``; ``None`` means the image width ``W`` (paper).
    validate : bool
        Check the values of tensor ``t`` (synchronises an accelerator).

    Returns
    -------
    Tensor
        Blurred images, same shape, dtype and device as ``x``.
    """
    check_image(x, "blur")
    compute_dtype = parameter_dtype(x.dtype)
    t = as_level(t, "t", x.shape[:-3], device=x.device, dtype=compute_dtype, validate=validate)
    if sigma_max is None:
        sigma_max = x.shape[-1]
    sigma = sigma_blur(t, sigma_min, sigma_max, validate=False)
    return heat_blur(x, sigma, validate=False)


def _heat_blur(x: torch.Tensor, sigma: torch.Tensor, compute_dtype: torch.dtype) -> torch.Tensor:
    *batch_shape, channels, height, width = x.shape
    images = x.to(compute_dtype)
    tau = 0.5 * sigma.square()
    if sigma.ndim == 0:
        # One scale for all images: a single pair of shared matrices, applied as GEMMs.
        rows = _axis_blur_matrix(height, tau, x.device, compute_dtype)
        cols = rows if width == height else _axis_blur_matrix(width, tau, x.device, compute_dtype)
        blurred = rows @ images @ cols
    else:
        images = images.reshape(-1, channels, height, width)
        count = images.shape[0]
        tau = tau.reshape(-1, 1)
        rows = _axis_blur_matrix(height, tau, x.device, compute_dtype)
        if width == height:
            cols = rows  # square images: the same symmetric matrix blurs both axes
        else:
            cols = _axis_blur_matrix(width, tau, x.device, compute_dtype)
        # Batched products without broadcasting: a broadcast (N, 1, n, n) operand would be
        # expanded and copied to (N, C, n, n). All rows of one image share `cols`, and each
        # channel is a strided (N, H, W) view that bmm reads in place.
        across_width = torch.bmm(images.reshape(count, channels * height, width), cols)
        across_width = across_width.reshape(count, channels, height, width)
        blurred = torch.stack(
            [torch.bmm(rows, across_width[:, channel]) for channel in range(channels)], dim=1
        ).reshape(x.shape)
        images = images.reshape(x.shape)
        sigma = sigma.reshape(*batch_shape, 1, 1, 1)
    # V diag(1) V^T equals the identity only up to rounding: keep sigma = 0 exact.
    blurred = torch.where(sigma == 0, images, blurred)
    return blurred.to(x.dtype)


def _axis_blur_matrix(
    n: int, tau: torch.Tensor, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``V diag(exp(-tau (pi k/n)^2)) V^T`` for each ``tau`` (shape ``tau.shape[:-1] + (n, n)``).

    The result is symmetric, so it multiplies from either side without a transpose.
    """
    basis = dct_matrix(n, device, dtype)  # V^T: rows are frequencies
    decay = torch.exp(-tau * laplacian_eigenvalues(n, device, dtype))
    return (basis.mT * decay.unsqueeze(-2)) @ basis


def _check_scales(sigma_min: float, sigma_max: float) -> tuple[float, float]:
    sigma_min = check_positive("sigma_min", sigma_min)
    sigma_max = check_positive("sigma_max", sigma_max)
    if sigma_max < sigma_min:
        raise ValueError(
            f"sigma_max must be >= sigma_min, got sigma_min={sigma_min!r}, sigma_max={sigma_max!r}"
        )
    return sigma_min, sigma_max
