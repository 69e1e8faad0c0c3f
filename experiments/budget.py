"""Estimated GPU-hours of the experiment grids, from their configs and the models' FLOPs.

For every run of a grid this counts the rows the run pushes through the network --
``min(epochs * steps_per_epoch, max_steps) * batch_size`` training rows (forward +
backward, about 3x the forward FLOPs) plus the clean and corrupted evaluation images
(forward only) -- and multiplies by the model's forward FLOPs per image, measured with
``torch.utils.flop_counter`` on one image of the dataset's size. Dividing by an assumed
sustained throughput (``--tflops``, default 40 TFLOP/s: roughly what bf16 convolutional
networks reach on one A100 at batch 128; a V100 reaches about a third of it) gives
GPU-hours. It is an estimate, not a measurement: data loading of per-image policies
(AugMix, AutoAugment, RandAugment, TrivialAugment) can make runs CPU-bound and slower.
A ``folder`` dataset is sized from the grid's ``data.subset`` and ``eval.subset`` and
its image shape from ``FOLDER_SHAPES`` (by ``data.options.name``); a grid whose dataset
size cannot be told that way gets an "n/a" row::

    python experiments/budget.py                       # every grid in experiments/grids
    python experiments/budget.py experiments/grids/paper-table1-cifar10.yaml --tflops 15
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere: import probmoll from the checkout
    sys.path.insert(0, str(REPO))

from probmoll.data.corruptions import BENCHMARK_CORRUPTIONS, HELDOUT_CORRUPTIONS  # noqa: E402
from probmoll.train.config import EvalConfig, TrainConfig  # noqa: E402
from probmoll.train.sweep import load_sweep  # noqa: E402

# Public sizes of the datasets: (classes, channels, image side, training images, test images).
DATASET_SHAPES = {
    "cifar10": (10, 3, 32, 50_000, 10_000),
    "cifar100": (100, 3, 32, 50_000, 10_000),
    "tinyimagenet": (200, 3, 64, 100_000, 10_000),
    "imagenet": (1000, 3, 224, 1_281_167, 50_000),
    "fashion-mnist": (10, 1, 32, 60_000, 10_000),
    "synthetic": (10, 3, 32, 1_024, 256),
}
# Folder datasets (data.name "folder"), by the name their config gives them
# (data.options.name): (classes, channels, image side). How many images they hold is not
# known here, so their runs are sized by data.subset and eval.subset.
FOLDER_SHAPES = {
    "cifar10-jpeg": (10, 3, 32),  # the JPEG copy of CIFAR-10 (experiments/configs)
}
# ImageNet-C: the benchmark corruption types x 5 severities of every validation image.
CORRUPTED_COPIES = len(BENCHMARK_CORRUPTIONS) * 5
# Training a convolutional network costs about three forward passes per image.
TRAIN_FLOPS_PER_FORWARD = 3


@functools.cache
def forward_flops(model_name: str, classes: int, channels: int, size: int) -> float:
    """FLOPs of one forward pass of one image (a multiply-add counts as 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from probmoll.models import create_model

    model = create_model(model_name, num_classes=classes, in_channels=channels, image_size=size)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, channels, size, size))
    return float(counter.get_total_flops())


def dataset_shape(config: TrainConfig) -> tuple[int, int, int, int, int] | None:
    """(classes, channels, image side, training images, test images) of the run's
    dataset, or None when they are unknown (a dataset not in the tables above, or a
    folder dataset without both ``data.subset`` and ``eval.subset``)."""
    if config.data.name in DATASET_SHAPES:
        return DATASET_SHAPES[config.data.name]
    if config.data.name != "folder":
        return None
    shape = FOLDER_SHAPES.get(str(config.data.options.get("name")))
    if shape is None or config.data.subset is None or config.eval.subset is None:
        return None
    return (*shape, config.data.subset, config.eval.subset)


def corruption_count(evaluation: EvalConfig) -> int:
    """Corruption types evaluated: ``eval.names`` when given, else the benchmark's
    (plus the held-out ones with ``eval.include_heldout``)."""
    if evaluation.names:
        return len(dict.fromkeys(evaluation.names))
    heldout = len(HELDOUT_CORRUPTIONS) if evaluation.include_heldout else 0
    return len(BENCHMARK_CORRUPTIONS) + heldout


def run_flops(config: TrainConfig) -> float | None:
    """Training plus evaluation FLOPs of one run (None: the dataset's size is unknown)."""
    shape = dataset_shape(config)
    if shape is None:
        return None
    classes, channels, size, train_images, test_images = shape
    if config.data.subset is not None:
        train_images = min(train_images, config.data.subset)
    distinct_per_step = config.batch_size // config.likelihood.k
    steps = config.epochs * (train_images // distinct_per_step)
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    if config.eval.subset is not None:
        test_images = min(test_images, config.eval.subset)
    copies = corruption_count(config.eval) * len(config.eval.severities)
    if config.eval.corruptions == "none":
        # ImageNet-C has no published array set: the grid evaluates it after training.
        copies = CORRUPTED_COPIES if config.data.name == "imagenet" else 0
    every = config.eval.every_epochs
    clean_evaluations = (config.epochs // every if every else 0) + 1
    evaluations = test_images * (clean_evaluations + copies)
    forward = forward_flops(config.model.name, classes, channels, size)
    return forward * (TRAIN_FLOPS_PER_FORWARD * steps * config.batch_size + evaluations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grids", nargs="*", type=Path, help="grid files (default: all)")
    parser.add_argument(
        "--tflops", type=float, default=40.0, help="sustained TFLOP/s of one GPU (default 40)"
    )
    args = parser.parse_args(argv)
    if args.tflops <= 0:
        parser.error(f"--tflops must be > 0, got {args.tflops}")
    grids = args.grids or sorted((REPO / "experiments" / "grids").glob("*.yaml"))
    print(
        f"| grid | runs | model | dataset | GPU-h per run "
        f"| GPU-h total (at {args.tflops:g} TFLOP/s) |"
    )
    print("|---|---|---|---|---|---|")
    grand_total = 0.0
    for grid in grids:
        spec = load_sweep(grid)
        first = spec.points[0].config
        flops = [run_flops(p.config) for p in spec.points]
        if None in flops:
            print(
                f"| {Path(grid).name} | {len(flops)} | {first.model.name} | {first.data.name} "
                "| n/a (dataset size unknown) | n/a |"
            )
            continue
        hours = [f / (args.tflops * 1e12) / 3600 for f in flops]
        grand_total += sum(hours)
        per_run = (
            f"{min(hours):.2f}"
            if max(hours) - min(hours) < 0.01
            else (f"{min(hours):.2f}-{max(hours):.2f}")
        )
        print(
            f"| {Path(grid).name} | {len(hours)} | {first.model.name} | {first.data.name} "
            f"| {per_run} | {sum(hours):.1f} |"
        )
    print(f"| all | | | | | {grand_total:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
