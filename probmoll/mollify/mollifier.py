"""Per-image mollification of a mini-batch (Sec. 4 "Mini-batching", NOTES erratum 6).

Each image independently draws a role -- clean, noise or blur -- and, unless
clean, a temperature ``t ~ Beta(alpha, beta)``; clean images get ``t = 0``. The
targets are smoothed or tempered by ``gamma_t``. All randomness comes from one
``torch.Generator``.

On an accelerator the batch is transformed branch-free: every image goes through one
blur with its own scale (``sigma = 0``, an exact identity, for images not blurred) and
one noising with its own temperature (``t = 0``, an exact identity, for images not
noised), so nothing in :meth:`Mollifier.__call__` synchronises the device with the host
(no ``.item()``, no boolean-mask indexing; targets are checked on the device with
``torch._assert_async``). On the CPU, where reading values costs nothing, only the
images drawn for blur or noise are gathered (``nonzero``) and transformed
(``transform_selected``).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import typing
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from probmoll.mollify._checks import (
    ASYNC,
    Validation,
    check_image,
    check_num_classes,
    check_positive,
    check_validation,
    parameter_dtype,
)
from probmoll.mollify.blur import heat_blur, sigma_blur
from probmoll.mollify.labels import as_soft_targets, label_smooth, label_temper
from probmoll.mollify.noise import noise
from probmoll.mollify.schedules import (
    BlurInformationCurve,
    blur_information_curve,
    gamma_blur,
    gamma_blur_table,
    gamma_noise,
)

__all__ = [
    "PNG_CURVE_IMAGES",
    "PNG_CURVE_POINTS",
    "ROLE_NAMES",
    "BlurSchedule",
    "LabelForm",
    "MollifiedBatch",
    "Mollifier",
    "MollifyConfig",
    "Role",
    "create_mollifier",
    "sample_beta",
]


class Role(enum.IntEnum):
    """What happens to one image of the batch; the value is the code in ``MollifiedBatch.roles``."""

    CLEAN = 0
    NOISE = 1
    BLUR = 2


#: Role names indexed by their code: ``ROLE_NAMES[code]``.
ROLE_NAMES: tuple[str, ...] = tuple(role.name.lower() for role in Role)


_Choice = typing.TypeVar("_Choice", bound=enum.Enum)


def _parse_choice(cls: type[_Choice], value: object, field: str) -> _Choice:
    """The member of the string enum ``cls`` named by ``value``; the error lists the choices."""
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in cls)
        raise ValueError(f"unknown {field} {value!r}; choose one of {choices}") from None


class LabelForm(str, enum.Enum):
    """How a mollification level ``gamma`` degrades the targets (Sec. 3.3)."""

    SMOOTH = "smooth"  # Eq. 8: (1 - gamma) y + gamma / C
    TEMPER = "temper"  # Eq. 7: (1 - gamma) y
    NONE = "none"  # targets unchanged (as soft targets)

    @classmethod
    def parse(cls, value: str | LabelForm) -> LabelForm:
        return _parse_choice(cls, value, "label_form")


class BlurSchedule(str, enum.Enum):
    """Label schedule of blurred images (Eq. 13)."""

    POWER = "power"  # gamma = t^k, the right-hand side of Eq. 13 (what the paper ran)
    PNG = "png"  # gamma = (1 - size(x_t.png) / size(x_0.png))^k, measured (NOTES erratum 1)

    @classmethod
    def parse(cls, value: str | BlurSchedule) -> BlurSchedule:
        return _parse_choice(cls, value, "blur_schedule")


#: Training images (evenly spaced over the set) the ``"png"`` blur schedule is measured on.
PNG_CURVE_IMAGES = 256
#: Temperatures, evenly spaced on ``[0, 1]``, at which the ``"png"`` schedule is measured.
PNG_CURVE_POINTS = 21


def sample_beta(
    alpha: float,
    beta: float,
    shape: Sequence[int],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Exact ``Beta(alpha, beta)`` samples drawn from ``generator``.

    ``torch.distributions.Beta.sample`` accepts no generator. Writing
    ``Beta(a, b) = G_a / (G_a + G_b)`` with ``G ~ Gamma(., 1)`` is exact for all
    ``a, b > 0``; the Gamma pair is drawn by ``torch._sample_dirichlet`` (the
    sampler behind ``torch.distributions.Beta``), which takes a generator on CPU
    and CUDA, needs no rejection loop on the host, and handles tiny
    concentrations where ``G_a + G_b`` underflows. A fixed-round Marsaglia-Tsang
    sampler built from ``randn``/``rand`` would either be inexact when all rounds
    reject or need a data-dependent loop (a host synchronisation).

    Parameters
    ----------
    alpha, beta : float
        Concentrations, ``> 0``.
    shape : sequence of int
        Shape of the sample.
    generator : torch.Generator, optional
        Random source; must live on ``device``.
    device, dtype
        Where and in which floating dtype (float32 or float64) to sample.

    Returns
    -------
    Tensor
        Samples in ``[0, 1]`` of the given shape.
    """
    alpha = check_positive("alpha", alpha)
    beta = check_positive("beta", beta)
    shape = tuple(shape)
    concentration = torch.stack(
        (
            torch.full(shape, alpha, dtype=dtype, device=device),
            torch.full(shape, beta, dtype=dtype, device=device),
        ),
        dim=-1,
    )
    return torch._sample_dirichlet(concentration, generator=generator)[..., 0]


@dataclasses.dataclass(frozen=True)
class MollifiedBatch:
    """A mollified mini-batch; every field lives on the images' device.

    Attributes
    ----------
    x : Tensor
        Mollified images ``(B, C, H, W)``, dtype of the input images.
    y : Tensor
        Soft targets ``(B, C_classes)`` after label smoothing/tempering.
    roles : Tensor
        ``int64`` role codes ``(B,)``: 0 clean, 1 noise, 2 blur (:class:`Role`,
        names in ``MollifiedBatch.role_names``).
    t : Tensor
        Temperatures ``(B,)``; 0 for clean images.
    gamma : Tensor
        Label mollification levels ``(B,)`` from the role's schedule; 0 for
        clean images. Reported even when ``label_form="none"`` leaves the
        targets unchanged.
    """

    role_names: ClassVar[tuple[str, ...]] = ROLE_NAMES

    x: torch.Tensor
    y: torch.Tensor
    roles: torch.Tensor
    t: torch.Tensor
    gamma: torch.Tensor


class Mollifier:
    """Samples a role and a temperature per image and mollifies images and targets.

    Parameters
    ----------
    roles : sequence of str
        Roles an image may draw, among ``"clean"``, ``"noise"``, ``"blur"``.
    weights : sequence of float, optional
        Relative probabilities of ``roles`` (non-negative, not all zero);
        ``None`` draws uniformly.
    alpha, beta : float
        Temperatures of noised and blurred images follow ``Beta(alpha, beta)``
        (paper: 1 and 2, mean 1/3).
    k_noise : float
        Slope of the noise label schedule, ``gamma = sin(t pi/2)^(2 k)`` (Eq. 12).
    k_blur : float
        Slope ``k`` of the blur label schedule (Eq. 13): ``gamma = t^k``, or
        ``(1 - size(x_t.png) / size(x_0.png))^k`` with ``blur_schedule="png"``.
    sigma_min : float
        Blur scale at ``t = 0`` in pixels (Eq. 6).
    sigma_max : float, optional
        Blur scale at ``t = 1`` in pixels; ``None`` means the image width.
    blur_schedule : {"power", "png"}
        ``"power"``: ``gamma = t^k`` (paper). ``"png"``: the information-based
        schedule of Eq. 13 (NOTES erratum 1) interpolated on the device from
        ``blur_curve`` (:func:`~probmoll.mollify.gamma_blur_table`).
    blur_curve : BlurInformationCurve, optional
        PNG sizes measured on clean training images with the same ``sigma_min``
        and ``sigma_max`` (:func:`~probmoll.mollify.blur_information_curve`, or
        :func:`create_mollifier` with ``images``); required by
        ``blur_schedule="png"`` when images may be blurred, refused otherwise.
    label_form : {"smooth", "temper", "none"}
        Label smoothing (Eq. 8), tempering (Eq. 7), or targets passed through
        (class indices become one-hot rows).
    num_classes : int, optional
        Number of classes; required when targets are class indices.
    transform_selected : bool, optional
        ``True``: blur and noise only the images drawn for each role, gathered by index
        (the host reads which images those are). ``False``: send the whole batch through
        both kernels with per-image levels, zero for the other roles, so that nothing
        waits for the host. ``None`` (default): ``True`` on the CPU, where the read is
        free and the subset path is about twice as fast, ``False`` on accelerators. Both
        give the same distribution of batches; for one seed the noise drawn differs.

    Examples
    --------
    >>> mollifier = Mollifier(num_classes=10)
    >>> generator = torch.Generator().manual_seed(0)
    >>> batch = mollifier(torch.randn(8, 3, 32, 32), torch.arange(8), generator)
    >>> batch.y.shape
    torch.Size([8, 10])
    """

    def __init__(
        self,
        roles: Sequence[str] = ROLE_NAMES,
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        beta: float = 2.0,
        k_noise: float = 1.0,
        k_blur: float = 1.0,
        sigma_min: float = 0.3,
        sigma_max: float | None = None,
        *,
        blur_schedule: str | BlurSchedule = BlurSchedule.POWER,
        blur_curve: BlurInformationCurve | None = None,
        label_form: str | LabelForm = LabelForm.SMOOTH,
        num_classes: int | None = None,
        transform_selected: bool | None = None,
    ) -> None:
        self.config = MollifyConfig(
            roles=roles,
            weights=weights,
            alpha=alpha,
            beta=beta,
            k_noise=k_noise,
            k_blur=k_blur,
            sigma_min=sigma_min,
            sigma_max=sigma_max,
            blur_schedule=blur_schedule,
        )
        self.label_form = LabelForm.parse(label_form)
        self.num_classes = check_num_classes(num_classes)
        codes = [Role[name.upper()] for name in self.config.roles]
        weights = self.config.weights or (1.0,) * len(codes)
        total = math.fsum(weights)
        cumulative = [math.fsum(weights[: i + 1]) / total for i in range(len(weights) - 1)]
        # Role of an image: codes[0] plus a step at every boundary its uniform draw passes.
        self._first_code = int(codes[0])
        self._steps = tuple(
            (boundary, int(after) - int(before))
            for boundary, before, after in zip(cumulative, codes[:-1], codes[1:], strict=True)
        )
        self._blurs = Role.BLUR in codes
        self._noises = Role.NOISE in codes
        if transform_selected is not None and not isinstance(transform_selected, bool):
            raise TypeError(
                f"transform_selected must be True, False or None, got {transform_selected!r}"
            )
        self.transform_selected = transform_selected
        self.blur_curve = blur_curve
        self._blur_table: tuple[torch.Tensor, torch.Tensor] | None = None
        self._blur_tables: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}
        if self.config.blur_schedule == BlurSchedule.PNG and self._blurs:
            if blur_curve is None:
                raise ValueError(
                    "blur_schedule='png' needs blur_curve, the PNG sizes measured on clean "
                    "training images (blur_information_curve, or create_mollifier(..., "
                    "images=...))"
                )
            if not isinstance(blur_curve, BlurInformationCurve):
                raise TypeError(
                    f"blur_curve must be a BlurInformationCurve, got {type(blur_curve).__name__}"
                )
            # Tabulated once on the host; copied to each device/dtype once (_blur_levels).
            self._blur_table = blur_curve.schedule(self.config.k_blur)
        elif blur_curve is not None and self.config.blur_schedule == BlurSchedule.POWER:
            raise ValueError("blur_curve is only used with blur_schedule='png'")

    def sample_roles(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Role codes ``(batch_size,)``, ``int64``, drawn independently per image."""
        roles = torch.full((batch_size,), self._first_code, dtype=torch.int64, device=device)
        if self._steps:
            uniform = torch.rand(batch_size, generator=generator, device=device)
            for boundary, step in self._steps:
                roles += (uniform >= boundary).to(torch.int64) * step
        return roles

    def sample_temperatures(
        self,
        roles: torch.Tensor,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """``t ~ Beta(alpha, beta)`` per image, and ``t = 0`` where the role is clean."""
        if not (self._blurs or self._noises):
            return torch.zeros(roles.shape, dtype=dtype, device=roles.device)
        t = sample_beta(
            self.config.alpha,
            self.config.beta,
            roles.shape,
            generator=generator,
            device=roles.device,
            dtype=dtype,
        )
        return torch.where(roles == Role.CLEAN, 0.0, t)

    def blur_gamma(self, t: torch.Tensor) -> torch.Tensor:
        """Blur label schedule at ``t`` (Eq. 13): ``t^k``, or the measured PNG schedule.

        Values are not checked; on an accelerator nothing waits for the host.
        """
        if self._blur_table is None:
            return gamma_blur(t, self.config.k_blur, validate=False)
        key = (t.device, t.dtype)
        if key not in self._blur_tables:
            self._blur_tables[key] = tuple(
                table.to(device=t.device, dtype=t.dtype) for table in self._blur_table
            )
        grid, gamma = self._blur_tables[key]
        return gamma_blur_table(t, grid, gamma, validate=False)

    def __call__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        validate_targets: Validation | None = None,
    ) -> MollifiedBatch:
        """Mollify a batch of standardised images and their targets.

        Parameters
        ----------
        x : Tensor
            Standardised floating images ``(B, C, H, W)`` (NOTES erratum 5).
        y : Tensor
            Class indices ``(B,)`` or soft targets ``(B, C_classes)`` on the
            simplex (e.g. after MixUp/CutMix), on ``x``'s device.
        generator : torch.Generator, optional
            Source of all randomness (roles, temperatures, noise); must live on
            ``x``'s device. The same seed gives the same batch.
        validate_targets : bool or "async", optional
            Check target values (index range, one-hot rows, simplex). ``True``
            checks on the host (one device synchronisation on an accelerator)
            and raises ``ValueError`` quoting the bad values; ``"async"`` checks
            on the device with ``torch._assert_async`` (no synchronisation; a
            violation fails the device stream, a ``RuntimeError`` on the CPU);
            ``False`` skips the check. ``None`` (default) means ``True`` on the
            CPU and ``"async"`` elsewhere, so bad targets never pass silently.

        Returns
        -------
        MollifiedBatch
            Images, soft targets, roles, temperatures and levels ``gamma``. When
            ``roles`` contains neither noise nor blur, ``x`` is returned as is.
        """
        check_image(x, "Mollifier")
        if x.ndim != 4:
            raise ValueError(f"Mollifier: expected images (B, C, H, W), got shape {tuple(x.shape)}")
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"Mollifier: targets must be a torch.Tensor, got {type(y).__name__}")
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"Mollifier: images and targets disagree on the batch size: x has shape "
                f"{tuple(x.shape)}, y has shape {tuple(y.shape)}"
            )
        if y.device != x.device:
            raise ValueError(f"Mollifier: targets are on {y.device} but images on {x.device}")
        config = self.config
        roles = self.sample_roles(x.shape[0], generator, x.device)
        t = self.sample_temperatures(roles, generator, parameter_dtype(x.dtype))
        is_noise = roles == Role.NOISE
        # The measured PNG schedule need not vanish at t = 0: select clean images explicitly.
        gamma = torch.where(
            is_noise,
            gamma_noise(t, config.k_noise, validate=False),
            torch.where(roles == Role.BLUR, self.blur_gamma(t), 0.0),
        )
        sigma_max = x.shape[-1] if config.sigma_max is None else config.sigma_max
        selected = self.transform_selected
        if selected is None:
            selected = x.device.type == "cpu"
        if selected:
            images = self._transform_selected(x, roles, t, sigma_max, generator)
        else:
            # Every image goes through both kernels with its own level (0 for the other
            # roles: blur with sigma = 0 and noise at t = 0 are exact identities), so the
            # host never needs to know how many images drew which role.
            images = x
            if self._blurs:
                scale = sigma_blur(t, config.sigma_min, sigma_max, validate=False)
                images = heat_blur(
                    images, torch.where(roles == Role.BLUR, scale, 0.0), validate=False
                )
            if self._noises:
                images = noise(images, torch.where(is_noise, t, 0.0), generator, validate=False)

        if validate_targets is None:
            check: Validation = True if x.device.type == "cpu" else ASYNC
        else:
            check = check_validation(validate_targets)
        # The targets come from the caller and are checked; gamma was drawn here and is not.
        index_dtype = None if y.is_floating_point() else gamma.dtype
        targets = as_soft_targets(y, self.num_classes, dtype=index_dtype, validate=check)
        if self.label_form is LabelForm.SMOOTH:
            targets = label_smooth(targets, gamma, validate=False)
        elif self.label_form is LabelForm.TEMPER:
            targets = label_temper(targets, gamma, validate=False)
        return MollifiedBatch(x=images, y=targets, roles=roles, t=t, gamma=gamma)

    def _transform_selected(
        self,
        x: torch.Tensor,
        roles: torch.Tensor,
        t: torch.Tensor,
        sigma_max: float,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Blur and noise only the images drawn for each role, gathered by index.

        Reading which images drew a role (``nonzero``) is free on the host, and it saves
        drawing noise for, and blurring, the two thirds of the batch that keep their pixels.
        """
        if not (self._blurs or self._noises):
            return x
        images = x.clone()
        if self._blurs:
            index = (roles == Role.BLUR).nonzero().squeeze(1)
            if index.numel():
                scale = sigma_blur(t[index], self.config.sigma_min, sigma_max, validate=False)
                images[index] = heat_blur(x[index], scale, validate=False)
        if self._noises:
            index = (roles == Role.NOISE).nonzero().squeeze(1)
            if index.numel():
                images[index] = noise(x[index], t[index], generator, validate=False)
        return images

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{field.name}={getattr(self.config, field.name)!r}"
            for field in dataclasses.fields(self.config)
            if field.name != "enabled"
        )
        return (
            f"{type(self).__name__}({fields}, label_form={self.label_form.value!r}, "
            f"num_classes={self.num_classes!r})"
        )


@dataclasses.dataclass(frozen=True)
class MollifyConfig:
    """Settings of data mollification, as they appear in a run's YAML config.

    Lists are accepted wherever a tuple is expected; values are validated on
    construction (``ValueError`` naming the field).
    """

    # False: mollification off -- every image stays clean with t = 0 and gamma = 0.
    enabled: bool = True
    # Roles an image may draw, among "clean", "noise", "blur" (paper: all three).
    roles: tuple[str, ...] = ROLE_NAMES
    # Relative probabilities of `roles`, non-negative; None = uniform (paper).
    weights: tuple[float, ...] | None = None
    # t ~ Beta(alpha, beta) for noised/blurred images (paper: 1, 2 -> mean t = 1/3).
    alpha: float = 1.0
    beta: float = 2.0
    # Slope k of the noise label schedule gamma = sin(t pi/2)^(2k) (Eq. 12).
    k_noise: float = 1.0
    # Slope k of the blur label schedule gamma = t^k (Eq. 13).
    k_blur: float = 1.0
    # Blur scale (pixels) at t = 0 (Eq. 6; paper: 0.3).
    sigma_min: float = 0.3
    # Blur scale (pixels) at t = 1; None = the image width (paper).
    sigma_max: float | None = None
    # Blur label schedule (Eq. 13): "power" = t^k (paper) or "png" = (1 - size(x_t.png) /
    # size(x_0.png))^k measured on PNG_CURVE_IMAGES training images before training.
    blur_schedule: str = BlurSchedule.POWER.value

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ValueError(f"enabled must be true or false, got {self.enabled!r}")
        object.__setattr__(self, "blur_schedule", BlurSchedule.parse(self.blur_schedule).value)
        roles = self.roles
        if isinstance(roles, str) or not isinstance(roles, Sequence) or len(roles) == 0:
            raise ValueError(
                f"roles must be a non-empty list of role names from {list(ROLE_NAMES)}, "
                f"got {roles!r}"
            )
        for role in roles:
            if role not in ROLE_NAMES:
                raise ValueError(f"roles: unknown role {role!r}; choose from {list(ROLE_NAMES)}")
        if len(set(roles)) != len(roles):
            raise ValueError(f"roles must not repeat a role, got {list(roles)}")
        object.__setattr__(self, "roles", tuple(roles))
        if self.weights is not None:
            weights = self.weights
            if isinstance(weights, str) or not isinstance(weights, Sequence):
                raise ValueError(f"weights must be a list of numbers or null, got {weights!r}")
            if len(weights) != len(self.roles):
                raise ValueError(
                    f"weights must have one entry per role ({len(self.roles)} for roles "
                    f"{list(self.roles)}), got {list(weights)}"
                )
            weights = tuple(
                check_positive(f"weights[{i}]", w, allow_zero=True) for i, w in enumerate(weights)
            )
            if sum(weights) <= 0:
                raise ValueError(f"weights must not all be zero, got {list(weights)}")
            object.__setattr__(self, "weights", weights)
        for name in ("alpha", "beta", "k_noise", "k_blur", "sigma_min"):
            object.__setattr__(self, name, check_positive(name, getattr(self, name)))
        if self.sigma_max is not None:
            sigma_max = check_positive("sigma_max", self.sigma_max)
            if sigma_max < self.sigma_min:
                raise ValueError(
                    f"sigma_max must be >= sigma_min ({self.sigma_min!r}), got {sigma_max!r}"
                )
            object.__setattr__(self, "sigma_max", sigma_max)

    def build(
        self,
        label_form: str | LabelForm = LabelForm.SMOOTH,
        num_classes: int | None = None,
        *,
        blur_curve: BlurInformationCurve | None = None,
    ) -> Mollifier:
        """The :class:`Mollifier` of these settings (all-clean when ``enabled`` is false).

        ``blur_curve`` is the measured PNG curve that ``blur_schedule="png"`` needs
        (see :func:`create_mollifier` to measure it from training images).
        """
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del fields["enabled"]
        if not self.enabled:
            fields.update(roles=("clean",), weights=None)
        return Mollifier(
            **fields, blur_curve=blur_curve, label_form=label_form, num_classes=num_classes
        )


def create_mollifier(
    config: MollifyConfig,
    num_classes: int | None = None,
    label_form: str | LabelForm = LabelForm.SMOOTH,
    *,
    images: torch.Tensor | None = None,
    curve_images: int = PNG_CURVE_IMAGES,
) -> Mollifier:
    """The :class:`Mollifier` of ``config``, measuring the PNG blur schedule if it needs one.

    With ``config.blur_schedule == "png"`` (and blurring enabled) the information
    curve of Eq. 13 (NOTES erratum 1) is measured once, on the host, with
    :func:`~probmoll.mollify.blur_information_curve`: ``curve_images`` images
    evenly spaced over ``images`` (no random draw, so every process of a run
    measures the same curve), :data:`PNG_CURVE_POINTS` temperatures evenly spaced
    on ``[0, 1]``, and the blur scales of ``config``. Otherwise this is
    ``config.build(label_form, num_classes)`` and ``images`` is not used.

    Parameters
    ----------
    config : MollifyConfig
        The settings.
    num_classes : int, optional
        Number of classes; required when targets are class indices.
    label_form : {"smooth", "temper", "none"}
        How ``gamma`` degrades the targets (follows from the likelihood).
    images : Tensor or tensor-indexable, optional
        Clean training images ``(N, C, H, W)``, ``C`` in {1, 3}, ``uint8`` (or
        floats in ``[0, 1]``), on any device; required by ``blur_schedule="png"``.
        Anything with a 4-D ``shape`` that returns a tensor when indexed by a tensor of
        rows also works (e.g. the training engine's memory-mapped ``HostImages``).
    curve_images : int
        How many of ``images`` to measure the curve on.

    Returns
    -------
    Mollifier
    """
    if not isinstance(config, MollifyConfig):
        raise TypeError(f"expected a MollifyConfig, got {type(config).__name__}")
    blur_curve = None
    if config.enabled and config.blur_schedule == BlurSchedule.PNG and "blur" in config.roles:
        blur_curve = _measure_blur_curve(config, images, curve_images)
    return config.build(label_form, num_classes, blur_curve=blur_curve)


def _measure_blur_curve(config: MollifyConfig, images: Any, count: int) -> BlurInformationCurve:
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) != 4 or shape[0] == 0:
        got = tuple(shape) if shape is not None else type(images).__name__
        raise ValueError(
            "blur_schedule='png' measures the blur information curve on clean training "
            f"images: pass images of shape (N, C, H, W), N >= 1, got {got}"
        )
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"curve_images must be a positive integer, got {count!r}")
    total = shape[0]
    device = getattr(images, "device", "cpu")
    index = torch.linspace(0, total - 1, min(count, total), device=device).round().long()
    return blur_information_curve(
        torch.as_tensor(images[index]),
        torch.linspace(0, 1, PNG_CURVE_POINTS),
        config.sigma_min,
        config.sigma_max,
    )
