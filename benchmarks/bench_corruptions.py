"""Throughput of corruption generation at 32x32, and the projected time of a full set.

Claims: generating Fashion-MNIST-C (10,000 test images padded to 32x32, 19 corruptions x
5 severities) takes well under 15 minutes on 2 cores; with the cifar10-c preset, the 15
benchmark corruptions x 5 severities (750,000 images) take at most 15 minutes with 2
workers.

Measured side by side in one run:
1. per corruption, single process: images/s of ``imagecorruptions.corrupt`` called
   directly vs probmoll's per-image path (seeding + cached frost + mended spatter);
2. per corruption, single process: images/s of the imagenet-c and cifar10-c presets
   (``corrupt_range``, as a worker runs it), extrapolated to 10,000 images x 5 severities;
3. the whole pipeline (``generate_corruptions`` on a subset, all 19 corruptions) with 1
   and 2 worker processes, for each preset, extrapolated to the full set.

Run: ``python benchmarks/bench_corruptions.py [--images 60] [--preset-images 500]
[--subset 200] [--parts 1,2,3]``. Uses the Fashion-MNIST test set when it is installed,
else grayscale synthetic images.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

from probmoll.data import load_dataset
from probmoll.data.corruptions import ALL_CORRUPTIONS, BENCHMARK_CORRUPTIONS, generate_corruptions
from probmoll.data.corruptions.kernels import corrupt_range, image_seed, warm_up

FULL_IMAGES, SEVERITIES = 10_000, 5
PRESETS = ("imagenet-c", "cifar10-c")


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


def part_one(split, count: int) -> None:
    rows = per_corruption(np.asarray(split.images[:count]))
    print(f"\n1) single process, {count} images x {SEVERITIES} severities per corruption")
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


def per_preset(images: np.ndarray) -> dict[str, dict[str, float]]:
    """images/s of each corruption (all severities) per preset, single process."""
    warm_up()
    rates: dict[str, dict[str, float]] = {preset: {} for preset in PRESETS}
    for name in ALL_CORRUPTIONS:
        for preset in PRESETS:
            for severity in (1, 3):  # warm-up: imports, caches (frost photographs, disks)
                corrupt_range(images, name, severity, 0, 2, 0, preset=preset)
            start = time.perf_counter()
            with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)  # the package's spatter
                for severity in range(1, SEVERITIES + 1):
                    corrupt_range(images, name, severity, 0, len(images), 0, preset=preset)
            rates[preset][name] = len(images) * SEVERITIES / (time.perf_counter() - start)
    return rates


def report_presets(rates: dict[str, dict[str, float]], count: int) -> None:
    print(f"\n2) single process, {count} images x {SEVERITIES} severities per corruption")
    header = "".join(f"{p + ' img/s':>18}{'min':>7}" for p in PRESETS)
    print(f"{'corruption':<20}{header}   (min: 10,000 images x 5 severities, one core)")
    calls = FULL_IMAGES * SEVERITIES
    for name in ALL_CORRUPTIONS:
        cells = "".join(
            f"{rates[p][name]:>18.0f}{calls / rates[p][name] / 60:>7.2f}" for p in PRESETS
        )
        print(f"{name:<20}{cells}")
    for label, names in (("15 benchmark", BENCHMARK_CORRUPTIONS), ("all 19", ALL_CORRUPTIONS)):
        totals = {p: sum(calls / rates[p][n] for n in names) / 60 for p in PRESETS}
        print(
            f"projected, {label} corruptions: "
            + ", ".join(
                f"{p} {totals[p]:.1f} min on one core ({totals[p] / 2:.1f} min ideal on 2)"
                for p in PRESETS
            )
        )


def pipeline(split, subset: int, preset: str) -> dict[int, float]:
    timings = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            generate_corruptions(
                split, out, subset=subset, workers=workers, progress=False, preset=preset
            )
            timings[workers] = time.perf_counter() - start
        rate = subset * len(ALL_CORRUPTIONS) * SEVERITIES / timings[workers]
        projected = FULL_IMAGES * len(ALL_CORRUPTIONS) * SEVERITIES / rate
        print(
            f"{preset}, workers={workers}: {timings[workers]:.1f} s ({rate:.0f} img/s, "
            "pool start-up included); "
            f"projected full set: {projected / 60:.1f} min"
        )
    print(f"{preset}: speed-up of 2 workers over 1: {timings[1] / timings[2]:.2f}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images", type=int, default=60, help="images per corruption and severity in part 1"
    )
    parser.add_argument(
        "--preset-images", type=int, default=500, help="images per corruption in part 2"
    )
    parser.add_argument(
        "--subset", type=int, default=200, help="images of the pipeline runs in part 3"
    )
    parser.add_argument("--parts", default="1,2,3", help="which parts to run (default 1,2,3)")
    args = parser.parse_args()
    parts = {int(p) for p in args.parts.split(",")}
    split, description = source_split()
    print(f"source: {description}; cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")
    if 1 in parts:
        part_one(split, args.images)
    if 2 in parts:
        images = np.ascontiguousarray(split.images[: args.preset_images])
        report_presets(per_preset(images), len(images))
    if 3 in parts:
        print(
            f"\n3) generate_corruptions, {args.subset} images x 19 corruptions x "
            f"{SEVERITIES} severities"
        )
        for preset in PRESETS:
            pipeline(split, args.subset, preset)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
