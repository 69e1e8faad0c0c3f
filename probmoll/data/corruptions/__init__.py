"""Corruption benchmarks: names, readers of the published -C sets, and a local generator.

- :data:`BENCHMARK_CORRUPTIONS` -- the 15 test corruptions in Hendrycks & Dietterich's
  (and ``imagecorruptions``') order, which also indexes the seeds of generated sets;
  :data:`TABLE2_ORDER` -- the same 15 in the column order of the paper's Table 2, for
  reports; :data:`HELDOUT_CORRUPTIONS` -- the 4 validation/tuning ones;
  :data:`CORRUPTION_CATEGORIES` and :func:`category_of`.
- :class:`CorruptedDataset` -- reads CIFAR-10-C/CIFAR-100-C (``.npy``) and Tiny-ImageNet-C
  (JPEG folders) layouts lazily; :func:`open_corruptions` maps ``"cifar10-c"`` or
  ``"generated"`` to one.
- :func:`generate_corruptions` -- writes a set in the CIFAR-10-C layout for any split with
  ``imagecorruptions``, deterministically and in parallel; ``probmoll corrupt`` on the
  command line (:mod:`probmoll.data.corruptions.cli`).
"""

from .generate import corrupt_image, default_set_name, generate_corruptions, image_seed
from .names import (
    ALL_CORRUPTIONS,
    BENCHMARK_CORRUPTIONS,
    CORRUPTION_CATEGORIES,
    HELDOUT_CATEGORIES,
    HELDOUT_CORRUPTIONS,
    TABLE2_ORDER,
    category_of,
    check_corruption,
    list_corruptions,
)
from .reader import CORRUPTION_KINDS, PUBLISHED_SETS, CorruptedDataset, open_corruptions

__all__ = [
    "ALL_CORRUPTIONS",
    "BENCHMARK_CORRUPTIONS",
    "CORRUPTION_CATEGORIES",
    "CORRUPTION_KINDS",
    "HELDOUT_CATEGORIES",
    "HELDOUT_CORRUPTIONS",
    "PUBLISHED_SETS",
    "TABLE2_ORDER",
    "CorruptedDataset",
    "category_of",
    "check_corruption",
    "corrupt_image",
    "default_set_name",
    "generate_corruptions",
    "image_seed",
    "list_corruptions",
    "open_corruptions",
]
