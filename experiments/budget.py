"""Estimated GPU-hours of the experiment grids, from their configs and the models' FLOPs.

For every run of a grid this counts the rows the run pushes through the network --
``min(epochs * steps_per_epoch, max_steps) * batch_size`` training rows (forward +
backward, about 3x the forward FLOPs) plus the clean and corrupted evaluation images
(forward only) -- and multiplies by the model's forward FLOPs per image, measured with
``torch.utils.flop_counter`` on one image of the dataset's size. Dividing by an assumed
sustained throughput (``--tflops``, default 40 TFLOP/s: roughly what bf16 convolutional
networks reach on one A100 at batch 128; a V100 reaches about a third of it) gives
GPU-hours. It is an estimate, not a measurement: data loading of per-image policies
(AugMix, AutoAugment, RandAugment, TrivialAugment) can make runs CPU-bound and slower::

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

from probmoll.train.config import TrainConfig  # noqa: E402
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
# ImageNet-C: 15 corruption types x 5 severities of every validation image.
CORRUPTED_COPIES = 15 * 5
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


def run_flops(config: TrainConfig) -> float:
    """Training plus evaluation FLOPs of one run."""
    classes, channels, size, train_images, test_images = DATASET_SHAPES[config.data.name]
    if config.data.subset is not None:
        train_images = min(train_images, config.data.subset)
    distinct_per_step = config.batch_size // config.likelihood.k
    steps = config.epochs * (train_images // distinct_per_step)
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    if config.eval.subset is not None:
        test_images = min(test_images, config.eval.subset)
    copies = len(config.eval.names or range(15)) * len(config.eval.severities)
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
        hours = [run_flops(p.config) / (args.tflops * 1e12) / 3600 for p in spec.points]
        grand_total += sum(hours)
        first = spec.points[0].config
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
