"""Throughput of FCR: batched on the device vs per image with torchvision.

Claim: :class:`probmoll.augment.BatchFCR` augments a 128 x 3 x 32 x 32 uint8 batch many
times faster than torchvision's per-image ``Compose`` of the same three transforms, with
identical output for the same parameters (see tests/augment/test_augment_batched.py).

Measured side by side in one run, in images per second:

- ``batched``: ``BatchFCR`` on the whole batch (nearest and bilinear);
- ``affine``: one ``affine_grid`` + ``grid_sample`` per batch, the fused warp that is *not*
  equivalent to the sequential pipeline (listed only to show what the exact fused map costs);
- ``per-image``: ``build_fcr_transform`` applied to each image in a Python loop;
- ``loader``: ``DataLoader`` with worker processes over ``AugmentedImageDataset``;
- the same comparison for ``fcr+trivaug``: all per image vs TrivialAugment per image
  followed by ``BatchFCR``.

Run: ``PYTHONPATH=. python benchmarks/bench_augment.py [--device cuda] [--workers 2]``
(``--threads`` sets torch's intra-op threads of the main process, 1 by default).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from probmoll.augment import (
    AugmentedImageDataset,
    BatchFCR,
    apply_image_transform,
    build_fcr_transform,
    build_image_transform,
    sample_fcr_params,
)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(run, images_per_call: int, device: torch.device, min_seconds: float) -> float:
    """Throughput of ``run()`` in its best of 7 timing blocks of at least ``min_seconds``.

    The best block rather than the mean: on a shared machine the other blocks measure
    the neighbours' load, not the code.
    """
    run()  # warm-up: allocations, kernel selection, worker start-up
    synchronize(device)
    best = math.inf
    for _ in range(7):
        calls, start = 0, time.perf_counter()
        while True:
            run()
            calls += 1
            synchronize(device)
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return images_per_call / best


def affine_warp(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Flip, translate and rotate in a single grid_sample (differs from sequential FCR)."""
    batch, _, height, width = images.shape
    params = sample_fcr_params(batch, padding=padding, generator=generator, device=images.device)
    radians = params.angle * (math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    mirror = 1.0 - 2.0 * params.flip.float()
    theta = torch.zeros(batch, 2, 3, device=images.device)
    theta[:, 0, 0] = mirror * cos
    theta[:, 0, 1] = -mirror * sin
    theta[:, 1, 0] = sin
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = (params.left - padding).float() * 2.0 / width
    theta[:, 1, 2] = (params.top - padding).float() * 2.0 / height
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images.float(), grid, mode="nearest", align_corners=False)
    return warped.to(images.dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--loader-batches", type=int, default=16)
    parser.add_argument("--min-seconds", type=float, default=0.2)
    # One intra-op thread, as in DataLoader workers: on 32 x 32 images extra threads only
    # add synchronisation, and on a shared machine they make per-image timings erratic.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    size, batch = args.image_size, args.batch_size
    generator = torch.Generator(device=device).manual_seed(0)
    cpu_generator = torch.Generator().manual_seed(0)
    cpu_images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    images = cpu_images.to(device)
    fcr_nearest, fcr_bilinear = BatchFCR(), BatchFCR(interpolation="bilinear")
    per_image_fcr = build_fcr_transform(size)

    results: dict[str, float] = {}
    results["batched (nearest)"] = images_per_second(
        lambda: fcr_nearest(images, generator), batch, device, args.min_seconds
    )
    results["batched (bilinear)"] = images_per_second(
        lambda: fcr_bilinear(images, generator), batch, device, args.min_seconds
    )
    results["affine grid_sample (not equivalent)"] = images_per_second(
        lambda: affine_warp(images, generator), batch, device, args.min_seconds
    )
    results["per-image torchvision"] = images_per_second(
        lambda: apply_image_transform(cpu_images, per_image_fcr, cpu_generator),
        batch,
        torch.device("cpu"),
        args.min_seconds,
    )

    # A pool of images large enough that the loader never runs dry between timings.
    pool = cpu_images.repeat(args.loader_batches, 1, 1, 1)
    dataset = AugmentedImageDataset(pool, torch.zeros(len(pool), dtype=torch.long), per_image_fcr)
    loader = DataLoader(
        dataset,
        batch_size=batch,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        generator=torch.Generator().manual_seed(0),
    )

    def one_loader_epoch() -> None:
        for _ in loader:
            pass

    results[f"DataLoader, {args.workers} workers, per-image"] = images_per_second(
        one_loader_epoch, len(pool), torch.device("cpu"), args.min_seconds
    )

    trivaug_all = build_image_transform("fcr+trivaug", size)
    trivaug_only = build_image_transform("fcr+trivaug", size, include_fcr=False)
    results["fcr+trivaug, all per-image"] = images_per_second(
        lambda: apply_image_transform(cpu_images, trivaug_all, cpu_generator),
        batch,
        torch.device("cpu"),
        args.min_seconds,
    )
    results["fcr+trivaug, trivaug per-image + BatchFCR"] = images_per_second(
        lambda: fcr_nearest(
            apply_image_transform(cpu_images, trivaug_only, cpu_generator).to(device), generator
        ),
        batch,
        device,
        args.min_seconds,
    )

    print(
        f"FCR on {batch}x3x{size}x{size} uint8, device={device}, "
        f"torch threads={torch.get_num_threads()}, torch {torch.__version__}"
    )
    reference = results["per-image torchvision"]
    width = max(map(len, results))
    for name, rate in results.items():
        print(f"  {name:<{width}}  {rate:12,.0f} img/s   x{rate / reference:7.2f} vs per-image")
    batched = results["batched (nearest)"]
    loader_rate = results[f"DataLoader, {args.workers} workers, per-image"]
    print(f"batched / DataLoader({args.workers} workers): x{batched / loader_rate:.1f}")
    trivaug_ratio = (
        results["fcr+trivaug, trivaug per-image + BatchFCR"] / results["fcr+trivaug, all per-image"]
    )
    print(f"fcr+trivaug, BatchFCR split / all per-image: x{trivaug_ratio:.2f}")


if __name__ == "__main__":
    main()
