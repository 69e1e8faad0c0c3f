"""Initialisation check: probmoll's preact-ResNet-18 against an independent reference network.

Claim: with its default initialisation, ``preact_resnet18`` trains as fast as an
independently written pre-activation ResNet-18 (the common CIFAR implementation, which
keeps PyTorch's default initialisation) under the paper's recipe -- SGD, learning rate
0.01, momentum 0.9, weight decay 5e-4, cosine schedule, batch 128 -- while the
``init="kaiming_fan_out"`` option (the post-activation ResNet habit) trains slower.

All networks see the same images in the same order with the same flips and crops (one
shared generator per epoch); each starts from ``torch.manual_seed(seed)``. The loop is
bare PyTorch (no probmoll engine), so that only the network differs. Reported: initial
logit standard deviation, training loss of the last epoch and test error per network,
averaged over ``--seeds``.

    python benchmarks/bench_init.py --data cifar10-jpeg --root ../shared/data/cifar10-jpeg.zip
    python benchmarks/bench_init.py --data fashion-mnist --train 5000 --epochs 2
    python benchmarks/bench_init.py --width 64 --precision bf16     # full width, as the paper
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from probmoll.data import load_dataset
from probmoll.models import create_model


class ReferenceBlock(nn.Module):
    """Pre-activation basic block written independently of probmoll's."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.norm_a = nn.BatchNorm2d(cin)
        self.conv_a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm_b = nn.BatchNorm2d(cout)
        self.conv_b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False))

    def forward(self, x):
        h = F.relu(self.norm_a(x))
        skip = x if self.skip is None else self.skip(h)
        h = self.conv_a(h)
        h = self.conv_b(F.relu(self.norm_b(h)))
        return h + skip


class ReferenceNet(nn.Module):
    """Pre-activation ResNet-18 for 32x32 images, PyTorch default initialisation."""

    def __init__(self, in_channels: int, num_classes: int, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        layers, cin = [], width
        for index in range(4):
            cout = width * 2**index
            for block in range(2):
                layers.append(ReferenceBlock(cin, cout, 2 if index and not block else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(cin)
        self.linear = nn.Linear(cin, num_classes)

    def forward(self, x):
        h = F.relu(self.bn(self.layers(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(h, 1).flatten(1))


def load(args):
    """Standardised float train/test tensors (N, C, 32, 32) and labels."""
    options = {"pad_to": 32} if args.data == "fashion-mnist" else {}
    name, extra = args.data, {}
    if args.data == "cifar10-jpeg":
        name, extra = "folder", {"name": "cifar10-jpeg"}
    splits = {}
    for split, count in (("train", args.train), ("test", args.test)):
        data = load_dataset(name, split, root=args.root, **options, **extra)
        rng = np.random.default_rng(0)
        index = np.sort(rng.permutation(len(data))[:count])
        images = torch.from_numpy(np.ascontiguousarray(data.images[index]))
        images = images.permute(0, 3, 1, 2).float().div_(255)
        mean = torch.tensor(data.mean).view(1, -1, 1, 1)
        std = torch.tensor(data.std).view(1, -1, 1, 1)
        splits[split] = ((images - mean) / std, torch.from_numpy(data.labels[index]))
    return splits, len(data.classes)


def flip_crop(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and 4-pixel padded crop, the same for every network."""
    n, _, h, w = images.shape
    flip = torch.rand(n, generator=generator) < 0.5
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
    padded = F.pad(images, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator)
    dx = torch.randint(0, 9, (n,), generator=generator)
    batch = torch.empty_like(images)
    for i in range(n):  # 128 small slices per batch: negligible next to the network
        batch[i] = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
    return batch


def train(model: nn.Module, splits, args, seed: int) -> dict[str, float]:
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs * steps_per_epoch)
    dtype = torch.bfloat16 if args.precision == "bf16" else None
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        initial_logit_std = model(x_test[:256]).float().std().item()
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        generator = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = torch.randperm(len(x_train), generator=generator)
        losses = []
        for begin in range(0, len(order), args.batch_size):
            index = order[begin : begin + args.batch_size]
            images = flip_crop(x_train[index], generator)
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(model(images).float(), y_train[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
    seconds = time.perf_counter() - start
    model.eval()
    errors = 0
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        for begin in range(0, len(x_test), 500):
            logits = model(x_test[begin : begin + 500])
            errors += (logits.argmax(1) != y_test[begin : begin + 500]).sum().item()
    return {
        "initial_logit_std": initial_logit_std,
        "last_epoch_loss": statistics.fmean(losses[-steps_per_epoch:]),
        "test_error": 100 * errors / len(x_test),
        "seconds": seconds,
    }


NETWORKS = {
    "reference (independent)": lambda c, k, w: ReferenceNet(c, k, w),
    "probmoll default init": lambda c, k, w: create_model(
        "preact_resnet18", k, in_channels=c, width=w
    ),
    "probmoll kaiming_fan_out": lambda c, k, w: create_model(
        "preact_resnet18", k, in_channels=c, width=w, init="kaiming_fan_out"
    ),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("cifar10-jpeg", "fashion-mnist"), default="cifar10-jpeg")
    parser.add_argument("--root", default=None, help="dataset root (the CIFAR-10 JPEG zip)")
    parser.add_argument("--train", type=int, default=10000, help="training images")
    parser.add_argument("--test", type=int, default=2000, help="test images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    splits, num_classes = load(args)
    channels = splits["train"][0].shape[1]
    print(
        f"{args.data}: {args.train} train / {args.test} test images, width {args.width}, "
        f"{args.epochs} epochs, lr {args.lr}, {args.precision}, {args.seeds} seed(s)"
    )
    results: dict[str, list[dict[str, float]]] = {name: [] for name in NETWORKS}
    for seed in range(args.seeds):
        for name, build in NETWORKS.items():  # in turns, so machine load hits all alike
            torch.manual_seed(seed)
            model = build(channels, num_classes, args.width)
            results[name].append(train(model, splits, args, seed))
    print("| network | initial logit std | last-epoch loss | test error % | s/run |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        mean = {key: statistics.fmean(run[key] for run in runs) for key in runs[0]}
        print(
            f"| {name} | {mean['initial_logit_std']:.3f} | {mean['last_epoch_loss']:.3f} "
            f"| {mean['test_error']:.1f} | {mean['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
