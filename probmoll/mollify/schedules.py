"""Label schedules ``gamma_t``: how much label mollification a temperature ``t`` buys (Sec. 3.3).

- :func:`gamma_noise` (Eq. 12): ``(1 / (1 + SNR(t)))^k`` for noising, which in
  closed form is ``sin(t pi/2)^(2k) = sigma_t^(2k)``.
- :func:`gamma_blur` (Eq. 13, right-hand side): ``t^k`` for blurring, what the
  paper trains with.
- :func:`gamma_blur_png` and :func:`blur_information_curve` (Eq. 13, left-hand
  side): the fraction of PNG-compressed information that blurring removes, an
  offline analysis tool (paper Fig. 3) that runs on the host.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch

from probmoll.mollify._checks import as_level, as_temperature, check_positive, preview
from probmoll.mollify.blur import blur

__all__ = [
    "BlurInformationCurve",
    "blur_information_curve",
    "gamma_blur",
    "gamma_blur_png",
    "gamma_noise",
    "png_sizes",
]


def gamma_noise(t: float | torch.Tensor, k: float = 1.0, *, validate: bool = True) -> torch.Tensor:
    """Label schedule for noising (Eq. 12).

    .. math:: \\gamma^{noise}_t = \\Big(\\frac{1}{1 + \\alpha_t^2 / \\sigma_t^2}\\Big)^k
       = \\sin(t\\pi/2)^{2k} = \\sigma_t^{2k}

    With ``alpha_t = cos(t pi/2)`` and ``sigma_t = sin(t pi/2)`` (Eq. 4),
    ``1 / (1 + SNR) = sigma_t^2`` because ``alpha_t^2 + sigma_t^2 = 1``; the
    closed form avoids the ``0/0`` of the SNR at ``t = 0``. Half the label
    remains at ``SNR = 1`` (``t = 1/2``) when ``k = 1``.

    Parameters
    ----------
    t : float or Tensor
        Temperature(s) in ``[0, 1]``, any shape.
    k : float
        Slope, ``> 0``: ``k > 1`` keeps labels sharper for longer.
    validate : bool
        Check the values of tensor ``t`` (synchronises an accelerator).

    Returns
    -------
    Tensor
        ``gamma`` in ``[0, 1]``, same shape as ``t`` (0-d for a number).
    """
    k = check_positive("k", k)
    t = as_temperature(t, validate)
    return torch.sin(t * (math.pi / 2)).pow(2 * k)


def gamma_blur(t: float | torch.Tensor, k: float = 1.0, *, validate: bool = True) -> torch.Tensor:
    """Label schedule for blurring, ``gamma = t^k`` (Eq. 13, the linear approximation).

    The logarithmic blur schedule (Eq. 6) removes image information roughly
    linearly in ``t`` (paper Fig. 3; measure it with :func:`blur_information_curve`),
    so the label keeps the fraction ``1 - t^k`` of its confidence.

    Parameters
    ----------
    t : float or Tensor
        Temperature(s) in ``[0, 1]``, any shape.
    k : float
        Slope, ``> 0``: faster (``k < 1``) or slower (``k > 1``) label decay.
    validate : bool
        Check the values of tensor ``t`` (synchronises an accelerator).

    Returns
    -------
    Tensor
        ``gamma`` in ``[0, 1]``, same shape as ``t`` (0-d for a number).
    """
    k = check_positive("k", k)
    return as_temperature(t, validate).pow(k)


def png_sizes(images: torch.Tensor, compression_level: int = 6) -> torch.Tensor:
    """Sizes in bytes of the PNG encodings of ``uint8`` images ``(B, C, H, W)``, ``C`` in {1, 3}.

    Uses ``torchvision.io.encode_png`` like the paper (footnote 1). Runs on the
    host: images on an accelerator are copied back first.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        kind = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise TypeError(f"png_sizes: expected a uint8 image tensor, got {kind}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            "png_sizes: expected shape (B, C, H, W) with C in {1, 3} (PNG grey or RGB), "
            f"got shape {tuple(images.shape)}"
        )
    if not (isinstance(compression_level, int) and 0 <= compression_level <= 9):
        raise ValueError(
            f"compression_level must be an integer in [0, 9], got {compression_level!r}"
        )
    from torchvision.io import encode_png

    images = images.cpu()
    with warnings.catch_warnings():
        # torchvision >= 0.29 marks its image codecs deprecated; the paper's
        # measurements were made with this encoder, so it stays the reference.
        warnings.simplefilter("ignore", DeprecationWarning)
        sizes = [encode_png(image, compression_level).numel() for image in images]
    return torch.tensor(sizes, dtype=torch.int64)


def gamma_blur_png(
    images: torch.Tensor,
    t: float | torch.Tensor,
    k: float = 1.0,
    sigma_min: float = 0.3,
    sigma_max: float | None = None,
    *,
    compression_level: int = 6,
) -> torch.Tensor:
    """Information-based label schedule for blurring (Eq. 13, NOTES erratum 1).

    .. math:: \\gamma^{blur}_t = \\Big(1 - \\frac{\\mathrm{size}(x_t\\text{.png})}
       {\\mathrm{size}(x_0\\text{.png})}\\Big)^k, \\text{ clamped to } [0, 1]

    Eq. 13 as printed, ``(size(x_t.png) / size(x_0.png))^k``, *decreases* as the
    blur grows, while the text says it is ``≈ t^k`` and the label must lose
    confidence as blur removes information. The consistent reading, used here,
    is the fraction of the compressed information that the blur removed: 0 for
    an unblurred image, close to 1 for a fully blurred (flat) one; the PNG
    header keeps it slightly below 1. At ``t = 0`` the ``sigma_min`` blur may
    make the PNG a little *larger*, hence the clamp.

    This is an offline analysis tool: every image is encoded on the host, one
    at a time, so calling it synchronises an accelerator with the host. For
    training use :func:`gamma_blur`, its linear approximation.

    Parameters
    ----------
    images : Tensor
        Clean images ``(B, C, H, W)``, ``C`` in {1, 3}: ``uint8`` in ``[0, 255]``
        or floating in ``[0, 1]`` (not standardised; they are quantised to 8 bits).
    t : float or Tensor
        Temperature(s) in ``[0, 1]``: a number or a tensor of shape ``(B,)``.
    k : float
        Slope, ``> 0``.
    sigma_min, sigma_max : float
        Blur schedule (Eq. 6); ``sigma_max=None`` means the image width.
    compression_level : int
        zlib level of the PNG encoder, 0-9.

    Returns
    -------
    Tensor
        ``gamma`` of shape ``(B,)``, float32 on the host.
    """
    k = check_positive("k", k)
    clean = _as_uint8_images(images)
    t = as_level(
        t, "t", clean.shape[:1], device=torch.device("cpu"), dtype=torch.float32, validate=True
    )
    ratio = _size_ratio(
        clean, t, sigma_min, sigma_max, png_sizes(clean, compression_level), compression_level
    )
    return (1 - ratio).clamp(0, 1).pow(k)


class BlurInformationCurve(NamedTuple):
    """PNG size of blurred images relative to the clean ones, on a grid of ``t``.

    Attributes
    ----------
    t : Tensor
        Temperatures ``(T,)``.
    size_ratio : Tensor
        ``size(x_t.png) / size(x_0.png)`` per temperature and image, ``(T, N)``.
    """

    t: torch.Tensor
    size_ratio: torch.Tensor

    def gamma(self, k: float = 1.0) -> torch.Tensor:
        """Mean over images of the information-based ``gamma`` (Eq. 13, erratum 1), ``(T,)``."""
        k = check_positive("k", k)
        return (1 - self.size_ratio).clamp(0, 1).pow(k).mean(dim=1)


def blur_information_curve(
    images: torch.Tensor,
    t: torch.Tensor | None = None,
    sigma_min: float = 0.3,
    sigma_max: float | None = None,
    *,
    compression_level: int = 6,
) -> BlurInformationCurve:
    """Tabulate how much PNG-compressed information blurring leaves (paper Fig. 3).

    Each image is blurred at every temperature of the grid with the logarithmic
    schedule (Eq. 6) and PNG-encoded. Plot ``curve.size_ratio.mean(1)`` or
    ``curve.gamma()`` against ``curve.t``; a straight line supports the
    approximation ``gamma_blur = t^k`` of Eq. 13. Runs on the host (offline).

    Parameters
    ----------
    images : Tensor
        A sample of clean images ``(N, C, H, W)``, ``C`` in {1, 3}: ``uint8`` or
        floating in ``[0, 1]``.
    t : Tensor, optional
        Grid of temperatures in ``[0, 1]``, shape ``(T,)``; default 11 points.
    sigma_min, sigma_max : float
        Blur schedule; ``sigma_max=None`` means the image width.
    compression_level : int
        zlib level of the PNG encoder, 0-9.

    Returns
    -------
    BlurInformationCurve
    """
    clean = _as_uint8_images(images)
    if t is None:
        t = torch.linspace(0, 1, 11)
    if not isinstance(t, torch.Tensor) or t.ndim != 1 or t.numel() == 0:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"t must be a non-empty 1-D tensor of temperatures, got {shape}")
    t = as_level(t, "t", t.shape, device=torch.device("cpu"), dtype=torch.float32, validate=True)
    clean_sizes = png_sizes(clean, compression_level)
    ratios = [
        _size_ratio(clean, level, sigma_min, sigma_max, clean_sizes, compression_level)
        for level in t
    ]
    return BlurInformationCurve(t=t, size_ratio=torch.stack(ratios))


def _size_ratio(
    clean: torch.Tensor,
    t: torch.Tensor,
    sigma_min: float,
    sigma_max: float | None,
    clean_sizes: torch.Tensor,
    compression_level: int,
) -> torch.Tensor:
    blurred = blur(clean.float() / 255, t, sigma_min, sigma_max, validate=False)
    # The heat kernel of a truncated spectrum rings slightly: clamp before quantising.
    quantised = (blurred.clamp(0, 1) * 255).round().to(torch.uint8)
    return png_sizes(quantised, compression_level).float() / clean_sizes.float()


def _as_uint8_images(images: torch.Tensor) -> torch.Tensor:
    """Clean images as ``uint8`` on the host; floats must lie in ``[0, 1]``."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"expected an image tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"expected images of shape (B, C, H, W) with C in {{1, 3}}, got {tuple(images.shape)}"
        )
    images = images.detach().cpu()
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise TypeError(f"expected uint8 images or floats in [0, 1], got dtype {images.dtype}")
    outside = ~((images >= 0) & (images <= 1))
    if bool(outside.any()):
        raise ValueError(
            "floating images must lie in [0, 1] (un-standardise them first), "
            f"got values {preview(images[outside])}"
        )
    return (images.float() * 255).round().to(torch.uint8)
