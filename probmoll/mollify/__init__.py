"""Data mollification: noising, blurring, label smoothing and their schedules (Sec. 3.2-3.3).

Pure kernels act on standardised float images of shape ``(..., C, H, W)`` and take
per-image levels (a number, or a tensor of the leading batch shape):

- :func:`noise` -- Gaussian noising on the cosine schedule (Eq. 4)
- :func:`blur`, :func:`heat_blur`, :func:`sigma_blur` -- DCT heat-dissipation blur (Eqs. 5-6)
- :func:`label_smooth`, :func:`label_temper`, :func:`as_soft_targets` -- targets (Eqs. 7-8)
- :func:`gamma_noise`, :func:`gamma_blur` -- label schedules (Eqs. 12-13);
  :func:`gamma_blur_png`, :func:`blur_information_curve` -- the PNG information
  measure behind Eq. 13 (on the host), :func:`gamma_blur_table` -- its measured
  curve interpolated on the device for training

:class:`Mollifier` (built from a :class:`MollifyConfig` by :func:`create_mollifier`)
draws a role and a temperature per image (:mod:`probmoll.mollify.sampling`) and applies the
kernels to a whole batch (Sec. 4); :class:`LabelForm` and :class:`BlurSchedule` name the
label forms and blur label schedules. :class:`Mollify` wraps it as a drop-in batch
transform, ``x, y = mollify(x, y)``, the calling convention of torchvision's ``v2.MixUp``
(:mod:`probmoll.mollify.transform`).

Names are imported on first use (PEP 562), so that ``import probmoll.mollify`` imports no
torch: the options of a run's config (:class:`MollifyConfig`, :class:`Role`,
:class:`LabelForm`, :class:`BlurSchedule`) come from torch-free modules
(:mod:`probmoll.mollify.options`), the kernels from modules that import torch.
"""

from __future__ import annotations

from probmoll.utils.lazy import lazy_exports

# Where each public name is defined: the module imported when the name is first used.
_SOURCES = {
    "blur": "blur",
    "heat_blur": "blur",
    "sigma_blur": "blur",
    "dct_2d": "dct",
    "dct_matrix": "dct",
    "idct_2d": "dct",
    "as_soft_targets": "labels",
    "label_smooth": "labels",
    "label_temper": "labels",
    "simplex_tolerance": "labels",
    "MollifiedBatch": "mollifier",
    "Mollifier": "mollifier",
    "MollifyConfig": "mollifier",
    "create_mollifier": "mollifier",
    "Mollify": "transform",
    "MollifyDraw": "transform",
    "noise": "noise",
    "noise_coefficients": "noise",
    "ROLE_NAMES": "options",
    "Role": "options",
    "LabelForm": "options",
    "BlurSchedule": "options",
    "PNG_CURVE_IMAGES": "options",
    "PNG_CURVE_POINTS": "options",
    "sample_beta": "sampling",
    "BlurInformationCurve": "schedules",
    "blur_information_curve": "schedules",
    "gamma_blur": "schedules",
    "gamma_blur_png": "schedules",
    "gamma_blur_table": "schedules",
    "gamma_noise": "schedules",
    "png_sizes": "schedules",
}

__all__ = [
    "PNG_CURVE_IMAGES",
    "PNG_CURVE_POINTS",
    "ROLE_NAMES",
    "BlurInformationCurve",
    "BlurSchedule",
    "LabelForm",
    "MollifiedBatch",
    "Mollifier",
    "Mollify",
    "MollifyConfig",
    "MollifyDraw",
    "Role",
    "as_soft_targets",
    "blur",
    "blur_information_curve",
    "create_mollifier",
    "dct_2d",
    "dct_matrix",
    "gamma_blur",
    "gamma_blur_png",
    "gamma_blur_table",
    "gamma_noise",
    "heat_blur",
    "idct_2d",
    "label_smooth",
    "label_temper",
    "noise",
    "noise_coefficients",
    "png_sizes",
    "sample_beta",
    "sigma_blur",
    "simplex_tolerance",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
