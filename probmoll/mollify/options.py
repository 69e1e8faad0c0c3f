"""The options of data mollification as plain data, and their checks; no torch.

Everything :class:`~probmoll.mollify.MollifyConfig` validates a run's settings with lives
here, so that a configuration error is reported without importing torch:

- :class:`Role` and :data:`ROLE_NAMES` -- what an image of a batch draws (clean, noise, blur);
- :class:`LabelForm` -- how a mollification level degrades the targets;
- :class:`BlurSchedule`, :data:`PNG_CURVE_IMAGES`, :data:`PNG_CURVE_POINTS` -- the blur
  label schedule and the size of its measured PNG curve;
- :func:`check_positive`, :func:`check_roles`, :func:`check_weights` -- checks of numbers,
  role lists and role weights.

The torch modules (:mod:`~probmoll.mollify.sampling`, :mod:`~probmoll.mollify.labels`,
:mod:`~probmoll.mollify.schedules`) read these definitions from here and re-export them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence

from probmoll.utils.enums import parse_choice

__all__ = [
    "PNG_CURVE_IMAGES",
    "PNG_CURVE_POINTS",
    "ROLE_NAMES",
    "BlurSchedule",
    "LabelForm",
    "Role",
    "check_positive",
    "check_roles",
    "check_weights",
]

#: Training images (evenly spaced over the set) the ``"png"`` blur schedule is measured on.
PNG_CURVE_IMAGES = 256
#: Temperatures, evenly spaced on ``[0, 1]``, at which the ``"png"`` schedule is measured.
PNG_CURVE_POINTS = 21


class Role(enum.IntEnum):
    """What happens to one image of the batch; the value is the code in ``MollifiedBatch.roles``."""

    CLEAN = 0
    NOISE = 1
    BLUR = 2


#: Role names indexed by their code: ``ROLE_NAMES[code]``.
ROLE_NAMES: tuple[str, ...] = tuple(role.name.lower() for role in Role)


class LabelForm(str, enum.Enum):
    """How a mollification level ``gamma`` degrades the targets (Sec. 3.3)."""

    SMOOTH = "smooth"  # Eq. 8: (1 - gamma) y + gamma / C, label_smooth
    TEMPER = "temper"  # Eq. 7: (1 - gamma) y, label_temper
    NONE = "none"  # targets unchanged (as soft targets)

    @classmethod
    def parse(cls, value: str | LabelForm) -> LabelForm:
        """``value`` as a :class:`LabelForm`; a ValueError listing the forms otherwise."""
        return parse_choice(cls, value, "label_form")


class BlurSchedule(str, enum.Enum):
    """Label schedule of blurred images (Eq. 13)."""

    POWER = "power"  # gamma = t^k, the right-hand side of Eq. 13 (what the paper ran)
    # gamma = (1 - size(x_t.png) / size(x_0.png))^k, measured (docs/paper-readings.md, reading 1)
    PNG = "png"

    @classmethod
    def parse(cls, value: str | BlurSchedule) -> BlurSchedule:
        """``value`` as a :class:`BlurSchedule`; a ValueError listing the schedules otherwise."""
        return parse_choice(cls, value, "blur_schedule")


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float that is > 0 (or >= 0), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return value


def check_roles(roles: object) -> tuple[str, ...]:
    """``roles`` as a tuple of distinct role names from :data:`ROLE_NAMES`.

    Parameters
    ----------
    roles : sequence of str
        Roles an image may draw, e.g. ``["noise", "blur"]``; a list or a tuple.

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        When ``roles`` is a string, not a sequence, empty, repeats a role or names an
        unknown one.
    """
    if isinstance(roles, str) or not isinstance(roles, Sequence) or len(roles) == 0:
        raise ValueError(
            f"roles must be a non-empty list of role names from {list(ROLE_NAMES)}, got {roles!r}"
        )
    for role in roles:
        if role not in ROLE_NAMES:
            raise ValueError(f"roles: unknown role {role!r}; choose from {list(ROLE_NAMES)}")
    if len(set(roles)) != len(roles):
        raise ValueError(f"roles must not repeat a role, got {list(roles)}")
    return tuple(roles)


def check_weights(weights: object, roles: Sequence[str]) -> tuple[float, ...] | None:
    """``weights`` as one non-negative float per role (not all zero), or ``None``.

    Parameters
    ----------
    weights : sequence of float or None
        Relative probabilities of ``roles``; ``None`` means uniform.
    roles : sequence of str
        The roles they weigh (checked by :func:`check_roles`).

    Returns
    -------
    tuple of float or None

    Raises
    ------
    ValueError
        When ``weights`` is not a list of numbers, has not one entry per role, holds a
        negative or non-finite number, or is all zeros.
    """
    if weights is None:
        return None
    if isinstance(weights, str) or not isinstance(weights, Sequence):
        raise ValueError(f"weights must be a list of numbers or null, got {weights!r}")
    if len(weights) != len(roles):
        raise ValueError(
            f"weights must have one entry per role ({len(roles)} for roles {list(roles)}), "
            f"got {list(weights)}"
        )
    checked = tuple(
        check_positive(f"weights[{i}]", w, allow_zero=True) for i, w in enumerate(weights)
    )
    if sum(checked) <= 0:
        raise ValueError(f"weights must not all be zero, got {list(checked)}")
    return checked
