"""Evaluation speed: probmoll's evaluation loop against a bare ``torch.inference_mode()`` loop.

Claims:

1. :func:`probmoll.evaluate.evaluate_images` (the loop behind ``probmoll evaluate`` and
   the engine's final evaluation: uint8 batches standardised on the fly, metric sums in
   float64) scores images at least 0.9x as fast as a bare loop that only standardises,
   runs the model under :func:`torch.inference_mode` and takes the arg-max, over the
   same uint8 arrays, in the same precision and batch size.
2. bf16 autocast (how a run trained in bf16 is evaluated by default) is faster than fp32
   on a CPU with AVX512-BF16/AMX, and changes error, NLL and ECE by less than their
   standard errors (given a trained ``--checkpoint``; standard errors over images, for
   ECE by bootstrap).

Sides are measured in turns (``--repeats`` rounds); ratios are medians over rounds of
the within-round ratio, so that a busy machine slows both alike.

    python benchmarks/bench_evaluate.py                           # untrained width-16 model
    python benchmarks/bench_evaluate.py --checkpoint runs/x       # a trained run, its data
    python benchmarks/bench_evaluate.py --model preact_resnet18 --images 2000
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from probmoll.data import load_dataset
from probmoll.evaluate import evaluate_images, load_clean_data
from probmoll.metrics import ece
from probmoll.models import create_model, load_checkpoint, model_from_checkpoint

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def bare_loop(model, images, mean, std, batch_size, dtype, channels_last) -> int:
    """The textbook loop: returns the number of errors' worth of arg-maxes (kept live)."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    kept = 0
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.array(images[start : start + batch_size]))
            batch = batch.permute(0, 3, 1, 2).float().div_(255).sub_(mean).div_(std)
            logits = model(batch.contiguous(memory_format=memory_format))
            kept += int(logits.argmax(1).sum())
    return kept


def probmoll_loop(model, images, labels, mean, std, batch_size, dtype, channels_last):
    return evaluate_images(
        model,
        images,
        labels,
        mean=mean.flatten().tolist(),
        std=std.flatten().tolist(),
        batch_size=batch_size,
        autocast_dtype=dtype,
        channels_last=channels_last,
    )


def per_image(model, images, labels, mean, std, batch_size, dtype):
    """Per-image log-probabilities (float64) under ``dtype``, and the labels."""
    out = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.array(images[start : start + batch_size]))
            batch = batch.permute(0, 3, 1, 2).float().div_(255).sub_(mean).div_(std)
            out.append(model(batch).double().log_softmax(1))
    return torch.cat(out), torch.from_numpy(np.asarray(labels, dtype=np.int64))


def precision_check(model, images, labels, mean, std, batch_size, seed=0) -> None:
    """bf16 minus fp32 error, NLL and ECE, against their standard errors."""
    scores = {
        name: per_image(model, images, labels, mean, std, batch_size, dtype)
        for name, dtype in PRECISIONS.items()
    }
    target = scores["fp32"][1]
    n = len(target)
    print("\n| metric | fp32 | bf16 | bf16 - fp32 | standard error | smaller |")
    print("|---|---|---|---|---|---|")
    per = {}
    for name, (log_probs, _) in scores.items():
        per[name] = {
            "error": (log_probs.argmax(1) != target).double(),
            "nll": -log_probs.gather(1, target[:, None]).squeeze(1),
        }
    for metric in ("error", "nll"):
        a, b = per["fp32"][metric], per["bf16"][metric]
        se = a.std().item() / n**0.5
        diff = (b.mean() - a.mean()).item()
        print(
            f"| {metric} | {a.mean():.4f} | {b.mean():.4f} | {diff:+.5f} | {se:.5f} "
            f"| {'yes' if abs(diff) < se else 'NO'} |"
        )
    values = {name: float(ece(log_probs, target)) for name, (log_probs, _) in scores.items()}
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(200):
        index = torch.from_numpy(rng.integers(0, n, n))
        boot.append(float(ece(scores["fp32"][0][index], target[index])))
    se = statistics.stdev(boot)
    diff = values["bf16"] - values["fp32"]
    print(
        f"| ece | {values['fp32']:.4f} | {values['bf16']:.4f} | {diff:+.5f} | {se:.5f} "
        f"| {'yes' if abs(diff) < se else 'NO'} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="a trained run (its test split)")
    parser.add_argument("--model", default="preact_resnet18_w16")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--no-speed", action="store_true", help="only the bf16 vs fp32 metric check"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        model, info = model_from_checkpoint(args.checkpoint)
        config = load_checkpoint(args.checkpoint).get("config") or {}
        split = load_clean_data(None, info, cache_dir=(config.get("data") or {}).get("cache_dir"))
        mean_values, std_values = info["mean"], info["std"]
    else:
        split = load_dataset("synthetic", "test", n=args.images)
        torch.manual_seed(0)
        model = create_model(args.model, num_classes=10).eval()
        mean_values, std_values = split.mean, split.std
    images, labels = split.images[: args.images], split.labels[: args.images]
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    mean = torch.tensor(mean_values, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(std_values, dtype=torch.float32).view(1, -1, 1, 1)
    n = len(labels)
    print(
        f"{n} images {images.shape[1:]}, batch {args.batch_size}, "
        f"{torch.get_num_threads()} thread(s), channels_last={args.channels_last}"
    )
    if args.no_speed:
        precision_check(model, images, labels, mean, std, args.batch_size)
        return
    speeds = {(side, p): [] for side in ("bare", "probmoll") for p in PRECISIONS}
    for _ in range(args.repeats + 1):  # the first round warms up and is dropped
        for name, dtype in PRECISIONS.items():
            start = time.perf_counter()
            bare_loop(model, images, mean, std, args.batch_size, dtype, args.channels_last)
            speeds[("bare", name)].append(n / (time.perf_counter() - start))
            start = time.perf_counter()
            probmoll_loop(
                model, images, labels, mean, std, args.batch_size, dtype, args.channels_last
            )
            speeds[("probmoll", name)].append(n / (time.perf_counter() - start))
    print("\n| loop | fp32 images/s | bf16 images/s | bf16 / fp32 |")
    print("|---|---|---|---|")
    for side in ("bare", "probmoll"):
        fp32, bf16 = speeds[(side, "fp32")][1:], speeds[(side, "bf16")][1:]
        ratio = statistics.median(b / f for b, f in zip(bf16, fp32, strict=True))
        print(
            f"| {side} | {statistics.median(fp32):,.0f} | {statistics.median(bf16):,.0f} "
            f"| {ratio:.2f} |"
        )
    for name in PRECISIONS:
        ratio = statistics.median(
            p / b
            for p, b in zip(speeds[("probmoll", name)][1:], speeds[("bare", name)][1:], strict=True)
        )
        print(f"probmoll / bare, {name}: {ratio:.2f} (claim: >= 0.9)")
    if args.checkpoint:
        precision_check(model, images, labels, mean, std, args.batch_size)
    else:
        print("\n(pass --checkpoint of a trained run for the bf16 vs fp32 metric check)")


if __name__ == "__main__":
    main()
