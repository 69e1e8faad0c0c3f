"""Mollification as a drop-in batch transform: ``x, y = mollify(x, y)``.

:class:`Mollify` has the calling convention of torchvision's ``v2.MixUp``/``v2.CutMix``
and timm's ``Mixup``: it takes a batch of images and labels and returns the mollified
images and their soft targets, so it goes wherever those go in an existing training
script (a DataLoader's ``collate_fn``, the training loop, a Lightning ``training_step``).
It is a thin wrapper: the draws and the maths are the :class:`~probmoll.mollify.Mollifier`'s,
and for the same random state the two return the same batch.

Mixing first, then mollification, as in probmoll's training engine
(:mod:`probmoll.train.trainer`): MixUp/CutMix turn the labels into soft targets
``y_mix = lambda y_i + (1 - lambda) y_j``, and the label mollification of each image
applies to that soft target -- ``(1 - gamma) y_mix + gamma / C`` for smoothing (Eq. 8),
``(1 - gamma) y_mix`` for tempering (Eq. 7) -- while the image the mixing produced is
noised or blurred.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from probmoll.mollify.mollifier import Mollifier, MollifyConfig, create_mollifier
from probmoll.mollify.options import ROLE_NAMES, LabelForm

if TYPE_CHECKING:
    import torch

    from probmoll.mollify._checks import Validation
    from probmoll.mollify.schedules import BlurInformationCurve

__all__ = ["Mollify", "MollifyDraw"]


@dataclasses.dataclass(frozen=True)
class MollifyDraw:
    """What :class:`Mollify` drew for one batch, on the images' device.

    Attributes
    ----------
    roles : Tensor
        ``int64`` role codes ``(B,)``: 0 clean, 1 noise, 2 blur (names in
        ``MollifyDraw.role_names``).
    t : Tensor
        Temperatures ``(B,)``; 0 for clean images.
    gamma : Tensor
        Label mollification levels ``(B,)``; 0 for clean images.
    """

    role_names: ClassVar[tuple[str, ...]] = ROLE_NAMES

    roles: torch.Tensor
    t: torch.Tensor
    gamma: torch.Tensor


class Mollify:
    """Mollify a batch of standardised images and return ``(images, soft targets)``.

    Each image independently draws a role (clean, noise or blur) and a temperature
    ``t ~ Beta(alpha, beta)``, is noised or blurred accordingly, and its target is
    smoothed by the matching level ``gamma_t`` (:class:`~probmoll.mollify.Mollifier`, paper
    Sec. 4). Labels may be class indices or soft targets such as ``v2.MixUp``,
    ``v2.CutMix`` or timm's ``Mixup`` return: the smoothing then applies to the mixed
    target, as in probmoll's training engine (mixing first, then mollification).

    Parameters
    ----------
    num_classes : int
        Number of classes ``C``; soft targets must have ``C`` columns.
    check_standardised : bool, default True
        Refuse a batch with no negative value. Standardisation subtracts each channel's
        mean, so a batch of standardised images has negative values; one without any
        holds images in [0, 1] (``ToTensor``/``ToDtype(scale=True)`` without
        ``Normalize``) or in [0, 255], for which the unit-variance noise of Eq. 4 is out
        of scale (it swamps [0, 1] images and barely touches [0, 255] ones). Pass
        ``False`` for data standardised otherwise, or for a single image brighter than
        its channel means.
    validate : bool or "async", optional
        How label values (in range, soft targets on the simplex) and the rule of
        ``check_standardised`` are checked: ``True`` on the host, raising
        ``ValueError`` that quotes the bad values (one synchronisation on an
        accelerator); ``"async"`` on the device with ``torch._assert_async`` (no
        synchronisation; a violation fails the device stream); ``False`` skips the label
        and standardisation checks. ``None`` (default): ``True`` on the CPU, ``"async"``
        elsewhere, as the :class:`~probmoll.mollify.Mollifier` does. Shapes, dtypes
        and devices are always checked, and NaN or infinite images always refused (by
        the mollifier).
    **options
        The :class:`~probmoll.mollify.Mollifier`'s settings: ``roles``, ``weights``,
        ``alpha``, ``beta``, ``k_noise``, ``k_blur``, ``sigma_min``, ``sigma_max``,
        ``blur_schedule``, ``blur_curve``, ``label_form``, ``transform_selected``.

    Attributes
    ----------
    mollifier : Mollifier
        The mollifier that draws and transforms.
    last : MollifyDraw or None
        What the latest call drew (roles, ``t``, ``gamma``), for logging; ``None`` before
        the first call. It lives in the process that made the call: when ``Mollify``
        runs inside a DataLoader's ``collate_fn`` with worker processes, each worker has
        its own copy and the training process sees ``None``; pass ``return_info=True``
        there and return the draw with the batch. Not pickled.

    Examples
    --------
    >>> mollify = Mollify(num_classes=10)
    >>> x, y = mollify(torch.randn(8, 3, 32, 32), torch.arange(8))
    >>> y.shape, mollify.last.gamma.shape
    (torch.Size([8, 10]), torch.Size([8]))
    """

    def __init__(
        self,
        num_classes: int,
        *,
        check_standardised: bool = True,
        validate: Validation | None = None,
        **options: Any,
    ) -> None:
        _check_num_classes(num_classes)
        self._setup(Mollifier(num_classes=num_classes, **options), check_standardised, validate)

    @classmethod
    def from_config(
        cls,
        config: MollifyConfig,
        num_classes: int,
        label_form: str | LabelForm = LabelForm.SMOOTH,
        *,
        images: torch.Tensor | None = None,
        blur_curve: BlurInformationCurve | None = None,
        check_standardised: bool = True,
        validate: Validation | None = None,
    ) -> Mollify:
        """The transform of a :class:`~probmoll.mollify.MollifyConfig` (a run's ``mollify:``
        section), built by :func:`~probmoll.mollify.create_mollifier`: all-clean when
        ``config.enabled`` is false, and the ``"png"`` blur schedule measured on
        ``images`` unless ``blur_curve`` is given."""
        _check_num_classes(num_classes)
        mollifier = create_mollifier(
            config, num_classes, label_form, images=images, blur_curve=blur_curve
        )
        transform = cls.__new__(cls)
        transform._setup(mollifier, check_standardised, validate)
        return transform

    def _setup(
        self, mollifier: Mollifier, check_standardised: bool, validate: Validation | None
    ) -> None:
        from probmoll.mollify._checks import check_validation

        if not isinstance(check_standardised, bool):
            raise TypeError(f"check_standardised must be True or False, got {check_standardised!r}")
        self.mollifier = mollifier
        self.num_classes: int = mollifier.num_classes  # type: ignore[assignment]
        self.check_standardised = check_standardised
        self.validate = None if validate is None else check_validation(validate)
        self.last: MollifyDraw | None = None

    def __call__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        return_info: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, MollifyDraw]:
        """Mollify ``(x, y)``.

        Parameters
        ----------
        x : Tensor
            Standardised floating images ``(B, C, H, W)`` on any device.
        y : Tensor
            Integer class indices ``(B,)`` in ``[0, num_classes)``, or soft targets
            ``(B, num_classes)`` on the simplex (e.g. after MixUp/CutMix), on ``x``'s
            device.
        generator : torch.Generator, optional
            Source of all randomness, on ``x``'s device; ``None`` draws from torch's
            global generator of that device (in DataLoader workers, torch seeds it per
            worker).
        return_info : bool, default False
            Also return the :class:`MollifyDraw`.

        Returns
        -------
        (Tensor, Tensor) or (Tensor, Tensor, MollifyDraw)
            Mollified images (shape, dtype and device of ``x``) and soft targets
            ``(B, num_classes)``: rows on the simplex for ``label_form="smooth"`` and
            ``"none"``, summing to ``1 - gamma`` for ``"temper"``.

        Raises
        ------
        TypeError
            For images or labels that are not tensors, or integer images.
        ValueError
            For images that are not ``(B, C, H, W)``, that look unstandardised
            (``check_standardised``) or hold NaN/inf, for labels out of range, soft
            targets off the simplex or with other than ``num_classes`` columns, a batch
            size or device that differs between images and labels, or a generator on
            another device. A refused call draws nothing.
        """
        from probmoll.mollify._checks import ASYNC, check_batch
        from probmoll.mollify.labels import as_soft_targets

        check_batch(x, y, "Mollify")
        if generator is not None and generator.device.type != x.device.type:
            raise ValueError(
                f"Mollify: the generator is on {generator.device} but the images on "
                f"{x.device}; create it there, torch.Generator({x.device.type!r})"
            )
        if self.validate is None:
            validate: Validation = True if x.device.type == "cpu" else ASYNC
        else:
            validate = self.validate
        if self.check_standardised and validate:
            _check_standardised(x, validate)
        if validate:
            # Checked here, before anything is drawn, so that a refused call draws nothing.
            as_soft_targets(y, self.num_classes, validate=validate)
        batch = self.mollifier(x, y, generator, validate_targets=False)
        self.last = MollifyDraw(roles=batch.roles, t=batch.t, gamma=batch.gamma)
        if return_info:
            return batch.x, batch.y, self.last
        return batch.x, batch.y

    def __getstate__(self) -> dict[str, Any]:
        # The last draw belongs to the process that made it; a copy sent to DataLoader
        # workers starts without one.
        return {**self.__dict__, "last": None}

    def __repr__(self) -> str:
        settings = repr(self.mollifier).partition("(")[2].removesuffix(")")
        return f"{type(self).__name__}({settings}, check_standardised={self.check_standardised})"


def _check_num_classes(num_classes: object) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"Mollify: num_classes must be a positive integer, got {num_classes!r}")


def _check_standardised(x: torch.Tensor, validate: Validation) -> None:
    """Refuse a batch with no negative value (see ``Mollify(check_standardised=...)``)."""
    import torch

    from probmoll.mollify._checks import ASYNC, assert_async

    if x.numel() == 0:
        return
    message = (
        "Mollify: the images look unstandardised: no value is negative (images in [0, 1] "
        "or [0, 255]); standardise each channel first, (x - mean) / std (e.g. "
        "v2.Normalize(mean, std) in the dataset's transform), or pass "
        "check_standardised=False if they are"
    )
    # NaN passes here (a comparison with NaN is false): the mollifier's finite check names it.
    if validate == ASYNC:
        assert_async(~(torch.amin(x) >= 0), message)
        return
    low, high = torch.aminmax(x)
    if bool(low >= 0):
        raise ValueError(f"{message}; got values in [{float(low):.4g}, {float(high):.4g}]")
