"""``probmoll corrupt``: generate a corruption benchmark for a dataset split.

Example: the Fashion-MNIST test set (padded to 32x32), 19 corruptions x 5 severities, with
CIFAR-10-C's constants (``--preset auto`` picks them for 32 px images)::

    probmoll corrupt --data fashion-mnist --split test --out runs/fmnist-c --workers 2

The output folder uses the CIFAR-10-C layout (``<corruption>.npy``, ``labels.npy``) plus a
``manifest.json``; an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

from .presets import PRESET_CHOICES

__all__ = ["add_arguments", "run"]


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = ast.literal_eval(value)  # numbers, None, tuples; else a plain string
    except (ValueError, SyntaxError):
        parsed = value
    return key.strip(), parsed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``corrupt`` options to ``parser``."""
    parser.add_argument(
        "--data", required=True, help="dataset name (see probmoll.data.list_datasets())"
    )
    parser.add_argument("--split", default="test", help="split to corrupt (default: test)")
    parser.add_argument(
        "--root", default=None, help="dataset root (folder or .zip), if it needs one"
    )
    parser.add_argument(
        "--option",
        dest="options",
        action="append",
        type=_option,
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, repeatable, e.g. --option pad_to=32 or --option resize=32",
    )
    parser.add_argument("--download", action="store_true", help="download the dataset if missing")
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="probmoll cache (default $PROBMOLL_CACHE or ~/.cache/probmoll)",
    )
    parser.add_argument(
        "--out", default=None, help="output folder (default <cache>/corruptions/<data>-<split>-...)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the set (default 0)")
    parser.add_argument("--subset", type=int, default=None, help="corrupt only the first N images")
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: all cores)"
    )
    parser.add_argument(
        "--corruptions",
        type=_comma_list,
        default=None,
        help="comma-separated corruption names (default: the 15 benchmark + 4 held-out ones)",
    )
    parser.add_argument(
        "--severities",
        type=_comma_list,
        default=["1", "2", "3", "4", "5"],
        help="comma-separated (default 1,2,3,4,5)",
    )
    parser.add_argument(
        "--no-heldout", action="store_true", help="leave out the 4 held-out corruptions"
    )
    parser.add_argument(
        "--preset",
        choices=PRESET_CHOICES,
        default="auto",
        help="severity constants: those of the scripts that made CIFAR-10-C (cifar10-c) or "
        "Tiny-ImageNet-C (tinyimagenet-c), or imagecorruptions' ImageNet-C ones (imagenet-c); "
        "auto (default): cifar10-c up to 32 px, tinyimagenet-c up to 64 px, else imagenet-c",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a set made with other settings"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Generate the set described by ``args``; returns the exit status."""
    from .. import load_dataset
    from .generate import generate_corruptions
    from .names import check_severities
    from .reader import open_corruptions

    try:
        levels = [int(s) for s in args.severities]
    except ValueError:
        levels = args.severities  # not numbers: check_severities says so
    try:
        severities = check_severities(levels, name="--severities")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        split = load_dataset(
            args.data,
            args.split,
            root=args.root,
            cache_dir=args.cache_dir,
            download=args.download,
            **dict(args.options),
        )
        common = {
            "corruptions": args.corruptions,
            "severities": severities,
            "seed": args.seed,
            "subset": args.subset,
            "workers": args.workers,
            "include_heldout": not args.no_heldout,
            "progress": not args.no_progress,
            "preset": args.preset,
        }
        if args.out is None:
            corrupted = open_corruptions(
                "generated", dataset=split, cache_dir=args.cache_dir, **common
            )
        else:
            corrupted = generate_corruptions(
                split, Path(args.out), overwrite=args.overwrite, **common
            )
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        # OSError: missing or unreadable files, a full disk; RuntimeError: a failed download
        # or a corruption that misbehaves. Bugs of other kinds keep their traceback.
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(
        f"{corrupted.root}: {len(corrupted.corruptions)} corruptions x {len(corrupted.severities)} "
        f"severities x {corrupted.num_images} images, preset {corrupted.preset} ({elapsed:.1f} s)"
    )
    return 0


if __name__ == "__main__":  # python -m probmoll.data.corruptions.cli ...
    _parser = argparse.ArgumentParser(prog="probmoll corrupt", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
