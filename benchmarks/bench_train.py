"""Training throughput of probmoll's engine against a minimal hand-written PyTorch loop.

Claim: the engine (uint8 data on the device, batched FCR, explicit generators) trains
preact_resnet18_w16 on 32x32 images with FCR at least as fast as the textbook loop
(torchvision per-image RandomCrop(32, padding=4) + RandomHorizontalFlip +
RandomRotation(15) in a DataLoader); data mollification costs at most 3% on top
(time ratio on/off <= 1.03); and the fp32 vs bf16-autocast ratio on this CPU is shown.

Every configuration trains ``--steps`` optimiser steps of ``--batch-size`` images after
``--warmup`` steps; configurations are measured in turns (``--repeats`` rounds); the
median images/s of each is reported, and every ratio is the median over rounds of the
ratio within a round, so that a machine busy with other work slows both sides alike.

    python benchmarks/bench_train.py                 # defaults: 12 steps of 128, 3 rounds
    python benchmarks/bench_train.py --threads 1 --steps 20
    python benchmarks/bench_train.py --device cuda --model preact_resnet50   # on a GPU

On CUDA the timed sections end with ``torch.cuda.synchronize()`` (kernels run
asynchronously), the engine keeps the uint8 images on the GPU as in training, and the
hand-written loop moves each batch there from its CPU DataLoader (pinned memory).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from probmoll.models import create_model
from probmoll.train.config import load_config
from probmoll.train.data import load_data
from probmoll.train.distributed import DistributedContext
from probmoll.train.runtime import torch_settings
from probmoll.train.trainer import Trainer

DEFAULT_MODEL = "preact_resnet18_w16"


def build_trainer(args, *overrides: str) -> Trainer:
    """The engine on synthetic 32x32 images (3 channels, 10 classes) with FCR."""
    config = load_config(
        None,
        [
            "out=runs/bench-train",
            f"device={args.device}",
            "data.name=synthetic",
            f"data.options={{n: {args.images}}}",
            f"model.name={args.model}",
            f"batch_size={args.batch_size}",
            "augment.policy=fcr",
            "optim.lr=0.01",
            "progress=false",
            *overrides,
        ],
    )
    device = torch.device(args.device)
    trainer = Trainer(
        config, load_data(config, device, DistributedContext()), device, DistributedContext()
    )
    trainer.model.train()
    return trainer


def endless(new_epoch: Callable[[], Iterator]) -> Iterator:
    """The batches of ``new_epoch()``, then of another call, and so on."""
    while True:
        yield from new_epoch()


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels (CUDA runs them asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(batches: Iterator, step: Callable, device: torch.device) -> Callable[[int], float]:
    """A function applying ``step`` to the next ``n`` batches; returns the seconds it took."""

    def run(steps: int) -> float:
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            step(*next(batches))
        synchronize(device)
        return time.perf_counter() - start

    return run


def engine_runner(trainer: Trainer, pipeline_only: bool = False) -> Callable[[int], float]:
    """``n`` engine steps (or only their input pipeline)."""

    def new_epoch() -> Iterator:
        trainer.step_in_epoch = 0
        return trainer.epoch_batches()

    step = trainer.prepare_batch if pipeline_only else trainer.train_step
    return timed(endless(new_epoch), step, trainer.device)


class _PerImageDataset(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), self.labels[index]


def hand_loop_runner(args, workers: int, pipeline_only: bool = False) -> Callable[[int], float]:
    """The textbook loop: per-image torchvision transforms in a DataLoader, SGD, CE."""
    config = load_config(
        None, ["out=unused", "data.name=synthetic", f"data.options={{n: {args.images}}}"]
    )
    data = load_data(config, torch.device("cpu"), DistributedContext())
    transform = v2.Compose(
        [
            v2.RandomCrop(32, padding=4),
            v2.RandomHorizontalFlip(),
            v2.RandomRotation(15),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(data.mean.tolist(), data.std.tolist()),
        ]
    )
    device = torch.device(args.device)
    dataset = _PerImageDataset(data.train_images, data.train_labels, transform)
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
    )
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=10, in_channels=3, image_size=32).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def train_step(images: torch.Tensor, labels: torch.Tensor) -> None:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return timed(
        endless(lambda: iter(loader)),
        (lambda *batch: None) if pipeline_only else train_step,
        device,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over all configurations")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name (default: %(default)s)")
    parser.add_argument("--images", type=int, default=2048, help="synthetic training images")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="where both loops train (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0, 2],
        help="DataLoader workers of the hand-written loop",
    )
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    plain = build_trainer(args, "mollify.enabled=false")
    mollified = build_trainer(args, "mollify.enabled=true")
    # The engine's own torch settings (threads, cuDNN/TF32 on a GPU), for both loops.
    with torch_settings(plain.config, torch.device(args.device)):
        measure(args, plain, mollified)


def measure(args: argparse.Namespace, plain: Trainer, mollified: Trainer) -> None:
    runners = {
        "engine fp32, FCR": engine_runner(plain),
        "engine fp32, FCR + mollification": engine_runner(mollified),
        "engine bf16 autocast, FCR": engine_runner(
            build_trainer(args, "mollify.enabled=false", "precision=bf16")
        ),
    }
    for workers in args.workers:
        runners[f"hand loop, torchvision per-image FCR, {workers} workers"] = hand_loop_runner(
            args, workers
        )
    pipelines = {
        "engine: batched FCR + standardise": engine_runner(plain, pipeline_only=True),
        "engine: batched FCR + standardise + mollify": engine_runner(mollified, pipeline_only=True),
        "hand loop: per-image FCR + normalise (0 workers)": hand_loop_runner(
            args, 0, pipeline_only=True
        ),
    }
    for run in (*runners.values(), *pipelines.values()):
        run(args.warmup)
    rates: dict[str, list[float]] = {name: [] for name in runners}
    batch_ms: dict[str, list[float]] = {name: [] for name in pipelines}
    for _ in range(args.repeats):
        for name, run in runners.items():
            rates[name].append(args.steps * args.batch_size / run(args.steps))
        for name, run in pipelines.items():
            batch_ms[name].append(1000 * run(args.steps) / args.steps)
    median = {name: statistics.median(values) for name, values in rates.items()}

    where = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(
        f"{args.model}, 32x32, batch {args.batch_size}, {args.steps} steps x "
        f"{args.repeats} rounds, {where}"
    )
    width = max(map(len, (*median, *batch_ms)))
    for name, value in median.items():
        spread = ", ".join(f"{v:.0f}" for v in rates[name])
        print(f"  {name:<{width}}  {value:7.1f} images/s   (rounds: {spread})")
    print("input pipeline alone, per batch:")
    for name, values in batch_ms.items():
        print(f"  {name:<{width}}  {statistics.median(values):7.2f} ms")

    def paired(numerator: str, denominator: str) -> float:
        # Median over rounds of the ratio within a round: both were measured moments
        # apart, so a machine busy with other work slows both alike.
        ratios = [a / b for a, b in zip(rates[numerator], rates[denominator], strict=True)]
        return statistics.median(ratios)

    best_hand_name = max(
        (name for name in median if name.startswith("hand loop")), key=median.__getitem__
    )
    engine = median["engine fp32, FCR"]
    speedup = paired("engine fp32, FCR", best_hand_name)
    print(f"engine / best hand loop (speed)          : {speedup:.3f}  (target >= 1)")
    moll_ratio = paired("engine fp32, FCR", "engine fp32, FCR + mollification")
    print(f"mollification on / off (time per image)  : {moll_ratio:.3f}  (target <= 1.03)")
    # The same ratio from the pipeline timings, less sensitive to a busy machine: the
    # extra milliseconds of mollification over the milliseconds of a whole step.
    extra_ms = statistics.median(batch_ms["engine: batched FCR + standardise + mollify"])
    extra_ms -= statistics.median(batch_ms["engine: batched FCR + standardise"])
    step_ms = 1000 * args.batch_size / engine
    print(
        f"  from the pipeline: 1 + {extra_ms:.2f} ms / {step_ms:.1f} ms per step = "
        f"{1 + extra_ms / step_ms:.3f}"
    )
    bf16 = paired("engine bf16 autocast, FCR", "engine fp32, FCR")
    print(f"fp32 / bf16 autocast (time per image)    : {bf16:.3f}  (> 1: bf16 faster)")


if __name__ == "__main__":
    main()
