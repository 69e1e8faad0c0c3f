"""``probmoll evaluate``: evaluate a checkpoint on clean and corrupted images.

Loads the model and the training statistics from the checkpoint, the clean test split
(the checkpoint's dataset, another dataset or an ``.npz`` file) and optionally a
corruption benchmark, runs :func:`probmoll.evaluate.evaluate_model` and writes
``metrics.json``, ``report.md`` and the figures (:func:`probmoll.evaluate.write_report`)
to the evaluation's own folder: ``RUN/evaluations/<name>/`` by default, or ``--out``;
never over the run's files (:mod:`probmoll.evaluate.output`).

Command line::

    probmoll evaluate --checkpoint runs/cifar10-moll --corruptions cifar10-c \\
        --corruptions-root ~/data/CIFAR-10-C
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from probmoll.data.corruptions.presets import PRESET_CHOICES
from probmoll.evaluate.model import evaluate_model
from probmoll.evaluate.output import (
    EVALUATIONS_DIR,
    check_output_folder,
    evaluation_name,
    evaluation_record,
    remove_stale_plots,
)
from probmoll.evaluate.reference import check_reference, load_reference_errors, reference_summary
from probmoll.evaluate.report import summary_table, write_report
from probmoll.metrics import DEFAULT_SEVERITIES
from probmoll.utils.cli import positive_int

#: Values of ``--precision``: ``auto`` is the run's training precision.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

__all__ = [
    "PRECISIONS",
    "add_arguments",
    "inference_settings",
    "check_split_matches_model",
    "command_line",
    "load_clean_data",
    "run",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``probmoll evaluate``."""
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="a checkpoint file or a run folder holding checkpoint.pt",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="clean images: a dataset name (its test split) or npz:PATH of a .npz with "
        "'images' (N, H, W, C) uint8 and 'labels' (N,); default: the checkpoint's dataset",
    )
    parser.add_argument("--data-root", default=None, help="where the raw dataset files are")
    parser.add_argument("--cache-dir", default=None, help="cache of decoded/generated arrays")
    parser.add_argument(
        "--corruptions",
        default="none",
        metavar="SET",
        help="corruption benchmark: cifar10-c (also cifar100-c, tinyimagenet-c: the "
        "published files, see --corruptions-root), generated (made locally from the clean "
        "images with imagecorruptions on first use, then cached), the path of a set's "
        "folder, or none (default)",
    )
    parser.add_argument(
        "--corruptions-root",
        default=None,
        help="published sets: their folder (or its parent); generated sets: where to write "
        "them (default: in the cache)",
    )
    parser.add_argument(
        "--preset",
        choices=PRESET_CHOICES,
        default="auto",
        help="severity constants of a generated set: cifar10-c or tinyimagenet-c (those of "
        "the published sets' scripts), imagenet-c (imagecorruptions'); auto (default): "
        "cifar10-c up to 32 px, tinyimagenet-c up to 64 px, else imagenet-c",
    )
    parser.add_argument(
        "--severities",
        type=int,
        nargs="+",
        default=None,
        choices=DEFAULT_SEVERITIES,
        metavar="S",
        help="severity levels to evaluate (default: all that the corrupted set holds)",
    )
    parser.add_argument(
        "--include-heldout",
        action="store_true",
        help="also evaluate the 4 held-out corruptions (reported apart, never in the mean)",
    )
    parser.add_argument(
        "--subset",
        type=positive_int,
        default=None,
        metavar="N",
        help="evaluate only the first N images of the clean split and of each corruption cell",
    )
    parser.add_argument(
        "--reference-errors",
        default=None,
        metavar="JSON",
        help="a JSON file of a reference model's errors (e.g. AlexNet's) per corruption: "
        '{"gaussian_noise": {"1": 0.5, ..., "5": 0.9}, ...} or {"gaussian_noise": 0.7, ...} '
        '(mean over severities 1-5), optionally with "clean"; adds mCE (and relative mCE) '
        "to metrics.json and report.md",
    )
    parser.add_argument("--batch-size", type=positive_int, default=1000)
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="forward-pass precision: auto (default) evaluates as the run trained -- bf16 "
        "autocast and channels-last for a bf16 channels-last run, fp32 for checkpoints "
        "that do not say; fp32, bf16 or fp16 force one",
    )
    parser.add_argument(
        "--device", default=None, help="e.g. cuda, cuda:1, cpu (default: cuda if available)"
    )
    parser.add_argument(
        "--out",
        default=None,
        help=f"output folder (default: {EVALUATIONS_DIR}/NAME beside the checkpoint, NAME "
        "saying what is evaluated, e.g. cifar10-test__generated__s1-5__n1000); never a "
        "training run's own folder",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the evaluation the output folder holds (the same one included); "
        "without it such a folder is refused",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def inference_settings(checkpoint: Mapping[str, Any], precision: str = "auto") -> tuple[str, bool]:
    """``(precision, channels_last)`` to evaluate a checkpoint with.

    ``precision="auto"`` takes the training run's ``precision`` and ``channels_last``
    from the configuration the checkpoint stores (``"fp32"`` and contiguous memory for a
    checkpoint without one, e.g. a user's); any other value forces that precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    config = checkpoint.get("config") or {}
    channels_last = bool(config.get("channels_last", False))
    if precision == "auto":
        precision = config.get("precision", "fp32")
        if precision not in PRECISIONS[1:]:
            raise ValueError(f"the checkpoint's config has an unknown precision {precision!r}")
    return precision, channels_last


def check_split_matches_model(split: Any, info: Mapping[str, Any], source: str) -> None:
    """Raise a ``ValueError`` unless ``split``'s images and labels fit the model of ``info``.

    ``info`` is the checkpoint's data entry (``in_channels``, ``image_size``, ``num_classes``).
    """
    images, labels = split.images, np.asarray(split.labels)
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        found = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
        raise TypeError(f"{source}: images must be uint8 (values 0..255), got {found}")
    if images.ndim != 4:
        raise ValueError(f"{source}: images must have shape (N, H, W, C), got {images.shape}")
    channels = int(info["in_channels"])
    if images.shape[-1] != channels:
        raise ValueError(
            f"{source}: images have {images.shape[-1]} channels (shape {images.shape}), "
            f"the model expects {channels}"
        )
    size = info["image_size"]
    expected_size = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    if tuple(images.shape[1:3]) != expected_size:
        raise ValueError(
            f"{source}: images are {images.shape[1]}x{images.shape[2]} (shape {images.shape}), "
            f"the model expects {expected_size[0]}x{expected_size[1]}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (images.shape[0],):
        raise ValueError(
            f"{source}: labels must be integers of shape ({images.shape[0]},), got dtype "
            f"{labels.dtype} and shape {labels.shape}"
        )
    num_classes = int(info["num_classes"])
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels.min()) if labels.min() < 0 else int(labels.max())
        raise ValueError(
            f"{source}: label {bad} is outside [0, {num_classes - 1}] of the model's "
            f"{num_classes} classes"
        )


def load_clean_data(
    spec: str | None,
    info: Mapping[str, Any],
    *,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Any:
    """The clean split named by ``--data``, checked against the model of ``info``.

    ``None`` is the test split of the checkpoint's dataset, loaded with the dataset
    options recorded at training (``info["options"]``); ``"npz:PATH"`` a user ``.npz``
    file; any other string a registered dataset's test split. Images are always
    standardised with the checkpoint's ``mean``/``std``, not the file's.
    """
    from probmoll.data import load_dataset, load_npz

    if spec is not None and spec.startswith("npz:"):
        path = spec[len("npz:") :]
        if not path:
            raise ValueError("--data npz:PATH needs a path after 'npz:'")
        split = load_npz(path)
        source = f"npz file {path!r}"
    else:
        name = spec or info.get("name")
        if not name:
            raise ValueError("the checkpoint names no dataset: pass --data NAME or npz:PATH")
        # The dataset options of training (e.g. image size, class count) rebuild the
        # same test split; they do not apply to another dataset.
        options = dict(info.get("options") or {}) if name == info.get("name") else {}
        split = load_dataset(name, "test", root=root, cache_dir=cache_dir, **options)
        source = f"dataset {name!r} (test split)"
    check_split_matches_model(split, info, source)
    return split


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


# (option, attribute) of the options that change what ``probmoll evaluate`` does, in the
# order of ``--help``; --overwrite is left out: it changes what is allowed, not the result.
_OPTIONS = (
    ("--checkpoint", "checkpoint"),
    ("--data", "data"),
    ("--data-root", "data_root"),
    ("--cache-dir", "cache_dir"),
    ("--corruptions", "corruptions"),
    ("--corruptions-root", "corruptions_root"),
    ("--preset", "preset"),
    ("--severities", "severities"),
    ("--include-heldout", "include_heldout"),
    ("--subset", "subset"),
    ("--reference-errors", "reference_errors"),
    ("--batch-size", "batch_size"),
    ("--precision", "precision"),
    ("--device", "device"),
    ("--out", "out"),
    ("--no-plots", "no_plots"),
    ("--no-progress", "no_progress"),
)


def command_line(args: argparse.Namespace) -> str:
    """The ``probmoll evaluate`` command of ``args``: every option that differs from its
    default, shell-quoted (``--overwrite`` left out), so that it can be run again."""
    defaults = vars(_defaults())
    words = ["probmoll", "evaluate"]
    for option, attribute in _OPTIONS:
        value = getattr(args, attribute, None)
        if value is None or value is False or value == defaults.get(attribute):
            continue
        if value is True:
            words.append(option)
        elif isinstance(value, (list, tuple)):
            words += [option, *(str(v) for v in value)]
        else:
            words += [option, str(value)]
    return shlex.join(words)


def _defaults() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    return parser.parse_args(["--checkpoint", ""])


def run(args: argparse.Namespace) -> int:
    """Entry point of ``probmoll evaluate``; returns 0, or 2 after a one-line error."""
    try:
        return _run(args)
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        # OSError: missing or unreadable files, a full disk; RuntimeError: torch (an
        # unknown device, out of memory). Bugs of other kinds keep their traceback.
        print(f"probmoll evaluate: error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from probmoll.models import load_checkpoint, model_from_checkpoint, resolve_checkpoint_path

    device = torch.device(args.device or _default_device())
    reference = None
    if args.reference_errors is not None:
        if args.corruptions.lower() == "none":
            raise ValueError("--reference-errors needs a corruption benchmark: pass --corruptions")
        reference = load_reference_errors(args.reference_errors)
    checkpoint_path = resolve_checkpoint_path(args.checkpoint)
    checkpoint = load_checkpoint(checkpoint_path, map_location="cpu")
    model, info = model_from_checkpoint(checkpoint, map_location=device)
    precision, channels_last = inference_settings(checkpoint, getattr(args, "precision", "auto"))
    if channels_last:
        model.to(memory_format=torch.channels_last)
    data_spec = args.data or info.get("name") or "data"
    name = evaluation_name(
        data=data_spec,
        corruptions=args.corruptions,
        severities=args.severities,
        include_heldout=args.include_heldout,
        subset=args.subset,
        preset=args.preset,
    )
    out_dir = Path(args.out) if args.out else checkpoint_path.parent / EVALUATIONS_DIR / name
    record = evaluation_record(
        name=name,
        command=command_line(args),
        checkpoint=str(checkpoint_path.resolve()),
        checkpoint_step=checkpoint.get("step"),
        data=data_spec,
        data_root=args.data_root,
        corruptions=args.corruptions,
        corruptions_root=args.corruptions_root,
        corruption_preset=args.preset,
        severities=None if args.severities is None else sorted(set(args.severities)),
        include_heldout=bool(args.include_heldout),
        subset=args.subset,
        reference_errors=args.reference_errors,
        batch_size=args.batch_size,
        device=str(device),
        precision=precision,
    )
    # Before the (possibly long) evaluation, so that a refusal costs nothing.
    check_output_folder(out_dir, record, overwrite=getattr(args, "overwrite", False))
    clean = load_clean_data(args.data, info, root=args.data_root, cache_dir=args.cache_dir)
    corrupted = None
    if args.corruptions.lower() != "none":
        from probmoll.data.corruptions import BENCHMARK_CORRUPTIONS, open_corruptions

        # A generated set always gets all five severities, so that one cached set serves
        # every later --severities choice.
        corrupted = open_corruptions(
            args.corruptions,
            root=args.corruptions_root,
            dataset=clean,
            cache_dir=args.cache_dir,
            subset=args.subset,
            include_heldout=args.include_heldout,
            progress=not args.no_progress,
            preset=args.preset,
        )
        # Not a repeat of open_corruptions' check: that one bounds the labels by the clean
        # split's class list (an npz file's "classes" may be longer than the model's), this
        # one by the model's classes, which open_corruptions does not know.
        corrupted.check_labels(
            clean.labels,
            int(info["num_classes"]),
            what=f"the clean images ({args.data or info.get('name')})",
        )
        if reference is not None:  # refuse an incomplete file before the long evaluation
            levels = args.severities or corrupted.severities
            planned = [c for c in corrupted.corruptions if c in BENCHMARK_CORRUPTIONS]
            check_reference(reference, {c: levels for c in planned}, str(args.reference_errors))
    results = evaluate_model(
        model,
        clean,
        corrupted,
        mean=info["mean"],
        std=info["std"],
        batch_size=args.batch_size,
        device=device,
        severities=args.severities,
        include_heldout=args.include_heldout,
        max_examples=args.subset,
        autocast_dtype={"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision],
        channels_last=channels_last,
        progress=not args.no_progress,
    )
    if reference is not None:
        results["corrupted"].update(
            reference_summary(results, reference, source=str(args.reference_errors))
        )
    results["checkpoint"] = str(checkpoint_path)
    results["model"] = info.get("model_name")
    results["data"] = {
        "spec": args.data or info.get("name"),
        "name": getattr(clean, "name", None),
        "corruptions": args.corruptions,
        "corruptions_root": args.corruptions_root,
        "reference_errors": args.reference_errors,
        # The severity constants the corrupted set was made with (None: unknown or none).
        "corruption_preset": None if corrupted is None else corrupted.preset,
    }
    results["evaluation"] = record
    title = checkpoint_path.parent.name or "Evaluation"
    written = write_report(results, out_dir, title=title, plots=not args.no_plots)
    remove_stale_plots(out_dir, written)  # those of the evaluation replaced (--overwrite)
    print(summary_table({title: results}))
    files = ", ".join(path.name for path in written.values())
    print(f"wrote the evaluation to {out_dir}: {files}")
    return 0
