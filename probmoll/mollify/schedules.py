"""Label schedules ``gamma_t``: how much label mollification a temperature ``t`` buys (Sec. 3.3).

- :func:`gamma_noise` (Eq. 12): ``(1 / (1 + SNR(t)))^k`` for noising, which in
  closed form is ``sin(t pi/2)^(2k) = sigma_t^(2k)``.
- :func:`gamma_blur` (Eq. 13, right-hand side): ``t^k`` for blurring, what the
  paper trains with.
- :func:`gamma_blur_png` and :func:`blur_information_curve` (Eq. 13, left-hand
  side): the fraction of PNG-compressed information that blurring removes,
  measured on the host (paper Fig. 3).
- :func:`gamma_blur_table`: that measured schedule, tabulated once by
  :meth:`BlurInformationCurve.schedule` and interpolated on the device with
  tensor operations only, so that training can use it.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import torch

from probmoll.mollify._checks import as_level, as_temperature, preview
from probmoll.mollify.blur import blur
from probmoll.mollify.options import (
    PNG_CURVE_IMAGES,
    PNG_CURVE_POINTS,
    BlurSchedule,
    check_positive,
)

__all__ = [
    "PNG_CURVE_IMAGES",
    "PNG_CURVE_POINTS",
    "BlurInformationCurve",
    "BlurSchedule",
    "TabulatedSchedule",
    "blur_information_curve",
    "gamma_blur",
    "gamma_blur_png",
    "gamma_blur_table",
    "gamma_noise",
    "measure_png_schedule",
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


def gamma_blur_table(
    t: float | torch.Tensor,
    grid: torch.Tensor,
    gamma: torch.Tensor,
    *,
    validate: bool = True,
) -> torch.Tensor:
    """Tabulated blur label schedule, interpolated linearly in ``t`` (Eq. 13, measured).

    .. math:: \\gamma_t = \\gamma_i + \\frac{t - t_i}{t_{i+1} - t_i} (\\gamma_{i+1} - \\gamma_i),
       \\qquad t_i \\le t \\le t_{i+1}

    With the table of :meth:`BlurInformationCurve.schedule` this is the
    information-based schedule of Eq. 13 (docs/paper-readings.md, reading 1),
    ``gamma_t = (1 - size(x_t.png) / size(x_0.png))^k`` averaged over a sample of training
    images, between the measured temperatures; at every ``t_i`` it returns ``gamma_i``
    exactly. Only tensor operations (``searchsorted``, gathers, ``lerp``) run, so
    on an accelerator nothing waits for the host: keep ``grid`` and ``gamma`` on
    ``t``'s device and dtype (they are moved otherwise, a copy per call).

    Parameters
    ----------
    t : float or Tensor
        Temperature(s) in ``[0, 1]``, any shape.
    grid : Tensor
        Temperatures ``(T,)``, ``T >= 2``, increasing strictly from 0 to 1.
    gamma : Tensor
        Levels ``(T,)`` in ``[0, 1]`` at the ``grid`` points.
    validate : bool
        Check the values of tensor ``t`` and of the table (synchronises an
        accelerator with the host).

    Returns
    -------
    Tensor
        ``gamma_t``, same shape as ``t`` (0-d for a number), dtype of ``t``.
    """
    t = as_temperature(t, validate)
    for name, table in (("grid", grid), ("gamma", gamma)):
        if not isinstance(table, torch.Tensor) or table.ndim != 1 or table.numel() < 2:
            shape = tuple(table.shape) if isinstance(table, torch.Tensor) else type(table).__name__
            raise ValueError(f"{name} must be a 1-D tensor of at least 2 points, got {shape}")
    if grid.shape != gamma.shape:
        raise ValueError(
            f"grid and gamma must have the same length, got {tuple(grid.shape)} and "
            f"{tuple(gamma.shape)}"
        )
    grid = grid.to(device=t.device, dtype=t.dtype)
    gamma = gamma.to(device=t.device, dtype=t.dtype)
    if validate:
        _check_grid(grid, "grid")
        as_level(gamma, "gamma", gamma.shape, device=None, dtype=gamma.dtype, validate=True)
    flat = t.reshape(-1)
    # Right end of the interval holding each t; t = 1 falls in the last interval.
    right = torch.searchsorted(grid, flat, right=True).clamp_(1, grid.numel() - 1)
    left = right - 1
    weight = (flat - grid[left]) / (grid[right] - grid[left])
    return torch.lerp(gamma[left], gamma[right], weight).reshape(t.shape)


class TabulatedSchedule:
    """A tabulated label schedule ``(grid, gamma)``, evaluated on the device of each call.

    The table stays on the host; the first call on a device and dtype copies it there, and
    later calls reuse that copy, so evaluating runs :func:`gamma_blur_table` with tensor
    operations only and never waits for the host. Values are not checked.

    Parameters
    ----------
    grid, gamma : Tensor
        The table, e.g. from :meth:`BlurInformationCurve.schedule`.
    """

    def __init__(self, grid: torch.Tensor, gamma: torch.Tensor) -> None:
        self.table = (grid, gamma)
        self._copies: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}

    @classmethod
    def from_curve(cls, curve: BlurInformationCurve, k: float = 1.0) -> TabulatedSchedule:
        """The measured PNG schedule of slope ``k``, :meth:`BlurInformationCurve.schedule`.

        Raises ``TypeError`` unless ``curve`` is a :class:`BlurInformationCurve`, and
        ``ValueError`` for a malformed one.
        """
        if not isinstance(curve, BlurInformationCurve):
            raise TypeError(
                f"blur_curve must be a BlurInformationCurve, got {type(curve).__name__}"
            )
        return cls(*curve.schedule(k))

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        """``gamma_t`` for temperatures ``t`` (a tensor), same shape, device and dtype."""
        key = (t.device, t.dtype)
        if key not in self._copies:
            self._copies[key] = tuple(
                part.to(device=t.device, dtype=t.dtype) for part in self.table
            )
        grid, gamma = self._copies[key]
        return gamma_blur_table(t, grid, gamma, validate=False)


def _check_grid(grid: torch.Tensor, what: str) -> None:
    """Temperatures of a tabulated schedule: strictly increasing from 0 to 1."""
    if not (bool((grid[1:] > grid[:-1]).all()) and grid[0] == 0 and grid[-1] == 1):
        raise ValueError(f"{what} must increase strictly from 0 to 1, got {preview(grid)}")


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
    """Information-based label schedule for blurring (Eq. 13, docs/paper-readings.md, reading 1).

    .. math:: \\gamma^{blur}_t = \\Big(1 - \\frac{\\mathrm{size}(x_t\\text{.png})}
       {\\mathrm{size}(x_0\\text{.png})}\\Big)^k, \\text{ clamped to } [0, 1]

    Eq. 13 as printed, ``(size(x_t.png) / size(x_0.png))^k``, *decreases* as the
    blur grows, while the text says it is ``≈ t^k`` and the label must lose
    confidence as blur removes information. The consistent reading, used here,
    is the fraction of the compressed information that the blur removed: 0 for
    an unblurred image, close to 1 for a fully blurred (flat) one; the PNG
    header keeps it slightly below 1. At ``t = 0`` the ``sigma_min`` blur may
    make the PNG a little *larger*, hence the clamp.

    Every image is encoded on the host, one at a time, so calling it
    synchronises an accelerator with the host. For training use
    :func:`gamma_blur`, its linear approximation, or measure the schedule once
    with :func:`blur_information_curve` and interpolate it on the device
    (:func:`gamma_blur_table`, ``MollifyConfig(blur_schedule="png")``).

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
        """Mean over images of the information-based ``gamma`` (Eq. 13, reading 1), ``(T,)``.

        Entry ``i`` is the mean of :func:`gamma_blur_png` over the images at ``t[i]``.
        """
        k = check_positive("k", k)
        return (1 - self.size_ratio).clamp(0, 1).pow(k).mean(dim=1)

    def schedule(self, k: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The measured label schedule as a table ``(t, gamma)`` for :func:`gamma_blur_table`.

        ``gamma`` is :meth:`gamma` (Eq. 13 with slope ``k``, docs/paper-readings.md,
        reading 1, averaged over the images) made non-decreasing by a running maximum: a
        label must not regain confidence as the blur grows, whereas a measured PNG size
        can wobble by a few bytes between neighbouring temperatures. Where the measured
        curve is already monotone (the usual case for a few hundred images) the table is
        the measurement itself.

        Returns
        -------
        (Tensor, Tensor)
            Grid ``t`` ``(T,)`` and levels ``gamma`` ``(T,)`` in ``[0, 1]``, float32.

        Raises
        ------
        ValueError
            If the grid has fewer than two points, is not strictly increasing or
            does not span ``[0, 1]`` (the schedule must be defined for every ``t``),
            or if ``size_ratio`` is not ``(T, N)`` with finite entries.
        """
        t = torch.as_tensor(self.t, dtype=torch.float32).cpu()
        ratio = torch.as_tensor(self.size_ratio).cpu()
        if t.ndim != 1 or t.numel() < 2:
            raise ValueError(
                f"a blur information curve needs a grid of at least 2 temperatures, got shape "
                f"{tuple(t.shape)}"
            )
        if ratio.ndim != 2 or ratio.shape[0] != t.numel() or ratio.shape[1] == 0:
            raise ValueError(
                f"size_ratio must have shape (T, N) = ({t.numel()}, N >= 1), got "
                f"{tuple(ratio.shape)}"
            )
        if not bool(ratio.isfinite().all()):
            raise ValueError("size_ratio must be finite")
        _check_grid(t, "the grid t of a blur information curve")
        return t, torch.cummax(self.gamma(k).float(), dim=0).values


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
    approximation ``gamma_blur = t^k`` of Eq. 13. Runs on the host; for training,
    measure once and interpolate :meth:`BlurInformationCurve.schedule` with
    :func:`gamma_blur_table`.

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


def measure_png_schedule(
    images: Any,
    sigma_min: float = 0.3,
    sigma_max: float | None = None,
    *,
    curve_images: int = PNG_CURVE_IMAGES,
) -> BlurInformationCurve:
    """The blur information curve behind ``blur_schedule="png"``, measured for training.

    :func:`blur_information_curve` of ``curve_images`` images evenly spaced over
    ``images`` (no random draw, so every process of a run measures the same curve) at
    :data:`PNG_CURVE_POINTS` temperatures evenly spaced on ``[0, 1]``.

    Parameters
    ----------
    images : Tensor or tensor-indexable
        Clean training images ``(N, C, H, W)``, ``N >= 1``, ``C`` in {1, 3}, ``uint8``
        (or floats in ``[0, 1]``), on any device; anything with a 4-D ``shape`` that
        returns a tensor when indexed by a tensor of rows also works.
    sigma_min, sigma_max : float
        Blur schedule (Eq. 6); ``sigma_max=None`` means the image width.
    curve_images : int, default PNG_CURVE_IMAGES
        How many of ``images`` to measure on (all of them when there are fewer).

    Returns
    -------
    BlurInformationCurve
    """
    if isinstance(curve_images, bool) or not isinstance(curve_images, int) or curve_images < 1:
        raise ValueError(f"curve_images must be a positive integer, got {curve_images!r}")
    total = images.shape[0]
    device = getattr(images, "device", "cpu")
    index = torch.linspace(0, total - 1, min(curve_images, total), device=device).round().long()
    return blur_information_curve(
        torch.as_tensor(images[index]),
        torch.linspace(0, 1, PNG_CURVE_POINTS),
        sigma_min,
        sigma_max,
    )


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
