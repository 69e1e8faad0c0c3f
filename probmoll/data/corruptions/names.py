"""Names and categories of the common corruptions (Hendrycks & Dietterich, 2019).

The paper evaluates on the 15 benchmark corruptions of CIFAR-10-C, CIFAR-100-C and
Tiny-ImageNet-C, grouped as in its Table 2 header: noise, blur, weather and digital. The
four further corruptions of the -C sets are *held out*: meant for validation and tuning,
so that the 15 test corruptions are never looked at while choosing hyper-parameters.

Two orders are kept apart. :data:`BENCHMARK_CORRUPTIONS` (and :data:`ALL_CORRUPTIONS`)
follow Hendrycks & Dietterich and the ``imagecorruptions`` package; positions in
:data:`ALL_CORRUPTIONS` index the per-image seeds of generated sets, so that order is
fixed. :data:`TABLE2_ORDER` is the column order of the paper's Table 2, used only to lay
out reports.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

__all__ = [
    "ALL_CORRUPTIONS",
    "BENCHMARK_CORRUPTIONS",
    "CORRUPTION_CATEGORIES",
    "HELDOUT_CATEGORIES",
    "HELDOUT_CORRUPTIONS",
    "SEVERITIES",
    "TABLE2_ORDER",
    "category_of",
    "check_corruption",
    "check_severities",
    "list_corruptions",
    "resolve_corruptions",
]

# The paper's grouping (Sec. 4, Metrics): noise 3/15, blur 4/15, weather 3/15 and "colorization
# or compression artifacts" 5/15, i.e. brightness counts as digital. Hendrycks & Dietterich
# (2019) list brightness under weather instead; only the category means differ.
CORRUPTION_CATEGORIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog"),
    "digital": ("brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
# Hendrycks & Dietterich's order within each category (that of imagecorruptions).
BENCHMARK_CORRUPTIONS: tuple[str, ...] = tuple(
    name for names in CORRUPTION_CATEGORIES.values() for name in names
)
# The columns of the paper's Table 2, left to right: same categories, another order within
# them. For reports only: it indexes nothing.
TABLE2_ORDER: tuple[str, ...] = (
    "shot_noise", "impulse_noise", "gaussian_noise",
    "motion_blur", "zoom_blur", "defocus_blur", "glass_blur",
    "fog", "frost", "snow",
    "brightness", "jpeg_compression", "pixelate", "elastic_transform", "contrast",
)  # fmt: skip
# Validation/tuning corruptions, with the category each belongs to.
HELDOUT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "noise": ("speckle_noise",),
    "blur": ("gaussian_blur",),
    "weather": ("spatter",),
    "digital": ("saturate",),
}
HELDOUT_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
# Benchmark then held-out: the order of imagecorruptions' corruption_tuple, whose positions
# also index the per-image seeds of generated sets (never reorder).
ALL_CORRUPTIONS: tuple[str, ...] = BENCHMARK_CORRUPTIONS + HELDOUT_CORRUPTIONS

_CATEGORY = {
    name: category
    for table in (CORRUPTION_CATEGORIES, HELDOUT_CATEGORIES)
    for category, names in table.items()
    for name in names
}


def check_corruption(name: str) -> str:
    """Return ``name`` if it is a known corruption, else raise a ValueError listing them."""
    if not isinstance(name, str):
        raise TypeError(f"corruption name must be a str, got {type(name).__name__}")
    if name not in _CATEGORY:
        raise ValueError(
            f"unknown corruption {name!r}; valid names: benchmark {list(BENCHMARK_CORRUPTIONS)}, "
            f"held out {list(HELDOUT_CORRUPTIONS)}"
        )
    return name


# The five severity levels of every -C benchmark.
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


def check_severities(severities: Iterable[int], *, name: str = "severities") -> tuple[int, ...]:
    """``severities`` as a sorted tuple of distinct levels from :data:`SEVERITIES`.

    Parameters
    ----------
    severities : iterable of int
        Severity levels, e.g. ``[1, 5]``.
    name : str, default "severities"
        What the caller calls them (a config key, a command-line flag), for the message.

    Raises
    ------
    ValueError
        When the list is empty, repeats a level or holds anything but the integers 1..5.
    """
    try:
        levels = tuple(severities)
    except TypeError:
        raise ValueError(
            f"{name} must be integers in 1..5 (a non-empty list), got {severities!r}"
        ) from None
    bad = [
        level
        for level in levels
        if isinstance(level, bool)
        or not isinstance(level, numbers.Integral)
        or level not in SEVERITIES
    ]
    if bad or not levels:
        raise ValueError(f"{name} must be integers in 1..5 (a non-empty list), got {list(levels)}")
    if len(set(levels)) != len(levels):
        raise ValueError(f"{name} must not repeat a level, got {list(levels)}")
    return tuple(sorted(int(level) for level in levels))


def category_of(name: str) -> str:
    """Category (``"noise"``, ``"blur"``, ``"weather"``, ``"digital"``) of a corruption,
    benchmark or held out."""
    return _CATEGORY[check_corruption(name)]


def list_corruptions(which: str = "benchmark") -> list[str]:
    """Corruption names: ``"benchmark"`` (15), ``"heldout"`` (4), ``"all"`` (19), or a category."""
    if which == "benchmark":
        return list(BENCHMARK_CORRUPTIONS)
    if which == "heldout":
        return list(HELDOUT_CORRUPTIONS)
    if which == "all":
        return list(ALL_CORRUPTIONS)
    if which in CORRUPTION_CATEGORIES:
        return list(CORRUPTION_CATEGORIES[which])
    raise ValueError(
        f"unknown corruption group {which!r}; valid: ['benchmark', 'heldout', 'all', "
        f"{', '.join(repr(c) for c in CORRUPTION_CATEGORIES)}]"
    )


def resolve_corruptions(
    corruptions: Iterable[str] | str | None, include_heldout: bool = True
) -> tuple[str, ...]:
    """Validated corruption names in canonical order (:data:`ALL_CORRUPTIONS`).

    Parameters
    ----------
    corruptions : iterable of str, str or None
        Names (one name alone may be a plain string); ``None`` means the 15 benchmark
        corruptions plus, with ``include_heldout``, the 4 held-out ones.
    include_heldout : bool, default True
        See ``corruptions``.

    Returns
    -------
    tuple of str
        Distinct names, in the order of :data:`ALL_CORRUPTIONS`.
    """
    if corruptions is None:
        return BENCHMARK_CORRUPTIONS + (HELDOUT_CORRUPTIONS if include_heldout else ())
    if isinstance(corruptions, str):
        corruptions = [corruptions]
    names = {check_corruption(c) for c in corruptions}
    if not names:
        raise ValueError("corruptions must name at least one corruption")
    return tuple(c for c in ALL_CORRUPTIONS if c in names)
