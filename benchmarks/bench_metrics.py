"""Cost of exact metric accumulation during evaluation.

Claim: :class:`probmoll.metrics.ClassificationMetrics` (error, NLL, ECE, Brier in
float64 sums, with input checks) costs about as much per batch as torchmetrics'
calibration error plus accuracy, and both are small next to a model's forward pass.

Measured side by side in one run, on the device given (default: cuda if available):
time per batch of ``update`` for probmoll, for torchmetrics (MulticlassCalibrationError
+ MulticlassAccuracy), and for a preact-ResNet-18 (width 16) forward pass.

Run: ``python benchmarks/bench_metrics.py [--device cpu] [--batch-size 512]``
"""

from __future__ import annotations

import argparse
import time

import torch

from probmoll.metrics import ClassificationMetrics


def seconds_per_call(function, repeats: int, device: torch.device) -> float:
    function()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def measure(num_classes: int, batch_size: int, repeats: int, device: torch.device):
    """Seconds per batch: probmoll update, torchmetrics update, model forward."""
    from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

    from probmoll.models import create_model

    generator = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(batch_size, num_classes, generator=generator)).to(device)
    labels = torch.randint(num_classes, (batch_size,), generator=generator).to(device)
    ours = ClassificationMetrics(num_classes=num_classes)
    calibration = MulticlassCalibrationError(num_classes=num_classes, n_bins=15).to(device)
    accuracy = MulticlassAccuracy(num_classes=num_classes, average="micro").to(device)
    model = create_model("preact_resnet18_w16", num_classes=num_classes).to(device).eval()
    images = torch.randn(batch_size, 3, 32, 32, device=device)

    def theirs():
        calibration.update(logits, labels)
        accuracy.update(logits, labels)

    @torch.no_grad()
    def forward():
        model(images)

    return (
        seconds_per_call(lambda: ours.update(logits, labels), repeats, device),
        seconds_per_call(theirs, repeats, device),
        seconds_per_call(forward, max(3, repeats // 10), device),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, batch {args.batch_size}, {args.repeats} repeats")
    header = ("classes", "probmoll ms", "torchmetrics ms", "ratio", "forward ms")
    print("{:>8} {:>12} {:>16} {:>7} {:>11}".format(*header))
    for num_classes in (10, 100):
        ours, theirs, forward = measure(num_classes, args.batch_size, args.repeats, device)
        print(
            f"{num_classes:>8} {1e3 * ours:>12.3f} {1e3 * theirs:>16.3f} "
            f"{ours / theirs:>7.2f} {1e3 * forward:>11.2f}"
        )


if __name__ == "__main__":
    main()
