"""Corruption benchmarks: names, readers of the published -C sets, and a local generator.

- :mod:`~probmoll.data.corruptions.names` -- :data:`BENCHMARK_CORRUPTIONS`, the 15 test
  corruptions in Hendrycks & Dietterich's (and ``imagecorruptions``') order, which also
  indexes the seeds of generated sets; :data:`TABLE2_ORDER` -- the same 15 in the column
  order of the paper's Table 2, for reports; :data:`HELDOUT_CORRUPTIONS` -- the 4
  validation/tuning ones; :data:`CORRUPTION_CATEGORIES`, :func:`category_of`, and the
  severity levels :data:`SEVERITIES` with their check :func:`check_severities`.
- :mod:`~probmoll.data.corruptions.presets` -- the severity constants of each corruption
  as data, per preset: ``"imagenet-c"`` (the ``imagecorruptions`` package), ``"cifar10-c"``
  and ``"tinyimagenet-c"`` (the scripts that made the published sets);
  :func:`resolve_preset` turns ``"auto"`` into the preset made for an image size.
- :mod:`~probmoll.data.corruptions.parametric` -- the 19 corruptions as functions of
  (image, parameters), following the published scripts (the cifar10-c and tinyimagenet-c
  presets).
- :mod:`~probmoll.data.corruptions.kernels` -- the package's corruptions, three mended, and
  the seeded corruption of a set's images for any preset (:func:`corrupt_image`,
  :func:`corrupt_range`).
- :mod:`~probmoll.data.corruptions.sets` -- :class:`CorruptedDataset` reads the
  CIFAR-10-C/CIFAR-100-C (``.npy``) and Tiny-ImageNet-C (JPEG folders) layouts lazily.
- :mod:`~probmoll.data.corruptions.generate` -- :func:`generate_corruptions` writes a set
  in the CIFAR-10-C layout for any split with a preset's constants, deterministically and
  in parallel; ``probmoll corrupt`` on the command line
  (:mod:`probmoll.data.corruptions.cli`).
- :mod:`~probmoll.data.corruptions.reader` -- :func:`open_corruptions` maps
  ``"cifar10-c"``, ``"generated"`` or a folder to a :class:`CorruptedDataset`;
  :func:`check_corruption_set` checks, without reading images, that a set holds what an
  evaluation will ask of it.

The modules import one another one way: names <- presets <- parametric <- kernels <-
generate -> sets; reader on top of generate and sets.
"""

from .generate import default_set_name, generate_corruptions
from .kernels import corrupt_image, corrupt_range, image_seed
from .names import (
    ALL_CORRUPTIONS,
    BENCHMARK_CORRUPTIONS,
    CORRUPTION_CATEGORIES,
    HELDOUT_CATEGORIES,
    HELDOUT_CORRUPTIONS,
    SEVERITIES,
    TABLE2_ORDER,
    category_of,
    check_corruption,
    check_severities,
    list_corruptions,
)
from .presets import (
    CORRUPTION_PRESETS,
    PRESET_CHOICES,
    PRESETS,
    PUBLISHED_PRESETS,
    CorruptionPreset,
    get_preset,
    resolve_preset,
)
from .reader import PUBLISHED_SETS, check_corruption_set, open_corruptions
from .sets import CORRUPTION_KINDS, CorruptedDataset

__all__ = [
    "ALL_CORRUPTIONS",
    "BENCHMARK_CORRUPTIONS",
    "CORRUPTION_CATEGORIES",
    "CORRUPTION_KINDS",
    "CORRUPTION_PRESETS",
    "HELDOUT_CATEGORIES",
    "HELDOUT_CORRUPTIONS",
    "PRESETS",
    "PRESET_CHOICES",
    "PUBLISHED_PRESETS",
    "PUBLISHED_SETS",
    "SEVERITIES",
    "TABLE2_ORDER",
    "CorruptedDataset",
    "CorruptionPreset",
    "category_of",
    "check_corruption",
    "check_corruption_set",
    "check_severities",
    "corrupt_image",
    "corrupt_range",
    "default_set_name",
    "generate_corruptions",
    "get_preset",
    "image_seed",
    "list_corruptions",
    "open_corruptions",
    "resolve_preset",
]
