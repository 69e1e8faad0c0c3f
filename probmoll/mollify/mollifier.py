"""Per-image mollification of a mini-batch (Sec. 4 "Mini-batching").

Each image independently draws a role -- clean, noise or blur -- and, unless
clean, a temperature ``t ~ Beta(alpha, beta)``; clean images get ``t = 0``
(:mod:`probmoll.mollify.sampling`, docs/paper-readings.md, reading 6). The
targets are smoothed or tempered by ``gamma_t``. All randomness comes from one
``torch.Generator``.

On an accelerator the batch is transformed branch-free: every image goes through one
blur with its own scale (``sigma = 0``, an exact identity, for images not blurred) and
one noising with its own temperature (``t = 0``, an exact identity, for images not
noised), so nothing in :meth:`Mollifier.__call__` synchronises the device with the host
(no ``.item()``, no boolean-mask indexing; images and targets are checked on the device
with ``torch._assert_async``). On the CPU, where reading values costs nothing, only the
images drawn for blur or noise are gathered (``nonzero``) and transformed
(``transform_selected``).

:class:`MollifyConfig` (the settings of a run's YAML config) and :class:`Mollifier` refer to
each other -- a mollifier keeps its settings, settings build their mollifier
(:func:`create_mollifier`) -- so they share this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

# Only torch-free modules at import time: a MollifyConfig is built and validated (a run's
# config) without torch. The torch modules are imported by the functions that use them.
from probmoll.mollify.options import (
    PNG_CURVE_IMAGES,
    PNG_CURVE_POINTS,
    ROLE_NAMES,
    BlurSchedule,
    LabelForm,
    Role,
    check_positive,
    check_roles,
    check_weights,
)

if TYPE_CHECKING:
    import torch

    from probmoll.mollify._checks import Validation
    from probmoll.mollify.sampling import sample_beta
    from probmoll.mollify.schedules import BlurInformationCurve, TabulatedSchedule

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


def __getattr__(name: str) -> Any:
    """``sample_beta``, re-exported from :mod:`probmoll.mollify.sampling` on first use
    (importing it imports torch)."""
    if name == "sample_beta":
        from probmoll.mollify.sampling import sample_beta

        return sample_beta
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        schedule of Eq. 13 (docs/paper-readings.md, reading 1) interpolated on the
        device from ``blur_curve`` (:func:`~probmoll.mollify.gamma_blur_table`).
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
        from probmoll.mollify._checks import check_num_classes
        from probmoll.mollify.sampling import RoleSampler
        from probmoll.mollify.schedules import TabulatedSchedule

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
        self._roles = RoleSampler(self.config.roles, self.config.weights)
        self._blurs = Role.BLUR in self._roles.codes
        self._noises = Role.NOISE in self._roles.codes
        if transform_selected is not None and not isinstance(transform_selected, bool):
            raise TypeError(
                f"transform_selected must be True, False or None, got {transform_selected!r}"
            )
        self.transform_selected = transform_selected
        self.blur_curve = blur_curve
        self._blur_table: TabulatedSchedule | None = None
        if self.config.blur_schedule == BlurSchedule.PNG and self._blurs:
            if blur_curve is None:
                raise ValueError(
                    "blur_schedule='png' needs blur_curve, the PNG sizes measured on clean "
                    "training images (blur_information_curve, or create_mollifier(..., "
                    "images=...))"
                )
            self._blur_table = TabulatedSchedule.from_curve(blur_curve, self.config.k_blur)
        elif blur_curve is not None and self.config.blur_schedule == BlurSchedule.POWER:
            raise ValueError("blur_curve is only used with blur_schedule='png'")

    @property
    def is_identity(self) -> bool:
        """Whether every batch passes unchanged: the only role is ``"clean"``.

        Images are then returned as they are, with ``t = 0`` and ``gamma = 0``, targets
        only become soft targets and nothing is drawn, so a caller may skip the call: the
        mollifier of ``mollify.enabled = false`` (:func:`create_mollifier`). Roles of
        weight zero still count (they cost a random draw per batch).
        """
        return self._roles.codes == (Role.CLEAN,)

    def sample_roles(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Role codes ``(batch_size,)``, ``int64``, drawn independently per image."""
        return self._roles(batch_size, generator, device)

    def sample_temperatures(
        self,
        roles: torch.Tensor,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """``t ~ Beta(alpha, beta)`` per image, and ``t = 0`` where the role is clean.

        ``dtype`` is the floating dtype of the temperatures, ``torch.float32`` by default.
        """
        import torch

        from probmoll.mollify.sampling import sample_temperatures

        if dtype is None:
            dtype = torch.float32
        if self.is_identity:
            return torch.zeros(roles.shape, dtype=dtype, device=roles.device)
        return sample_temperatures(roles, self.config.alpha, self.config.beta, generator, dtype)

    def blur_gamma(self, t: torch.Tensor) -> torch.Tensor:
        """Blur label schedule (Eq. 13), ``t^k`` or the measured PNG one, at unchecked ``t``."""
        from probmoll.mollify.schedules import gamma_blur

        if self._blur_table is None:
            return gamma_blur(t, self.config.k_blur, validate=False)
        return self._blur_table(t)

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
            Standardised floating images ``(B, C, H, W)`` (docs/paper-readings.md,
            reading 5), finite: NaN or inf raise a ``ValueError`` naming the images on the
            subset path (the CPU default), a device-side assertion on the branch-free one.
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
            Images, soft targets, roles, temperatures and levels ``gamma``; ``x`` itself
            when ``roles`` contains neither noise nor blur.
        """
        import torch

        from probmoll.mollify._checks import (
            ASYNC,
            check_batch,
            check_finite_images,
            check_validation,
            parameter_dtype,
        )
        from probmoll.mollify.blur import heat_blur, sigma_blur
        from probmoll.mollify.labels import as_soft_targets, label_smooth, label_temper
        from probmoll.mollify.noise import noise
        from probmoll.mollify.schedules import gamma_noise

        check_batch(x, y, "Mollifier")
        selected = self.transform_selected
        if selected is None:
            selected = x.device.type == "cpu"
        check_finite_images(x, "Mollifier", True if selected else ASYNC)
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

        Reading which images drew a role (``nonzero``) is free on the host, and it spares
        the noise and blur of the two thirds of the batch that keep their pixels."""
        from probmoll.mollify.blur import heat_blur, sigma_blur
        from probmoll.mollify.noise import noise

        if self.is_identity:
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
        object.__setattr__(self, "roles", check_roles(self.roles))
        object.__setattr__(self, "weights", check_weights(self.weights, self.roles))
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
        """The :class:`Mollifier` of these settings: ``create_mollifier(self, ...)``.

        All-clean when ``enabled`` is false. ``blur_curve`` is the measured PNG curve
        that ``blur_schedule="png"`` needs (:func:`create_mollifier` measures it from
        training images instead when given them).
        """
        return create_mollifier(self, num_classes, label_form, blur_curve=blur_curve)


def create_mollifier(
    config: MollifyConfig,
    num_classes: int | None = None,
    label_form: str | LabelForm = LabelForm.SMOOTH,
    *,
    images: torch.Tensor | None = None,
    curve_images: int = PNG_CURVE_IMAGES,
    blur_curve: BlurInformationCurve | None = None,
) -> Mollifier:
    """The :class:`Mollifier` of ``config``, measuring the PNG blur schedule if it needs one.

    This is the one place that reads ``config.enabled``: when it is false the result is
    the all-clean mollifier (roles ``("clean",)``, :attr:`Mollifier.is_identity`), and
    nothing is measured. Otherwise, with ``config.blur_schedule == "png"``, roles that
    include blur and no ``blur_curve``, the information curve of Eq. 13
    (docs/paper-readings.md, reading 1) is measured once, on the host, on
    ``curve_images`` of ``images`` with the blur scales of ``config``
    (:func:`~probmoll.mollify.schedules.measure_png_schedule`).

    Parameters
    ----------
    config : MollifyConfig
        The settings.
    num_classes : int, optional
        Number of classes; required when targets are class indices.
    label_form : {"smooth", "temper", "none"}, default "smooth"
        How ``gamma`` degrades the targets (follows from the likelihood).
    images : Tensor or tensor-indexable, optional
        Clean training images ``(N, C, H, W)``, ``C`` in {1, 3}, ``uint8`` (or
        floats in ``[0, 1]``), on any device, to measure the ``"png"`` schedule on.
        Anything with a 4-D ``shape`` that returns a tensor when indexed by a tensor of
        rows also works (e.g. the training engine's memory-mapped ``HostImages``).
    curve_images : int, default PNG_CURVE_IMAGES
        How many of ``images`` to measure the curve on.
    blur_curve : BlurInformationCurve, optional
        A curve measured already (:func:`~probmoll.mollify.blur_information_curve`);
        ``images`` are then not used.

    Returns
    -------
    Mollifier

    Raises
    ------
    ValueError
        When the ``"png"`` schedule needs a curve and neither ``blur_curve`` nor usable
        ``images`` are given, or on a bad ``curve_images``.
    """
    if not isinstance(config, MollifyConfig):
        raise TypeError(f"expected a MollifyConfig, got {type(config).__name__}")
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    del fields["enabled"]
    if not config.enabled:
        # Mollification off: every image stays clean, with t = 0 and gamma = 0.
        fields.update(roles=("clean",), weights=None)
    elif blur_curve is None and config.blur_schedule == BlurSchedule.PNG and "blur" in config.roles:
        shape = getattr(images, "shape", None)
        if shape is None or len(shape) != 4 or shape[0] == 0:
            got = tuple(shape) if shape is not None else type(images).__name__
            raise ValueError(
                "blur_schedule='png' needs blur_curve, the blur information curve measured on "
                "clean training images: pass blur_curve, or images of shape (N, C, H, W), "
                f"N >= 1, to measure it on; got {got}"
            )
        from probmoll.mollify.schedules import measure_png_schedule

        blur_curve = measure_png_schedule(
            images, config.sigma_min, config.sigma_max, curve_images=curve_images
        )
    return Mollifier(
        **fields, blur_curve=blur_curve, label_form=label_form, num_classes=num_classes
    )
