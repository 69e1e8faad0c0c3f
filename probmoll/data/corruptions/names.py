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

__all__ = [
    "ALL_CORRUPTIONS",
    "BENCHMARK_CORRUPTIONS",
    "CORRUPTION_CATEGORIES",
    "HELDOUT_CATEGORIES",
    "HELDOUT_CORRUPTIONS",
    "TABLE2_ORDER",
    "category_of",
    "check_corruption",
    "list_corruptions",
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
