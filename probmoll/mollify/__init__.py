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
label forms and blur label schedules.
"""

from probmoll.mollify.blur import blur, heat_blur, sigma_blur
from probmoll.mollify.dct import dct_2d, dct_matrix, idct_2d
from probmoll.mollify.labels import (
    LabelForm,
    as_soft_targets,
    label_smooth,
    label_temper,
    simplex_tolerance,
)
from probmoll.mollify.mollifier import MollifiedBatch, Mollifier, MollifyConfig, create_mollifier
from probmoll.mollify.noise import noise, noise_coefficients
from probmoll.mollify.sampling import ROLE_NAMES, Role, sample_beta
from probmoll.mollify.schedules import (
    PNG_CURVE_IMAGES,
    PNG_CURVE_POINTS,
    BlurInformationCurve,
    BlurSchedule,
    blur_information_curve,
    gamma_blur,
    gamma_blur_png,
    gamma_blur_table,
    gamma_noise,
    png_sizes,
)

__all__ = [
    "PNG_CURVE_IMAGES",
    "PNG_CURVE_POINTS",
    "ROLE_NAMES",
    "BlurInformationCurve",
    "BlurSchedule",
    "LabelForm",
    "MollifiedBatch",
    "Mollifier",
    "MollifyConfig",
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
