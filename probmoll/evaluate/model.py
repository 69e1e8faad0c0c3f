"""Evaluate a classifier on a clean split and on a corruption benchmark.

:func:`evaluate_model` measures what Tables 1-2 and Figs. 5, 9 and 10 of the paper
report: error, NLL and ECE (Sec. 4, "Metrics") on the clean test split and on every
(corruption, severity) cell of a corruption benchmark, summarised per corruption,
category and severity, with the mean over the benchmark corruptions and severities as
the "corr" column. Every set goes through the one loop of
:func:`probmoll.evaluate.core.evaluate_images`.

Any classifier module can be evaluated: a probmoll network with the mean/std it was
trained with, or -- without mean/std -- a module that takes float images in [0, 1] and
standardises them itself (:func:`probmoll.load_model`'s output, a torchvision model
wrapped with its normalisation, a RobustBench model)::

    >>> from probmoll import load_model
    >>> from probmoll.data import load_dataset
    >>> from probmoll.data.corruptions import open_corruptions
    >>> model = load_model("runs/cifar10-moll")  # doctest: +SKIP
    >>> test = load_dataset("cifar10", "test")  # doctest: +SKIP
    >>> corrupted = open_corruptions("cifar10-c", root="data")  # doctest: +SKIP
    >>> results = evaluate_model(model, test, corrupted)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from probmoll.evaluate.core import (
    ImageLayout,
    check_images,
    evaluate_images,
    model_device_and_dtype,
)
from probmoll.metrics import (
    DEFAULT_N_BINS,
    DEFAULT_SEVERITIES,
    ClassificationMetrics,
    aggregate_corruptions,
)

__all__ = ["evaluate_model"]


def _check_split(
    images: Any,
    labels: Any,
    channels: int | None,
    where: str,
    image_size: tuple[int, int] | None = None,
) -> None:
    """:func:`check_images` for ``(N, H, W, C)`` arrays, and the clean images' size."""
    check_images(images, labels, channels, ImageLayout.NHWC, where)
    if image_size is not None and tuple(images.shape[1:3]) != tuple(image_size):
        raise ValueError(
            f"{where}: images are {images.shape[1]}x{images.shape[2]} but the clean images "
            f"are {image_size[0]}x{image_size[1]}"
        )


def _diagram_json(metrics: ClassificationMetrics) -> dict[str, list]:
    diagram = metrics.reliability_diagram()

    def listed(values: torch.Tensor) -> list:
        return [None if math.isnan(v) else v for v in values.tolist()]

    return {
        "bin_edges": diagram.bin_edges.tolist(),
        "count": [int(c) for c in diagram.count.tolist()],
        "mean_confidence": listed(diagram.mean_confidence),
        "accuracy": listed(diagram.accuracy),
    }


def evaluate_model(
    model: nn.Module,
    clean: Any | None,
    corrupted: Any | None,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    batch_size: int = 512,
    device: torch.device | str | None = None,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    include_heldout: bool = False,
    max_examples: int | None = None,
    n_bins: int = DEFAULT_N_BINS,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Error, NLL, ECE and Brier score on a clean split and a corruption benchmark.

    The model runs in eval mode under :func:`torch.no_grad`; the train/eval mode of
    every submodule is restored afterwards. Nothing is written to disk (see
    :func:`probmoll.evaluate.write_report`).

    Parameters
    ----------
    model : nn.Module
        Maps float images ``(B, C, H, W)`` to logits ``(B, K)``: images standardised
        with ``mean``/``std``, or, without them, images in [0, 1].
    clean : DatasetSplit, optional
        The clean test split (``.images`` uint8 ``(N, H, W, C)``, ``.labels``).
    corrupted : CorruptedDataset, optional
        A corruption benchmark: ``.corruptions`` (names) and
        ``.load(corruption, severity) -> (images, labels)``.
    mean, std : sequence of float, optional
        Per-channel standardisation on the [0, 1] scale (the training statistics,
        stored in the checkpoint) of a network that takes standardised images. Both
        None (default): the model takes images in [0, 1] (``x / 255``) and standardises
        them itself, as :func:`probmoll.load_model`'s output does; the images may then
        have any number of channels the model accepts.
    batch_size : int, default 512
        Images per forward pass; the results do not depend on it.
    device : torch.device or str, optional
        Where to run; default: where the model's parameters are. The model is
        moved there.
    corruptions : sequence of str, optional
        Which corruptions to evaluate; default: every benchmark corruption that
        ``corrupted`` provides (in ``BENCHMARK_CORRUPTIONS`` order), plus the held-out ones
        when ``include_heldout``.
    severities : sequence of int, optional
        Severity levels (1-5) to evaluate; default: every severity the corrupted set
        holds (1-5 for the published sets).
    include_heldout : bool, default False
        With ``corruptions=None``, also evaluate the held-out corruptions
        (reported apart, never in the mean).
    max_examples : int, optional
        Evaluate only the first ``max_examples`` images of the clean split and of
        each corruption cell (a quick look; the -C sets keep the test order).
    n_bins : int, default 15
        Confidence bins of the ECE.
    autocast_dtype : torch.dtype, optional
        Run the forward pass under :func:`torch.autocast` with this dtype
        (e.g. ``torch.bfloat16``, as a run trained in bf16 is evaluated); metrics are
        still computed in float64.
    channels_last : bool, default False
        Give the model channels-last inputs (as a run trained channels-last).
    progress : bool, default True
        Show a progress bar over the corruption cells.

    Returns
    -------
    dict
        ``clean``: metrics of the clean split (``None`` without one);
        ``corrupted``: the summaries of
        :func:`probmoll.metrics.aggregate_corruptions` plus ``pooled`` (the
        metrics of all benchmark images taken together) (``None`` without a
        benchmark); ``reliability``: reliability-diagram data for ``clean`` and
        the pooled ``corrupted`` images; ``settings``: how it was evaluated.
    """
    if clean is None and corrupted is None:
        raise ValueError("nothing to evaluate: pass a clean split, a corrupted set or both")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1
    ):
        raise ValueError(f"max_examples must be a positive integer or None, got {max_examples!r}")
    if (mean is None) != (std is None):
        raise ValueError("pass both mean and std, or neither (a model fed images in [0, 1])")
    mean_values = std_values = channels = None
    if mean is not None:
        mean_values = [float(v) for v in mean]
        std_values = [float(v) for v in std]
        if len(mean_values) != len(std_values) or not mean_values:
            raise ValueError(f"mean and std need one entry per channel, got {mean} and {std}")
        if any(not s > 0 for s in std_values):
            raise ValueError(f"std must be positive, got {std}")
        channels = len(mean_values)

    device = model_device_and_dtype(model)[0] if device is None else torch.device(device)
    model.to(device)

    def on_device(values: list[float] | None) -> torch.Tensor | None:
        return None if values is None else torch.tensor(values, dtype=torch.float32, device=device)

    options = dict(
        mean=on_device(mean_values),
        std=on_device(std_values),
        batch_size=batch_size,
        layout=ImageLayout.NHWC,
        device=device,
        autocast_dtype=autocast_dtype,
        channels_last=channels_last,
        n_bins=n_bins,
    )
    limit = slice(None, max_examples)
    if severities is None:
        severities = tuple(getattr(corrupted, "severities", DEFAULT_SEVERITIES))
    cells = _corruption_cells(corrupted, corruptions, severities, include_heldout)

    results: dict[str, Any] = {"clean": None, "corrupted": None, "reliability": {}}
    if clean is not None:
        _check_split(clean.images, clean.labels, channels, "clean split")
        clean_metrics = evaluate_images(model, clean.images[limit], clean.labels[limit], **options)
        results["clean"] = clean_metrics.compute()
        results["reliability"]["clean"] = _diagram_json(clean_metrics)
    if corrupted is not None:
        image_size = None if clean is None else tuple(clean.images.shape[1:3])
        results["corrupted"], results["reliability"]["corrupted"] = _evaluate_corruptions(
            model, corrupted, cells, limit, channels, image_size, options, progress
        )

    results["settings"] = {
        "batch_size": batch_size,
        "n_bins": n_bins,
        "max_examples": max_examples,
        "device": str(device),
        "autocast_dtype": None if autocast_dtype is None else str(autocast_dtype),
        "channels_last": bool(channels_last),
        # None: the model was fed images in [0, 1] and standardised them itself.
        "mean": mean_values,
        "std": std_values,
    }
    return results


def _corruption_cells(
    corrupted: Any | None,
    corruptions: Sequence[str] | None,
    severities: Sequence[int],
    include_heldout: bool,
) -> list[tuple[str, int]]:
    if corrupted is None:
        return []
    from probmoll.data.corruptions import BENCHMARK_CORRUPTIONS, HELDOUT_CORRUPTIONS
    from probmoll.data.corruptions.names import check_severities

    available = list(corrupted.corruptions)
    if corruptions is None:
        wanted = list(BENCHMARK_CORRUPTIONS) + (
            list(HELDOUT_CORRUPTIONS) if include_heldout else []
        )
        names = [name for name in wanted if name in available]
        if not names:
            raise ValueError(
                f"the corrupted set provides none of the benchmark corruptions "
                f"{list(BENCHMARK_CORRUPTIONS)}; it has {available}"
            )
    else:
        if isinstance(corruptions, str):
            raise TypeError(
                f"corruptions must be a sequence of names, got the string {corruptions!r}"
            )
        names = list(dict.fromkeys(corruptions))
        unknown = [name for name in names if name not in available]
        if unknown:
            raise ValueError(f"corruptions {unknown} are not in the set; it has {available}")
        if not any(name in BENCHMARK_CORRUPTIONS for name in names):
            raise ValueError(
                f"corruptions {names} include no benchmark corruption, so there is no "
                f"benchmark mean to report; benchmark corruptions: {list(BENCHMARK_CORRUPTIONS)}"
            )
    levels = check_severities(severities)
    return [(name, level) for name in names for level in levels]


def _evaluate_corruptions(
    model: nn.Module,
    corrupted: Any,
    cells: list[tuple[str, int]],
    limit: slice,
    channels: int | None,
    image_size: tuple[int, int] | None,
    options: dict[str, Any],
    progress: bool,
) -> tuple[dict[str, Any], dict[str, list]]:
    from tqdm import tqdm

    from probmoll.data.corruptions import BENCHMARK_CORRUPTIONS, CORRUPTION_CATEGORIES

    per_cell: dict[str, dict[int, dict[str, Any]]] = {}
    pooled = ClassificationMetrics(n_bins=options["n_bins"])
    # disable=None: tqdm draws only on a terminal (redraws would fill a log file).
    bar = tqdm(
        cells,
        desc="corruptions",
        unit="set",
        disable=None if progress else True,
        dynamic_ncols=True,
    )
    for corruption, severity in bar:
        bar.set_postfix_str(f"{corruption} s{severity}")
        images, labels = corrupted.load(corruption, severity)
        _check_split(images, labels, channels, f"{corruption} at severity {severity}", image_size)
        metrics = evaluate_images(model, images[limit], labels[limit], **options)
        per_cell.setdefault(corruption, {})[severity] = metrics.compute()
        if corruption in BENCHMARK_CORRUPTIONS:
            pooled.merge(metrics)
    bar.close()

    summary = aggregate_corruptions(
        per_cell,
        benchmark=list(BENCHMARK_CORRUPTIONS),
        categories={name: list(members) for name, members in CORRUPTION_CATEGORIES.items()},
    )
    summary["pooled"] = pooled.compute()
    return summary, _diagram_json(pooled)
