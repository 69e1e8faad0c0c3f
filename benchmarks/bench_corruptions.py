"""Throughput of corruption generation at 32x32, and the projected time of a full set.

Claim: generating Fashion-MNIST-C (10,000 test images padded to 32x32, 19 corruptions x
5 severities) takes well under 15 minutes on 2 cores.

Measured side by side in one run:
1. per corruption, single process: images/s of ``imagecorruptions.corrupt`` called
   directly vs probmoll's per-image path (seeding + cached frost + mended spatter);
2. the whole pipeline (``generate_corruptions`` on a subset, all 19 corruptions) with 1
   and 2 worker processes, extrapolated to the full set.

Run: ``python benchmarks/bench_corruptions.py [--images 60] [--subset 200]``. Uses the
Fashion-MNIST test set when it is installed, else grayscale synthetic images.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

from probmoll.data import load_dataset
from probmoll.data.corruptions import ALL_CORRUPTIONS, generate_corruptions
from probmoll.data.corruptions.kernels import corrupt_range, image_seed

FULL_IMAGES, SEVERITIES = 10_000, 5


def source_split():
    try:
        return load_dataset("fashion-mnist", "test", pad_to=32), "fashion-mnist test (32x32x1)"
    except FileNotFoundError:
        return load_dataset("synthetic", "test", n=2000, channels=1), "synthetic (32x32x1)"


def per_corruption(images: np.ndarray) -> list[tuple[str, float, float]]:
    from imagecorruptions import corrupt

    rgb = np.repeat(images, 3, axis=3)
    rows = []
    for name in ALL_CORRUPTIONS:
        # Warm-up: imports, numba compilation, probmoll's frost cache.
        for severity in (1, 3):
            corrupt_range(images, name, severity, 0, 1, seed=0)
        start = time.perf_counter()
        # The package's spatter divides 0 by 0 on some images (probmoll mends it): quiet.
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            for severity in range(1, SEVERITIES + 1):
                for index, image in enumerate(rgb):
                    seed = image_seed(0, name, severity, index)
                    np.random.seed(seed)  # noqa: NPY002  (as probmoll seeds the package)
                    extra = {"seed": seed} if name in ("impulse_noise", "glass_blur") else {}
                    corrupt(image, severity=severity, corruption_name=name, **extra)
        package = time.perf_counter() - start
        start = time.perf_counter()
        for severity in range(1, SEVERITIES + 1):
            corrupt_range(images, name, severity, 0, len(images), seed=0)
        ours = time.perf_counter() - start
        count = len(images) * SEVERITIES
        rows.append((name, count / package, count / ours))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images", type=int, default=60, help="images per corruption and severity in part 1"
    )
    parser.add_argument(
        "--subset", type=int, default=200, help="images of the pipeline runs in part 2"
    )
    args = parser.parse_args()
    split, description = source_split()
    print(f"source: {description}; cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")

    rows = per_corruption(np.asarray(split.images[: args.images]))
    print(f"\n1) single process, {args.images} images x {SEVERITIES} severities per corruption")
    print(f"{'corruption':<20}{'package img/s':>15}{'probmoll img/s':>16}{'ratio':>8}")
    total_package = total_ours = 0.0
    for name, package, ours in rows:
        print(f"{name:<20}{package:>15.0f}{ours:>16.0f}{ours / package:>8.2f}")
        total_package += 1 / package
        total_ours += 1 / ours
    calls = FULL_IMAGES * SEVERITIES
    print(
        "projected single-core time of the full set: "
        f"package {calls * total_package / 60:.1f} min, "
        f"probmoll {calls * total_ours / 60:.1f} min "
        f"(ratio {total_package / total_ours:.2f})"
    )

    print(
        f"\n2) generate_corruptions, {args.subset} images x 19 corruptions x "
        f"{SEVERITIES} severities"
    )
    timings = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            generate_corruptions(split, out, subset=args.subset, workers=workers, progress=False)
            timings[workers] = time.perf_counter() - start
        rate = args.subset * len(ALL_CORRUPTIONS) * SEVERITIES / timings[workers]
        projected = FULL_IMAGES * len(ALL_CORRUPTIONS) * SEVERITIES / rate
        print(
            f"workers={workers}: {timings[workers]:.1f} s ({rate:.0f} img/s, "
            "pool start-up included); "
            f"projected full set: {projected / 60:.1f} min"
        )
    print(f"speed-up of 2 workers over 1: {timings[1] / timings[2]:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
