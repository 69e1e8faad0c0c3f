"""Cost of the drop-in transform :class:`probmoll.Mollify` next to torchvision's ``v2.MixUp``.

``Mollify`` sits where ``v2.MixUp`` sits in a training script (``x, y = t(x, y)``), so the
question a user asks is how much it adds there. Measured side by side in one run, on the
same 128 x 3 x 32 x 32 standardised float batch with integer labels, on one thread by
default (interleaved rounds, the order of the workloads rotated every round, median of
many calls each):

- ``mixup``: ``v2.MixUp(num_classes=10)(x, y)``;
- ``mollify``: ``Mollify(num_classes=10)(x, y, generator)`` with the paper's defaults
  (roles, ``t ~ Beta(1, 2)``, noise, heat blur, label smoothing, and its input checks);
- ``mollifier``: the :class:`~probmoll.mollify.Mollifier` call it wraps, so that
  ``mollify / mollifier`` is the price of the transform's checks (standardisation rule,
  labels checked before drawing);
- ``mixup+mollify``: the recipes' composition, ``mollify(*mixup(x, y), generator)``.

Run: ``PYTHONPATH=. python benchmarks/bench_transform.py [--device cuda] [--threads 1]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchvision.transforms import v2

from probmoll import Mollify
from probmoll.mollify import Mollifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=20, help="interleaved timing rounds")
    parser.add_argument("--repeats", type=int, default=25, help="calls per workload and round")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    num_classes, size = 10, args.image_size

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(args.batch_size, 3, size, size, device=device, generator=generator)
    y = torch.randint(0, num_classes, (args.batch_size,), device=device, generator=generator)
    mixup = v2.MixUp(num_classes=num_classes)
    mollify = Mollify(num_classes=num_classes)
    mollifier = Mollifier(num_classes=num_classes)

    # The transform and the mollifier it wraps agree before their speeds are compared.
    ours = mollify(x, y, torch.Generator(device=device).manual_seed(1))
    theirs = mollifier(x, y, torch.Generator(device=device).manual_seed(1))
    assert torch.equal(ours[0], theirs.x) and torch.equal(ours[1], theirs.y)

    workloads = {
        "mixup": lambda: mixup(x, y),
        "mollify": lambda: mollify(x, y, generator),
        "mollifier": lambda: mollifier(x, y, generator),
        "mixup+mollify": lambda: mollify(*mixup(x, y), generator),
    }
    names = list(workloads)
    samples: dict[str, list[float]] = {name: [] for name in names}
    with torch.no_grad():
        for work in workloads.values():  # warm-up: allocations, DCT matrices, lazy imports
            for _ in range(5):
                work()
        synchronize()
        for round_index in range(args.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                work = workloads[name]
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    work()
                    synchronize()
                    samples[name].append(time.perf_counter() - start)

    median = {name: statistics.median(values) for name, values in samples.items()}
    print(
        f"device={device}, threads={torch.get_num_threads()}, batch "
        f"{args.batch_size}x3x{size}x{size}, torch {torch.__version__}"
    )
    for name, seconds in median.items():
        print(f"{name:>15s}: {seconds * 1e3:8.3f} ms  (median of {len(samples[name])})")
    print(f"mollify / mixup:          {median['mollify'] / median['mixup']:.2f}")
    print(f"mollify / mollifier:      {median['mollify'] / median['mollifier']:.3f}")
    print(f"mixup+mollify / mixup:    {median['mixup+mollify'] / median['mixup']:.2f}")


if __name__ == "__main__":
    main()
